// Small scenarios whose figures can be worked out by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCloudSimPlanetLab } from '../../../src/sim/cloudsim/engine.js';
import { POWER_G5_XEON3075_W, specPowerW } from '../../../src/sim/cloudsim/power-model.js';
import { PrescientError } from '../../../src/core/errors.js';
import type { HostView, OverloadDetector, OverloadVerdict } from '../../../src/sim/cloudsim/types.js';

const flat = (pct: number, n = 12): Float64Array => new Float64Array(n).fill(pct);

test('one VM at 40 % on DVFS: first-fit on the G5 host, trapezoid energy, idle G4 counted as shut down', () => {
  // VM 0 of 1 is type 0 (2500 MIPS): a G4 core (1860 MIPS) cannot run it, so it lands on host 1.
  const r = runCloudSimPlanetLab([flat(40)], { policy: 'dvfs', hosts: 2, simulationLimitS: 3000 });
  // Updates at 300.1, 600.1, ..., 2700.1 (the one at 3000.1 is past the limit).
  assert.equal(r.steps, 9);
  const watts = specPowerW(POWER_G5_XEON3075_W, 1000 / 5320);
  // The first interval starts with the host at 0 (never updated yet): no energy, as in CloudSim.
  assert.ok(Math.abs(r.energyKwh - (watts * 2400) / 3.6e6) < 1e-9, `${r.energyKwh}`);
  assert.equal(r.hostShutdowns, 1, 'host 0 never runs anything');
  assert.equal(r.slatahPct, 0);
  assert.ok(Math.abs(r.activeHostHours - 2400 / 3600) < 1e-9);
  assert.deepEqual(Array.from(r.hostsActive), new Array(9).fill(1));
  for (const share of r.allocations) assert.ok(Math.abs(share - 40) < 1e-4);
  assert.equal(r.migrations, 0);
});

test('THR-MMT consolidates two idle VMs onto one host: one migration, with its cost in PDM and SLATAH', () => {
  // VM 0: 2500 MIPS, VM 1: 2000 MIPS (n = 2: one VM per type slot). PABFD at t = 0 puts each on its
  // own G5 host (an empty host costs less than adding to a loaded one). At 300.1 both run at 10 %:
  // host 3 (VM 1, 3.8 %) is the least utilised, VM 1 moves to host 1. Afterwards host 1 cannot be
  // emptied (every other host is switched off), so nothing else moves.
  const seen: string[] = [];
  const r = runCloudSimPlanetLab([flat(10), flat(10)], { policy: 'thr-mmt', hosts: 4, simulationLimitS: 3000, recordDecisions: true }, {
    onDecision: (d) => seen.push(`${d.phase}:${d.vm}:${d.fromHost}->${d.toHost}`),
  });
  assert.deepEqual(seen, ['underload:1:3->1']);
  assert.equal(r.migrations, 1);
  assert.equal(r.reasons.underload, 1);
  assert.equal(r.decisions[0]!.timeS, 300.1);
  // Hosts 0 and 2 never used, host 3 emptied by the migration.
  assert.equal(r.hostShutdowns, 3);
  // VM 1 migrates 1740 MB at 62.5 MB/s = 27.84 s with 10 % of its 200 MIPS lost.
  const migrationS = 1740 / 62.5;
  const requested = (250 + 200) * 2400;
  assert.ok(Math.abs(r.pdmPct - ((0.1 * 200 * migrationS) / requested) * 100) < 1e-9, `${r.pdmPct}`);
  // SLATAH: host 1 books only 10 % of the VM coming in; the source host counts 180 / 0.9 MIPS.
  const sourceShort = (200 * 0.9) / 0.9 < 200 ? migrationS : 0;
  const expected = ((migrationS + sourceShort) / (2400 + migrationS)) * 100;
  assert.ok(Math.abs(r.slatahPct - expected) < 1e-6, `${r.slatahPct} vs ${expected}`);
  // During the migration VM 1 gets 90 % of its demand: 9 % of its MIPS at the end of step 0.
  assert.ok(Math.abs(r.allocations[1]! - 9) < 1e-4);
  assert.ok(Math.abs(r.allocations[2 + 1]! - 10) < 1e-4);
});

test('a VM whose demand reaches exactly 0 is removed for good (CloudSim treats it as finished)', () => {
  const trace = flat(30);
  trace[3] = 0;
  trace[4] = 0; // demand at 900.1 interpolates between samples 3 and 4: exactly 0
  const r = runCloudSimPlanetLab([flat(30), trace], { policy: 'dvfs', hosts: 4, simulationLimitS: 3000 });
  assert.equal(r.vmsRemoved, 1);
  assert.ok(Number.isNaN(r.allocations[2 * 2 + 1]!), 'VM 1 gone after step 2');
  assert.ok(Math.abs(r.allocations[2 * 8]! - 30) < 1e-4, 'VM 0 still there at the end');
});

test('bad input is rejected with where the problem is', () => {
  assert.throws(() => runCloudSimPlanetLab([], { policy: 'thr-mmt' }), /no VM traces/);
  assert.throws(() => runCloudSimPlanetLab([flat(10, 5)], { policy: 'thr-mmt', simulationLimitS: 3000 }), /vms\[0\].*5 samples but 10/);
  assert.throws(() => runCloudSimPlanetLab([flat(10), flat(10, 9)], { policy: 'thr-mmt', simulationLimitS: 3000 }), /vms\[1\]/);
  const nan = flat(10);
  nan[7] = Number.NaN;
  assert.throws(() => runCloudSimPlanetLab([nan], { policy: 'thr-mmt', simulationLimitS: 3000 }), (e: unknown) => e instanceof PrescientError && /vms\[0\]\[7\]/.test(e.message));
  // a 2500-MIPS VM cannot run on a G4-only datacenter
  assert.throws(() => runCloudSimPlanetLab([flat(10)], { policy: 'thr-mmt', hosts: 1, simulationLimitS: 3000 }), /cannot be placed/);
});

test('a plugged-in detector drives the loop and its rule is recorded on every move it causes', () => {
  const custom: OverloadDetector = {
    name: 'custom',
    detect(host: HostView, out: OverloadVerdict): boolean {
      out.metric = host.requestedMips() / host.totalMips;
      out.threshold = 0.3;
      out.rule = 'custom';
      out.overloaded = out.metric > 0.3;
      return out.overloaded;
    },
  };
  const r = runCloudSimPlanetLab([flat(90), flat(90)], { policy: 'thr-mmt', hosts: 8, simulationLimitS: 3000, detector: custom, recordDecisions: true });
  assert.ok((r.reasons['overload:custom'] ?? 0) > 0, JSON.stringify(r.reasons));
  for (const d of r.decisions.filter((x) => x.phase === 'overload')) {
    assert.equal(d.rule, 'custom');
    assert.ok(d.metric > 0.3 && d.threshold === 0.3);
  }
  // the same scenario with THR 0.8 never finds an overloaded host
  const thr = runCloudSimPlanetLab([flat(90), flat(90)], { policy: 'thr-mmt', hosts: 8, simulationLimitS: 3000 });
  assert.equal(thr.reasons['overload:thr'] ?? 0, 0);
});

test('traces are cut to the 288 samples CloudSim reads; a shorter one is padded with its last value', () => {
  const long = new Float64Array(300).fill(20);
  long.fill(90, 288); // beyond what CloudSim reads: must not matter
  const a = runCloudSimPlanetLab([long, flat(20, 288)], { policy: 'thr-mmt', hosts: 6 });
  const b = runCloudSimPlanetLab([flat(20, 288), flat(20, 288)], { policy: 'thr-mmt', hosts: 6 });
  assert.equal(a.energyKwh, b.energyKwh);
  const short = runCloudSimPlanetLab([flat(20, 12), flat(20, 288)], { policy: 'thr-mmt', hosts: 6, simulationLimitS: 3000 });
  const same = runCloudSimPlanetLab([flat(20, 288), flat(20, 288)], { policy: 'thr-mmt', hosts: 6, simulationLimitS: 3000 });
  assert.equal(short.energyKwh, same.energyKwh);
});
