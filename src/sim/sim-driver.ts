// The simulated Driver: applies plan actions to the simulated fleet, checks them like a real
// system would (a host must be on; without overcommit, allocations must fit the host), and
// returns an idempotent undo for each. The simulator applies plans through core's applyPlanSync,
// so a failed action rolls the whole plan back in reverse.
import type { Action } from '../core/plan.js';
import { DriverError, type SyncDriver } from '../core/ports.js';
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

export class SimDriver implements SyncDriver {
  readonly name = 'sim';
  readonly counters: DriverCounters = { migrations: 0, shutdowns: 0, powerOns: 0, resizes: 0, migratedThisStep: [] };

  constructor(
    private readonly instances: Map<string, InstanceState>,
    private readonly hosts: Map<string, HostState>,
    private readonly overcommit: boolean,
  ) {}

  apply(action: Action): () => void {
    switch (action.kind) {
      case 'resize':
        return this.resize(action);
      case 'migrate':
        return this.migrate(action);
      case 'power':
        return this.power(action);
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
    for (const i of this.instances.values()) {
      if (i.hostId !== hostId) continue;
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
      throw new DriverError(`negative allocation for ${a.instance}`, a);
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
    return once(() => {
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
    inst.hostId = a.to;
    try {
      this.checkFits(a.to, a);
    } catch (e) {
      inst.hostId = from;
      throw e;
    }
    const counted = a.from !== '';
    if (counted) {
      this.counters.migrations++;
      this.counters.migratedThisStep.push(a.instance);
    }
    return once(() => {
      inst.hostId = from;
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
      for (const i of this.instances.values()) {
        if (i.hostId === h.id) throw new DriverError(`host ${h.id} still runs ${i.id}; cannot power off`, a);
      }
    }
    h.on = a.on;
    if (a.on) this.counters.powerOns++;
    else this.counters.shutdowns++;
    return once(() => {
      h.on = prev;
      if (a.on) this.counters.powerOns--;
      else this.counters.shutdowns--;
    });
  }
}

/** Undo that runs at most once (undo must be idempotent). */
function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}
