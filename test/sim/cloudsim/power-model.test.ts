import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  POWER_G4_XEON3040_W,
  POWER_G5_XEON3075_W,
  clampUtilization,
  energyLinearInterpolationJ,
  specPowerW,
} from '../../../src/sim/cloudsim/power-model.js';

test('SPECpower model: measured points and linear interpolation between them', () => {
  assert.equal(specPowerW(POWER_G4_XEON3040_W, 0), 86);
  assert.equal(specPowerW(POWER_G4_XEON3040_W, 1), 117);
  assert.equal(specPowerW(POWER_G5_XEON3075_W, 0), 93.7);
  assert.equal(specPowerW(POWER_G5_XEON3075_W, 1), 135);
  // half-way between 0 % (86 W) and 10 % (89.4 W)
  assert.ok(Math.abs(specPowerW(POWER_G4_XEON3040_W, 0.05) - 87.7) < 1e-9);
  // G5 at 47 % (2500 of 5320 MIPS): 110 + 0.7 x (116 - 110)
  assert.ok(Math.abs(specPowerW(POWER_G5_XEON3075_W, 2500 / 5320) - (110 + (2500 / 5320 - 0.4) * 10 * 6)) < 1e-9);
  assert.ok(Math.abs(specPowerW(POWER_G5_XEON3075_W, 0.95) - 134) < 1e-9);
  // CloudSim throws outside [0, 1]
  assert.ok(Number.isNaN(specPowerW(POWER_G4_XEON3040_W, 1.0001)));
  assert.ok(Number.isNaN(specPowerW(POWER_G4_XEON3040_W, -0.1)));
});

test('power is monotone and stays between the idle and the peak power', () => {
  fc.assert(
    fc.property(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (a, b) => {
      for (const table of [POWER_G4_XEON3040_W, POWER_G5_XEON3075_W]) {
        const pa = specPowerW(table, a);
        const pb = specPowerW(table, b);
        if (a <= b) assert.ok(pa <= pb + 1e-9, `${a}:${pa} > ${b}:${pb}`);
        assert.ok(pa >= table[0]! - 1e-9 && pa <= table[10]! + 1e-9);
      }
    }),
  );
});

test('energy over an interval: trapezoid of the end powers, 0 when the host starts idle', () => {
  const p30 = specPowerW(POWER_G4_XEON3040_W, 0.3);
  const p50 = specPowerW(POWER_G4_XEON3040_W, 0.5);
  assert.equal(energyLinearInterpolationJ(POWER_G4_XEON3040_W, 0.3, 0.5, 300), ((p30 + p50) / 2) * 300);
  assert.equal(energyLinearInterpolationJ(POWER_G4_XEON3040_W, 0, 0.5, 300), 0);
  assert.equal(clampUtilization(1.005), 1);
  assert.equal(clampUtilization(1.02), 1.02);
});
