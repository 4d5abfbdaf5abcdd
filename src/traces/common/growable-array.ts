// A Float64Array that grows by doubling, so a reader never holds a JS number[] (8x smaller, no
// boxing) nor the raw text of a file alongside the parsed values.

/** An append-only Float64Array with amortised O(1) push. */
export class GrowableFloat64Array {
  private buf: Float64Array;
  private n = 0;

  constructor(initialCapacity = 1024) {
    this.buf = new Float64Array(Math.max(16, initialCapacity));
  }

  get length(): number {
    return this.n;
  }

  push(value: number): void {
    if (this.n === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.n++] = value;
  }

  /** The value at `i` (no bounds check beyond the typed array's own). */
  at(i: number): number {
    return this.buf[i]!;
  }

  /** A right-sized copy of the values pushed so far. */
  toArray(): Float64Array {
    return this.buf.slice(0, this.n);
  }
}
