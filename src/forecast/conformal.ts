// Online conformal calibration: turns any point forecaster into a quantile forecaster using the
// empirical distribution of its OWN recent errors, per horizon step (split-conformal style, with a
// sliding calibration window so it adapts to changes in volatility).
import type { Forecaster, QuantileForecaster } from './types.js';
import { sortedQuantile } from './quantile.js';

export interface ConformalOptions {
  /** Longest horizon that will be asked for. */
  horizon: number;
  /** Errors kept per horizon step (calibration window). Default 288 (a day at 5 minutes). */
  window?: number;
  /** Fewest errors at a step before its own errors are used (else the nearest shorter step's, widened by sqrt(h/h')). Default 8. */
  minErrors?: number;
}

/**
 * Wraps a point forecaster. After each sample y_t it (1) records, for every step h, the error
 * y_t - f_{t-h}(h) of the forecast made h samples earlier, and (2) makes and stores the new point
 * forecast f_t(1..H). Quantile q at step h is f_t(h) + Q_q(errors at h).
 *
 * Cost per update: the model's update and forecast(H), plus H ring writes. A quantile read sorts
 * each step's window once: O(H * w log w).
 */
export class ConformalForecaster implements QuantileForecaster {
  readonly name: string;
  readonly horizon: number;
  readonly window: number;
  private readonly minErrors: number;
  /** pending[(t % H) * H + h - 1] = forecast made at t for t + h. */
  private readonly pending: Float64Array;
  private readonly pendingValid: Uint8Array;
  /** errors[(h - 1) * w + i], a ring per step. */
  private readonly errors: Float64Array;
  private readonly errCount: Int32Array;
  private readonly errHead: Int32Array;
  private readonly scratch: Float64Array;
  private t = -1;

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
    this.errors = new Float64Array(H * this.window);
    this.errCount = new Int32Array(H);
    this.errHead = new Int32Array(H);
    this.scratch = new Float64Array(this.window);
  }

  get count(): number {
    return this.model.count;
  }

  update(y: number): void {
    const H = this.horizon;
    const t = ++this.t;
    this.model.update(y);
    if (Number.isFinite(y)) {
      const w = this.window;
      for (let h = 1; h <= H && h <= t; h++) {
        const row = (t - h) % H;
        if (!this.pendingValid[row]) continue;
        const f = this.pending[row * H + h - 1]!;
        if (!Number.isFinite(f)) continue;
        const base = (h - 1) * w;
        this.errors[base + this.errHead[h - 1]!] = y - f;
        this.errHead[h - 1] = (this.errHead[h - 1]! + 1) % w;
        if (this.errCount[h - 1]! < w) this.errCount[h - 1]!++;
      }
    }
    const f = this.model.forecast(H);
    const row = t % H;
    this.pending.set(f, row * H);
    this.pendingValid[row] = 1;
  }

  forecast(horizon: number): Float64Array {
    this.checkHorizon(horizon);
    if (this.t < 0) return new Float64Array(horizon).fill(NaN);
    const row = this.t % this.horizon;
    return this.pending.slice(row * this.horizon, row * this.horizon + horizon);
  }

  /** Number of calibration errors held for step h. */
  errorCount(h: number): number {
    return this.errCount[h - 1] ?? 0;
  }

  quantiles(horizon: number, qs: readonly number[]): Float64Array[] {
    const point = this.forecast(horizon);
    const out = qs.map(() => new Float64Array(horizon));
    for (let h = 1; h <= horizon; h++) {
      // the step whose errors calibrate h: itself, or the longest shorter step with enough errors
      let src = h;
      while (src > 1 && this.errCount[src - 1]! < this.minErrors) src--;
      const n = this.errCount[src - 1]!;
      const widen = src === h ? 1 : Math.sqrt(h / src);
      if (n === 0) {
        for (let k = 0; k < qs.length; k++) out[k]![h - 1] = point[h - 1]!;
        continue;
      }
      const s = this.scratch.subarray(0, n);
      s.set(this.errors.subarray((src - 1) * this.window, (src - 1) * this.window + n));
      s.sort();
      for (let k = 0; k < qs.length; k++) out[k]![h - 1] = point[h - 1]! + widen * sortedQuantile(s, n, qs[k]!);
    }
    return out;
  }

  private checkHorizon(horizon: number): void {
    if (!Number.isInteger(horizon) || horizon < 1 || horizon > this.horizon) {
      throw new RangeError(`horizon must be an integer in 1..${this.horizon}, got ${horizon}`);
    }
  }
}
