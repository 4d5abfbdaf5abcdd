// Sums and counts per fixed-width time bucket, for one machine, in memory proportional to the
// number of buckets it spans (not the number of rows). Rows may arrive in any time order.

/** The quantities averaged per bucket. */
export const ACCUMULATED = ['cpu', 'memory', 'disk'] as const;
export type Accumulated = (typeof ACCUMULATED)[number];

/** Per-bucket sums of cpu, memory and disk; disk has its own count because it may be missing. */
export class BucketAccumulator {
  /** Absolute bucket index stored at offset 0. */
  private base = 0;
  private capacity = 0;
  private lo = Number.POSITIVE_INFINITY;
  private hi = Number.NEGATIVE_INFINITY;
  private rows: Float64Array = new Float64Array(0);
  private cpuSum: Float64Array = new Float64Array(0);
  private memSum: Float64Array = new Float64Array(0);
  private diskSum: Float64Array = new Float64Array(0);
  private diskN: Float64Array = new Float64Array(0);

  /** Adds one sample to absolute bucket `k`; `disk` NaN means missing. */
  add(k: number, cpu: number, memory: number, disk: number): void {
    this.ensure(k);
    const i = k - this.base;
    this.rows[i]! += 1;
    this.cpuSum[i]! += cpu;
    this.memSum[i]! += memory;
    if (!Number.isNaN(disk)) {
      this.diskSum[i]! += disk;
      this.diskN[i]! += 1;
    }
    if (k < this.lo) this.lo = k;
    if (k > this.hi) this.hi = k;
  }

  /** True when no sample was added. */
  get empty(): boolean {
    return this.lo > this.hi;
  }

  /**
   * Bucket means from the first to the last non-empty bucket. An empty bucket takes the
   * previous bucket's values (carried forward) and is counted in `filled`; a bucket whose rows
   * all lack disk carries disk forward too (NaN while no disk value was seen yet).
   */
  finish(): { firstBucket: number; values: Record<Accumulated, Float64Array>; filled: number } {
    if (this.empty) {
      return { firstBucket: 0, values: { cpu: new Float64Array(0), memory: new Float64Array(0), disk: new Float64Array(0) }, filled: 0 };
    }
    const n = this.hi - this.lo + 1;
    const cpu = new Float64Array(n);
    const memory = new Float64Array(n);
    const disk = new Float64Array(n);
    let filled = 0;
    let lastCpu = Number.NaN;
    let lastMem = Number.NaN;
    let lastDisk = Number.NaN;
    for (let j = 0; j < n; j++) {
      const i = this.lo - this.base + j;
      const rows = this.rows[i]!;
      if (rows > 0) {
        lastCpu = this.cpuSum[i]! / rows;
        lastMem = this.memSum[i]! / rows;
      } else {
        filled++;
      }
      const dn = this.diskN[i]!;
      if (dn > 0) lastDisk = this.diskSum[i]! / dn;
      cpu[j] = lastCpu;
      memory[j] = lastMem;
      disk[j] = lastDisk;
    }
    return { firstBucket: this.lo, values: { cpu, memory, disk }, filled };
  }

  private ensure(k: number): void {
    if (this.capacity === 0) {
      this.base = k;
      this.resize(0, 256);
      return;
    }
    if (k < this.base) {
      const extra = Math.max(this.base - k, this.capacity);
      this.resize(extra, this.capacity + extra);
      this.base -= extra;
    } else if (k - this.base >= this.capacity) {
      this.resize(0, Math.max(k - this.base + 1, this.capacity * 2));
    }
  }

  /** Grows every array to `capacity`, shifting the old contents right by `shift`. */
  private resize(shift: number, capacity: number): void {
    const grow = (a: Float64Array): Float64Array => {
      const b = new Float64Array(capacity);
      b.set(a, shift);
      return b;
    };
    this.rows = grow(this.rows);
    this.cpuSum = grow(this.cpuSum);
    this.memSum = grow(this.memSum);
    this.diskSum = grow(this.diskSum);
    this.diskN = grow(this.diskN);
    this.capacity = capacity;
  }
}
