// Sliding windows of the last `capacity` values kept both in arrival order and sorted, so any
// quantile is an O(1) read once the window is up to date. Pushes are buffered and merged in
// batches at the next read (the conformal layer pushes one error per step and sample but reads
// its windows every `horizon` samples). Pure.
import { sortedQuantileAt } from './quantile.js';

/** Pushes buffered before a merge is forced (at most the capacity). */
const MAX_PENDING = 16;
/**
 * Cost of inserting or evicting one value by bisection and memmove, in values moved by a merge
 * pass (measured: the fast engine's windows of 24-288 values read every 1-6 pushes, the default
 * engine's read every 12). Fewer buffered values than the window's size / this go in one by one.
 */
const SEQUENTIAL_COST = 32;

/** Scratch for a merge: the buffered values and the evicted ones, each sorted. */
const pendingScratch = new Float64Array(MAX_PENDING);
const evictedScratch = new Float64Array(MAX_PENDING);

/**
 * `count` independent sliding windows of the same capacity in two flat arrays (no object or view
 * per window: an engine holds a window per forecast step per member, and allocating them
 * dominated short backtests).
 *
 * A push writes the value into the window's ring and updates its sum: O(1). The sorted copy is
 * brought up to date at the next read (or after MAX_PENDING pushes): a few (see SEQUENTIAL_COST) are inserted
 * one by one (binary search and a memmove each, an eviction and an insertion fused into one
 * shift); more are sorted and merged with the window in one pass, after the evicted values are
 * compacted out. Either way the sorted array is the sorted multiset of the last `capacity`
 * values, so quantiles do not depend on when reads happen.
 */
export class SortedWindowSet {
  readonly count: number;
  readonly capacity: number;
  /** Ring length: capacity plus room for the pushes not merged yet (their evictions stay readable). */
  private readonly ringLength: number;
  private readonly maxPending: number;
  private readonly ring: Float64Array;
  private readonly sorted: Float64Array;
  /** Next ring slot per window. */
  private readonly head: Int32Array;
  /** Values in the sorted copy per window. */
  private readonly merged: Int32Array;
  /** Pushes not yet in the sorted copy per window (the latest ones in the ring). */
  private readonly pending: Int32Array;
  private readonly sums: Float64Array;

  /** False: sums are not kept (sum() is NaN); a push is then a ring write. */
  private readonly keepSums: boolean;

  constructor(count: number, capacity: number, options: { sums?: boolean } = {}) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`window must be a positive integer, got ${capacity}`);
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`window count must be a positive integer, got ${count}`);
    this.count = count;
    this.capacity = capacity;
    this.maxPending = Math.min(MAX_PENDING, capacity);
    this.ringLength = capacity + this.maxPending;
    this.ring = new Float64Array(count * this.ringLength);
    this.sorted = new Float64Array(count * capacity);
    this.head = new Int32Array(count);
    this.merged = new Int32Array(count);
    this.pending = new Int32Array(count);
    this.keepSums = options.sums ?? true;
    this.sums = new Float64Array(count).fill(this.keepSums ? 0 : NaN);
  }

  /** Values held by window i (at most the capacity). */
  size(i: number): number {
    const n = this.merged[i]! + this.pending[i]!;
    return n < this.capacity ? n : this.capacity;
  }

  /** Sum of the values held by window i (NaN when the set keeps no sums). */
  sum(i: number): number {
    return this.sums[i]!;
  }

  /** Adds a finite value to window i, evicting its oldest when full. */
  push(i: number, x: number): void {
    const R = this.ringLength;
    const cap = this.capacity;
    const base = i * R;
    const head = this.head[i]!;
    const k = this.pending[i]!;
    if (this.keepSums) {
      let sum = this.sums[i]!;
      if (this.merged[i]! + k >= cap) {
        const old = head >= cap ? head - cap : head - cap + R;
        sum -= this.ring[base + old]!;
      }
      this.sums[i] = sum + x;
    }
    this.ring[base + head] = x;
    this.head[i] = head + 1 === R ? 0 : head + 1;
    this.pending[i] = k + 1;
    if (k + 1 >= this.maxPending) this.flush(i);
  }

  /** Linear-interpolated (type 7) quantile of window i (NaN when empty). */
  quantile(i: number, p: number): number {
    if (this.pending[i]! > 0) this.flush(i);
    return sortedQuantileAt(this.sorted, i * this.capacity, this.merged[i]!, p);
  }

  /** Brings window i's sorted copy up to date. */
  flush(i: number): void {
    const k = this.pending[i]!;
    if (k === 0) return;
    const R = this.ringLength;
    const cap = this.capacity;
    const ring = this.ring;
    const s = this.sorted;
    const base = i * R;
    const off = i * cap;
    let n = this.merged[i]!;
    // the k newest ring slots are the new values; the e oldest merged ones leave
    const e = n + k > cap ? n + k - cap : 0;
    let newSlot = this.head[i]! - k;
    if (newSlot < 0) newSlot += R;
    let oldSlot = newSlot - n;
    if (oldSlot < 0) oldSlot += R;
    this.pending[i] = 0;
    // one by one, or one merge pass over the window (two when values leave)
    if (SEQUENTIAL_COST * (k + e) < (e > 0 ? 2 * n : n)) {
      for (let j = 0; j < k; j++) {
        const x = ring[base + newSlot]!;
        newSlot = newSlot + 1 === R ? 0 : newSlot + 1;
        if (j < e) {
          // evict and insert with one shift between the two positions
          const old = ring[base + oldSlot]!;
          oldSlot = oldSlot + 1 === R ? 0 : oldSlot + 1;
          const a = lowerBoundAt(s, off, n, old);
          const b = lowerBoundAt(s, off, n, x);
          if (b > a + 1) {
            s.copyWithin(off + a, off + a + 1, off + b);
            s[off + b - 1] = x;
          } else if (b < a) {
            s.copyWithin(off + b + 1, off + b, off + a);
            s[off + b] = x;
          } else s[off + a] = x;
        } else {
          const b = lowerBoundAt(s, off, n, x);
          s.copyWithin(off + b + 1, off + b, off + n);
          s[off + b] = x;
          n++;
        }
      }
      this.merged[i] = n;
      return;
    }
    const A = pendingScratch;
    for (let j = 0; j < k; j++) {
      A[j] = ring[base + newSlot]!;
      newSlot = newSlot + 1 === R ? 0 : newSlot + 1;
    }
    insertionSort(A, k);
    if (e > 0) {
      const B = evictedScratch;
      for (let j = 0; j < e; j++) {
        B[j] = ring[base + oldSlot]!;
        oldSlot = oldSlot + 1 === R ? 0 : oldSlot + 1;
      }
      insertionSort(B, e);
      // compact the evicted values out (each is in the window: the first equal one goes)
      let w = lowerBoundAt(s, off, n, B[0]!);
      let b = 0;
      for (let r = w; r < n; r++) {
        const v = s[off + r]!;
        if (b < e && v === B[b]) b++;
        else s[off + w++] = v;
      }
      n -= e;
    }
    // merge the new values in from the back (values below the smallest new one stay)
    let w = off + n + k - 1;
    let r = off + n - 1;
    let j = k - 1;
    if (n > 0 && A[0]! >= s[off]!) {
      // no new value goes below the first: the scan needs no bound
      for (; j >= 0; j--) {
        const x = A[j]!;
        while (s[r]! > x) s[w--] = s[r--]!;
        s[w--] = x;
      }
    } else {
      for (; j >= 0; j--) {
        const x = A[j]!;
        while (r >= off && s[r]! > x) s[w--] = s[r--]!;
        s[w--] = x;
      }
    }
    this.merged[i] = n + k;
  }
}

/**
 * One sliding window of the last `capacity` values (a SortedWindowSet of one): push O(1)
 * amortised plus the merge at the next read, quantile O(1) once merged.
 */
export class SortedWindow {
  private readonly set: SortedWindowSet;

  constructor(readonly capacity: number) {
    this.set = new SortedWindowSet(1, capacity);
  }

  get size(): number {
    return this.set.size(0);
  }

  /** Sum of the values held. */
  get sum(): number {
    return this.set.sum(0);
  }

  /** Adds a finite value, evicting the oldest when full. */
  push(x: number): void {
    this.set.push(0, x);
  }

  /** Linear-interpolated quantile (NaN when empty). */
  quantile(p: number): number {
    return this.set.quantile(0, p);
  }
}

/** First index i in [0, n) with a[off + i] >= x (a ascending there). */
function lowerBoundAt(a: Float64Array, off: number, n: number, x: number): number {
  let lo = off;
  let hi = off + n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1; // >> keeps it an int32 (>>> makes a uint32 the JIT handles as a double)
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo - off;
}

/** First index i in a[0..n) with a[i] >= x (a ascending). */
export function lowerBound(a: Float64Array, n: number, x: number): number {
  return lowerBoundAt(a, 0, n, x);
}

function insertionSort(a: Float64Array, n: number): void {
  for (let i = 1; i < n; i++) {
    const v = a[i]!;
    let j = i - 1;
    while (j >= 0 && a[j]! > v) {
      a[j + 1] = a[j]!;
      j--;
    }
    a[j + 1] = v;
  }
}
