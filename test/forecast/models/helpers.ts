// Shared test helpers for the forecasting models: synthetic series, feeding, error measures.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { seededRng } from '../../../src/core/rng.js';
import type { Forecaster } from '../../../src/forecast/types.js';

/** Feeds every value of a series to a model, returns the model. */
export function feed<F extends Forecaster>(model: F, values: ArrayLike<number>, from = 0, to = values.length): F {
  for (let i = from; i < to; i++) model.update(values[i]!);
  return model;
}

/** A seasonal series: level + slope*t + amplitude*sin + second harmonic + Gaussian noise. */
export function seasonalSeries(opts: {
  n: number;
  period: number;
  level?: number;
  slope?: number;
  amplitude?: number;
  noise?: number;
  seed?: number;
}): Float64Array {
  const rng = seededRng(opts.seed ?? 1);
  const { n, period } = opts;
  const level = opts.level ?? 50;
  const slope = opts.slope ?? 0;
  const amp = opts.amplitude ?? 10;
  const noise = opts.noise ?? 1;
  const y = new Float64Array(n);
  for (let t = 0; t < n; t++) {
    const phase = (2 * Math.PI * t) / period;
    y[t] = level + slope * t + amp * Math.sin(phase) + 0.4 * amp * Math.cos(2 * phase + 0.7) + noise * rng.normal();
  }
  return y;
}

/** Gaussian white noise. */
export function whiteNoise(n: number, seed = 7, sd = 1): Float64Array {
  const rng = seededRng(seed);
  const y = new Float64Array(n);
  for (let t = 0; t < n; t++) y[t] = sd * rng.normal();
  return y;
}

/** Mean absolute error between two arrays of the same length. */
export function mae(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return s / a.length;
}

/** Bytes of a WASM file shipped by @bsull/augurs (its JS entry is initialised with initSync). */
export function augursWasm(module: 'ets' | 'mstl' | 'seasons'): Buffer {
  const url = import.meta.resolve(`@bsull/augurs/${module}`);
  return readFileSync(fileURLToPath(new URL(`${module}_bg.wasm`, url)));
}
