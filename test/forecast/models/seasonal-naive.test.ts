// Seasonal naive: y[t+h] = y[t+h-period*k], naive with period 1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SeasonalNaiveForecaster } from '../../../src/forecast/models/seasonal-naive.js';
import { feed } from './helpers.js';

test('period 1 is the naive forecaster (last value, flat)', () => {
  const m = feed(new SeasonalNaiveForecaster({ period: 1 }), [3, 9, 4]);
  assert.deepEqual(Array.from(m.forecast(3)), [4, 4, 4]);
  assert.equal(m.name, 'seasonal-naive(1)');
});

test('property: the forecast equals y[t+h-period*ceil(h/period)] computed from the whole history', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 12 }),
      fc.array(fc.integer({ min: -100, max: 100 }), { minLength: 0, maxLength: 60 }),
      fc.integer({ min: 1, max: 40 }),
      (period, ys, horizon) => {
        const m = feed(new SeasonalNaiveForecaster({ period }), ys);
        const f = m.forecast(horizon);
        const t = ys.length - 1;
        for (let h = 1; h <= horizon; h++) {
          const src = t + h - period * Math.ceil(h / period);
          const want = ys.length === 0 ? NaN : src >= 0 ? ys[src]! : ys[t]!;
          if (!Object.is(f[h - 1], want)) return false;
        }
        return true;
      },
    ),
    { numRuns: 500, seed: 5 },
  );
});

test('a missing sample is imputed with the value one period earlier', () => {
  const m = feed(new SeasonalNaiveForecaster({ period: 3 }), [1, 2, 3, 4, NaN, 6]);
  // The NaN at t=4 takes y[1] = 2: next period forecasts 4, 2, 6.
  assert.deepEqual(Array.from(m.forecast(4)), [4, 2, 6, 4]);
  const early = feed(new SeasonalNaiveForecaster({ period: 3 }), [NaN, 5, Infinity]);
  assert.deepEqual(Array.from(early.forecast(3)), [5, 5, 5], 'unseen slots fall back to the last finite value');
  assert.equal(early.count, 3);
});
