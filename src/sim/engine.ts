// The time-stepped simulation of a cohort of instances (index-aligned series) under one policy.
//
// Per step i (virtual time i * stepSeconds):
//   1. decide: forecasts + PolicyRunner.decide on what was observed before sample i;
//   2. apply the plan through the simulated driver (a failure rolls the plan back);
//   3. sample i happens under the allocation now in effect: it is recorded (index >= start),
//      scored, and fed to the policy's model (observe).
// So the allocation for index i depends only on samples < i (a test truncates traces to check).
// Deterministic: no clock, no Math.random(); the Rng is seeded by the caller.
import type { Amounts, InstanceUnits } from '../core/plan.js';
import { applyPlanSync } from '../core/ports.js';
import type { Unit } from '../core/resources.js';
import type { Rng } from '../core/rng.js';
import type { PolicyRunner } from '../policy/framework/decide.js';
import type { HostState, InstanceState, Snapshot } from '../policy/framework/types.js';
import type { TraceSeries } from '../traces/format.js';
import { VirtualClock } from './clock.js';
import { FleetMetrics, ResourceMetrics } from './metrics.js';
import { SimDriver } from './sim-driver.js';

/** First scored / written index of a series: 288, or 144 for a series of at most 288 rows. */
export function startIndex(length: number): number {
  return length <= 288 ? 144 : 288;
}

/** Allocations are recorded rounded up to 1e-6 (what allocations.csv holds), never below the decision. */
export function roundUp6(x: number): number {
  if (!Number.isFinite(x)) return x;
  const r = Math.ceil(x * 1e6) / 1e6;
  return r < x ? r + 1e-6 : r;
}

/** Capacity of a series for one resource: the trace's, else 100 for percent units, else NaN. */
export function capacityOf(s: TraceSeries, key: 'cpu' | 'memory'): number {
  if (!s.values[key]) return NaN;
  const c = s.capacity?.[key];
  if (c !== undefined && Number.isFinite(c) && c > 0) return c;
  if (s.units[key] === 'percent') return 100;
  // No provisioned capacity recorded: the largest usage seen stands in for it.
  let m = 0;
  for (const v of s.values[key]!) if (v > m) m = v;
  return m;
}

export interface HostSpec {
  id: string;
  capacity: Amounts;
}

export interface CohortOptions {
  runner: PolicyRunner;
  rng: Rng;
  stepSeconds: number;
  /** Hosts (fleet scenario); none = rightsizing without host limits. */
  hosts?: HostSpec[];
  overcommit?: boolean;
  /** Host bandwidth for live migration, Mbit/s (half is used for migration, as CloudSim). */
  migrationBandwidthMbps?: number;
  /** Migration time when memory is not in MiB (e.g. percent traces), seconds. */
  fallbackMigrationSeconds?: number;
  /** Receives every recorded allocation (index >= start). */
  onAllocation?: (instance: string, index: number, cpu: number, memory: number) => void;
  onStep?: (step: number, steps: number) => void;
  /** Called after each step's plan is applied, with the live state (read only; for tests and tools). */
  onStepState?: (step: number, instances: readonly InstanceState[], hosts: readonly HostState[]) => void;
  /** Keep the full alloc/usage series of these instances (for charts). */
  keepSeries?: (id: string) => boolean;
}

export interface KeptSeries {
  id: string;
  units: InstanceUnits;
  start: number;
  usage: { cpu: Float64Array; memory: Float64Array };
  allocation: { cpu: Float64Array; memory: Float64Array };
}

export interface CohortResult {
  cpu: ResourceMetrics;
  memory: ResourceMetrics;
  fleet?: FleetMetrics;
  rows: number;
  steps: number;
  failedPlans: number;
  kept: KeptSeries[];
}

const NAN_SERIES = new Float64Array(0);

/**
 * Amounts the engine updates in place every step (each instance's lastUsage, the amounts passed
 * to observe). A class of their own: V8 then keeps the two fields as doubles updated in place,
 * whereas a `{ cpu, memory }` literal shares its shape with every other Amounts literal, whose
 * fields hold boxed numbers, so that each store would allocate a number that the garbage
 * collector then copies and promotes (one per instance and step).
 */
class StepAmounts implements Amounts {
  cpu = NaN;
  memory = NaN;
}
/** Steps of usage copied at a time from every series (see `usageCpuBlock`). */
const BLOCK = 8;

/** Copies values[from .. from + BLOCK) into block[at ..] (NaN where the series has no value). */
function fillBlock(block: Float64Array, at: number, values: Float64Array, from: number): void {
  const n = values.length;
  for (let j = 0; j < BLOCK; j++) block[at + j] = from + j < n ? values[from + j]! : NaN;
}

export function simulateCohort(series: readonly TraceSeries[], opts: CohortOptions): CohortResult {
  const { runner, rng } = opts;
  const stepSeconds = opts.stepSeconds;
  const clock = new VirtualClock(0, stepSeconds);
  const hostSpecs = opts.hosts ?? [];
  const overcommit = opts.overcommit ?? false;
  const cpuM = new ResourceMetrics();
  const memM = new ResourceMetrics();
  const fleet = hostSpecs.length > 0 ? new FleetMetrics(stepSeconds) : undefined;

  const instances: InstanceState[] = series.map((s) => {
    const units: InstanceUnits = { cpu: (s.units.cpu ?? 'percent') as Unit, memory: (s.units.memory ?? 'MiB') as Unit };
    const capacity = { cpu: capacityOf(s, 'cpu'), memory: capacityOf(s, 'memory') };
    return { id: s.id, hostId: null, units, capacity, allocation: { ...capacity }, lastUsage: new StepAmounts(), samples: 0 };
  });
  const instMap = new Map(instances.map((i) => [i.id, i]));
  if (instMap.size !== instances.length) {
    const seen = new Set<string>();
    for (const i of instances) {
      if (seen.has(i.id)) throw new Error(`duplicate instance id "${i.id}" in the trace`);
      seen.add(i.id);
    }
  }
  const hosts: HostState[] = hostSpecs.map((h) => ({ id: h.id, capacity: { ...h.capacity }, on: false }));
  const hostMap = new Map(hosts.map((h) => [h.id, h]));
  const driver = new SimDriver(instMap, hostMap, overcommit, { trackHosts: true });

  const cpuVals = series.map((s) => s.values.cpu ?? NAN_SERIES);
  const memVals = series.map((s) => s.values.memory ?? NAN_SERIES);
  const hasCpu = Uint8Array.from(cpuVals, (v) => (v.length ? 1 : 0));
  const hasMemory = Uint8Array.from(memVals, (v) => (v.length ? 1 : 0));
  const starts = series.map((s) => startIndex(s.length));
  const lengths = series.map((s) => s.length);
  const steps = lengths.reduce((a, b) => Math.max(a, b), 0);
  const kept: KeptSeries[] = [];
  /** Per instance slot: its kept series, if any. */
  const keptAt = new Array<KeptSeries | undefined>(series.length).fill(undefined);
  series.forEach((s, k) => {
    if (opts.keepSeries?.(s.id)) {
      const n = s.length;
      const ks: KeptSeries = {
        id: s.id,
        units: instances[k]!.units,
        start: starts[k]!,
        usage: { cpu: new Float64Array(n).fill(NaN), memory: new Float64Array(n).fill(NaN) },
        allocation: { cpu: new Float64Array(n).fill(NaN), memory: new Float64Array(n).fill(NaN) },
      };
      kept.push(ks);
      keptAt[k] = ks;
    }
  });

  const bwMiBps = ((opts.migrationBandwidthMbps ?? 1000) / 8 / 2) * (1e6 / 1048576);
  const fallbackMig = opts.fallbackMigrationSeconds ?? 30;
  let rows = 0;
  let failedPlans = 0;
  let active: InstanceState[] = instances.slice();
  const activeIdx: number[] = instances.map((_, k) => k);
  const snapshot: Snapshot = { nowS: 0, stepSeconds, instances: active, hosts };
  // CPU demand per host this step (by host index), and each instance's last host id and its index
  const hostDemand = new Float64Array(hosts.length);
  const hostIndex = new Map(hosts.map((h, j) => [h.id, j]));
  fleet?.useSlots(instances.map((i) => i.id));
  fleet?.useHostSlots(hosts.length);
  // host capacities are copies made above, never changed
  const hostCpuCapacity = Float64Array.from(hosts, (h) => h.capacity.cpu);
  // Usage of the next BLOCK steps of every instance, by slot (copied from the series every BLOCK
  // steps): the sample loop reads one array in slot order instead of two series per instance.
  const usageCpuBlock = new Float64Array(instances.length * BLOCK);
  const usageMemoryBlock = new Float64Array(instances.length * BLOCK);
  // The sampler keeps each slot's allocation object and its amounts rounded up to 1e-6,
  // recomputed only when the object changes (allocations are replaced, never changed in place).
  const sampler = new CohortSampler(instances, runner, cpuM, memM, fleet, hostIndex, hostDemand, usageCpuBlock, usageMemoryBlock, starts, hasCpu, hasMemory, keptAt, opts.onAllocation);

  for (let i = 0; i < steps; i++) {
    const nowS = clock.nowS;
    // Instances whose series ended leave the system.
    if (activeIdx.some((k) => i >= lengths[k]!)) {
      for (let p = activeIdx.length - 1; p >= 0; p--) {
        const k = activeIdx[p]!;
        if (i >= lengths[k]!) {
          const inst = instances[k]!;
          driver.release(inst.id);
          runner.forget(inst.id);
          activeIdx.splice(p, 1);
        }
      }
      active = activeIdx.map((k) => instances[k]!);
      snapshot.instances = active;
    }
    snapshot.nowS = nowS;

    // 1-2. Decide and apply.
    const forecasts = runner.forecasts(snapshot, nowS);
    const plan = runner.decide(snapshot, forecasts, nowS, rng);
    if (plan.actions.length > 0) {
      driver.counters.migratedThisStep.length = 0;
      const res = applyPlanSync(driver, plan);
      if (!res.ok) {
        failedPlans++;
      }
    }

    opts.onStepState?.(i, active, hosts);

    // 3. The sample happens.
    if (fleet) hostDemand.fill(0);
    if (i % BLOCK === 0) {
      for (let p = 0; p < activeIdx.length; p++) {
        const k = activeIdx[p]!;
        fillBlock(usageCpuBlock, k * BLOCK, cpuVals[k]!, i);
        fillBlock(usageMemoryBlock, k * BLOCK, memVals[k]!, i);
      }
    }
    rows += sampler.sample(activeIdx, i, nowS);

    if (fleet) {
      for (const id of driver.counters.migratedThisStep) {
        const inst = instMap.get(id)!;
        const mem = inst.units.memory === 'MiB' && Number.isFinite(inst.allocation.memory) ? inst.allocation.memory : NaN;
        const migS = Number.isFinite(mem) ? mem / bwMiBps : fallbackMig;
        fleet.migration(id, inst.lastUsage.cpu, migS);
      }
      driver.counters.migratedThisStep.length = 0;
      let on = 0;
      for (let j = 0; j < hosts.length; j++) {
        const h = hosts[j]!;
        if (h.on) on++;
        fleet.hostStepAt(j, h.on, hostDemand[j]!, hostCpuCapacity[j]!);
      }
      fleet.hostsOn.push(on);
    }
    opts.onStep?.(i + 1, steps);
    clock.advance();
  }

  if (fleet) {
    fleet.migrations = driver.counters.migrations;
    fleet.shutdowns = driver.counters.shutdowns;
    fleet.failedPlans = failedPlans;
  }
  return { cpu: cpuM, memory: memM, ...(fleet ? { fleet } : {}), rows, steps, failedPlans, kept };
}

/**
 * The sample of one step for every active instance (recorded, scored, fed to the policy): a
 * method of its own, so that V8 optimizes it apart from the rest of the step (its small callees
 * are then inlined, and their number arguments need no boxes).
 */
class CohortSampler {
  /** Each slot's allocation object and its amounts rounded up to 1e-6 (see simulateCohort). */
  private readonly roundedOf: Array<Amounts | null>;
  private readonly roundedCpu: Float64Array;
  private readonly roundedMemory: Float64Array;
  /** Each slot's last host id and its index. */
  private readonly lastHostId: Array<string | null>;
  private readonly lastHostIndex: Int32Array;
  /** Reused for every observe call (see below). */
  private readonly usageNow = new StepAmounts();
  private readonly allocNow = new StepAmounts();
  private readonly anyKept: boolean;

  constructor(
    private readonly instances: readonly InstanceState[],
    private readonly runner: PolicyRunner,
    private readonly cpuM: ResourceMetrics,
    private readonly memM: ResourceMetrics,
    private readonly fleet: FleetMetrics | undefined,
    private readonly hostIndex: ReadonlyMap<string, number>,
    private readonly hostDemand: Float64Array,
    private readonly usageCpuBlock: Float64Array,
    private readonly usageMemoryBlock: Float64Array,
    private readonly starts: readonly number[],
    private readonly hasCpu: Uint8Array,
    private readonly hasMemory: Uint8Array,
    private readonly keptAt: ReadonlyArray<KeptSeries | undefined>,
    private readonly onAllocation: CohortOptions['onAllocation'],
  ) {
    const n = instances.length;
    this.roundedOf = new Array<Amounts | null>(n).fill(null);
    this.roundedCpu = new Float64Array(n);
    this.roundedMemory = new Float64Array(n);
    this.lastHostId = new Array<string | null>(n).fill(null);
    this.lastHostIndex = new Int32Array(n);
    this.anyKept = keptAt.some((x) => x !== undefined);
  }

  /** Step i's sample of the active instances (in slot order); returns the rows recorded. */
  sample(activeIdx: readonly number[], i: number, nowS: number): number {
    const { instances, usageCpuBlock, usageMemoryBlock, roundedOf, roundedCpu, roundedMemory, starts, fleet, usageNow, allocNow } = this;
    const b = i % BLOCK;
    let rows = 0;
    for (let p = 0; p < activeIdx.length; p++) {
      const k = activeIdx[p]!;
      const inst = instances[k]!;
      const usageCpu = usageCpuBlock[k * BLOCK + b]!;
      const usageMemory = usageMemoryBlock[k * BLOCK + b]!;
      const allocation = inst.allocation;
      if (allocation !== roundedOf[k]) {
        roundedOf[k] = allocation;
        roundedCpu[k] = roundUp6(allocation.cpu);
        roundedMemory[k] = roundUp6(allocation.memory);
      }
      const allocCpu = roundedCpu[k]!;
      const allocMemory = roundedMemory[k]!;
      if (i >= starts[k]!) {
        rows++;
        if (this.onAllocation) this.onAllocation(inst.id, i, this.hasCpu[k] ? allocCpu : NaN, this.hasMemory[k] ? allocMemory : NaN);
        this.cpuM.add(usageCpu, allocCpu);
        this.memM.add(usageMemory, allocMemory);
      }
      const ks = this.anyKept ? this.keptAt[k] : undefined;
      if (ks) {
        ks.usage.cpu[i] = usageCpu;
        ks.usage.memory[i] = usageMemory;
        ks.allocation.cpu[i] = allocCpu;
        ks.allocation.memory[i] = allocMemory;
      }
      if (fleet) {
        fleet.instanceStepAt(k, usageCpu);
        const hid = inst.hostId;
        if (hid !== null && Number.isFinite(usageCpu)) {
          if (hid !== this.lastHostId[k]) {
            this.lastHostId[k] = hid;
            this.lastHostIndex[k] = this.hostIndex.get(hid)!;
          }
          this.hostDemand[this.lastHostIndex[k]!] += usageCpu;
        }
      }
      // The amounts passed to observe are reused for the next instance (plugins read them during
      // the call), and the instance's lastUsage is updated in place: no objects per instance and
      // step, so nothing for the garbage collector to copy or promote in a large fleet.
      usageNow.cpu = usageCpu;
      usageNow.memory = usageMemory;
      allocNow.cpu = allocCpu;
      allocNow.memory = allocMemory;
      this.runner.observe(inst, usageNow, allocNow, nowS);
      const last = inst.lastUsage;
      last.cpu = usageCpu;
      last.memory = usageMemory;
      inst.samples++;
    }
    return rows;
  }
}
