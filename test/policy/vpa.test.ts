// The VPA policy on hand-made series: p90 target, 15 % margin, daily memory peaks, OOM bump,
// minimum resources, and the updater's confidence-scaled bounds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { seededRng } from '../../src/core/rng.js';
import type { DecideContext, InstanceState } from '../../src/policy/framework/types.js';
import { VpaRightsizer, vpaArgs } from '../../src/policy/plugins/vpa/vpa.js';
import { run, series } from '../sim/helpers.js';

const DAY = 288; // samples of 300 s per day
const fill = (n: number, f: (i: number) => number): number[] => Array.from({ length: n }, (_, i) => f(i));
const at = (rows: { index: number; cpu: number; memory: number }[], index: number) => {
  const r = rows.find((x) => x.index === index);
  assert.ok(r, `no row for index ${index}`);
  return r;
};
// VPA's percentile is the END of the histogram bucket (buckets grow 5 %), so estimates are exact
// up to one bucket: value x 1.15 <= allocation <= value x 1.05 x 1.15.
const near = (actual: number, value: number, msg: string): void => {
  assert.ok(actual >= value * 1.15 - 1e-9 && actual <= value * 1.15 * 1.05 + 1e-9, `${msg}: ${actual} not within [${value * 1.15}, ${value * 1.15 * 1.05}]`);
};

test('CPU: constant usage gives usage x 1.15 (p90 plus the 15 % safety margin)', () => {
  const s = series('a', fill(2 * DAY, () => 1), fill(2 * DAY, () => 1000), { capacity: { cpu: 4, memory: 8192 } });
  const { rows } = run([s], 'vpa');
  near(at(rows, DAY + 10).cpu, 1, 'cpu');
  near(at(rows, DAY + 10).memory, 1000, 'memory');
});

test('CPU: the target is the 90th percentile, not the mean or the max', () => {
  // 15 % of samples at 3 cores: p90 is 3. 5 % at 3 cores: p90 is 1.
  const hi = series('hi', fill(3 * DAY, (i) => (i % 20 < 3 ? 3 : 1)), null, { capacity: { cpu: 8 } });
  const lo = series('lo', fill(3 * DAY, (i) => (i % 20 < 1 ? 3 : 1)), null, { capacity: { cpu: 8 } });
  near(at(run([hi], 'vpa').rows, 3 * DAY - 1).cpu, 3, 'p90 with 15 % high samples');
  near(at(run([lo], 'vpa').rows, 3 * DAY - 1).cpu, 1, 'p90 with 5 % high samples');
});

test('CPU: the margin argument scales the target', () => {
  const s = series('a', fill(2 * DAY, () => 2), null, { capacity: { cpu: 8 } });
  const { rows } = run([s], 'vpa', { policyArgs: { safetyMarginFraction: 0.5 } });
  const v = at(rows, DAY + 5).cpu;
  assert.ok(v >= 3 - 1e-9 && v <= 3 * 1.05 + 1e-9, String(v));
});

test('memory: the target follows the daily peaks, not the typical usage', () => {
  // 500 MiB all day except one sample per day at 1500 MiB.
  const s = series('m', fill(4 * DAY, () => 0.5), fill(4 * DAY, (i) => (i % DAY === 100 ? 1500 : 500)), { capacity: { cpu: 2, memory: 4096 } });
  const { rows } = run([s], 'vpa');
  near(at(rows, 3 * DAY + 50).memory, 1500, 'memory from peaks');
});

test('memory: peaks older than 8 days are forgotten', () => {
  // A 3000 MiB peak on day 0 only; from day 9 on the target is back near 1000 x 1.15.
  const mem = fill(11 * DAY, (i) => (i === 10 ? 3000 : 1000));
  const s = series('old', fill(11 * DAY, () => 0.5), mem, { capacity: { cpu: 2, memory: 8192 } });
  const { rows } = run([s], 'vpa', { policyArgs: { targetPercentile: 0.99 } });
  assert.ok(at(rows, DAY + 5).memory >= 3000 * 1.15, 'the peak counts while it is recent');
  near(at(rows, 10 * DAY + 5).memory, 1000, 'after 8 intervals');
});

test('OOM: memory usage above the allocation bumps it to at least max(usage x 1.2, usage + 100 MiB)', () => {
  const k = 2 * DAY + 7;
  const mem = fill(3 * DAY, (i) => (i < k ? 1000 : 3000));
  const s = series('oom', fill(3 * DAY, () => 1), mem, { capacity: { cpu: 2, memory: 8192 } });
  const { rows } = run([s], 'vpa');
  assert.ok(at(rows, k).memory < 3000, 'the jump is a violation');
  assert.ok(at(rows, k + 1).memory >= Math.max(3000 * 1.2, 3000 + 100), String(at(rows, k + 1).memory));
});

test('OOM: small usage gets the 100 MiB minimum bump', () => {
  const k = 2 * DAY + 7;
  const mem = fill(3 * DAY, (i) => (i < k ? 300 : 400));
  const s = series('oom-small', fill(3 * DAY, () => 1), mem, { capacity: { cpu: 2, memory: 8192 } });
  const { rows } = run([s], 'vpa', { policyArgs: { podMinMemoryMiB: 0 } });
  assert.ok(at(rows, k).memory < 400, 'the jump is a violation');
  assert.ok(at(rows, k + 1).memory >= 500, String(at(rows, k + 1).memory));
});

test('minimum resources: 25 millicores and 250 MiB', () => {
  const s = series('idle', fill(2 * DAY, () => 0), fill(2 * DAY, () => 10), { capacity: { cpu: 2, memory: 4096 } });
  const { rows } = run([s], 'vpa');
  assert.equal(at(rows, DAY + 1).cpu, 0.025);
  assert.equal(at(rows, DAY + 1).memory, 250);
});

test('updater mode: keeps an allocation inside the confidence-scaled bounds, resizes once history is long', () => {
  // 2 cores provisioned, 1 core used. upperBound = p95 x 1.15 x (1 + 1/confidence days):
  // after 1 day about 2.3 (>= 2: keep), after 8 days about 1.3 (< 2: resize to the target).
  const s = series('u', fill(9 * DAY, () => 1), null, { capacity: { cpu: 2 } });
  const { rows } = run([s], 'vpa', { policyArgs: { mode: 'updater' } });
  assert.equal(at(rows, DAY + 1).cpu, 2);
  near(at(rows, 9 * DAY - 1).cpu, 1, 'after a week');
});

test('percent units (Google / PlanetLab): no byte-based minimums, same rules', () => {
  const s = series('g', fill(2 * DAY, () => 20), fill(2 * DAY, () => 0.2), { units: { cpu: 'percent', memory: 'percent' } });
  const { rows } = run([s], 'vpa');
  near(at(rows, DAY + 1).cpu, 20, 'cpu %');
  near(at(rows, DAY + 1).memory, 0.2, 'memory %');
});

// One rightsizer keeps every instance's state (found by visiting order, with a map by id as the
// fallback) and caches estimates between samples and decisions. Whatever the order in which
// instances are observed, asked for, forgotten and added again, and however observations and
// decisions interleave, an instance's recommendation must be the one a rightsizer holding only
// that instance gives after replaying its own history.
test('VpaRightsizer: recommendations do not depend on other instances or on the order of calls', () => {
  const ctxOf = (insts: InstanceState[], nowS: number): DecideContext => ({
    snapshot: { nowS, stepSeconds: 300, instances: insts, hosts: [] },
    forecasts: new Map(),
    nowS,
    rng: seededRng(1),
  });
  const call = fc.oneof(
    fc.record({ op: fc.constant('observe' as const), who: fc.nat(4), cpu: fc.double({ min: 0, max: 4, noNaN: true }), memory: fc.double({ min: 0, max: 6000, noNaN: true }) }),
    fc.record({ op: fc.constant('recommend' as const), who: fc.nat(4) }),
    fc.record({ op: fc.constant('forget' as const), who: fc.nat(4) }),
  );
  fc.assert(
    fc.property(fc.array(call, { minLength: 1, maxLength: 400 }), fc.constantFrom('target', 'updater'), (calls, mode) => {
      const args = vpaArgs.parse({ mode, memoryAggregationIntervalHours: 1, memoryAggregationIntervalCount: 3 });
      const env = { stepSeconds: 300 };
      const shared = new VpaRightsizer(args, env);
      const insts = Array.from({ length: 5 }, (_, k): InstanceState => ({
        id: `vm-${k}`, hostId: null, units: { cpu: 'cores', memory: 'MiB' }, capacity: { cpu: 4, memory: 8192 },
        allocation: { cpu: 2, memory: 4096 }, lastUsage: { cpu: NaN, memory: NaN }, samples: 0,
      }));
      // each instance's own history since it was last forgotten (observe arguments)
      const history: Array<Array<{ usage: { cpu: number; memory: number }; allocation: { cpu: number; memory: number }; nowS: number }>> = insts.map(() => []);
      let nowS = 0;
      for (const c of calls) {
        const inst = insts[c.who]!;
        if (c.op === 'forget') {
          shared.forget(inst.id);
          history[c.who] = [];
        } else if (c.op === 'observe') {
          nowS += 300;
          const usage = { cpu: c.cpu, memory: c.memory };
          history[c.who]!.push({ usage: { ...usage }, allocation: { ...inst.allocation }, nowS });
          shared.observe(inst, usage, inst.allocation, nowS);
        } else {
          const got = shared.recommend(inst, ctxOf(insts, nowS));
          const alone = new VpaRightsizer(args, env);
          for (const h of history[c.who]!) alone.observe(inst, h.usage, h.allocation, h.nowS);
          const want = alone.recommend(inst, ctxOf([inst], nowS));
          assert.deepEqual({ cpu: got.cpu, memory: got.memory, reasons: [...got.reasons] }, { cpu: want.cpu, memory: want.memory, reasons: [...want.reasons] });
          // the decision becomes the allocation now and then, as a decision round would apply it
          if (Number.isFinite(got.cpu) && Number.isFinite(got.memory) && c.who % 2 === 0) inst.allocation = { cpu: got.cpu, memory: got.memory };
        }
      }
    }),
    { numRuns: 150 },
  );
});
