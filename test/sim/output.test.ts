// allocations.csv numbers: the fast writer for 1e-6-rounded allocations prints exactly String(x).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { roundUp6 } from '../../src/sim/engine.js';
import { allocationLine, micros } from '../../src/sim/output.js';

test('micros(x) is String(x) for allocations rounded up to 1e-6, and csvNumber for anything else', () => {
  for (const x of [0, 1e-6, 0.5, 1, 2.000001, 123.45, 8589934591.999999, 8589934592, 1e21, 3e-7, -1, NaN, Infinity]) {
    assert.equal(micros(x), Number.isFinite(x) ? String(x) : '', String(x));
  }
  fc.assert(
    fc.property(fc.double({ min: 0, max: 1e10, noNaN: true }), (a) => {
      const x = roundUp6(a);
      assert.equal(micros(x), String(x));
    }),
    { numRuns: 50000 },
  );
  fc.assert(fc.property(fc.double(), (x) => assert.equal(micros(x), Number.isFinite(x) ? String(x) : '')), { numRuns: 20000 });
  fc.assert(
    fc.property(fc.oneof(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 2 ** 33 * 1e6 - 2 ** 40, max: 2 ** 33 * 1e6 + 2 ** 20 })), (k) => {
      const x = k / 1e6;
      assert.equal(micros(x), String(x));
    }),
    { numRuns: 50000 },
  );
});

test('allocation lines: instance, index, then the two allocations (empty when missing)', () => {
  assert.equal(allocationLine('vm,1', 288, 0.25, NaN), '"vm,1",288,0.25,');
});
