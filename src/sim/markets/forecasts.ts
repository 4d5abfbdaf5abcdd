// Forecasts of whole series computed once (the forecasting engine, fed causally), then read by
// several experiments: at(t) is the forecast made after samples 0..t, for steps t+1..t+horizon.
import { createEngine } from '../../forecast/engine.js';
import type { ProbForecast } from '../../forecast/types.js';

export interface SeriesForecastOptions {
  horizon: number;
  levels: readonly number[];
  stepSeconds: number;
  /** Forecast at every `every`-th sample; in between, the last forecast is read shifted. Default 1. */
  every?: number;
}

/** Compact store of one series' forecasts (mean and quantiles per origin and step). */
export class SeriesForecasts {
  constructor(
    readonly horizon: number,
    readonly levels: readonly number[],
    private readonly origins: Int32Array,
    private readonly mean: Float64Array,
    private readonly q: Float64Array,
  ) {}

  /** The latest forecast made at or before t, re-indexed so that step 1 is t+1 (null before the first). */
  at(t: number): ProbForecast | null {
    const o = this.origins[Math.min(t, this.origins.length - 1)]!;
    if (o < 0) return null;
    const shift = t - o;
    const H = this.horizon - shift;
    if (H <= 0) return null;
    const L = this.levels.length;
    const base = o * this.horizon;
    const mean = this.mean.subarray(base + shift, base + this.horizon);
    const quantiles = this.levels.map((_, k) => this.q.subarray((o * L + k) * this.horizon + shift, (o * L + k) * this.horizon + this.horizon));
    return { mean, quantiles, levels: this.levels, confidence: NaN, model: 'engine' };
  }

  /** Quantile `level` (one of the levels) of step h of the forecast available at t, or NaN. */
  quantile(t: number, levelIndex: number, h = 1): number {
    const o = this.origins[Math.min(t, this.origins.length - 1)]!;
    if (o < 0) return NaN;
    const k = t - o + h - 1;
    if (k >= this.horizon) return NaN;
    return this.q[(o * this.levels.length + levelIndex) * this.horizon + k]!;
  }
}

/** Feeds the engine sample by sample and keeps every forecast. */
export function forecastSeries(values: Float64Array, o: SeriesForecastOptions): SeriesForecasts {
  const T = values.length;
  const H = o.horizon;
  const L = o.levels.length;
  const every = Math.max(1, o.every ?? 1);
  const engine = createEngine({ horizon: H, levels: o.levels, stepSeconds: o.stepSeconds });
  const origins = new Int32Array(T).fill(-1);
  const mean = new Float64Array(T * H).fill(NaN);
  const q = new Float64Array(T * L * H).fill(NaN);
  let last = -1;
  for (let t = 0; t < T; t++) {
    engine.update(values[t]!);
    if (t % every === 0) {
      const f = engine.forecast(H);
      mean.set(f.mean.subarray(0, H), t * H);
      for (let k = 0; k < L; k++) q.set(f.quantiles[k]!.subarray(0, H), (t * L + k) * H);
      last = t;
    }
    origins[t] = last;
  }
  return new SeriesForecasts(H, o.levels, origins, mean, q);
}
