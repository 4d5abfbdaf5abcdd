// Empirical quantiles of a sliding window of recent samples, flat over the horizon.
import { fillRange } from './models/common.js';
import { SortedWindow } from './sorted-window.js';
import type { QuantileForecaster } from './types.js';

export interface WindowQuantileOptions {
  /** Number of most recent finite samples kept. Default 72. */
  window?: number;
}

/**
 * Quantile q at every step is the q-quantile of the last `window` samples; the point forecast
 * is their mean. Update O(log w) plus a memmove of at most w doubles; a quantile read is O(1).
 */
export class WindowQuantileForecaster implements QuantileForecaster {
  readonly name: string;
  readonly window: number;
  private readonly win: SortedWindow;
  private n = 0;

  constructor(options: WindowQuantileOptions = {}) {
    this.window = options.window ?? 72;
    this.win = new SortedWindow(this.window);
    this.name = `window-quantile(${this.window})`;
  }

  get count(): number {
    return this.n;
  }

  update(y: number): void {
    this.n++;
    if (Number.isFinite(y)) this.win.push(y);
  }

  forecast(horizon: number, into?: Float64Array): Float64Array {
    return fillRange(into ?? new Float64Array(horizon), this.win.size ? this.win.sum / this.win.size : NaN, 0, horizon);
  }

  quantiles(horizon: number, qs: readonly number[]): Float64Array[] {
    return qs.map((q) => new Float64Array(horizon).fill(this.win.quantile(q)));
  }

  quantilesInto(horizon: number, qs: readonly number[], out: Float64Array, offset: number, stride: number): void {
    for (let k = 0; k < qs.length; k++) {
      const o = offset + k * stride;
      fillRange(out, this.win.quantile(qs[k]!), o, o + horizon);
    }
  }
}
