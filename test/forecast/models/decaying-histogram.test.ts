// The VPA decaying histogram: bucket layout, VPA's decay scenarios, and percentiles against a
// brute-force weighted quantile over the raw samples (property test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DecayingHistogram, DecayingHistogramForecaster } from '../../../src/forecast/models/decaying-histogram.js';
import { seededRng } from '../../../src/core/rng.js';

const HOUR = 3600;

test('bucket layout follows VPA: first 10, ratio 2, max 100 -> starts 0, 10, 30, 70, 150', () => {
  const h = new DecayingHistogram({ firstBucket: 10, ratio: 2, maxValue: 100 });
  assert.equal(h.size, 5); // ceil(log2(100 * 1 / 10 + 1)) + 1
  assert.deepEqual([0, 1, 2, 3, 4].map((i) => h.bucketStart(i)), [0, 10, 30, 70, 150]);
  assert.equal(h.bucketEnd(4), Infinity);
  assert.deepEqual([-1, 0, 9.999, 10, 29.99, 30, 69, 70, 149, 150, 1e9].map((v) => h.findBucket(v)), [0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
});

test("VPA's CPU layout (0.001 core, 5 %, 1000 cores) has the same bucket count as the Go formula", () => {
  const h = new DecayingHistogram({ firstBucket: 0.001, maxValue: 1000 });
  assert.equal(h.size, Math.ceil(Math.log((1000 * 0.05) / 0.001 + 1) / Math.log(1.05)) + 1);
  // Every bucket boundary maps to its own bucket despite floating-point logarithms.
  for (let i = 1; i < h.size; i++) assert.equal(h.findBucket(h.bucketStart(i)), i);
});

test('empty: percentile 0, isEmpty, mean NaN', () => {
  const h = new DecayingHistogram({ firstBucket: 1, maxValue: 100, halfLifeSeconds: HOUR });
  assert.ok(h.isEmpty());
  for (const p of [0, 0.5, 1]) assert.equal(h.percentile(p), 0);
  assert.ok(Number.isNaN(h.mean()));
});

test('decay (VPA TestSimpleDecay): a weight-1000 sample 20 half-lives old weighs less than a fresh weight-1 one', () => {
  const h = new DecayingHistogram({ firstBucket: 1, ratio: 2, maxValue: 100, halfLifeSeconds: HOUR });
  const t0 = 1_234_567_890;
  h.addSample(40, 1000, t0); // bucket [30, 70)
  h.addSample(5, 1, t0 + 20 * HOUR); // bucket [0, 1)... [3, 7)
  // 1000 * 2^-20 < 0.001 of the fresh weight: the 99.9th percentile is the fresh sample's bucket end.
  assert.equal(h.percentile(0.999), h.bucketEnd(h.findBucket(5)));
  assert.equal(h.percentile(1), h.bucketEnd(h.findBucket(40)));
});

test('long-term decay (VPA TestLongtermDecay): 101 half-lives apart, the reference moves and weights stay finite', () => {
  const h = new DecayingHistogram({ firstBucket: 1, ratio: 2, maxValue: 100, halfLifeSeconds: HOUR });
  const t0 = 1_234_567_890;
  h.addSample(40, 1, t0);
  h.addSample(5, 1, t0 + 101 * HOUR);
  assert.ok(Number.isFinite(h.totalWeight) && h.totalWeight > 0);
  assert.equal(h.referenceTimeS % HOUR, 0, 'the reference time is a multiple of the half life');
  // The old sample is now below epsilon: the histogram sees only the fresh one.
  assert.equal(h.percentile(1), h.bucketEnd(h.findBucket(5)));
  for (let k = 0; k < 2000; k++) h.addSample(5, 1, t0 + (101 + k) * HOUR);
  assert.ok(Number.isFinite(h.totalWeight));
});

test('percentiles with decay (VPA TestDecayingHistogramPercentiles, on ratio-2 buckets)', () => {
  const h = new DecayingHistogram({ firstBucket: 1, ratio: 2, maxValue: 100, halfLifeSeconds: HOUR });
  const t0 = 1_234_567_890;
  // Values and weights 1..4, one half-life apart: decayed weights 1/8, 2/4, 3/2, 4 (total 6.125).
  for (let i = 1; i <= 4; i++) h.addSample(i, i, t0 + (i - 1) * HOUR);
  // Buckets [1,3) holds 0.625 (10.2 %), [3,7) holds 5.5.
  assert.equal(h.percentile(0), 3);
  assert.equal(h.percentile(0.1), 3);
  assert.equal(h.percentile(0.11), 7);
  assert.equal(h.percentile(1), 7);
  assert.ok(Math.abs(h.mean() - (1 / 8 + 1 + 4.5 + 16) / 6.125) < 1e-12);
});

test('merge (VPA TestDecayingHistogramMerge) equals adding every sample to one histogram; the other is untouched', () => {
  const opts = { firstBucket: 0.5, ratio: 1.3, maxValue: 50, halfLifeSeconds: HOUR };
  const t0 = 1_234_567_890;
  const h1 = new DecayingHistogram(opts);
  h1.addSample(1, 1, t0);
  h1.addSample(2, 1, t0 + HOUR);
  const h2 = new DecayingHistogram(opts);
  h2.addSample(2, 1, t0 + 2 * HOUR);
  h2.addSample(3, 1, t0 + HOUR);
  const h2Before = h2.clone();
  const expected = new DecayingHistogram(opts);
  expected.addSample(2, 1, t0 + 2 * HOUR);
  expected.addSample(2, 1, t0 + HOUR);
  expected.addSample(3, 1, t0 + HOUR);
  expected.addSample(1, 1, t0);
  h1.merge(h2);
  for (let p = 0; p <= 1; p += 0.05) assert.equal(h1.percentile(p), expected.percentile(p));
  assert.ok(Math.abs(h1.totalWeight - expected.totalWeight) < 1e-12 * expected.totalWeight);
  assert.ok(Math.abs(h1.mean() - expected.mean()) < 1e-12);
  assert.equal(h2.totalWeight, h2Before.totalWeight);
  assert.equal(h2.referenceTimeS, h2Before.referenceTimeS);
  assert.throws(() => h1.merge(new DecayingHistogram({ ...opts, ratio: 1.05 })), /different options/);
});

test('subtractSample removes what addSample added', () => {
  const h = new DecayingHistogram({ firstBucket: 0.01, maxValue: 100, halfLifeSeconds: HOUR });
  h.addSample(3, 1, 0);
  h.addSample(50, 2, HOUR);
  h.subtractSample(50, 2, HOUR);
  assert.equal(h.percentile(1), h.bucketEnd(h.findBucket(3)));
  h.subtractSample(3, 5, 0); // more than there is: clamps at empty
  assert.ok(h.isEmpty());
  assert.throws(() => h.addSample(1, -1, 0), /weight/);
});

/** Smallest sample value whose cumulative decayed weight reaches p * total (brute force). */
function bruteQuantile(samples: Array<{ v: number; w: number }>, p: number): number {
  const sorted = [...samples].sort((a, b) => a.v - b.v);
  const total = sorted.reduce((s, x) => s + x.w, 0);
  let cum = 0;
  for (const x of sorted) {
    cum += x.w;
    if (cum >= p * total) return x.v;
  }
  return sorted[sorted.length - 1]!.v;
}

test('property: every percentile is within one bucket of the brute-force weighted quantile of the raw samples', () => {
  const halfLife = 6 * HOUR;
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          v: fc.double({ min: 0, max: 900, noNaN: true }),
          w: fc.double({ min: 0.1, max: 10, noNaN: true }),
          dt: fc.integer({ min: 0, max: 2 * HOUR }),
        }),
        { minLength: 1, maxLength: 80 },
      ),
      fc.double({ min: 0, max: 1, noNaN: true }),
      (raw, p) => {
        const h = new DecayingHistogram({ firstBucket: 0.01, maxValue: 1000, halfLifeSeconds: halfLife });
        let t = 1_700_000_000;
        const samples: Array<{ v: number; w: number }> = [];
        for (const s of raw) {
          t += s.dt;
          h.addSample(s.v, s.w, t);
          samples.push({ v: s.v, w: s.w * 2 ** ((t - 1_700_000_000) / halfLife) });
        }
        const q = bruteQuantile(samples, p);
        const got = h.percentile(p);
        const b = h.findBucket(q);
        // VPA returns the END of the bucket holding the quantile (the last bucket has no end: its start).
        const expected = b === h.size - 1 ? h.bucketStart(b) : h.bucketEnd(b);
        if (got === expected) return true;
        // Rounding in the two cumulative sums may tip an exact tie into the neighbouring bucket.
        return Math.abs(h.findBucket(got - 1e-12) - b) <= 1 && got >= q;
      },
    ),
    { numRuns: 1000, seed: 42 },
  );
});

test('forecaster: flat quantiles and mean; buckets adapt to percent, cores and MiB', () => {
  for (const [unit, scale] of [
    ['percent', 40],
    ['cores', 0.25],
    ['MiB', 3000],
  ] as const) {
    const rng = seededRng(7);
    const m = new DecayingHistogramForecaster({ halfLifeSeconds: 86_400, stepSeconds: 300 });
    const values: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const v = scale * (1 + 0.3 * rng.normal());
      values.push(Math.max(0, v));
      m.update(v);
    }
    const [q50, q90] = m.quantiles(3, [0.5, 0.9]);
    assert.equal(q50!.length, 3);
    assert.equal(q50![0], q50![2]);
    // Weighted truth: weights 2^(i*300/86400).
    const samples = values.map((v, i) => ({ v, w: 2 ** ((i * 300) / 86_400) }));
    for (const [got, p] of [
      [q90![0]!, 0.9],
      [q50![0]!, 0.5],
    ] as const) {
      const truth = bruteQuantile(samples, p);
      assert.ok(got >= truth && got <= truth * 1.06, `${unit} p${p}: ${got} vs ${truth}`);
    }
    const mean = m.forecast(2);
    const wsum = samples.reduce((s, x) => s + x.w, 0);
    assert.ok(Math.abs(mean[0]! - samples.reduce((s, x) => s + x.w * x.v, 0) / wsum) < 1e-9 * scale);
    const first = m.histogram!.firstBucket;
    assert.ok(first <= scale / 100 && first >= scale / 100_000, `${unit}: first bucket ${first}`);
  }
});

test('forecaster: zeros before the first non-zero sample keep their weight; missing samples add none', () => {
  const m = new DecayingHistogramForecaster({ halfLifeSeconds: 1e12 }); // no decay to speak of
  assert.ok(Number.isNaN(m.forecast(1)[0]!));
  for (let i = 0; i < 9; i++) m.update(0);
  assert.deepEqual(Array.from(m.quantiles(1, [0.5])[0]!), [0]);
  m.update(NaN);
  m.update(10);
  assert.equal(m.count, 11);
  const [q50, q95] = m.quantiles(1, [0.5, 0.95]);
  assert.ok(q50![0]! <= m.histogram!.firstBucket, 'the median is among the nine zeros');
  assert.ok(q95![0]! >= 10 && q95![0]! <= 10.5);
  assert.ok(Math.abs(m.forecast(1)[0]! - 1) < 1e-6, 'mean of nine zeros and one 10');
});
