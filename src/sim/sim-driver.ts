// The simulated Driver: applies plan actions to the simulated fleet, checks them like a real
// system would (a host must be on; without overcommit, allocations must fit the host), and
// returns an idempotent undo for each. The simulator applies plans through core's applyPlanSync,
// so a failed action rolls the whole plan back in reverse.
import type { Action } from '../core/plan.js';
import { DriverError, onceUndo, type SyncDriver } from '../core/ports.js';
import type { HostState, InstanceState } from '../policy/framework/types.js';

export interface DriverCounters {
  migrations: number;
  /** Host power-off actions applied. */
  shutdowns: number;
  powerOns: number;
  resizes: number;
  /** Migrations applied this step (instance ids), for migration-cost accounting. */
  migratedThisStep: string[];
}

export interface SimDriverOptions {
  /**
   * Keep each host's instances in an index, so capacity checks and power-off cost the host's
   * instances rather than the whole fleet. Only when every placement change goes through this
   * driver (`apply`, or `release` for an instance that leaves); the simulator's engine does so.
   * Sums run over a host's instances in the map's order either way (same floating-point result).
   */
  trackHosts?: boolean;
}

export class SimDriver implements SyncDriver {
  readonly name = 'sim';
  readonly counters: DriverCounters = { migrations: 0, shutdowns: 0, powerOns: 0, resizes: 0, migratedThisStep: [] };
  /** trackHosts: instances per host, each list in the instances map's order. */
  private readonly members: Map<string, InstanceState[]> | null = null;
  /** trackHosts: position of each instance in the instances map. */
  private readonly order: Map<string, number> | null = null;

  constructor(
    private readonly instances: Map<string, InstanceState>,
    private readonly hosts: Map<string, HostState>,
    private readonly overcommit: boolean,
    options: SimDriverOptions = {},
  ) {
    if (options.trackHosts) {
      this.members = new Map();
      this.order = new Map();
      let k = 0;
      for (const i of instances.values()) {
        this.order.set(i.id, k++);
        if (i.hostId !== null) this.join(i, i.hostId);
      }
    }
  }

  /** trackHosts: the instance left the system (its host no longer holds it). */
  release(instanceId: string): void {
    const i = this.instances.get(instanceId);
    if (!i || i.hostId === null) return;
    this.leave(i, i.hostId);
    i.hostId = null;
  }

  private join(i: InstanceState, hostId: string): void {
    if (!this.members) return;
    let list = this.members.get(hostId);
    if (!list) {
      list = [];
      this.members.set(hostId, list);
    }
    const k = this.order!.get(i.id)!;
    let p = list.length;
    while (p > 0 && this.order!.get(list[p - 1]!.id)! > k) p--;
    list.splice(p, 0, i);
  }

  private leave(i: InstanceState, hostId: string): void {
    if (!this.members) return;
    const list = this.members.get(hostId);
    const p = list ? list.indexOf(i) : -1;
    if (p >= 0) list!.splice(p, 1);
  }

  /** Instances on a host, in the instances map's order. */
  private residents(hostId: string): Iterable<InstanceState> {
    if (this.members) return this.members.get(hostId) ?? [];
    const out: InstanceState[] = [];
    for (const i of this.instances.values()) if (i.hostId === hostId) out.push(i);
    return out;
  }

  apply(action: Action): () => void {
    switch (action.kind) {
      case 'resize':
        return this.resize(action);
      case 'migrate':
        return this.migrate(action);
      case 'power':
        return this.power(action);
      default:
        throw new DriverError(`the simulated driver does not apply action kind "${(action as { kind: string }).kind}"`, action);
    }
  }

  private inst(id: string, action: Action): InstanceState {
    const i = this.instances.get(id);
    if (!i) throw new DriverError(`no instance "${id}"`, action);
    return i;
  }

  private host(id: string, action: Action): HostState {
    const h = this.hosts.get(id);
    if (!h) throw new DriverError(`no host "${id}"`, action);
    return h;
  }

  /** Throws when a host holds more allocation than it has (only without overcommit). */
  private checkFits(hostId: string, action: Action): void {
    if (this.overcommit) return;
    const h = this.hosts.get(hostId)!;
    let cpu = 0;
    let mem = 0;
    for (const i of this.residents(hostId)) {
      if (Number.isFinite(i.allocation.cpu)) cpu += i.allocation.cpu;
      if (Number.isFinite(i.allocation.memory)) mem += i.allocation.memory;
    }
    const tol = 1e-6;
    if (cpu > h.capacity.cpu * (1 + tol) + tol || mem > h.capacity.memory * (1 + tol) + tol) {
      throw new DriverError(`host ${hostId} over capacity: cpu ${cpu} of ${h.capacity.cpu}, memory ${mem} of ${h.capacity.memory}`, action);
    }
  }

  private resize(a: Extract<Action, { kind: 'resize' }>): () => void {
    const inst = this.inst(a.instance, a);
    if (!(a.cpu >= 0 || Number.isNaN(a.cpu)) || !(a.memory >= 0 || Number.isNaN(a.memory))) {
      const field = !(a.cpu >= 0 || Number.isNaN(a.cpu)) ? 'cpu' : 'memory';
      throw new DriverError(`negative allocation for ${a.instance}: field ${field} = ${a[field]} (must be >= 0, or NaN for unmanaged)`, a);
    }
    const prev = inst.allocation;
    inst.allocation = { cpu: a.cpu, memory: a.memory };
    try {
      if (inst.hostId !== null) this.checkFits(inst.hostId, a);
    } catch (e) {
      inst.allocation = prev;
      throw e;
    }
    this.counters.resizes++;
    return onceUndo(() => {
      inst.allocation = prev;
      this.counters.resizes--;
    });
  }

  private migrate(a: Extract<Action, { kind: 'migrate' }>): () => void {
    const inst = this.inst(a.instance, a);
    const to = this.host(a.to, a);
    const from = inst.hostId;
    if (a.from !== '' && from !== a.from) throw new DriverError(`instance ${a.instance} is on ${from}, not ${a.from}`, a);
    if (!to.on) throw new DriverError(`host ${a.to} is off`, a);
    const move = (fromId: string | null, toId: string | null): void => {
      if (fromId !== null) this.leave(inst, fromId);
      inst.hostId = toId;
      if (toId !== null) this.join(inst, toId);
    };
    move(from, a.to);
    try {
      this.checkFits(a.to, a);
    } catch (e) {
      move(a.to, from);
      throw e;
    }
    const counted = a.from !== '';
    if (counted) {
      this.counters.migrations++;
      this.counters.migratedThisStep.push(a.instance);
    }
    return onceUndo(() => {
      move(a.to, from);
      if (counted) {
        this.counters.migrations--;
        const k = this.counters.migratedThisStep.lastIndexOf(a.instance);
        if (k >= 0) this.counters.migratedThisStep.splice(k, 1);
      }
    });
  }

  private power(a: Extract<Action, { kind: 'power' }>): () => void {
    const h = this.host(a.host, a);
    const prev = h.on;
    if (prev === a.on) return () => {};
    if (!a.on) {
      for (const i of this.residents(h.id)) throw new DriverError(`host ${h.id} still runs ${i.id}; cannot power off`, a);
    }
    h.on = a.on;
    if (a.on) this.counters.powerOns++;
    else this.counters.shutdowns++;
    return onceUndo(() => {
      h.on = prev;
      if (a.on) this.counters.powerOns--;
      else this.counters.shutdowns--;
    });
  }
}

