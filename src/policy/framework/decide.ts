// The decision core: decide(snapshot, forecasts, nowS, rng) => Plan. Pure and synchronous.
//
// Round order (fleet): rightsize every instance -> place pending instances -> relieve overloaded
// hosts (victims migrate, else allocations are capped when overcommit is off) -> drain
// underloaded hosts -> power off empty hosts. Without hosts (rightsizing) only the first step runs.
//
// Action order in the plan, so that every intermediate state is valid for a driver that checks
// capacity after each action: power on, shrinking resizes, migrations, growing resizes, power off.
import type { Action, Amounts, Plan, WithheldAction } from '../../core/plan.js';
import type { Rng } from '../../core/rng.js';
import { R } from './reasons.js';
import { FreeCapacityIndex, ScoreBoundIndex } from './host-index.js';
import { migrationAllowed } from './settings.js';
import type { CompiledProfile } from './profile.js';
import type {
  DecideContext,
  FleetView,
  Forecasts,
  HostState,
  InstanceForecast,
  InstanceState,
  Snapshot,
} from './types.js';

const EMPTY_FORECASTS: Forecasts = new Map();

/**
 * A host's sum of planned allocations as `FleetView.allocatedOn` returns it: live (it reads the
 * planning fleet's arrays), one object per host for the planning fleet's life.
 */
class HostSums implements Amounts {
  constructor(
    private readonly cpuSums: Float64Array,
    private readonly memorySums: Float64Array,
    private readonly p: number,
  ) {}
  get cpu(): number {
    return this.cpuSums[this.p]!;
  }
  get memory(): number {
    return this.memorySums[this.p]!;
  }
  toJSON(): Amounts {
    return { cpu: this.cpu, memory: this.memory };
  }
}

/**
 * Allocation sums per host, maintained incrementally while a plan is built. One is kept across
 * rounds while the snapshot's hosts stay the same (its arrays are reset, not rebuilt: a large
 * fleet's rounds then allocate little), and its instance arrays are kept while the snapshot's
 * instance array holds the same instances.
 *
 * Per-host state lives in arrays by position (the host's index in id order) and per-instance
 * state in arrays by slot (the instance's index in the snapshot), so a round over a large fleet
 * costs few map look-ups and no objects per instance; each host's instances are a linked list of
 * slots (in the order they were attached) in typed arrays. A round reads each instance's object
 * once (`note`, with its rightsizing); attaching the instances (`attachNoted`) and assembling the
 * plan run over these arrays.
 */
class PlanningFleet implements FleetView {
  ctx!: DecideContext;
  /**
   * Instances by slot (their index in the snapshot's array; ids are unique) and each id's slot:
   * per-instance state lives in arrays, so a round over a large fleet costs few map look-ups.
   */
  readonly slotOf = new Map<string, number>();
  private insts: readonly InstanceState[] = [];
  /** Per slot: the planned host's position (-1 = pending) and the planned allocation. */
  private placed = new Int32Array(0);
  private allocs: Amounts[] = [];
  /**
   * Per slot, as noted from the snapshot: the allocation object, its amounts for the sums
   * (nz), the host's position (-1 = none) and whether the instance was pending (no host).
   */
  private base: Amounts[] = [];
  private baseCpu = new Float64Array(0);
  private baseMemory = new Float64Array(0);
  private notedPos = new Int32Array(0);
  private pendingAtStart = new Uint8Array(0);
  /** Per slot: the last host id seen in the snapshot and its position (-1 = not a host of this fleet). */
  private seenHostId: Array<string | null> = [];
  private seenHostPos = new Int32Array(0);
  /** Per slot: the next and previous slot on the same host (-1 = none). */
  private nextOnHost = new Int32Array(0);
  private prevOnHost = new Int32Array(0);
  /** Per position: planned power state, first and last slot on the host (-1 = none), count. */
  private readonly onAt: Uint8Array;
  private readonly head: Int32Array;
  private readonly tail: Int32Array;
  private readonly count: Int32Array;
  /** Per position: the sums of planned allocations; `sums`: their views by host id. */
  private readonly cpuSums: Float64Array;
  private readonly memorySums: Float64Array;
  private readonly sums: HostSums[];
  /** The last host id looked up and its position (plugins ask about one host several times in a row). */
  private lastId: string | null = null;
  private lastPos = -1;
  /** Hosts in id order (the snapshot's objects) and each id's position in it. */
  readonly sorted: readonly HostState[];
  readonly pos: ReadonlyMap<string, number>;
  /** Per position: the host as placement shows it to plugins (`on: true`), made on first use. */
  private readonly views: Array<HostState | undefined>;
  /** Free allocation of the powered-on hosts, built on first use, then kept up to date. */
  private index: FreeCapacityIndex | null = null;
  /** Per capacity: hosts by free CPU with score bounds (built on first use, then kept up to date). */
  private boundIndex: Array<{ capacity: Amounts; index: ScoreBoundIndex }> | null = null;
  /** Per position: its class in boundIndex. */
  private boundClass: Int32Array | null = null;
  /** Empty powered-off hosts by capacity (positions in order) with a cursor, built on first use. */
  private offClasses: Array<{ positions: number[]; next: number }> | null = null;
  /** The instance array the instance maps were built from, and its items. */
  private instancesOf: readonly InstanceState[] | null = null;
  private instanceItems: InstanceState[] = [];

  constructor(
    readonly overcommit: boolean,
    readonly order: HostOrder,
  ) {
    this.sorted = order.sorted;
    this.pos = order.pos;
    const n = this.sorted.length;
    this.views = new Array<HostState | undefined>(n).fill(undefined);
    this.onAt = new Uint8Array(n);
    this.head = new Int32Array(n).fill(-1);
    this.tail = new Int32Array(n).fill(-1);
    this.count = new Int32Array(n);
    this.cpuSums = new Float64Array(n);
    this.memorySums = new Float64Array(n);
    this.sums = this.sorted.map((_, p) => new HostSums(this.cpuSums, this.memorySums, p));
  }

  /**
   * Starts a round: hosts as in the snapshot, with nothing on them. Then `note` each instance
   * (in slot order) and `attachNoted`: planned state = the snapshot's.
   */
  begin(ctx: DecideContext): void {
    this.ctx = ctx;
    this.index = null;
    this.boundIndex = null;
    this.offClasses = null;
    const n = this.sorted.length;
    this.views.fill(undefined);
    for (let p = 0; p < n; p++) this.onAt[p] = this.sorted[p]!.on ? 1 : 0;
    this.cpuSums.fill(0);
    this.memorySums.fill(0);
    this.head.fill(-1);
    this.tail.fill(-1);
    this.count.fill(0);
    const insts = ctx.snapshot.instances;
    const same = insts === this.instancesOf && insts.length === this.instanceItems.length && insts.every((x, k) => x === this.instanceItems[k]);
    if (!same) {
      this.slotOf.clear();
      for (let k = 0; k < insts.length; k++) this.slotOf.set(insts[k]!.id, k);
      this.instancesOf = insts;
      this.instanceItems = [...insts];
      this.insts = this.instanceItems;
      this.placed = new Int32Array(insts.length).fill(-1);
      this.allocs = new Array<Amounts>(insts.length);
      this.base = new Array<Amounts>(insts.length);
      this.baseCpu = new Float64Array(insts.length);
      this.baseMemory = new Float64Array(insts.length);
      this.notedPos = new Int32Array(insts.length);
      this.pendingAtStart = new Uint8Array(insts.length);
      this.seenHostId = new Array<string | null>(insts.length).fill(null);
      this.seenHostPos = new Int32Array(insts.length).fill(-1);
      this.nextOnHost = new Int32Array(insts.length).fill(-1);
      this.prevOnHost = new Int32Array(insts.length).fill(-1);
    }
  }

  /** Reads the instance in slot k from the snapshot (its allocation and host). */
  note(k: number, i: InstanceState): void {
    // allocations are replaced, never changed in place, so the instance's own object will do
    const a = i.allocation;
    this.allocs[k] = a;
    this.base[k] = a;
    this.baseCpu[k] = nz(a.cpu);
    this.baseMemory[k] = nz(a.memory);
    const hid = i.hostId;
    let p = -1;
    if (hid !== null) {
      if (hid === this.seenHostId[k]) p = this.seenHostPos[k]!;
      else {
        p = this.pos.get(hid) ?? -1;
        this.seenHostId[k] = hid;
        this.seenHostPos[k] = p;
      }
    }
    this.notedPos[k] = p;
    this.pendingAtStart[k] = hid === null ? 1 : 0;
    this.placed[k] = -1;
  }

  /** Attaches every noted instance to its host, in slot order (as attachAt would, from the arrays). */
  attachNoted(): void {
    for (let k = 0; k < this.insts.length; k++) {
      const p = this.notedPos[k]!;
      if (p < 0) continue;
      this.link(k, p);
      this.cpuSums[p] += this.baseCpu[k]!;
      this.memorySums[p] += this.baseMemory[k]!;
      this.placed[k] = p;
      this.touch(p);
    }
  }

  /** The allocation object the instance in slot k had in the snapshot. */
  baseAt(k: number): Amounts {
    return this.base[k]!;
  }
  /** Whether the instance in slot k had no host in the snapshot. */
  wasPendingAt(k: number): boolean {
    return this.pendingAtStart[k] === 1;
  }

  host(id: string): HostState | undefined {
    const p = this.posOf(id);
    return p >= 0 ? { ...this.sorted[p]!, on: this.isOn(p) } : undefined;
  }
  instance(id: string): InstanceState | undefined {
    const k = this.slotOf.get(id);
    return k === undefined ? undefined : this.insts[k];
  }
  instancesOn(hostId: string): InstanceState[] {
    const p = this.posOf(hostId);
    const out: InstanceState[] = [];
    if (p >= 0) for (let k = this.head[p]!; k >= 0; k = this.nextOnHost[k]!) out.push(this.insts[k]!);
    return out;
  }
  /** Position of a host by id (-1 = not a host of this fleet). */
  posOf(id: string): number {
    if (id === this.lastId) return this.lastPos;
    const p = this.pos.get(id) ?? -1;
    this.lastId = id;
    this.lastPos = p;
    return p;
  }
  /** A host (the snapshot's object) by id. */
  hostOf(id: string): HostState | undefined {
    const p = this.posOf(id);
    return p >= 0 ? this.sorted[p] : undefined;
  }
  /** Number of instances planned on the host at a position. */
  countAt(p: number): number {
    return this.count[p]!;
  }
  allocationOf(instanceId: string): Amounts {
    return this.allocs[this.slotOf.get(instanceId)!]!;
  }
  /** Position of the planned host of the instance in a slot (-1 = pending). */
  placedPosAt(k: number): number {
    return this.placed[k]!;
  }
  /** Planned host of the instance in a slot (null = pending). */
  placementAt(k: number): string | null {
    const p = this.placed[k]!;
    return p < 0 ? null : this.sorted[p]!.id;
  }
  allocationAt(k: number): Amounts {
    return this.allocs[k]!;
  }
  allocatedOn(hostId: string): Amounts {
    const p = this.posOf(hostId);
    return p >= 0 ? this.sums[p]! : { cpu: 0, memory: 0 };
  }

  attachAt(k: number, hostId: string): void {
    this.attachAtPos(k, this.posOf(hostId));
  }
  private attachAtPos(k: number, p: number): void {
    this.link(k, p);
    const a = this.allocs[k]!;
    this.cpuSums[p] += nz(a.cpu);
    this.memorySums[p] += nz(a.memory);
    this.placed[k] = p;
    this.touch(p);
  }
  /** Appends slot k to the list of the host at position p. */
  private link(k: number, p: number): void {
    const t = this.tail[p]!;
    this.prevOnHost[k] = t;
    this.nextOnHost[k] = -1;
    if (t >= 0) this.nextOnHost[t] = k;
    else this.head[p] = k;
    this.tail[p] = k;
    this.count[p]!++;
  }
  detachAt(k: number): void {
    const p = this.placed[k]!;
    if (p < 0) return;
    const prev = this.prevOnHost[k]!;
    const next = this.nextOnHost[k]!;
    if (prev >= 0) this.nextOnHost[prev] = next;
    else this.head[p] = next;
    if (next >= 0) this.prevOnHost[next] = prev;
    else this.tail[p] = prev;
    this.count[p]!--;
    const a = this.allocs[k]!;
    this.cpuSums[p] -= nz(a.cpu);
    this.memorySums[p] -= nz(a.memory);
    this.placed[k] = -1;
    this.touch(p);
  }
  setAllocAt(k: number, next: Amounts): void {
    const p = this.placed[k]!;
    const prev = this.allocs[k]!;
    if (p >= 0) {
      this.cpuSums[p] += nz(next.cpu) - nz(prev.cpu);
      this.memorySums[p] += nz(next.memory) - nz(prev.memory);
      this.touch(p);
    }
    this.allocs[k] = next;
  }
  setOn(hostId: string, on: boolean): void {
    const p = this.posOf(hostId);
    this.onAt[p] = on ? 1 : 0;
    this.touch(p);
  }
  /** Planned power state by position (a copy, taken now; 1 = on). */
  onFlags(): Uint8Array {
    return this.onAt.slice();
  }
  /** The powered-on hosts in id order, each a copy with `on: true` (taken now). */
  hostsOn(): HostState[] {
    const out: HostState[] = [];
    for (let p = 0; p < this.sorted.length; p++) if (this.onAt[p] === 1) out.push({ ...this.sorted[p]!, on: true });
    return out;
  }
  /** Hosts in id order, each a copy with its planned power state (taken now). */
  hostsSorted(): HostState[] {
    return this.sorted.map((h, p) => ({ ...h, on: this.onAt[p] === 1 }));
  }
  /** The host at a position as placement passes it to filters and scorers. */
  view(p: number): HostState {
    let v = this.views[p];
    if (!v) {
      v = { ...this.sorted[p]!, on: true };
      this.views[p] = v;
    }
    return v;
  }

  /** Keeps the index in step with a host's sums or power state. */
  private touch(p: number): void {
    if (this.index) this.indexHost(p);
    if (this.boundIndex) this.boundHost(p);
  }
  private indexHost(p: number): void {
    const h = this.sorted[p]!;
    if (!this.isOn(p)) {
      this.index!.clear(p);
      return;
    }
    this.index!.set(p, freeUp(h.capacity.cpu, this.cpuSums[p]!), freeUp(h.capacity.memory, this.memorySums[p]!));
  }
  private boundHost(p: number): void {
    const index = this.boundIndex![this.boundClass![p]!]!.index;
    const k = this.boundKeys(p, SCRATCH);
    index.set(p, k[0]!, k[1]!, k[2]!, k[3]!);
  }
  /** A host's keys for ScoreBoundIndex: free rounded up and down (cpu, memory); not candidates when off. */
  private boundKeys(p: number, out: Float64Array): Float64Array {
    const h = this.sorted[p]!;
    if (!this.isOn(p)) {
      out[0] = out[1] = -Infinity;
      out[2] = out[3] = Infinity;
      return out;
    }
    const cpu = this.cpuSums[p]!;
    const memory = this.memorySums[p]!;
    out[0] = freeUp(h.capacity.cpu, cpu);
    out[1] = freeUp(h.capacity.memory, memory);
    out[2] = freeDown(h.capacity.cpu, cpu);
    out[3] = freeDown(h.capacity.memory, memory);
    return out;
  }
  /**
   * Hosts by capacity, each class's hosts in slots by free CPU (powered-off ones last), built on
   * first use in a round: O(hosts log hosts).
   */
  boundIndexes(): ReadonlyArray<{ capacity: Amounts; index: ScoreBoundIndex }> {
    if (!this.boundIndex) {
      const n = this.sorted.length;
      const classes = new Map<string, { capacity: Amounts; positions: number[]; k: number }>();
      const keys = new Float64Array(4 * n);
      const key = new Float64Array(n);
      this.boundClass = new Int32Array(n);
      for (let p = 0; p < n; p++) {
        const h = this.sorted[p]!;
        const ck = `${h.capacity.cpu}|${h.capacity.memory}`;
        let c = classes.get(ck);
        if (!c) {
          c = { capacity: h.capacity, positions: [], k: classes.size };
          classes.set(ck, c);
        }
        this.boundClass[p] = c.k;
        c.positions.push(p);
        const k = this.boundKeys(p, SCRATCH);
        keys.set(k, 4 * p);
        // slot order: by free CPU (rounded down), powered-off hosts last
        key[p] = !this.isOn(p) ? Infinity : Number.isNaN(k[2]!) ? -Infinity : k[2]!;
      }
      this.boundIndex = [];
      for (const c of classes.values()) {
        c.positions.sort((a, b) => key[a]! - key[b]! || a - b);
        const index = new ScoreBoundIndex(c.positions, n, (p, out) => {
          for (let j = 0; j < 4; j++) out[j] = keys[4 * p + j]!;
        });
        this.boundIndex.push({ capacity: c.capacity, index });
      }
    }
    return this.boundIndex;
  }
  /** Powered-on hosts by free allocation (built on first use, O(hosts)). */
  freeIndex(): FreeCapacityIndex {
    if (!this.index) {
      this.index = new FreeCapacityIndex(this.sorted.length);
      for (let p = 0; p < this.sorted.length; p++) this.indexHost(p);
    }
    return this.index;
  }
  /**
   * Positions of the first empty powered-off host of each capacity that is not excluded, in
   * position order; powered-off hosts with instances on them are all listed.
   */
  offCandidates(exclude: ReadonlySet<string>): number[] {
    if (!this.offClasses) {
      const byKey = new Map<string, number[]>();
      this.offClasses = [];
      for (let p = 0; p < this.sorted.length; p++) {
        const h = this.sorted[p]!;
        if (this.isOn(p)) continue;
        // a host with instances is its own class (it is not interchangeable with empty ones)
        const key = this.count[p]! > 0 ? `#${p}` : `${h.capacity.cpu}|${h.capacity.memory}`;
        let positions = byKey.get(key);
        if (!positions) {
          positions = [];
          byKey.set(key, positions);
          this.offClasses.push({ positions, next: 0 });
        }
        positions.push(p);
      }
    }
    const out: number[] = [];
    for (const c of this.offClasses) {
      // hosts only get powered on while placing, so a passed host stays passed
      while (c.next < c.positions.length && this.isOn(c.positions[c.next]!)) c.next++;
      for (let k = c.next; k < c.positions.length; k++) {
        const p = c.positions[k]!;
        if (this.isOn(p) || exclude.has(this.sorted[p]!.id)) continue;
        out.push(p);
        break;
      }
    }
    return out.sort((a, b) => a - b);
  }
  isOn(p: number): boolean {
    return this.onAt[p] === 1;
  }
}

/** Hosts of a snapshot in id order, with each id's position. */
interface HostOrder {
  sorted: readonly HostState[];
  pos: ReadonlyMap<string, number>;
}

const nz = (x: number): number => (Number.isFinite(x) ? x : 0);
const SCRATCH = new Float64Array(4);
/** Free allocation rounded up / down by far more than rounding error (a bound only ever skips less). */
const freeUp = (cap: number, sum: number): number => cap - sum + 1e-9 * (Math.abs(cap) + Math.abs(sum));
const freeDown = (cap: number, sum: number): number => (Number.isFinite(cap) ? cap - sum - 1e-9 * (Math.abs(cap) + Math.abs(sum)) : cap - sum);

export interface Decision {
  plan: Plan;
  /** Why each candidate host was rejected for the last placement attempts (for "why not host X?"). */
  rejections: Array<{ instance: string; host: string; reasons: string[] }>;
}

/** Runs a compiled profile: the model update (observe) and the decision round (decide). */
export class PolicyRunner {
  /** Keep at most this many rejection records per round. */
  maxRejections = 50;

  /** Host order of the last snapshot seen (re-sorted only when its hosts change). */
  private hostOrder: { hosts: readonly HostState[]; items: HostState[]; order: HostOrder } | null = null;
  /** Planning state kept across rounds (see PlanningFleet). */
  private planning: PlanningFleet | null = null;
  /** A round's resize reasons and their ownership by slot, reused by the next round (no large arrays per round). */
  private roundReasons: string[][] = [];
  private roundReasonsOwned = new Uint8Array(0);
  /** Placement may skip hosts a filter bounds out / evaluate one empty host per capacity. */
  private readonly pruneByFree: boolean;
  private readonly symmetric: boolean;
  /** Every scorer bounds its score (and no weight is negative): placement may branch and bound. */
  private readonly bounded: boolean;

  constructor(readonly profile: CompiledProfile) {
    this.pruneByFree = profile.filters.some((f) => typeof f.requiredFree === 'function');
    this.bounded = profile.scorers.every((s) => typeof s.plugin.scoreBound === 'function' && s.weight >= 0 && Number.isFinite(s.weight));
    this.symmetric = profile.filters.every((f) => f.hostSymmetric === true) && profile.scorers.every((s) => s.plugin.hostSymmetric === true);
  }

  private orderOf(hosts: readonly HostState[]): HostOrder {
    const c = this.hostOrder;
    // same array holding the same host objects (ids are read-only): the order still holds
    if (c && c.hosts === hosts && c.items.length === hosts.length && hosts.every((h, k) => h === c.items[k])) return c.order;
    const sorted = [...hosts].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const pos = new Map(sorted.map((h, p) => [h.id, p]));
    this.hostOrder = { hosts, items: [...hosts], order: { sorted, pos } };
    return this.hostOrder.order;
  }

  /** Feeds the usage of the step that just ended (and the allocation it had) to every plugin. */
  observe(instance: InstanceState, usage: Amounts, allocation: Amounts, nowS: number): void {
    for (const p of this.profile.plugins) p.observe?.(instance, usage, allocation, nowS);
  }

  forget(instanceId: string): void {
    for (const p of this.profile.plugins) p.forget?.(instanceId);
  }

  /** Forecasts from the profile's forecast source (empty when the policy uses none). */
  forecasts(snapshot: Snapshot, nowS: number): Forecasts {
    const src = this.profile.forecast;
    if (!src) return EMPTY_FORECASTS;
    const out = new Map<string, InstanceForecast>();
    for (const inst of snapshot.instances) {
      const f = src.forecast(inst, nowS);
      if (f) out.set(inst.id, f);
    }
    return out;
  }

  decide(snapshot: Snapshot, forecasts: Forecasts, nowS: number, rng: Rng): Plan {
    return this.decideWithReasons(snapshot, forecasts, nowS, rng).plan;
  }

  decideWithReasons(snapshot: Snapshot, forecasts: Forecasts, nowS: number, rng: Rng): Decision {
    const ctx: DecideContext = { snapshot, forecasts, nowS, rng };
    const rightsizer = this.profile.rightsizer;

    if (snapshot.hosts.length === 0) {
      const actions: Action[] = [];
      for (const inst of snapshot.instances) {
        const d = rightsizer.recommend(inst, ctx);
        const cpu = Number.isNaN(d.cpu) ? inst.allocation.cpu : d.cpu;
        const memory = Number.isNaN(d.memory) ? inst.allocation.memory : d.memory;
        if (!same(cpu, inst.allocation.cpu) || !same(memory, inst.allocation.memory)) {
          // a copy: a rightsizer may return a shared (frozen) reasons array
          actions.push({ kind: 'resize', instance: inst.id, cpu, memory, reasons: [...d.reasons] });
        }
      }
      return { plan: { nowS, actions }, rejections: [] };
    }

    const order = this.orderOf(snapshot.hosts);
    if (!this.planning || this.planning.order !== order) this.planning = new PlanningFleet(this.profile.overcommit, order);
    const fleet = this.planning;
    fleet.begin(ctx);
    const instances = snapshot.instances;
    /**
     * Per slot (index in snapshot.instances): the reasons of its resize, the rightsizer's array
     * until the round adds a reason (then a copy: `ownReasons`); a resize action gets its own copy.
     */
    if (this.roundReasons.length !== instances.length) {
      this.roundReasons = new Array<string[]>(instances.length);
      this.roundReasonsOwned = new Uint8Array(instances.length);
    } else this.roundReasonsOwned.fill(0);
    // (kept across rounds: every slot's entry is set below before it is read)
    const resizeReasons = this.roundReasons;
    const reasonsOwned = this.roundReasonsOwned;
    const ownReasons = (k: number): string[] => {
      if (reasonsOwned[k] === 0) {
        resizeReasons[k] = [...resizeReasons[k]!];
        reasonsOwned[k] = 1;
      }
      return resizeReasons[k]!;
    };
    const slot = (inst: InstanceState): number => fleet.slotOf.get(inst.id)!;
    // One pass reads every instance (noted for planning) and rightsizes it; then the instances
    // are attached to their hosts and the changed allocations applied, in slot order (the same
    // sums as attaching all, then resizing one by one).
    const changed: number[] = [];
    const changedTo: Amounts[] = [];
    for (let k = 0; k < instances.length; k++) {
      const inst = instances[k]!;
      fleet.note(k, inst);
      const d = rightsizer.recommend(inst, ctx);
      const cur = inst.allocation;
      const cpu = Number.isNaN(d.cpu) ? cur.cpu : d.cpu;
      const memory = Number.isNaN(d.memory) ? cur.memory : d.memory;
      // unchanged: the planned allocation stays the instance's own object (no sums to update)
      if (!same(cpu, cur.cpu) || !same(memory, cur.memory)) {
        changed.push(k);
        changedTo.push({ cpu, memory });
      }
      resizeReasons[k] = d.reasons;
    }
    fleet.attachNoted();
    for (let j = 0; j < changed.length; j++) fleet.setAllocAt(changed[j]!, changedTo[j]!);

    const powerOn: Action[] = [];
    const migrations: Action[] = [];
    const powerOff: Action[] = [];
    const rejections: Decision['rejections'] = [];
    const moved = new Map<string, { from: string; to: string; reasons: string[] }>();
    // Operator settings: a live migration beyond the instance's maxMigrationsPerHour is withheld.
    const withheld: WithheldAction[] = [];
    const rateLimited = snapshot.control ? (id: string): boolean => !migrationAllowed(snapshot, id, nowS) : undefined;

    const powerOnHost = (hostId: string, why: string): void => {
      fleet.setOn(hostId, true);
      powerOn.push({ kind: 'power', host: hostId, on: true, reasons: [why] });
    };

    // Placement: the feasible host with the best score, ties to the first in id order; powered-on
    // hosts first, then powered-off ones as if on. Once the round's rejection records are full
    // (nothing more to record), hosts that a filter's `requiredFree` bound rules out are skipped
    // through the free-capacity index, and with host-symmetric plugins only the first empty
    // powered-off host of each capacity is evaluated: the same host wins either way.
    const findHost = (inst: InstanceState, exclude: ReadonlySet<string>, allowPowerOn: boolean): HostState | undefined => {
      let best = -1;
      let bestScore = -Infinity;
      const consider = (p: number): void => {
        const h = fleet.view(p);
        if (exclude.has(h.id)) return;
        const reasons: string[] = [];
        for (const f of this.profile.filters) {
          const st = f.filter(inst, h, fleet);
          if (!st.feasible) {
            reasons.push(...st.reasons);
            break;
          }
        }
        if (reasons.length > 0) {
          if (rejections.length < this.maxRejections) rejections.push({ instance: inst.id, host: h.id, reasons });
          return;
        }
        let score = 0;
        for (const { plugin, weight } of this.profile.scorers) score += weight * plugin.score(inst, h, fleet);
        // ties go to the first host in id order (the branch-and-bound search visits out of order)
        if (score > bestScore || (score === bestScore && p < best)) {
          bestScore = score;
          best = p;
        }
      };
      const n = fleet.sorted.length;
      const bound = this.pruneByFree && rejections.length >= this.maxRejections ? requiredFree(this.profile.filters, inst, fleet) : undefined;
      if (bound && this.bounded) {
        // Branch and bound: skip groups of hosts whose best possible score is below the best found.
        const scorers = this.profile.scorers;
        const bestNow = (): number => bestScore;
        for (const { capacity, index } of fleet.boundIndexes()) {
          const scoreBound = (loCpu: number, loMemory: number): number => {
            const minFree = { cpu: Math.max(loCpu, bound.cpu), memory: Math.max(loMemory, bound.memory) };
            let b = 0;
            for (const { plugin, weight } of scorers) b += weight * plugin.scoreBound!(inst, capacity, minFree, fleet);
            return b;
          };
          index.search(bound.cpu, bound.memory, scoreBound, bestNow, consider);
        }
      } else if (bound) fleet.freeIndex().forEachAtLeast(bound.cpu, bound.memory, consider);
      else for (let p = 0; p < n; p++) if (fleet.isOn(p)) consider(p);
      if (best < 0 && allowPowerOn) {
        // Consider powered-off hosts as if they were on; the best-scoring feasible one is powered on.
        if (this.symmetric && rejections.length >= this.maxRejections) for (const p of fleet.offCandidates(exclude)) consider(p);
        else for (let p = 0; p < n; p++) if (!fleet.isOn(p)) consider(p);
        if (best >= 0) powerOnHost(fleet.sorted[best]!.id, R.POWER_ON_FOR_PLACEMENT);
      }
      return best >= 0 ? fleet.view(best) : undefined;
    };

    const move = (inst: InstanceState, to: string, reasons: string[]): void => {
      const k = slot(inst);
      const from = fleet.placementAt(k);
      fleet.detachAt(k);
      fleet.attachAt(k, to);
      if (from === null) return; // initial placement: not a migration
      const prior = moved.get(inst.id);
      const origin = prior ? prior.from : from;
      // Re-insert so that migrations are emitted in decision order: each was feasible given
      // the moves decided before it, so applying them in that order keeps every host valid.
      moved.delete(inst.id);
      if (origin !== to) moved.set(inst.id, { from: origin, to, reasons });
    };

    /** Scales down one resource on a host until the allocations fit (overcommit off). */
    const capHost = (hostId: string): void => {
      const host = fleet.hostOf(hostId)!;
      const sum = fleet.allocatedOn(hostId);
      for (const key of ['cpu', 'memory'] as const) {
        const cap = host.capacity[key];
        if (!(sum[key] > cap + 1e-9) || !Number.isFinite(cap)) continue;
        const k = cap / sum[key];
        for (const inst of fleet.instancesOn(hostId)) {
          const j = slot(inst);
          const a = fleet.allocationAt(j);
          fleet.setAllocAt(j, { ...a, [key]: a[key] * k * (1 - 1e-12) });
          const rs = resizeReasons[j]!;
          if (!rs.includes(R.CAPPED_BY_HOST)) ownReasons(j).push(R.CAPPED_BY_HOST);
        }
      }
    };

    const overAllocated = (hostId: string): boolean => {
      const host = fleet.hostOf(hostId)!;
      const s = fleet.allocatedOn(hostId);
      return s.cpu > host.capacity.cpu + 1e-9 || s.memory > host.capacity.memory + 1e-9;
    };

    // 1. Place pending instances.
    for (let k = 0; k < instances.length; k++) {
      const inst = instances[k]!;
      if (fleet.placedPosAt(k) >= 0) continue;
      let h = findHost(inst, new Set(), true);
      if (!h) {
        // Nowhere fits: take the powered host with the most free CPU (or power one on) and cap.
        const hosts = fleet.hostsSorted();
        const cand = hosts.filter((x) => x.on);
        const pool = cand.length > 0 ? cand : hosts;
        h = pool.reduce((a, b) => (free(fleet, b) > free(fleet, a) ? b : a));
        if (!fleet.isOn(fleet.pos.get(h.id)!)) powerOnHost(h.id, R.POWER_ON_FOR_PLACEMENT);
        ownReasons(k).push(R.NO_FEASIBLE_HOST);
      }
      fleet.attachAt(k, h.id);
      if (!fleet.overcommit && overAllocated(h.id)) capHost(h.id);
    }

    // 2. Relieve overloaded hosts.
    const overload = this.profile.overload;
    const victimSel = this.profile.victim;
    // the hosts powered on before this stage, each a copy as hostsSorted() makes them
    const onAtStart = fleet.onFlags();
    for (let p = 0; p < onAtStart.length; p++) {
      if (onAtStart[p] === 0) continue;
      const host: HostState = { ...fleet.sorted[p]!, on: true };
      const isOver = (): boolean => (overload ? overload.overloaded(fleet.host(host.id)!, fleet).detected : false) || (!fleet.overcommit && overAllocated(host.id));
      if (!isOver()) continue;
      if (victimSel) {
        const status = overload?.overloaded(host, fleet);
        for (const { instance, reasons } of victimSel.select(host, fleet)) {
          if (!isOver()) break;
          if (moved.has(instance.id)) continue; // at most one migration per instance per round
          if (rateLimited?.(instance.id)) {
            withheld.push({ kind: 'migrate', instance: instance.id, from: host.id, reasons: [R.MIGRATION_RATE_LIMITED, ...(status?.reasons ?? [R.OVERLOADED]), ...reasons] });
            continue;
          }
          const target = findHost(instance, new Set([host.id]), true);
          if (target) move(instance, target.id, [...(status?.reasons ?? [R.OVERLOADED]), ...reasons]);
        }
      }
      if (!fleet.overcommit && overAllocated(host.id)) capHost(host.id);
    }

    // 3. Drain underloaded hosts (all or nothing per host), then 4. power off empty hosts.
    const drained = new Set<string>();
    const underload = this.profile.underload;
    if (underload) {
      const onHosts = fleet.hostsOn();
      for (const { host, reasons } of underload.underloaded(onHosts, fleet)) {
        if (drained.has(host.id)) continue;
        const residents = fleet.instancesOn(host.id);
        // A host that received instances this round is not drained (no instance moves twice).
        if (residents.some((r) => moved.has(r.id))) continue;
        const exclude = new Set([host.id, ...drained]);
        const done: Array<{ inst: InstanceState; to: string }> = [];
        let ok = true;
        for (const inst of residents) {
          if (rateLimited?.(inst.id)) {
            // the host cannot be emptied: not drained (the moves found so far are undone below)
            withheld.push({ kind: 'migrate', instance: inst.id, from: host.id, reasons: [R.MIGRATION_RATE_LIMITED, R.CONSOLIDATE, ...reasons] });
            ok = false;
            break;
          }
          const target = findHost(inst, exclude, false);
          if (!target) {
            ok = false;
            break;
          }
          const k = slot(inst);
          fleet.detachAt(k);
          fleet.attachAt(k, target.id);
          done.push({ inst, to: target.id });
        }
        // Undo tentative moves when the host cannot be emptied.
        for (let k = done.length - 1; k >= 0; k--) {
          const j = slot(done[k]!.inst);
          fleet.detachAt(j);
          fleet.attachAt(j, host.id);
        }
        if (!ok) continue;
        for (const { inst, to } of done) move(inst, to, [R.CONSOLIDATE, ...reasons]);
        drained.add(host.id);
      }
    }
    for (let p = 0; p < fleet.sorted.length; p++) {
      if (fleet.isOn(p) && fleet.countAt(p) === 0) {
        const id = fleet.sorted[p]!.id;
        fleet.setOn(id, false);
        powerOff.push({ kind: 'power', host: id, on: false, reasons: [drained.has(id) ? R.UNDERLOADED : R.HOST_EMPTY] });
      }
    }

    // Assemble the plan in a capacity-safe order (one pass over the instances: resizes and
    // initial placements, each in slot order).
    const shrink: Action[] = [];
    const grow: Action[] = [];
    for (let k = 0; k < instances.length; k++) {
      if (fleet.wasPendingAt(k) && fleet.placedPosAt(k) >= 0) {
        // Initial placement is a migrate from nowhere ('' = pending).
        migrations.push({ kind: 'migrate', instance: instances[k]!.id, from: '', to: fleet.placementAt(k)!, reasons: [R.PLACED] });
      }
      const a = fleet.allocationAt(k);
      const cur = fleet.baseAt(k);
      if (a === cur) continue; // unchanged, without reading the instance
      const inst = instances[k]!;
      if (same(a.cpu, cur.cpu) && same(a.memory, cur.memory)) continue;
      const reasons = reasonsOwned[k] === 1 ? resizeReasons[k]! : [...resizeReasons[k]!];
      const act: Action = { kind: 'resize', instance: inst.id, cpu: a.cpu, memory: a.memory, reasons };
      if (nz(a.cpu) <= nz(cur.cpu) && nz(a.memory) <= nz(cur.memory)) shrink.push(act);
      else if (nz(a.cpu) >= nz(cur.cpu) && nz(a.memory) >= nz(cur.memory)) grow.push(act);
      else {
        // Mixed: shrink one resource first, grow the other after the moves.
        const mixShrink: Action = { kind: 'resize', instance: inst.id, cpu: Math.min(nz(a.cpu), nz(cur.cpu)), memory: Math.min(nz(a.memory), nz(cur.memory)), reasons: act.reasons };
        shrink.push(mixShrink);
        grow.push(act);
      }
    }
    for (const [id, m] of moved) migrations.push({ kind: 'migrate', instance: id, from: m.from, to: m.to, reasons: m.reasons });
    const plan: Plan = { nowS, actions: [...powerOn, ...shrink, ...migrations, ...grow, ...powerOff] };
    if (withheld.length > 0) plan.withheld = withheld;
    return { plan, rejections };
  }
}

/** The tightest `requiredFree` bound of the filters (undefined when none gives one). */
function requiredFree(filters: CompiledProfile['filters'], inst: InstanceState, fleet: PlanningFleet): Amounts | undefined {
  let out: Amounts | undefined;
  for (const f of filters) {
    const b = f.requiredFree?.(inst, fleet);
    if (!b) continue;
    out = out ? { cpu: Math.max(out.cpu, b.cpu), memory: Math.max(out.memory, b.memory) } : { cpu: b.cpu, memory: b.memory };
  }
  return out;
}

function free(fleet: PlanningFleet, h: HostState): number {
  return h.capacity.cpu - fleet.allocatedOn(h.id).cpu;
}

function same(a: number, b: number): boolean {
  return a === b || (Number.isNaN(a) && Number.isNaN(b));
}
