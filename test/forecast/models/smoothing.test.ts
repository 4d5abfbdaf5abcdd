// SES, damped Holt and Holt-Winters against hand computations, a textbook recursion written
// independently below, and augurs (Rust ETS / MSTL compiled to WASM) on synthetic series.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initSync as initEts, AutoETS } from '@bsull/augurs/ets';
import { initSync as initMstl, MSTL } from '@bsull/augurs/mstl';
import { seededRng } from '../../../src/core/rng.js';
import type { Forecaster } from '../../../src/forecast/types.js';
import { HoltForecaster } from '../../../src/forecast/models/holt.js';
import { HoltWintersForecaster } from '../../../src/forecast/models/holt-winters.js';
import { SesForecaster } from '../../../src/forecast/models/ses.js';
import { augursWasm, feed, mae, seasonalSeries } from './helpers.js';

initEts({ module: augursWasm('ets') });
initMstl({ module: augursWasm('mstl') });

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= tol * Math.max(1, Math.abs(expected[i]!)), `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

test('SES by hand: y = 10, 20, 15 with alpha 0.5 gives level 15', () => {
  const m = feed(new SesForecaster({ alpha: 0.5 }), [10, 20, 15]);
  assert.deepEqual(Array.from(m.forecast(3)), [15, 15, 15]);
  assert.equal(m.count, 3);
});

test('SES matches the textbook recursion at every origin', () => {
  const rng = seededRng(3);
  const y = Array.from({ length: 200 }, (_, t) => 20 + Math.sin(t / 9) * 5 + rng.normal());
  const alpha = 0.37;
  const m = new SesForecaster({ alpha });
  let l = y[0]!;
  for (let t = 0; t < y.length; t++) {
    if (t > 0) l = alpha * y[t]! + (1 - alpha) * l;
    m.update(y[t]!);
    assert.ok(Math.abs(m.forecast(1)[0]! - l) < 1e-12);
  }
});

test('Holt by hand: y = 10, 12, 13, 15, alpha = beta = 0.5, phi = 1', () => {
  // l1 = 12, b1 = 2; l2 = .5*13 + .5*14 = 13.5, b2 = .5*1.5 + .5*2 = 1.75;
  // l3 = .5*15 + .5*15.25 = 15.125, b3 = .5*1.625 + .5*1.75 = 1.6875.
  const m = feed(new HoltForecaster({ alpha: 0.5, beta: 0.5, phi: 1 }), [10, 12, 13, 15]);
  close(m.forecast(2), [15.125 + 1.6875, 15.125 + 2 * 1.6875], 1e-12, 'holt');
});

test('damped Holt matches the textbook recursion (fpp3 8.2) with phi < 1', () => {
  const rng = seededRng(4);
  const y = Array.from({ length: 150 }, (_, t) => 5 + 0.3 * t + 2 * rng.normal());
  const [alpha, beta, phi] = [0.6, 0.2, 0.9];
  const m = feed(new HoltForecaster({ alpha, beta, phi }), y);
  let l = y[1]!;
  let b = y[1]! - y[0]!;
  for (let t = 2; t < y.length; t++) {
    const l1 = alpha * y[t]! + (1 - alpha) * (l + phi * b);
    b = beta * (l1 - l) + (1 - beta) * phi * b;
    l = l1;
  }
  const expected = [1, 2, 3, 10].map((h) => l + b * Array.from({ length: h }, (_, j) => phi ** (j + 1)).reduce((s, v) => s + v, 0));
  const f = m.forecast(10);
  close([f[0]!, f[1]!, f[2]!, f[9]!], expected, 1e-12, 'damped holt');
});

/** Holt-Winters additive damped, written with whole arrays as in a textbook (no ring buffer). */
function textbookHoltWinters(y: number[], m: number, alpha: number, beta: number, gamma: number, phi: number, horizon: number): number[] {
  const k = 2;
  const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
  const M = [mean(y.slice(0, m)), mean(y.slice(m, 2 * m))];
  const b0 = (M[1]! - M[0]!) / m;
  const l0 = M[0]! - (b0 * (m + 1)) / 2;
  const s0: number[] = [];
  for (let i = 0; i < m; i++) {
    let sum = 0;
    for (let j = 0; j < k; j++) sum += y[j * m + i]! - (M[j]! + b0 * (i - (m - 1) / 2));
    s0.push(sum / k);
  }
  const c = mean(s0);
  // S[t + m] is the season at time t; S[0..m-1] are the initial states (times -m..-1).
  const S = s0.map((v) => v - c);
  const L = [l0];
  const B = [b0];
  for (let t = 0; t < y.length; t++) {
    const lPrev = L[t]!;
    const bPrev = B[t]!;
    const sOld = S[t]!;
    const l = alpha * (y[t]! - sOld) + (1 - alpha) * (lPrev + phi * bPrev);
    const b = beta * (l - lPrev) + (1 - beta) * phi * bPrev;
    S.push(gamma * (y[t]! - lPrev - phi * bPrev) + (1 - gamma) * sOld);
    L.push(l);
    B.push(b);
  }
  const n = y.length;
  const out: number[] = [];
  for (let h = 1; h <= horizon; h++) {
    let damp = 0;
    for (let j = 1; j <= h; j++) damp += phi ** j;
    const kk = Math.floor((h - 1) / m);
    out.push(L[n]! + damp * B[n]! + S[n - 1 + h - m * kk]!);
  }
  return out;
}

test('Holt-Winters matches the textbook recursion (fpp3 8.3, damped additive) with a given period', () => {
  const m = 12;
  const y = Array.from(seasonalSeries({ n: 12 * 9 + 5, period: m, slope: 0.2, noise: 0.8, seed: 11 }));
  const params = { alpha: 0.4, beta: 0.05, gamma: 0.3, phi: 0.95 };
  const model = feed(new HoltWintersForecaster({ ...params, period: m }), y);
  assert.equal(model.state, 'seasonal');
  assert.equal(model.period, m);
  const expected = textbookHoltWinters(y, m, params.alpha, params.beta, params.gamma, params.phi, 30);
  close(model.forecast(30), expected, 1e-9, 'holt-winters');
});

test('Holt-Winters with period 0 is damped Holt', () => {
  const y = Array.from(seasonalSeries({ n: 100, period: 10, seed: 2 }));
  const hw = feed(new HoltWintersForecaster({ alpha: 0.3, beta: 0.1, phi: 0.9, period: 0 }), y);
  const holt = feed(new HoltForecaster({ alpha: 0.3, beta: 0.1, phi: 0.9 }), y);
  assert.equal(hw.state, 'holt');
  close(hw.forecast(20), holt.forecast(20), 0, 'hw(0) vs holt');
});

test("Holt-Winters 'auto' finds the season among the candidates and then runs seasonal", () => {
  const y = seasonalSeries({ n: 24 * 10, period: 24, noise: 1, seed: 5 });
  const hw = new HoltWintersForecaster({ period: 'auto', candidates: [24, 168] });
  feed(hw, y, 0, 47);
  assert.equal(hw.state, 'searching');
  assert.equal(hw.period, 0);
  feed(hw, y, 47, 48);
  assert.equal(hw.state, 'seasonal', 'detected after two periods of the shortest candidate');
  assert.equal(hw.period, 24);
});

test("Holt-Winters 'auto' on white noise keeps forecasting as damped Holt, and catches a season that starts late", () => {
  const params = { alpha: 0.3, beta: 0.05, phi: 0.9 };
  const hw = new HoltWintersForecaster({ ...params, period: 'auto', candidates: [24] });
  const holt = new HoltForecaster(params);
  const rng = seededRng(9);
  for (let t = 0; t < 24 * 30; t++) {
    const v = rng.normal();
    hw.update(v);
    holt.update(v);
  }
  assert.equal(hw.state, 'searching', 'white noise: no season');
  close(hw.forecast(10), holt.forecast(10), 0, 'searching = holt');
  feed(hw, seasonalSeries({ n: 24 * 3, period: 24, amplitude: 10, noise: 1, seed: 6 }));
  assert.equal(hw.state, 'seasonal', 'the season that started late is found');
  assert.equal(hw.period, 24);
});

// --- Against augurs (independent implementations; they optimise their parameters, we do not) ---

/** Mean over several origins of the MAE of an h-step forecast against the noise-free truth. */
function rollingError(
  y: Float64Array,
  truth: Float64Array,
  origins: number[],
  horizon: number,
  ours: () => Forecaster,
  theirs: (train: Float64Array) => number[],
): { ours: number; theirs: number } {
  let a = 0;
  let b = 0;
  for (const o of origins) {
    const model = ours();
    feed(model, y, 0, o);
    const t = truth.subarray(o, o + horizon);
    a += mae(model.forecast(horizon), t);
    b += mae(theirs(y.subarray(0, o)), t);
  }
  return { ours: a / origins.length, theirs: b / origins.length };
}

test('SES forecast error is on par with augurs AutoETS on a local-level series', () => {
  const rng = seededRng(21);
  const n = 400;
  const truth = new Float64Array(n);
  const y = new Float64Array(n);
  let level = 100;
  for (let t = 0; t < n; t++) {
    level += 0.5 * rng.normal(); // q = 0.25: optimal alpha about 0.39
    truth[t] = level;
    y[t] = level + rng.normal();
  }
  // Truth for the forecast is the level at the origin (a random walk's best forecast).
  const flatTruth = new Float64Array(n);
  const origins = [150, 200, 250, 300, 350];
  let ours = 0;
  let theirs = 0;
  for (const o of origins) {
    flatTruth.fill(truth[o - 1]!);
    const r = rollingError(y, flatTruth, [o], 10, () => new SesForecaster({ alpha: 0.39 }), (train) => {
      const ets = new AutoETS(1, 'ZZN');
      ets.fit(train);
      return ets.predict(10).point;
    });
    ours += r.ours;
    theirs += r.theirs;
  }
  assert.ok(ours <= theirs * 1.3 + 0.05, `ses ${ours.toFixed(3)} vs augurs ${theirs.toFixed(3)}`);
});

test('damped Holt forecast error is on par with augurs AutoETS (AAN) on a trending series', () => {
  const rng = seededRng(22);
  const n = 300;
  const truth = Float64Array.from({ length: n + 30 }, (_, t) => 10 + 0.5 * t);
  const y = Float64Array.from({ length: n }, (_, t) => truth[t]! + 2 * rng.normal());
  const r = rollingError(y, truth, [120, 160, 200, 240, 280], 20, () => new HoltForecaster({ alpha: 0.1, beta: 0.02, phi: 1 }), (train) => {
    const ets = new AutoETS(1, 'AAN');
    ets.fit(train);
    return ets.predict(20).point;
  });
  assert.ok(r.ours <= r.theirs * 1.3 + 0.05, `holt ${r.ours.toFixed(3)} vs augurs ${r.theirs.toFixed(3)}`);
  const naive = 10 + 0.5 * 200; // a flat forecast misses the trend by far more
  assert.ok(r.ours < Math.abs(truth[210]! - naive) / 2);
});

test('Holt-Winters forecast error is on par with augurs MSTL+ETS on a clearly seasonal series', () => {
  const period = 24;
  const n = period * 16;
  const y = seasonalSeries({ n, period, slope: 0.02, amplitude: 10, noise: 1, seed: 31 });
  const truth = seasonalSeries({ n: n + period * 2, period, slope: 0.02, amplitude: 10, noise: 0, seed: 31 });
  const origins = [period * 8, period * 10 + 5, period * 12 + 11, period * 14 - 3];
  const r = rollingError(y, truth, origins, period, () => new HoltWintersForecaster({ period, alpha: 0.1, beta: 0.01, gamma: 0.1, phi: 1 }), (train) => {
    const mstl = MSTL.ets([period]);
    mstl.fit(train);
    return mstl.predict(period).point;
  });
  // Noise sd is 1 (MAE of a perfect forecast against noisy data would be 0.8; against truth 0).
  assert.ok(r.ours <= r.theirs * 1.3 + 0.05, `holt-winters ${r.ours.toFixed(3)} vs augurs ${r.theirs.toFixed(3)}`);
  assert.ok(r.ours < 1, `holt-winters error ${r.ours.toFixed(3)} should be well below the amplitude 10`);
});

test('Holt-Winters carries on through missing samples without losing the season', () => {
  const period = 24;
  const y = seasonalSeries({ n: period * 12, period, noise: 0.5, seed: 41 });
  const truth = seasonalSeries({ n: period * 14, period, noise: 0, seed: 41 });
  const gappy = Float64Array.from(y, (v, t) => (t % 7 === 3 || (t > 200 && t < 215) ? NaN : v));
  const model = feed(new HoltWintersForecaster({ period }), gappy);
  const f = model.forecast(period);
  for (const v of f) assert.ok(Number.isFinite(v));
  assert.ok(mae(f, truth.subarray(y.length, y.length + period)) < 1.5);
});
