// An index of hosts by free allocation, for placement scans that skip hosts a filter would
// certainly reject. Pure.
//
// A max-tree over positions 0..n-1 (hosts in a fixed order) with two keys per position (free CPU
// and free memory; -Infinity = not a candidate). `forEachAtLeast` visits, in position order, every
// position whose two keys are both at least the minimums, descending only into subtrees whose
// maxima reach them: O((k + 1) log n) for k positions visited (plus subtrees where the two maxima
// come from different hosts), instead of O(n) for a scan.

export class FreeCapacityIndex {
  private readonly size: number;
  private readonly cpu: Float64Array;
  private readonly memory: Float64Array;

  constructor(readonly length: number) {
    let size = 1;
    while (size < length) size *= 2;
    this.size = size;
    this.cpu = new Float64Array(2 * size).fill(-Infinity);
    this.memory = new Float64Array(2 * size).fill(-Infinity);
  }

  /** Sets the keys of a position (NaN counts as +Infinity: never skipped). */
  set(pos: number, freeCpu: number, freeMemory: number): void {
    let i = pos + this.size;
    this.cpu[i] = Number.isNaN(freeCpu) ? Infinity : freeCpu;
    this.memory[i] = Number.isNaN(freeMemory) ? Infinity : freeMemory;
    for (i >>= 1; i >= 1; i >>= 1) {
      const l = 2 * i;
      const c = Math.max(this.cpu[l]!, this.cpu[l + 1]!);
      const m = Math.max(this.memory[l]!, this.memory[l + 1]!);
      if (c === this.cpu[i] && m === this.memory[i]) break; // ancestors unchanged
      this.cpu[i] = c;
      this.memory[i] = m;
    }
  }

  /** Removes a position from the candidates. */
  clear(pos: number): void {
    this.set(pos, -Infinity, -Infinity);
  }

  /** Visits, in increasing position order, every position with free CPU >= minCpu and free memory >= minMemory. */
  forEachAtLeast(minCpu: number, minMemory: number, visit: (pos: number) => void): void {
    if (this.length === 0) return;
    this.walk(1, minCpu, minMemory, visit);
  }

  private walk(node: number, minCpu: number, minMemory: number, visit: (pos: number) => void): void {
    const c = this.cpu[node]!;
    if (c === -Infinity || !(c >= minCpu) || !(this.memory[node]! >= minMemory)) return;
    if (node >= this.size) {
      visit(node - this.size);
      return;
    }
    this.walk(2 * node, minCpu, minMemory, visit);
    this.walk(2 * node + 1, minCpu, minMemory, visit);
  }
}
