// The overload detectors against hand computations on known histories.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  IqrDetector,
  LocalRegressionDetector,
  MadDetector,
  MinimumMigrationTimeSelector,
  ThresholdDetector,
} from '../../../src/sim/cloudsim/policies.js';
import { countNonZeroBeginning, mad, median, iqr } from '../../../src/sim/cloudsim/math.js';
import type { HostView, OverloadVerdict } from '../../../src/sim/cloudsim/types.js';

/** A host whose utilisation history (most recent first) and current request are given directly. */
function fakeHost(opts: { totalMips?: number; requestedMips: number; history?: number[]; vmRams?: number[] }): HostView {
  const history = opts.history ?? [];
  const rams = opts.vmRams ?? [870];
  return {
    index: 0,
    type: 1,
    totalMips: opts.totalMips ?? 5320,
    peMips: 2660,
    bwKbps: 1_000_000,
    timeS: 0,
    step: 0,
    cachedUtilizationMips: 0,
    vmCount: () => rams.length,
    vm: (i) => i,
    requestedMips: () => opts.requestedMips,
    allocatedMips: () => opts.requestedMips,
    utilizationHistory(out: Float64Array): number {
      out.fill(0);
      history.forEach((v, i) => (out[i] = v));
      return countNonZeroBeginning(out, out.length);
    },
    maxVmRamMb: () => Math.max(...rams),
    migratingInExtraMips: () => 0,
    powerW: () => 0,
    vmRequestedMips: () => 0,
    vmMips: () => 1000,
    vmRamMb: (vm) => rams[vm]!,
    vmInMigration: () => false,
    vmUtilizationHistory: () => 0,
  };
}

const verdict = (): OverloadVerdict => ({ overloaded: false, metric: 0, threshold: 0, rule: '' });

test('THR: overloaded strictly above the threshold', () => {
  const thr = new ThresholdDetector(0.8);
  const v = verdict();
  assert.equal(thr.detect(fakeHost({ requestedMips: 0.8 * 5320 }), v), false);
  assert.equal(v.metric, 0.8);
  assert.equal(thr.detect(fakeHost({ requestedMips: 0.8 * 5320 + 0.01 }), v), true);
  assert.equal(v.rule, 'thr');
  assert.equal(v.threshold, 0.8);
});

// 12 values, most recent first
const H12 = [0.62, 0.55, 0.71, 0.4, 0.58, 0.66, 0.5, 0.45, 0.69, 0.61, 0.52, 0.57];

test('IQR on a known history: 1 - 1.5 x (Q3 - Q1), CloudSim quartile indices', () => {
  const sorted = [...H12].sort((a, b) => a - b);
  // n = 12: Q1 at round(0.25 x 13) - 1 = 2, Q3 at round(0.75 x 13) - 1 = 9
  const q = sorted[9]! - sorted[2]!;
  assert.equal(iqr(Float64Array.from(H12), 12), q);
  const det = new IqrDetector(1.5, new ThresholdDetector(0.7));
  const v = verdict();
  const threshold = 1 - 1.5 * q;
  det.detect(fakeHost({ requestedMips: 0.5 * 5320, history: H12 }), v);
  assert.equal(v.rule, 'iqr');
  assert.ok(Math.abs(v.threshold - threshold) < 1e-12);
  assert.equal(det.detect(fakeHost({ requestedMips: (threshold + 0.001) * 5320, history: H12 }), v), true);
  assert.equal(det.detect(fakeHost({ requestedMips: (threshold - 0.001) * 5320, history: H12 }), v), false);
});

test('MAD on a known history: median of absolute deviations from the median', () => {
  const sorted = [...H12].sort((a, b) => a - b);
  const med = (sorted[5]! + sorted[6]!) / 2;
  const dev = H12.map((x) => Math.abs(x - med)).sort((a, b) => a - b);
  const m = (dev[5]! + dev[6]!) / 2;
  assert.ok(Math.abs(median(Float64Array.from(H12), 12) - med) < 1e-15);
  assert.ok(Math.abs(mad(Float64Array.from(H12), 12) - m) < 1e-15);
  const det = new MadDetector(2.5, new ThresholdDetector(0.7));
  const v = verdict();
  det.detect(fakeHost({ requestedMips: 0.1 * 5320, history: H12 }), v);
  assert.equal(v.rule, 'mad');
  assert.ok(Math.abs(v.threshold - (1 - 2.5 * m)) < 1e-12);
});

test('IQR and MAD fall back to THR 0.7 with fewer than 12 history values', () => {
  for (const det of [new IqrDetector(1.5, new ThresholdDetector(0.7)), new MadDetector(2.5, new ThresholdDetector(0.7))]) {
    const v = verdict();
    const short = H12.slice(0, 11);
    assert.equal(det.detect(fakeHost({ requestedMips: 0.71 * 5320, history: short }), v), true);
    assert.equal(v.threshold, 0.7);
    assert.match(v.rule, /-fallback-thr$/);
    assert.equal(det.detect(fakeHost({ requestedMips: 0.69 * 5320, history: short }), v), false);
  }
});

// 10 values, most recent first: the regression sees them oldest first at x = 1..10
const H10 = [0.9, 0.84, 0.86, 0.78, 0.74, 0.76, 0.66, 0.68, 0.6, 0.55];

function handOls(historyMostRecentFirst: number[]): { a: number; b: number } {
  const y = [...historyMostRecentFirst].reverse();
  const n = y.length;
  const xs = y.map((_, i) => i + 1);
  const mx = xs.reduce((s, x) => s + x, 0) / n;
  const my = y.reduce((s, v) => s + v, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i]! - mx) * (y[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
  }
  const b = sxy / sxx;
  return { a: my - b * mx, b };
}

test('LR: least squares over the last 10 values, predicted one migration ahead, x 1.2 >= 1', () => {
  const { a, b } = handOls(H10);
  // max VM RAM 1740 MB over 1 Gbit/s / 2 = 27.84 s -> ceil(27.84 / 300) = 1 interval ahead: x = 11
  const expected = 1.2 * (a + b * 11);
  const det = new LocalRegressionDetector(1.2, 300, new ThresholdDetector(0.7));
  const v = verdict();
  const over = det.detect(fakeHost({ requestedMips: 0, history: H10, vmRams: [870, 1740] }), v);
  assert.equal(v.rule, 'lr');
  assert.ok(Math.abs(v.metric - expected) < 1e-12, `${v.metric} vs ${expected}`);
  assert.equal(over, expected >= 1);
  assert.equal(over, true, 'a history rising to 0.9 predicts more than 1 / 1.2');
  // A falling history is not overloaded whatever the current demand (LR ignores it).
  const falling = [...H10].reverse();
  assert.equal(det.detect(fakeHost({ requestedMips: 5320, history: falling }), v), false);
});

test('LR uses only the 10 most recent values and LRR gives the same estimates (CloudSim weights are never applied)', () => {
  fc.assert(
    fc.property(fc.array(fc.double({ min: 0.01, max: 1, noNaN: true }), { minLength: 10, maxLength: 30 }), (hist) => {
      const lr = new LocalRegressionDetector(1.2, 300, new ThresholdDetector(0.7), false);
      const lrr = new LocalRegressionDetector(1.2, 300, new ThresholdDetector(0.7), true);
      const a = verdict();
      const b = verdict();
      lr.detect(fakeHost({ requestedMips: 0, history: hist }), a);
      lrr.detect(fakeHost({ requestedMips: 0, history: hist }), b);
      assert.equal(a.metric, b.metric);
      const { a: ia, b: ib } = handOls(hist.slice(0, 10));
      assert.ok(Math.abs(a.metric - 1.2 * (ia + ib * 11)) < 1e-9);
    }),
  );
});

test('LR falls back to THR 0.7 with fewer than 10 values', () => {
  const det = new LocalRegressionDetector(1.2, 300, new ThresholdDetector(0.7));
  const v = verdict();
  const nine = H10.slice(0, 9);
  assert.equal(det.detect(fakeHost({ requestedMips: 0.71 * 5320, history: nine }), v), true);
  assert.equal(v.rule, 'lr-fallback-thr');
  assert.equal(v.threshold, 0.7);
  assert.equal(det.detect(fakeHost({ requestedMips: 0.7 * 5320, history: nine }), v), false);
});

test('history trimming keeps CloudSim quirks: trailing zeros dropped, all-zero counts as 1', () => {
  assert.equal(countNonZeroBeginning(Float64Array.from([0.5, 0, 0.2, 0, 0]), 5), 3);
  assert.equal(countNonZeroBeginning(Float64Array.from([0, 0, 0]), 3), 1);
  assert.equal(countNonZeroBeginning(new Float64Array(0), 0), 1);
});

test('MMT picks the VM with the least RAM, the first one on ties', () => {
  const mmt = new MinimumMigrationTimeSelector();
  assert.equal(mmt.select(fakeHost({ requestedMips: 0, vmRams: [1740, 613, 870, 613] })), 1);
  assert.equal(mmt.select(fakeHost({ requestedMips: 0, vmRams: [] })), -1);
});
