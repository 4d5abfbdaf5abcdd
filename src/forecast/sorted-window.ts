// A sliding window of the last `capacity` values kept both in arrival order and sorted, so any
// quantile is an O(1) read. Push is O(log w) to find slots plus memmoves of at most w doubles.
import { sortedQuantile } from './quantile.js';

export class SortedWindow {
  private readonly ring: Float64Array;
  private readonly sorted: Float64Array;
  private head = 0;
  private n = 0;
  private total = 0;

  /**
   * @param storage optional backing store of at least 2 * capacity doubles (lets many windows
   *   share one allocation: typed-array allocation, not size, dominates for small windows).
   */
  constructor(
    readonly capacity: number,
    storage?: Float64Array,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`window must be a positive integer, got ${capacity}`);
    const buf = storage ?? new Float64Array(2 * capacity);
    if (buf.length < 2 * capacity) throw new RangeError(`storage holds ${buf.length} doubles, needs ${2 * capacity}`);
    this.ring = buf.subarray(0, capacity);
    this.sorted = buf.subarray(capacity, 2 * capacity);
  }

  get size(): number {
    return this.n;
  }

  /** Sum of the values held. */
  get sum(): number {
    return this.total;
  }

  /** Adds a finite value, evicting the oldest when full. */
  push(x: number): void {
    const s = this.sorted;
    if (this.n === this.capacity) {
      const old = this.ring[this.head]!;
      this.total -= old;
      const i = lowerBound(s, this.n, old);
      s.copyWithin(i, i + 1, this.n);
      this.n--;
    }
    const j = lowerBound(this.sorted, this.n, x);
    this.sorted.copyWithin(j + 1, j, this.n);
    this.sorted[j] = x;
    this.n++;
    this.ring[this.head] = x;
    this.head = (this.head + 1) % this.capacity;
    this.total += x;
  }

  /** Linear-interpolated quantile (NaN when empty). */
  quantile(p: number): number {
    return sortedQuantile(this.sorted, this.n, p);
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
