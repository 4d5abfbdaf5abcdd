// The real DFT plan (fft.js, Bluestein for other lengths) against a direct DFT, and the FFT
// periodic forecaster on sums of sinusoids.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRng } from '../../../src/core/rng.js';
import { RealDftPlan } from '../../../src/forecast/models/dft.js';
import { FftPeriodicForecaster } from '../../../src/forecast/models/fft-periodic.js';
import { SeasonalNaiveForecaster } from '../../../src/forecast/models/seasonal-naive.js';
import { feed, mae, seasonalSeries } from './helpers.js';

function directDft(x: ArrayLike<number>): { re: number[]; im: number[] } {
  const n = x.length;
  const re: number[] = [];
  const im: number[] = [];
  for (let k = 0; k <= Math.floor(n / 2); k++) {
    let a = 0;
    let b = 0;
    for (let t = 0; t < n; t++) {
      const angle = (-2 * Math.PI * ((k * t) % n)) / n;
      a += x[t]! * Math.cos(angle);
      b += x[t]! * Math.sin(angle);
    }
    re.push(a);
    im.push(b);
  }
  return { re, im };
}

test('the DFT plan matches a direct O(n²) DFT for power-of-two and other lengths', () => {
  const rng = seededRng(1);
  for (const n of [2, 3, 8, 12, 100, 288, 1024, 2016]) {
    const x = Float64Array.from({ length: n }, () => 10 * rng.normal() + 3);
    const plan = new RealDftPlan(n);
    const half = Math.floor(n / 2) + 1;
    const re = new Float64Array(half);
    const im = new Float64Array(half);
    plan.transform(x, re, im);
    const want = directDft(x);
    let scale = 0;
    for (const v of want.re) scale = Math.max(scale, Math.abs(v));
    for (let k = 0; k < half; k++) {
      assert.ok(Math.abs(re[k]! - want.re[k]!) < 1e-9 * scale, `n=${n} re[${k}]`);
      assert.ok(Math.abs(im[k]! - want.im[k]!) < 1e-9 * scale, `n=${n} im[${k}]`);
    }
  }
});

/** 5 + 2 sin(2π·3t/W) + 0.7 cos(2π·11t/W + 0.4) + 0.3 sin(2π·40t/W): three whole-cycle tones. */
function tones(t: number, w: number): number {
  return 5 + 2 * Math.sin((2 * Math.PI * 3 * t) / w) + 0.7 * Math.cos((2 * Math.PI * 11 * t) / w + 0.4) + 0.3 * Math.sin((2 * Math.PI * 40 * t) / w);
}

test('a pure sum of sinusoids is reproduced exactly and extrapolated (window 256 and 2016)', () => {
  for (const window of [256, 2016]) {
    const model = new FftPeriodicForecaster({ window, topK: 3, refitEvery: 1 });
    const n = window + 37;
    for (let t = 0; t < n; t++) model.update(tones(t, window));
    assert.deepEqual(model.keptFrequencies.slice().sort((a, b) => a - b), [3, 11, 40]);
    const f = model.forecast(2 * window);
    for (let h = 0; h < f.length; h++) assert.ok(Math.abs(f[h]! - tones(n + h, window)) < 1e-9, `window ${window} h ${h + 1}: ${f[h]}`);
  }
});

test('between refits the forecast slides along the fitted signal', () => {
  const window = 240;
  const model = new FftPeriodicForecaster({ window, topK: 3, refitEvery: 1000, minSamples: window, anchorAlpha: 0 });
  for (let t = 0; t < window; t++) model.update(tones(t, window));
  // Feed 50 more samples that are NOT the signal: no refit, so forecasts still follow the fit.
  for (let t = window; t < window + 50; t++) model.update(0);
  const f = model.forecast(10);
  for (let h = 0; h < 10; h++) assert.ok(Math.abs(f[h]! - tones(window + 50 + h, window)) < 1e-9);
});

test('on a noisy daily series the filtered extrapolation beats seasonal naive', () => {
  const period = 48;
  const window = period * 7;
  const y = seasonalSeries({ n: window + 200, period, amplitude: 10, noise: 3, seed: 3 });
  const truth = seasonalSeries({ n: window + 200 + period, period, amplitude: 10, noise: 0, seed: 3 });
  let fftErr = 0;
  let naiveErr = 0;
  for (const origin of [window, window + 50, window + 100, window + 150]) {
    const fftModel = feed(new FftPeriodicForecaster({ window, topK: 4, refitEvery: 12 }), y, 0, origin);
    const naive = feed(new SeasonalNaiveForecaster({ period }), y, 0, origin);
    const t = truth.subarray(origin, origin + period);
    fftErr += mae(fftModel.forecast(period), t);
    naiveErr += mae(naive.forecast(period), t);
  }
  assert.ok(fftErr < 0.5 * naiveErr, `fft ${fftErr} vs seasonal naive ${naiveErr}`);
});

test('the level anchor follows a level shift that plain extrapolation wraps back from', () => {
  const window = 96;
  const signal = (t: number) => (t >= 150 ? 20 : 0) + 3 * Math.sin((2 * Math.PI * 4 * t) / window);
  const anchored = new FftPeriodicForecaster({ window, topK: 4, refitEvery: 8 });
  const plain = new FftPeriodicForecaster({ window, topK: 4, refitEvery: 8, anchorAlpha: 0 });
  for (let t = 0; t < 180; t++) {
    anchored.update(signal(t));
    plain.update(signal(t));
  }
  const truth = Float64Array.from({ length: 48 }, (_, h) => signal(180 + h));
  const a = mae(anchored.forecast(48), truth);
  const p = mae(plain.forecast(48), truth);
  assert.ok(a < 0.5 * p, `anchored ${a} vs plain ${p}`);
});

test("linear detrend extrapolates a trend that 'none' cannot", () => {
  const window = 200;
  const signal = (t: number) => 0.05 * t + 3 * Math.sin((2 * Math.PI * 4 * t) / window);
  const withTrend = new FftPeriodicForecaster({ window, topK: 2, refitEvery: 1, detrend: 'linear' });
  const plain = new FftPeriodicForecaster({ window, topK: 2, refitEvery: 1 });
  for (let t = 0; t < window; t++) {
    withTrend.update(signal(t));
    plain.update(signal(t));
  }
  const truth = Float64Array.from({ length: 50 }, (_, h) => signal(window + h));
  assert.ok(mae(withTrend.forecast(50), truth) < 1e-9);
  assert.ok(mae(plain.forecast(50), truth) > 1);
});

test('missing samples are imputed from the fit; before minSamples the last value; before anything NaN', () => {
  const model = new FftPeriodicForecaster({ window: 64, topK: 2, minSamples: 32 });
  assert.ok(Number.isNaN(model.forecast(1)[0]!));
  model.update(NaN);
  model.update(3);
  assert.deepEqual(Array.from(model.forecast(2)), [3, 3]);
  for (let t = 0; t < 200; t++) model.update(t % 9 === 0 ? NaN : tones(t, 64));
  for (const v of model.forecast(100)) assert.ok(Number.isFinite(v));
  assert.equal(model.count, 202);
});
