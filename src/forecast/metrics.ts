// Forecast accuracy metrics, accumulated online. Pure.
import { pinball } from './quantile.js';
import type { ProbForecast } from './types.js';

/** Accumulates pinball loss and coverage per level, and MASE of the median/mean. */
export class AccuracyAccumulator {
  readonly pinball: Float64Array;
  readonly covered: Float64Array;
  count = 0;
  absError = 0;
  /** Sum of |y_t - y_{t-1}| over the in-sample history (MASE scale) and its count. */
  naiveAbs = 0;
  naiveCount = 0;

  constructor(readonly levels: readonly number[]) {
    this.pinball = new Float64Array(levels.length);
    this.covered = new Float64Array(levels.length);
  }

  /** Scores forecast `f` (made at `origin`) against the actual values that exist. */
  addForecast(values: Float64Array, origin: number, f: ProbForecast): void {
    const H = f.mean.length;
    for (let h = 1; h <= H && origin + h < values.length; h++) {
      const y = values[origin + h]!;
      if (!Number.isFinite(y)) continue;
      this.count++;
      this.absError += Math.abs(y - f.mean[h - 1]!);
      for (let k = 0; k < this.levels.length; k++) {
        const q = f.quantiles[k]![h - 1]!;
        this.pinball[k] = this.pinball[k]! + pinball(y, q, this.levels[k]!);
        if (y <= q) this.covered[k] = this.covered[k]! + 1;
      }
    }
  }

  /** Adds a series' one-step naive in-sample errors (the MASE denominator). */
  addScale(values: Float64Array, upTo: number): void {
    for (let t = 1; t <= upTo && t < values.length; t++) {
      const d = values[t]! - values[t - 1]!;
      if (Number.isFinite(d)) {
        this.naiveAbs += Math.abs(d);
        this.naiveCount++;
      }
    }
  }

  merge(o: AccuracyAccumulator): void {
    for (let k = 0; k < this.levels.length; k++) {
      this.pinball[k] = this.pinball[k]! + o.pinball[k]!;
      this.covered[k] = this.covered[k]! + o.covered[k]!;
    }
    this.count += o.count;
    this.absError += o.absError;
    this.naiveAbs += o.naiveAbs;
    this.naiveCount += o.naiveCount;
  }

  /** Sum of pinball loss over all levels and scored points. */
  totalPinball(): number {
    let s = 0;
    for (const v of this.pinball) s += v;
    return s;
  }

  coverage(k: number): number {
    return this.count ? this.covered[k]! / this.count : NaN;
  }

  /** Mean absolute scaled error of the point forecast (scale: in-sample one-step naive MAE). */
  mase(): number {
    if (!this.count || !this.naiveCount || this.naiveAbs === 0) return NaN;
    return this.absError / this.count / (this.naiveAbs / this.naiveCount);
  }
}
