// Empirical quantiles of a sliding window of recent samples, flat over the horizon.
import type { QuantileForecaster } from './types.js';
import { sortedQuantile } from './quantile.js';

export interface WindowQuantileOptions {
  /** Number of most recent samples kept. Default 72. */
  window?: number;
}

/**
 * Keeps the last `window` finite samples both in arrival order (a ring) and sorted, so a
 * quantile read is O(1) and an update is O(log w) to find the slot plus one memmove of at most
 * w doubles. The point forecast is the window mean.
 */
export class WindowQuantileForecaster implements QuantileForecaster {
  readonly name: string;
  readonly window: number;
  private readonly ring: Float64Array;
  private readonly sorted: Float64Array;
  private head = 0;
  private size = 0;
  private sum = 0;
  private n = 0;

  constructor(options: WindowQuantileOptions = {}) {
    const w = options.window ?? 72;
    if (!Number.isInteger(w) || w < 1) throw new RangeError(`window must be a positive integer, got ${w}`);
    this.window = w;
    this.name = `window-quantile(${w})`;
    this.ring = new Float64Array(w);
    this.sorted = new Float64Array(w);
  }

  get count(): number {
    return this.n;
  }

  update(y: number): void {
    this.n++;
    if (!Number.isFinite(y)) return;
    const s = this.sorted;
    if (this.size === this.window) {
      const old = this.ring[this.head]!;
      this.sum -= old;
      // remove `old` from the sorted array
      const i = lowerBound(s, this.size, old);
      s.copyWithin(i, i + 1, this.size);
      this.size--;
    }
    const j = lowerBound(s, this.size, y);
    s.copyWithin(j + 1, j, this.size);
    s[j] = y;
    this.size++;
    this.ring[this.head] = y;
    this.head = (this.head + 1) % this.window;
    this.sum += y;
  }

  forecast(horizon: number): Float64Array {
    return new Float64Array(horizon).fill(this.size ? this.sum / this.size : NaN);
  }

  quantiles(horizon: number, qs: readonly number[]): Float64Array[] {
    return qs.map((q) => new Float64Array(horizon).fill(sortedQuantile(this.sorted, this.size, q)));
  }
}

/** First index i in a[0..n) with a[i] >= x (a ascending). */
export function lowerBound(a: Float64Array, n: number, x: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
