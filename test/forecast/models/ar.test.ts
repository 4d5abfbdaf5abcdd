// AR(p, d) against an ordinary / weighted least-squares solve by ml-matrix on the same rows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Matrix, solve } from 'ml-matrix';
import { seededRng } from '../../../src/core/rng.js';
import { ArForecaster } from '../../../src/forecast/models/ar.js';
import { feed } from './helpers.js';

/** y_t = c + Σ phi_i y_{t-i} + e_t. */
function arProcess(n: number, c: number, phi: number[], seed: number, sd = 1): Float64Array {
  const rng = seededRng(seed);
  const y = new Float64Array(n);
  const mean = c / (1 - phi.reduce((s, v) => s + v, 0));
  for (let t = 0; t < n; t++) {
    let v = c + sd * rng.normal();
    for (let i = 0; i < phi.length; i++) v += phi[i]! * (t - 1 - i >= 0 ? y[t - 1 - i]! : mean);
    y[t] = v;
  }
  return y;
}

function diff(y: ArrayLike<number>, d: number): number[] {
  let z = Array.from(y);
  for (let k = 0; k < d; k++) z = z.slice(1).map((v, i) => v - z[i]!);
  return z;
}

/** Least squares by ml-matrix: rows [1, z_{t-1}..z_{t-p}] for the given target times, weights optional. */
function mlFit(z: number[], p: number, times: number[], weights?: number[]): number[] {
  const X = times.map((t, r) => {
    const s = weights ? Math.sqrt(weights[r]!) : 1;
    return [s, ...Array.from({ length: p }, (_, i) => s * z[t - 1 - i]!)];
  });
  const Y = times.map((t, r) => [(weights ? Math.sqrt(weights[r]!) : 1) * z[t]!]);
  return solve(new Matrix(X), new Matrix(Y)).to1DArray();
}

function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= tol * Math.max(1, Math.abs(b[i]!)), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

test('AR(3) over a sliding window equals the ml-matrix least-squares solve of the same rows', () => {
  const y = arProcess(700, 2, [0.5, -0.2, 0.1], 1);
  const W = 200;
  const model = feed(new ArForecaster({ p: 3, window: W, refitEvery: 1, ridge: 0 }), y);
  const times = Array.from({ length: W }, (_, i) => y.length - W + i);
  assertClose(model.coefficients!, mlFit(Array.from(y), 3, times), 1e-8, 'coef');
});

test('ARIMA(2,1,0) with forgetting equals the weighted least-squares solve (weights lambda^age)', () => {
  const rng = seededRng(2);
  const y = new Float64Array(400);
  let dz = 0;
  y[0] = 50;
  for (let t = 1; t < y.length; t++) {
    dz = 0.6 * dz + 0.3 + rng.normal();
    y[t] = y[t - 1]! + dz;
  }
  const lambda = 0.99;
  const model = feed(new ArForecaster({ p: 2, d: 1, lambda, refitEvery: 1, ridge: 0 }), y);
  const z = diff(y, 1);
  const times = Array.from({ length: z.length - 2 }, (_, i) => i + 2);
  const weights = times.map((t) => lambda ** (z.length - 1 - t));
  assertClose(model.coefficients!, mlFit(z, 2, times, weights), 1e-7, 'coef');
});

test('the forecast is the AR recursion on the differences, then integrated (d = 2)', () => {
  const rng = seededRng(3);
  const y = Float64Array.from({ length: 300 }, (_, t) => 0.01 * t * t + 3 * Math.sin(t / 5) + 0.3 * rng.normal());
  const model = feed(new ArForecaster({ p: 2, d: 2, refitEvery: 1, clipMargin: 100 }), y);
  const [c, a1, a2] = Array.from(model.coefficients!);
  const ys = Array.from(y);
  const out: number[] = [];
  for (let h = 0; h < 10; h++) {
    const n = ys.length;
    const z1 = ys[n - 1]! - 2 * ys[n - 2]! + ys[n - 3]!;
    const z2 = ys[n - 2]! - 2 * ys[n - 3]! + ys[n - 4]!;
    const z = c! + a1! * z1 + a2! * z2;
    const next = z + 2 * ys[n - 1]! - ys[n - 2]!;
    ys.push(next);
    out.push(next);
  }
  assertClose(model.forecast(10), out, 1e-9, 'forecast');
});

test('AR(2) recovers the coefficients of a simulated process', () => {
  const y = arProcess(6000, 2, [0.6, -0.3], 4);
  const model = feed(new ArForecaster({ p: 2, lambda: 0.9995 }), y);
  const [c, a1, a2] = Array.from(model.coefficients!);
  assert.ok(Math.abs(a1! - 0.6) < 0.05, `phi1 ${a1}`);
  assert.ok(Math.abs(a2! + 0.3) < 0.05, `phi2 ${a2}`);
  assert.ok(Math.abs(c! / (1 - a1! - a2!) - 2 / 0.7) < 0.2, `mean ${c! / (1 - a1! - a2!)}`);
});

test('a constant series (singular X\'X) forecasts the constant, never NaN', () => {
  for (const ridge of [0, 1e-6]) {
    const model = feed(new ArForecaster({ p: 3, ridge, refitEvery: 1 }), new Float64Array(100).fill(7.5));
    assert.notEqual(model.coefficients, null);
    for (const v of model.forecast(50)) assert.ok(Math.abs(v - 7.5) < 1e-6, `ridge ${ridge}: ${v}`);
  }
});

test('explosive fits are clipped to a band around the recent data', () => {
  const y = Float64Array.from({ length: 120 }, (_, t) => 1.08 ** t);
  const model = feed(new ArForecaster({ p: 2, bandSamples: 50, clipMargin: 0.5 }), y);
  const recent = y.subarray(y.length - 50);
  const lo = Math.min(...recent);
  const hi = Math.max(...recent);
  for (const v of model.forecast(1000)) {
    assert.ok(Number.isFinite(v));
    assert.ok(v >= lo - 0.5 * (hi - lo) - 1e-9 && v <= hi + 0.5 * (hi - lo) + 1e-9, `${v} outside the band`);
  }
});

test('rows touching a missing sample are left out of the fit', () => {
  const y = arProcess(400, 1, [0.7, -0.2], 5);
  const gappy = Float64Array.from(y, (v, t) => (t === 300 || t === 350 ? NaN : v));
  const W = 150;
  const model = feed(new ArForecaster({ p: 2, window: W, refitEvery: 1, ridge: 0 }), gappy);
  // Rows t in the window whose span t-2..t avoids 300 and 350.
  const times = Array.from({ length: W }, (_, i) => y.length - W + i).filter((t) => !(t >= 300 && t <= 302) && !(t >= 350 && t <= 352));
  assertClose(model.coefficients!, mlFit(Array.from(y), 2, times), 1e-8, 'coef');
  for (const v of model.forecast(20)) assert.ok(Number.isFinite(v));
});

test('before the first fit the forecast is the last finite value; before any, NaN', () => {
  const model = new ArForecaster({ p: 3 });
  assert.ok(Number.isNaN(model.forecast(1)[0]!));
  model.update(NaN);
  model.update(4);
  model.update(NaN);
  assert.deepEqual(Array.from(model.forecast(2)), [4, 4]);
  assert.equal(model.count, 3);
  assert.equal(model.coefficients, null);
});
