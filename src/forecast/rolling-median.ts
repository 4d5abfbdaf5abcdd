// Rolling-median level: the median of the last k samples, flat over the horizon. A robust
// alternative to exponential smoothing for series with isolated spikes (a one-sample burst does
// not move it) and for short alternating patterns.
import type { Forecaster } from './types.js';
import { fillRange } from './models/common.js';
import { SortedWindow } from './sorted-window.js';

export interface RollingMedianOptions {
  /** Samples in the window. Default 5. */
  window?: number;
}

/** Cost: update O(log k) plus a memmove of at most k doubles; forecast O(horizon). */
export class RollingMedianForecaster implements Forecaster {
  readonly name: string;
  private readonly win: SortedWindow;
  private n = 0;

  constructor(options: RollingMedianOptions = {}) {
    const k = options.window ?? 5;
    this.win = new SortedWindow(k);
    this.name = `rolling-median(${k})`;
  }

  get count(): number {
    return this.n;
  }

  update(y: number): void {
    this.n++;
    if (Number.isFinite(y)) this.win.push(y);
  }

  forecast(horizon: number, into?: Float64Array): Float64Array {
    return fillRange(into ?? new Float64Array(horizon), this.win.size ? this.win.quantile(0.5) : NaN, 0, horizon);
  }
}
