import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SortedWindow, SortedWindowSet } from '../../src/forecast/sorted-window.js';
import { sortedQuantile } from '../../src/forecast/quantile.js';
import { WindowQuantileForecaster } from '../../src/forecast/window-quantile.js';

test('a sorted window holds exactly the last w values, in order, with their quantiles', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 40 }), fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { maxLength: 200 }), fc.double({ min: 0, max: 1, noNaN: true }), (w, xs, p) => {
      const win = new SortedWindow(w);
      for (const x of xs) win.push(x);
      const last = Float64Array.from(xs.slice(-w)).sort();
      assert.equal(win.size, last.length);
      if (last.length === 0) return assert.ok(Number.isNaN(win.quantile(p)));
      assert.equal(win.quantile(p), sortedQuantile(last, last.length, p));
      const sum = last.reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(win.sum - sum) <= 1e-6 * Math.max(1, Math.abs(sum)) + 1e-3);
    }),
  );
});

test('windows of a set read the quantiles of their own last w values whenever they are read', () => {
  // pushes are merged lazily (one by one or in a batch, with evictions): reads at any moment,
  // ties and windows shorter than the batch must all give the brute-force answer
  // (small batches into long full windows go in one by one, the others are merged)
  const batch = fc.record({ window: fc.integer({ min: 0, max: 2 }), values: fc.array(fc.integer({ min: -20, max: 20 }), { maxLength: 24, size: 'max' }) });
  const windowSize = fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 41, max: 160 }));
  fc.assert(
    fc.property(windowSize, fc.array(batch, { minLength: 1, maxLength: 100, size: 'max' }), fc.double({ min: 0, max: 1, noNaN: true }), (w, batches, p) => {
      const set = new SortedWindowSet(3, w);
      const seen: number[][] = [[], [], []];
      for (const { window, values } of batches) {
        for (const v of values) {
          set.push(window, v / 4);
          seen[window]!.push(v / 4);
        }
        for (let i = 0; i < 3; i++) {
          const last = Float64Array.from(seen[i]!.slice(-w)).sort();
          assert.equal(set.size(i), last.length);
          if (last.length === 0) assert.ok(Number.isNaN(set.quantile(i, p)));
          else assert.equal(set.quantile(i, p), sortedQuantile(last, last.length, p));
          assert.ok(Math.abs(set.sum(i) - last.reduce((a, b) => a + b, 0)) < 1e-9);
        }
      }
    }),
    { numRuns: 150 },
  );
});

test('type-7 quantiles match a hand computation', () => {
  const s = Float64Array.from([1, 2, 3, 4]);
  assert.equal(sortedQuantile(s, 4, 0), 1);
  assert.equal(sortedQuantile(s, 4, 1), 4);
  assert.equal(sortedQuantile(s, 4, 0.5), 2.5);
  assert.ok(Math.abs(sortedQuantile(s, 4, 0.9) - 3.7) < 1e-12);
});

test('window-quantile forecaster reads the quantiles of its last w samples, flat over the horizon', () => {
  const f = new WindowQuantileForecaster({ window: 4 });
  for (const y of [100, 1, 2, NaN, 3, 4]) f.update(y);
  const [q50, q100] = f.quantiles(3, [0.5, 0.999999]);
  assert.deepEqual(Array.from(q50!), [2.5, 2.5, 2.5]);
  assert.ok(Math.abs(q100![0]! - 4) < 1e-4);
  assert.deepEqual(Array.from(f.forecast(2)), [2.5, 2.5]);
  assert.equal(f.count, 6);
});
