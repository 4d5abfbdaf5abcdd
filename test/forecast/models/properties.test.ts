// Properties every model must have: forecasts depend only on past samples, updates are
// deterministic, missing and infinite samples never poison the state, constants forecast constants.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createModel, type ModelSpec } from '../../../src/forecast/models/index.js';
import { isQuantileForecaster } from '../../../src/forecast/types.js';

/** Small parameters so that every code path (warm-up, fits, refits) runs within short series. */
const SPECS: ModelSpec[] = [
  { kind: 'seasonal-naive', period: 1 },
  { kind: 'seasonal-naive', period: 5 },
  { kind: 'ses', alpha: 0.3 },
  { kind: 'holt', alpha: 0.5, beta: 0.2, phi: 0.9 },
  { kind: 'holt-winters', period: 6 },
  { kind: 'holt-winters', period: 'auto', candidates: [4, 8] },
  { kind: 'ar', p: 2, d: 1, refitEvery: 3 },
  { kind: 'ar', p: 3, window: 20, refitEvery: 2 },
  { kind: 'decaying-histogram', halfLifeSeconds: 3600 },
  { kind: 'fft-periodic', window: 24, topK: 3, refitEvery: 4, minSamples: 8 },
  { kind: 'fft-periodic', window: 16, topK: 2, refitEvery: 3, minSamples: 6, detrend: 'linear' },
];

const sample = fc.oneof(
  { weight: 20, arbitrary: fc.double({ min: -1e4, max: 1e4, noNaN: true }) },
  { weight: 2, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity) },
);
const series = fc.array(sample, { minLength: 0, maxLength: 120 });

function run(spec: ModelSpec, values: readonly number[]) {
  const m = createModel(spec);
  for (const v of values) m.update(v);
  return m;
}

const label = (s: ModelSpec) => JSON.stringify(s);

test('forecasts depend only on past samples, and a returned forecast never changes afterwards', () => {
  for (const spec of SPECS) {
    fc.assert(
      fc.property(series, series, fc.integer({ min: 0, max: 30 }), (past, future, horizon) => {
        const a = run(spec, past);
        const b = run(spec, [...past]); // a copy of the same past; its future differs below
        const fa = a.forecast(horizon);
        const kept = Float64Array.from(fa);
        const fb = b.forecast(horizon);
        for (const v of future) b.update(v);
        for (const v of future) a.update(-v);
        for (let h = 0; h < horizon; h++) {
          if (!Object.is(kept[h], fb[h])) return false;
          if (!Object.is(fa[h], kept[h])) return false; // not a view of internal state
        }
        return true;
      }),
      { numRuns: 60, seed: 1 },
    );
  }
});

test('update() is deterministic: the same samples give bit-identical forecasts and quantiles', () => {
  for (const spec of SPECS) {
    fc.assert(
      fc.property(series, (values) => {
        const a = run(spec, values);
        const b = run(spec, values);
        const fa = a.forecast(12);
        const fb = b.forecast(12);
        for (let h = 0; h < 12; h++) if (!Object.is(fa[h], fb[h])) return false;
        if (isQuantileForecaster(a) && isQuantileForecaster(b)) {
          const qa = a.quantiles(4, [0.1, 0.5, 0.9]);
          const qb = b.quantiles(4, [0.1, 0.5, 0.9]);
          for (let k = 0; k < 3; k++) for (let h = 0; h < 4; h++) if (!Object.is(qa[k]![h], qb[k]![h])) return false;
        }
        return a.count === values.length;
      }),
      { numRuns: 60, seed: 2 },
    );
  }
});

test('missing and infinite samples never poison a model: forecasts stay finite after the first finite sample', () => {
  for (const spec of SPECS) {
    fc.assert(
      fc.property(series, (values) => {
        const m = run(spec, values);
        const f = m.forecast(40);
        const anyFinite = values.some((v) => Number.isFinite(v));
        for (const v of f) if (anyFinite !== Number.isFinite(v)) return false;
        return true;
      }),
      { numRuns: 80, seed: 3 },
    );
  }
});

test('a constant series forecasts the constant (the histogram: its bucket end, within 5 %)', () => {
  for (const spec of SPECS) {
    for (const c of [0.37, 42, 3000]) {
      const m = run(spec, new Array(150).fill(c));
      const f = m.forecast(50);
      for (const v of f) assert.ok(Math.abs(v - c) <= 1e-6 * c, `${label(spec)} constant ${c}: ${v}`);
      if (isQuantileForecaster(m)) {
        for (const row of m.quantiles(5, [0, 0.5, 0.95, 1])) for (const v of row) assert.ok(v >= c && v <= c * 1.05 + 1e-12, `${label(spec)} quantile ${v}`);
      }
    }
  }
});

test('histogram quantiles never cross (monotone in the level)', () => {
  fc.assert(
    fc.property(series, fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 2, maxLength: 6 }), (values, levels) => {
      const m = run({ kind: 'decaying-histogram', halfLifeSeconds: 1800 }, values);
      if (!isQuantileForecaster(m)) return false;
      const sorted = [...levels].sort((a, b) => a - b);
      const q = m.quantiles(2, sorted);
      for (let k = 1; k < q.length; k++) if (q[k]![0]! < q[k - 1]![0]!) return false;
      return true;
    }),
    { numRuns: 200, seed: 4 },
  );
});

test('horizon 0 gives an empty forecast; a bad horizon is refused naming the field', () => {
  for (const spec of SPECS) {
    const m = run(spec, [1, 2, 3]);
    assert.equal(m.forecast(0).length, 0);
    assert.throws(() => m.forecast(-1), /horizon/);
    assert.throws(() => m.forecast(1.5), /horizon/);
  }
});
