// Online conformal calibration: turns any point forecaster into a quantile forecaster using the
// empirical distribution of its OWN recent errors, per horizon step (split-conformal style, with a
// sliding calibration window so it adapts to changes in volatility).
import type { Forecaster, QuantileForecaster } from './types.js';
import { fillRange } from './models/common.js';
import { SortedWindowSet } from './sorted-window.js';

export interface ConformalOptions {
  /** Longest horizon that will be asked for. */
  horizon: number;
  /** Errors kept per horizon step (calibration window). Default 288 (a day at 5 minutes). */
  window?: number;
  /** Fewest errors at a step before its own errors are used (else the nearest shorter step's, widened by sqrt(h/h')). Default 8. */
  minErrors?: number;
  /**
   * Normalised scores: errors are divided by the series' local volatility at the forecast's
   * origin (an exponentially weighted mean of |y_t - y_{t-1}|, weight `scaleAlpha`) and the
   * quantile is rescaled by the current volatility, so intervals widen and narrow with it.
   * Default false (plain errors).
   */
  scaled?: boolean;
  /** Weight of the newest change in the volatility estimate. Default 0.1. */
  scaleAlpha?: number;
  /**
   * Calibrate on the forecasts made every this many samples (1 = every sample). Larger values
   * cut the per-update cost; the window then spans that many times longer. Default 1.
   */
  calibrateEvery?: number;
}

/**
 * Wraps a point forecaster. After each sample y_t it (1) records, for every step h, the error
 * y_t - f_{t-h}(h) of the forecast made h samples earlier, and (2) makes and stores the new point
 * forecast f_t(1..H). Quantile q at step h is f_t(h) + Q_q(errors at h).
 *
 * Cost per update: the model's update and forecast(H), plus H sorted-window pushes (O(1) each;
 * the windows merge them at the next read, see SortedWindowSet). A quantile read is O(1) per
 * step and level once a step's window is merged.
 */
export class ConformalForecaster implements QuantileForecaster {
  readonly name: string;
  readonly horizon: number;
  readonly window: number;
  private readonly minErrors: number;
  /** pending[(t % H) * H + h - 1] = forecast made at t for t + h. */
  private readonly pending: Float64Array;
  private readonly pendingValid: Uint8Array;
  /** The model's newest forecast, copied into its row of `pending`. */
  private readonly scratch: Float64Array;
  /** Calibration scores per step h (window h - 1), kept sorted for O(1) quantile reads. */
  private readonly errors: SortedWindowSet;
  private t = -1;
  private readonly scaled: boolean;
  private readonly scaleAlpha: number;
  /** Volatility at each pending forecast's origin, by row. */
  private readonly pendingScale: Float64Array;
  private vol = NaN;
  private volMean = 0;
  private volN = 0;
  private lastY = NaN;
  private readonly calibrateEvery: number;
  /** True when the newest sample was not followed by a stored forecast (calibrateEvery > 1). */
  private latestStale = false;

  constructor(
    readonly model: Forecaster,
    options: ConformalOptions,
  ) {
    const H = options.horizon;
    if (!Number.isInteger(H) || H < 1) throw new RangeError(`horizon must be a positive integer, got ${H}`);
    this.horizon = H;
    this.window = options.window ?? 288;
    this.minErrors = options.minErrors ?? 8;
    this.name = `conformal(${model.name})`;
    this.pending = new Float64Array(H * H);
    this.pendingValid = new Uint8Array(H);
    this.scratch = new Float64Array(H);
    this.errors = new SortedWindowSet(H, this.window, { sums: false });
    this.scaled = options.scaled ?? false;
    this.calibrateEvery = options.calibrateEvery ?? 1;
    this.scaleAlpha = options.scaleAlpha ?? 0.1;
    this.pendingScale = new Float64Array(H);
    if (this.scaled) this.name = `conformal-scaled(${model.name})`;
  }

  /** Current volatility used to scale scores (never below a tenth of its long-run mean nor 1 % of the last level). */
  private currentScale(): number {
    if (!this.scaled) return 1;
    const floor = Math.max(1e-9, 0.1 * (this.volN ? this.volMean / this.volN : 0), 0.01 * Math.abs(this.lastY));
    return Number.isFinite(this.vol) ? Math.max(this.vol, floor) : floor;
  }

  get count(): number {
    return this.model.count;
  }

  update(y: number): void {
    const H = this.horizon;
    const t = ++this.t;
    this.model.update(y);
    if (this.scaled && Number.isFinite(y)) {
      if (Number.isFinite(this.lastY)) {
        const d = Math.abs(y - this.lastY);
        this.vol = Number.isFinite(this.vol) ? this.vol + this.scaleAlpha * (d - this.vol) : d;
        this.volMean += d;
        this.volN++;
      }
      this.lastY = y;
    }
    if (Number.isFinite(y)) {
      // only forecasts made at origins that are multiples of calibrateEvery were stored
      const every = this.calibrateEvery;
      const h0 = t % every || every;
      const hmax = Math.min(H, t);
      // row of the forecast made h samples ago: (t - h) mod H, stepped down by `every` (no division in the loop)
      let row = (t - h0) % H;
      const back = every % H;
      for (let h = h0; h <= hmax; h += every) {
        if (this.pendingValid[row] === 1) {
          const f = this.pending[row * H + h - 1]!;
          // scores are plain errors unless scaled (x / 1 === x: skipping the division changes nothing)
          if (f === f && f !== Infinity && f !== -Infinity) this.errors.push(h - 1, this.scaled ? (y - f) / this.pendingScale[row]! : y - f);
        }
        row -= back;
        if (row < 0) row += H;
      }
    }
    const row = t % H;
    if (t % this.calibrateEvery !== 0 || this.model.ready === false) {
      this.latestStale = true;
      this.pendingValid[row] = 0;
      return;
    }
    this.latestStale = false;
    const f = this.model.forecast(H, this.scratch);
    const pending = this.pending;
    for (let h = 0, o = row * H; h < H; h++, o++) pending[o] = f[h]!;
    this.pendingValid[row] = 1;
    this.pendingScale[row] = this.currentScale();
  }

  /** While the wrapped model is not ready, forecasts are NaN (it has nothing of its own to say). */
  forecast(horizon: number, into?: Float64Array): Float64Array {
    this.checkHorizon(horizon);
    const out = into ?? new Float64Array(horizon);
    if (this.t < 0 || this.model.ready === false) return fillRange(out, NaN, 0, horizon);
    if (this.latestStale) return this.model.forecast(horizon, out);
    const o = (this.t % this.horizon) * this.horizon;
    for (let h = 0; h < horizon; h++) out[h] = this.pending[o + h]!;
    return out;
  }

  /** Number of calibration errors held for step h. */
  errorCount(h: number): number {
    return Number.isInteger(h) && h >= 1 && h <= this.horizon ? this.errors.size(h - 1) : 0;
  }

  quantiles(horizon: number, qs: readonly number[], out?: Float64Array[]): Float64Array[] {
    const rows = out ?? qs.map(() => new Float64Array(horizon));
    for (let k = 0; k < qs.length; k++) this.quantilesInto(horizon, qs.slice(k, k + 1), rows[k]!, 0, horizon);
    return rows;
  }

  /** Quantile qs[k] at step h into out[offset + k * stride + h - 1] (no allocation). */
  quantilesInto(horizon: number, qs: readonly number[], out: Float64Array, offset: number, stride: number): void {
    const point = this.forecast(horizon, this.scratch);
    const scale = this.currentScale();
    const errors = this.errors;
    const L = qs.length;
    for (let h = 1; h <= horizon; h++) {
      // the step whose errors calibrate h: itself, or the longest shorter step with enough errors
      let src = h;
      while (src > 1 && errors.size(src - 1) < this.minErrors) src--;
      const p = point[h - 1]!;
      if (errors.size(src - 1) === 0) {
        for (let k = 0, o = offset + h - 1; k < L; k++, o += stride) out[o] = p;
        continue;
      }
      const widen = (src === h ? 1 : Math.sqrt(h / src)) * scale;
      for (let k = 0, o = offset + h - 1; k < L; k++, o += stride) out[o] = p + widen * errors.quantile(src - 1, qs[k]!);
    }
  }

  private checkHorizon(horizon: number): void {
    if (!Number.isInteger(horizon) || horizon < 1 || horizon > this.horizon) {
      throw new RangeError(`horizon must be an integer in 1..${this.horizon}, got ${horizon}`);
    }
  }
}
