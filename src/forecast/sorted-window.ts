// A sliding window of the last `capacity` values kept both in arrival order and sorted, so any
// quantile is an O(1) read. Push is O(log w) to find slots plus memmoves of at most w doubles.
import { sortedQuantile } from './quantile.js';

export class SortedWindow {
  // Storage starts small and doubles up to `capacity`, so short series pay for what they hold.
  private ring: Float64Array;
  private sorted: Float64Array;
  private head = 0;
  private n = 0;
  private total = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`window must be a positive integer, got ${capacity}`);
    const initial = Math.min(capacity, 16);
    this.ring = new Float64Array(initial);
    this.sorted = new Float64Array(initial);
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
    if (this.n === this.ring.length) this.grow();
    const j = lowerBound(this.sorted, this.n, x);
    this.sorted.copyWithin(j + 1, j, this.n);
    this.sorted[j] = x;
    this.n++;
    this.ring[this.head] = x;
    this.head = (this.head + 1) % this.capacity;
    this.total += x;
  }

  /** Doubles storage while not yet at capacity (only called before the window is full, when head === n). */
  private grow(): void {
    const size = Math.min(this.capacity, this.ring.length * 2);
    const ring = new Float64Array(size);
    ring.set(this.ring);
    const sorted = new Float64Array(size);
    sorted.set(this.sorted);
    this.ring = ring;
    this.sorted = sorted;
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
