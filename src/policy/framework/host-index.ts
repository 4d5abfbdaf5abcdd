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

/**
 * Hosts of one capacity by free allocation, for placement that wants the best-scoring feasible
 * host without scoring every host with room (branch and bound). Slots 0..n-1 hold the hosts in an
 * order fixed at construction (by free CPU, so that a subtree covers a narrow band of it); each
 * node keeps, over its hosts, the largest free allocation rounded up (feasibility: as
 * FreeCapacityIndex) and the smallest free allocation rounded down (the fullest a host in it can
 * be, for a score bound). A host's keys may change later (it stays in its slot): the bounds stay
 * true, only less tight.
 */
export class ScoreBoundIndex {
  private readonly size: number;
  /** Slot of each position (-1: not in this index). */
  private readonly slotOf: Int32Array;
  private readonly posOf: Int32Array;
  private readonly upCpu: Float64Array;
  private readonly upMemory: Float64Array;
  private readonly loCpu: Float64Array;
  private readonly loMemory: Float64Array;

  /**
   * `positions`: the hosts' positions (each < `positionCount`) in slot order; `keys(pos)` gives a
   * host's keys as `set` takes them (in one pass: O(hosts)).
   */
  constructor(positions: readonly number[], positionCount: number, keys: (pos: number, out: Float64Array) => void) {
    let size = 1;
    while (size < positions.length) size *= 2;
    this.size = size;
    this.posOf = Int32Array.from(positions);
    this.slotOf = new Int32Array(positionCount).fill(-1);
    this.upCpu = new Float64Array(2 * size).fill(-Infinity);
    this.upMemory = new Float64Array(2 * size).fill(-Infinity);
    this.loCpu = new Float64Array(2 * size).fill(Infinity);
    this.loMemory = new Float64Array(2 * size).fill(Infinity);
    const k = new Float64Array(4);
    for (let s = 0; s < positions.length; s++) {
      const p = positions[s]!;
      this.slotOf[p] = s;
      k.fill(NaN);
      keys(p, k);
      this.leaf(size + s, k[0]!, k[1]!, k[2]!, k[3]!);
    }
    for (let i = size - 1; i >= 1; i--) {
      const l = 2 * i;
      this.upCpu[i] = Math.max(this.upCpu[l]!, this.upCpu[l + 1]!);
      this.upMemory[i] = Math.max(this.upMemory[l]!, this.upMemory[l + 1]!);
      this.loCpu[i] = Math.min(this.loCpu[l]!, this.loCpu[l + 1]!);
      this.loMemory[i] = Math.min(this.loMemory[l]!, this.loMemory[l + 1]!);
    }
  }

  has(pos: number): boolean {
    return pos >= 0 && pos < this.slotOf.length && this.slotOf[pos]! >= 0;
  }

  private leaf(i: number, upCpu: number, upMemory: number, loCpu: number, loMemory: number): void {
    this.upCpu[i] = Number.isNaN(upCpu) ? Infinity : upCpu;
    this.upMemory[i] = Number.isNaN(upMemory) ? Infinity : upMemory;
    this.loCpu[i] = Number.isNaN(loCpu) ? -Infinity : loCpu;
    this.loMemory[i] = Number.isNaN(loMemory) ? -Infinity : loMemory;
  }

  /**
   * Sets a host's keys: free allocation rounded up (NaN counts as +Infinity: never skipped) and
   * rounded down (NaN counts as -Infinity: no bound).
   */
  set(pos: number, upCpu: number, upMemory: number, loCpu: number, loMemory: number): void {
    let i = this.slotOf[pos]! + this.size;
    this.leaf(i, upCpu, upMemory, loCpu, loMemory);
    for (i >>= 1; i >= 1; i >>= 1) {
      const l = 2 * i;
      const uc = Math.max(this.upCpu[l]!, this.upCpu[l + 1]!);
      const um = Math.max(this.upMemory[l]!, this.upMemory[l + 1]!);
      const lc = Math.min(this.loCpu[l]!, this.loCpu[l + 1]!);
      const lm = Math.min(this.loMemory[l]!, this.loMemory[l + 1]!);
      if (uc === this.upCpu[i] && um === this.upMemory[i] && lc === this.loCpu[i] && lm === this.loMemory[i]) break;
      this.upCpu[i] = uc;
      this.upMemory[i] = um;
      this.loCpu[i] = lc;
      this.loMemory[i] = lm;
    }
  }

  /** Removes a host from the candidates (powered off). */
  clear(pos: number): void {
    this.set(pos, -Infinity, -Infinity, Infinity, Infinity);
  }

  /**
   * Visits hosts whose rounded-up free allocation reaches the minimums in both resources, skipping
   * every subtree where `bound(smallest free CPU, smallest free memory)` is below `best()` (read
   * again before each subtree). Subtrees with less free CPU first.
   */
  search(minCpu: number, minMemory: number, bound: (loCpu: number, loMemory: number) => number, best: () => number, visit: (pos: number) => void): void {
    if (this.posOf.length === 0) return;
    const walk = (node: number): void => {
      const c = this.upCpu[node]!;
      if (c === -Infinity || !(c >= minCpu) || !(this.upMemory[node]! >= minMemory)) return;
      if (bound(this.loCpu[node]!, this.loMemory[node]!) < best()) return;
      if (node >= this.size) {
        visit(this.posOf[node - this.size]!);
        return;
      }
      walk(2 * node);
      walk(2 * node + 1);
    };
    walk(1);
  }
}
