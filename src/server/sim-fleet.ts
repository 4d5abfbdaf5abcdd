// The embedded default fleet: simulated hosts and instances whose usage comes from the seeded
// synthetic workload (src/traces/synthetic), so a fresh `prescient start` has live data.
//
// The simulated world (what the driver changes) lives here, apart from the control loop's model.
// Its driver is the simulator's SimDriver (capacity checks, idempotent undos). Every tick the
// fleet reports one telemetry sample per instance: the workload's next 5-minute sample (CPU in
// millicores, memory in MiB), replayed round and round; so one tick is one 5-minute step of the
// workload (a day passes in 288 ticks: under 5 minutes at the default 1 s tick).
//
// The reported usage is the workload's demand, even above the allocation in effect (as the
// simulator does), so the forecasters see the true demand.
//
// The driver checks like the simulator's SimDriver (a host must be on; without overcommit the
// allocations on a host must fit it; a host with instances cannot be powered off) but keeps the
// allocation sums per host, so a check costs O(1) instead of a scan of every instance: the
// difference between 1 ms and 50 ms per tick at 10,000 instances.
import type { Priority } from '../core/model.js';
import type { Action } from '../core/plan.js';
import type { Driver, SyncDriver, Undo } from '../core/ports.js';
import { vec } from '../core/resources.js';
import type { HostInput, HostRecord, InstanceInput, InstanceRecord } from '../core/store.js';
import type { TelemetryBatch } from '../core/telemetry.js';
import type { HostState, InstanceState } from '../policy/framework/types.js';
import { DriverError, onceUndo } from '../core/ports.js';
import { generateWorkload } from '../traces/synthetic/generate-workload.js';
import { T3_INSTANCE_CLASSES } from '../policy/markets/credits.js';
import { CREDIT_CLASS_LABEL, CREDIT_MODE_LABEL } from './markets/credit-labels.js';

export interface SimFleetOptions {
  hosts: number;
  instances: number;
  seed: number;
  /** Tenants the instances belong to, round robin (default demo-a, demo-b). */
  tenants?: readonly string[];
  /** Samples of workload generated per instance (replayed round and round). Default: a week, or a day above 1,000 instances. */
  workloadLength?: number;
  /** Host capacity, as a multiple of (total provisioned capacity / hosts). Default 1.25. */
  hostHeadroom?: number;
  overcommit?: boolean;
  /**
   * Every n-th instance (0, n, 2n...) is a burstable instance: labels prescient.io/credit-class (the
   * T3 class with its vCPUs whose baseline is nearest above 80 % of its mean CPU over the first day)
   * and prescient.io/credit-mode (standard and unlimited in turn). Default 3; 0 = none.
   */
  creditEvery?: number;
}

export const SIM_AGENT_ID = 'sim-fleet';
const PRIORITIES: readonly Priority[] = ['normal', 'high', 'normal', 'low', 'critical', 'normal'];

export interface FleetSeed {
  hosts: HostInput[];
  instances: InstanceInput[];
}

export class SimulatedFleet {
  readonly driver: FleetDriver;
  private readonly world = { instances: new Map<string, InstanceState>(), hosts: new Map<string, HostState>() };
  private readonly ids: string[];
  private readonly cpu: Float64Array[];
  private readonly memory: Float64Array[];
  private readonly length: number;
  private readonly seedData: FleetSeed;
  private sequenceFloor = 0;

  constructor(readonly options: SimFleetOptions) {
    const n = options.instances;
    const hostsN = options.hosts;
    if (!(Number.isInteger(n) && n >= 0)) throw new RangeError(`instances must be an integer >= 0, got ${n}`);
    if (!(Number.isInteger(hostsN) && hostsN >= 1)) throw new RangeError(`hosts must be an integer >= 1, got ${hostsN}`);
    this.length = options.workloadLength ?? (n > 1000 ? 288 : 2016);
    const series = generateWorkload({ count: n, length: this.length, seed: options.seed, stepSeconds: 300 });
    const tenants = options.tenants && options.tenants.length > 0 ? options.tenants : ['demo-a', 'demo-b'];
    this.ids = series.map((s) => s.id);
    this.cpu = series.map((s) => {
      const v = s.values.cpu!;
      const out = new Float64Array(v.length);
      for (let i = 0; i < v.length; i++) out[i] = v[i]! * 1000;
      return out;
    });
    this.memory = series.map((s) => s.values.memory!);
    let totalCpu = 0;
    let totalMem = 0;
    const creditEvery = options.creditEvery ?? 3;
    const instances: InstanceInput[] = series.map((s, k) => {
      const request = vec({ cpuMillicores: (s.capacity?.cpu ?? 1) * 1000, memoryMiB: s.capacity?.memory ?? 1024 });
      totalCpu += request.cpuMillicores;
      totalMem += request.memoryMiB;
      const credit: Record<string, string> =
        creditEvery > 0 && k % creditEvery === 0
          ? { [CREDIT_CLASS_LABEL]: burstableClass(request.cpuMillicores, this.cpu[k]!), [CREDIT_MODE_LABEL]: (k / creditEvery) % 2 === 0 ? 'standard' : 'unlimited' }
          : {};
      return {
        id: s.id,
        tenant: tenants[k % tenants.length]!,
        hostId: null,
        priority: PRIORITIES[k % PRIORITIES.length]!,
        request,
        allocation: { ...request },
        state: 'pending',
        labels: { archetype: s.labels?.archetype ?? 'unknown', source: 'simulated', ...credit },
      };
    });
    const headroom = options.hostHeadroom ?? 1.25;
    const largest = instances.reduce((m, i) => Math.max(m, i.request.cpuMillicores), 0);
    const largestMem = instances.reduce((m, i) => Math.max(m, i.request.memoryMiB), 0);
    const hostCpu = Math.max(largest, Math.ceil(((totalCpu / hostsN) * headroom) / 1000) * 1000, 1000);
    const hostMem = Math.max(largestMem, Math.ceil((totalMem / hostsN) * headroom / 1024) * 1024, 1024);
    const width = Math.max(3, String(hostsN - 1).length);
    const hosts: HostInput[] = Array.from({ length: hostsN }, (_, k) => ({
      id: `host-${String(k).padStart(width, '0')}`,
      capacity: vec({ cpuMillicores: hostCpu, memoryMiB: hostMem, networkKiBps: 1_250_000 }),
      active: false,
      labels: { source: 'simulated' },
    }));
    this.seedData = { hosts, instances };
    this.driver = new FleetDriver(this.world.instances, this.world.hosts, options.overcommit ?? false);
  }

  /** Hosts and instances to create in an empty store. */
  seed(): FleetSeed {
    return this.seedData;
  }

  /** Rebuilds the simulated world from what the store holds (after a restart the world matches the last commit). */
  adopt(hosts: readonly (HostRecord | HostInput)[], instances: readonly (InstanceRecord | InstanceInput)[]): void {
    this.driver.invalidate();
    this.world.hosts.clear();
    this.world.instances.clear();
    for (const h of hosts) this.world.hosts.set(h.id, { id: h.id, capacity: { cpu: h.capacity.cpuMillicores, memory: h.capacity.memoryMiB }, on: h.active });
    for (const i of instances) {
      if (i.state !== 'pending' && i.state !== 'running') continue;
      this.world.instances.set(i.id, simInstance(i));
    }
  }

  /** An instance added through the API joins the simulated world (pending, no workload of its own). */
  addInstance(i: InstanceRecord): void {
    if (this.world.instances.has(i.id)) return;
    this.driver.invalidate();
    this.world.instances.set(i.id, simInstance(i));
  }

  removeInstance(id: string): void {
    this.driver.invalidate();
    this.world.instances.delete(id);
  }

  addHost(h: HostRecord): void {
    this.driver.invalidate();
    if (!this.world.hosts.has(h.id)) this.world.hosts.set(h.id, { id: h.id, capacity: { cpu: h.capacity.cpuMillicores, memory: h.capacity.memoryMiB }, on: h.active });
  }

  /** World state of an instance (tests). */
  worldInstance(id: string): Readonly<InstanceState> | undefined {
    return this.world.instances.get(id);
  }
  worldHost(id: string): Readonly<HostState> | undefined {
    return this.world.hosts.get(id);
  }

  /**
   * One sample per simulated instance for this tick, as the batches an agent would send (at most
   * 1,000 profiles each, as the telemetry schema allows). `sequence` grows with time, so it keeps
   * growing across restarts (the store drops a resent (agent, sequence) pair).
   */
  telemetry(tick: number, nowMs: number): TelemetryBatch[] {
    const i = tick % this.length;
    const t = Math.floor(nowMs);
    let sequence = Math.max(this.sequenceFloor + 1, t * 100);
    const batches: TelemetryBatch[] = [];
    let profiles: TelemetryBatch['profiles'] = [];
    const flush = (): void => {
      if (profiles.length === 0) return;
      batches.push({ agentId: SIM_AGENT_ID, sequence, sentAtMs: t, profiles });
      this.sequenceFloor = sequence;
      sequence++;
      profiles = [];
    };
    for (let k = 0; k < this.ids.length; k++) {
      const id = this.ids[k]!;
      if (!this.world.instances.has(id)) continue;
      profiles.push({ instanceId: id, intervalMs: 1000, samples: [{ timestampMs: t, values: { cpuMillicores: this.cpu[k]![i]!, memoryMiB: this.memory[k]![i]! } }] });
      if (profiles.length === 1000) flush();
    }
    flush();
    return batches;
  }
}

/** A driver that fails on chosen actions (tests and fault drills): wraps another driver. */
export class FaultyDriver implements Driver {
  readonly name: string;
  constructor(
    private readonly inner: Driver,
    /** Return an error to fail this action, or undefined to pass it through. */
    public failWhen: (action: Action, index: number) => Error | undefined,
  ) {
    this.name = `faulty(${inner.name})`;
  }
  private count = 0;
  async apply(action: Action): Promise<Undo> {
    const err = this.failWhen(action, this.count++);
    if (err) throw err;
    return this.inner.apply(action);
  }
}

/** Sums of allocations per host, kept as actions apply and undo. */
interface HostSums {
  cpu: number;
  memory: number;
  count: number;
}

const finite = (x: number): number => (Number.isFinite(x) ? x : 0);

/** The simulated fleet's driver: SimDriver's checks with per-host sums (see the header). */
export class FleetDriver implements SyncDriver {
  readonly name = 'sim-fleet';
  private sums = new Map<string, HostSums>();
  private indexed = false;

  constructor(
    private readonly instances: Map<string, InstanceState>,
    private readonly hosts: Map<string, HostState>,
    private readonly overcommit: boolean,
  ) {}

  /** Rebuilds the sums (after the world was replaced or changed from outside). */
  reindex(): void {
    this.sums = new Map();
    for (const h of this.hosts.keys()) this.sums.set(h, { cpu: 0, memory: 0, count: 0 });
    for (const i of this.instances.values()) if (i.hostId !== null) this.add(i.hostId, i.allocation, 1);
    this.indexed = true;
  }

  /** Marks the sums stale (the world changed outside the driver). */
  invalidate(): void {
    this.indexed = false;
  }

  private add(hostId: string, a: { cpu: number; memory: number }, sign: 1 | -1): void {
    let s = this.sums.get(hostId);
    if (!s) this.sums.set(hostId, (s = { cpu: 0, memory: 0, count: 0 }));
    s.cpu += sign * finite(a.cpu);
    s.memory += sign * finite(a.memory);
    s.count += sign;
  }

  private fits(hostId: string): string | undefined {
    if (this.overcommit) return undefined;
    const h = this.hosts.get(hostId)!;
    const s = this.sums.get(hostId)!;
    const tol = 1e-6;
    if (s.cpu > h.capacity.cpu * (1 + tol) + tol || s.memory > h.capacity.memory * (1 + tol) + tol) {
      return `host ${hostId} over capacity: cpu ${s.cpu} of ${h.capacity.cpu}, memory ${s.memory} of ${h.capacity.memory}`;
    }
    return undefined;
  }

  apply(action: Action): () => void {
    if (!this.indexed) this.reindex();
    switch (action.kind) {
      case 'resize': {
        const inst = this.instances.get(action.instance);
        if (!inst) throw new DriverError(`no instance "${action.instance}"`, action);
        if (!(action.cpu >= 0 || Number.isNaN(action.cpu)) || !(action.memory >= 0 || Number.isNaN(action.memory))) throw new DriverError(`negative allocation for ${action.instance}`, action);
        const prev = inst.allocation;
        const next = { cpu: action.cpu, memory: action.memory };
        const host = inst.hostId;
        if (host !== null) {
          this.add(host, prev, -1);
          this.add(host, next, 1);
          const over = this.fits(host);
          if (over) {
            this.add(host, next, -1);
            this.add(host, prev, 1);
            throw new DriverError(over, action);
          }
        }
        inst.allocation = next;
        return onceUndo(() => {
          if (inst.hostId !== null) {
            this.add(inst.hostId, inst.allocation, -1);
            this.add(inst.hostId, prev, 1);
          }
          inst.allocation = prev;
        });
      }
      case 'migrate': {
        const inst = this.instances.get(action.instance);
        if (!inst) throw new DriverError(`no instance "${action.instance}"`, action);
        const to = this.hosts.get(action.to);
        if (!to) throw new DriverError(`no host "${action.to}"`, action);
        const from = inst.hostId;
        if (action.from !== '' && from !== action.from) throw new DriverError(`instance ${action.instance} is on ${from}, not ${action.from}`, action);
        if (!to.on) throw new DriverError(`host ${action.to} is off`, action);
        if (from === action.to) {
          // Already there (a placement onto its own host): nothing moves.
          const over = this.fits(action.to);
          if (over) throw new DriverError(over, action);
          return () => {};
        }
        this.add(action.to, inst.allocation, 1);
        const over = this.fits(action.to);
        if (over) {
          this.add(action.to, inst.allocation, -1);
          throw new DriverError(over, action);
        }
        if (from !== null) this.add(from, inst.allocation, -1);
        inst.hostId = action.to;
        return onceUndo(() => {
          this.add(action.to, inst.allocation, -1);
          if (from !== null) this.add(from, inst.allocation, 1);
          inst.hostId = from;
        });
      }
      case 'power': {
        const h = this.hosts.get(action.host);
        if (!h) throw new DriverError(`no host "${action.host}"`, action);
        const prev = h.on;
        if (prev === action.on) return () => {};
        if (!action.on && (this.sums.get(h.id)?.count ?? 0) > 0) throw new DriverError(`host ${h.id} still runs instances; cannot power off`, action);
        h.on = action.on;
        return onceUndo(() => {
          h.on = prev;
        });
      }
      case 'preempt': {
        // The instance stops: it leaves its host and the simulated world (no more telemetry).
        const inst = this.instances.get(action.instance);
        if (!inst) throw new DriverError(`no instance "${action.instance}"`, action);
        const host = inst.hostId;
        if (host !== null) this.add(host, inst.allocation, -1);
        this.instances.delete(action.instance);
        return onceUndo(() => {
          this.instances.set(action.instance, inst);
          if (host !== null) this.add(host, inst.allocation, 1);
        });
      }
      default:
        throw new DriverError(`unknown action ${JSON.stringify(action)}`);
    }
  }
}

/** The T3 class for a simulated instance (rule in SimFleetOptions.creditEvery). */
function burstableClass(requestMillicores: number, cpuMillicores: Float64Array): string {
  const cores = requestMillicores / 1000;
  const vcpus = cores <= 2 ? 2 : cores <= 4 ? 4 : 8;
  let sum = 0;
  const n = Math.min(288, cpuMillicores.length);
  for (let i = 0; i < n; i++) sum += cpuMillicores[i]!;
  const mean = n > 0 ? sum / n : 0;
  const same = T3_INSTANCE_CLASSES.filter((c) => c.vcpus === vcpus).sort((a, b) => a.baselinePercent - b.baselinePercent);
  const fit = same.find((c) => c.baselinePercent * c.vcpus * 10 >= 0.8 * mean) ?? same[same.length - 1]!;
  return fit.name;
}


/** The simulated world's view of a stored instance (no usage seen yet). */
function simInstance(i: Pick<InstanceRecord, 'id' | 'hostId' | 'request' | 'allocation'>) {
  return {
    id: i.id,
    hostId: i.hostId,
    units: { cpu: 'millicores' as const, memory: 'MiB' as const },
    capacity: { cpu: i.request.cpuMillicores, memory: i.request.memoryMiB },
    allocation: { cpu: i.allocation.cpuMillicores, memory: i.allocation.memoryMiB },
    lastUsage: { cpu: NaN, memory: NaN },
    samples: 0,
  };
}
