// The allocation for index i is decided only from samples before i: truncating the trace at any
// k leaves every allocation for indices < k unchanged (property test, rightsizing and fleet).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { run, series } from './helpers.js';
import type { TraceSeries } from '../../src/traces/format.js';

const truncate = (s: TraceSeries, k: number): TraceSeries => ({
  ...s,
  length: k,
  values: Object.fromEntries(Object.entries(s.values).map(([r, v]) => [r, v!.slice(0, k)])),
});

const workload = fc.record({
  cpu: fc.array(fc.float({ min: 0, max: 8, noNaN: true }), { minLength: 320, maxLength: 420 }),
  memScale: fc.float({ min: 100, max: 4000, noNaN: true }),
  cut: fc.integer({ min: 289, max: 319 }),
});

for (const policy of ['static', 'vpa']) {
  test(`${policy}: allocations for index i never depend on samples >= i (rightsizing)`, () => {
    fc.assert(
      fc.property(workload, ({ cpu, memScale, cut }) => {
        const mem = cpu.map((c, i) => memScale * (1 + 0.5 * Math.sin(i / 7)) + c * 10);
        const full = series('x', cpu, mem, { capacity: { cpu: 8, memory: 8192 } });
        const a = run([full], policy).rows;
        const b = run([truncate(full, cut)], policy).rows;
        assert.equal(b.length, cut - 288);
        assert.deepEqual(b, a.slice(0, b.length));
      }),
      { numRuns: 25 },
    );
  });
}

test('vpa in a fleet: allocations and placements for index i never depend on samples >= i', () => {
  fc.assert(
    fc.property(fc.array(workload, { minLength: 3, maxLength: 5 }), fc.integer({ min: 289, max: 319 }), (ws, cut) => {
      const full = ws.map((w, j) => series(`v${j}`, w.cpu.slice(0, 320), w.cpu.slice(0, 320).map((c) => w.memScale + c * 50), { capacity: { cpu: 8, memory: 8192 } }));
      const hosts = [0, 1, 2].map((h) => ({ id: `h${h}`, capacity: { cpu: 12, memory: 16384 } }));
      const a = run(full, 'vpa', { hosts }).rows;
      const b = run(full.map((s) => truncate(s, cut)), 'vpa', { hosts }).rows;
      assert.deepEqual(b, a.filter((r) => r.index < cut));
    }),
    { numRuns: 10 },
  );
});
