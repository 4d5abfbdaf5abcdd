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
import type { Priority } from '../core/model.js';
import type { Action } from '../core/plan.js';
import type { Driver, Undo } from '../core/ports.js';
import { vec } from '../core/resources.js';
import type { HostInput, HostRecord, InstanceInput, InstanceRecord } from '../core/store.js';
import type { TelemetryBatch } from '../core/telemetry.js';
import type { HostState, InstanceState } from '../policy/framework/types.js';
import { SimDriver } from '../sim/sim-driver.js';
import { generateWorkload } from '../traces/synthetic/generate-workload.js';

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
}

export const SIM_AGENT_ID = 'sim-fleet';
const PRIORITIES: readonly Priority[] = ['normal', 'high', 'normal', 'low', 'critical', 'normal'];

export interface FleetSeed {
  hosts: HostInput[];
  instances: InstanceInput[];
}

export class SimulatedFleet {
  readonly driver: Driver;
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
    const instances: InstanceInput[] = series.map((s, k) => {
      const request = vec({ cpuMillicores: (s.capacity?.cpu ?? 1) * 1000, memoryMiB: s.capacity?.memory ?? 1024 });
      totalCpu += request.cpuMillicores;
      totalMem += request.memoryMiB;
      return {
        id: s.id,
        tenant: tenants[k % tenants.length]!,
        hostId: null,
        priority: PRIORITIES[k % PRIORITIES.length]!,
        request,
        allocation: { ...request },
        state: 'pending',
        labels: { archetype: s.labels?.archetype ?? 'unknown', source: 'simulated' },
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
    this.driver = new SimDriver(this.world.instances, this.world.hosts, options.overcommit ?? false);
  }

  /** Hosts and instances to create in an empty store. */
  seed(): FleetSeed {
    return this.seedData;
  }

  /** Rebuilds the simulated world from what the store holds (after a restart the world matches the last commit). */
  adopt(hosts: readonly (HostRecord | HostInput)[], instances: readonly (InstanceRecord | InstanceInput)[]): void {
    this.world.hosts.clear();
    this.world.instances.clear();
    for (const h of hosts) this.world.hosts.set(h.id, { id: h.id, capacity: { cpu: h.capacity.cpuMillicores, memory: h.capacity.memoryMiB }, on: h.active });
    for (const i of instances) {
      if (i.state !== 'pending' && i.state !== 'running') continue;
      this.world.instances.set(i.id, {
        id: i.id,
        hostId: i.hostId,
        units: { cpu: 'millicores', memory: 'MiB' },
        capacity: { cpu: i.request.cpuMillicores, memory: i.request.memoryMiB },
        allocation: { cpu: i.allocation.cpuMillicores, memory: i.allocation.memoryMiB },
        lastUsage: { cpu: NaN, memory: NaN },
        samples: 0,
      });
    }
  }

  /** An instance added through the API joins the simulated world (pending, no workload of its own). */
  addInstance(i: InstanceRecord): void {
    if (this.world.instances.has(i.id)) return;
    this.world.instances.set(i.id, {
      id: i.id,
      hostId: i.hostId,
      units: { cpu: 'millicores', memory: 'MiB' },
      capacity: { cpu: i.request.cpuMillicores, memory: i.request.memoryMiB },
      allocation: { cpu: i.allocation.cpuMillicores, memory: i.allocation.memoryMiB },
      lastUsage: { cpu: NaN, memory: NaN },
      samples: 0,
    });
  }

  removeInstance(id: string): void {
    this.world.instances.delete(id);
  }

  addHost(h: HostRecord): void {
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
