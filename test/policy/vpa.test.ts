// The VPA policy on hand-made series: p90 target, 15 % margin, daily memory peaks, OOM bump,
// minimum resources, and the updater's confidence-scaled bounds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
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
