// Simulation metrics, with exact definitions (they are also written into summary.json).
//
// Per resource, over every scored sample (index >= the warm-up start, usage and allocation both
// known):
//   violation_rate = #(usage > allocation) / #samples
//   slack          = sum(max(allocation - usage, 0)) / sum(allocation)
// Fleet (CloudSim's definitions, Beloglazov & Buyya 2012), over every step of the run:
//   slatah_pct = 100 * mean over hosts that were ever on of (steps with CPU demand >= capacity) / (steps on)
//   pdm_pct    = 100 * mean over instances of (CPU degradation from migrations) / (CPU requested),
//                degradation = 10 % of the instance's CPU usage for the migration's duration,
//                requested = sum of CPU usage * step seconds
//   slav_pct   = 100 * (slatah_pct / 100) * (pdm_pct / 100)
//   energy_kwh = sum over powered hosts and steps of P(cpu utilisation) * step seconds / 3.6e6,
//                P from the SPECpower table of the HP ProLiant ML110 G5 (CloudSim's model)
//   active_host_hours = host-steps powered on * step seconds / 3600

export const METRIC_DEFINITIONS = {
  violation_rate: 'share of scored samples whose usage exceeded the allocation in effect: #(usage > allocation) / #samples',
  slack: 'unused share of what was allocated: sum(max(allocation - usage, 0)) / sum(allocation)',
  scored_samples: 'data rows with index >= 288 (>= 144 for series of at most 288 rows) whose usage and allocation are both numbers',
  energy_kwh: 'sum over powered-on hosts and steps of P(CPU utilisation) * step / 3.6e6; P: SPECpower HP ProLiant ML110 G5 (93.7 W idle .. 135 W full)',
  migrations: 'live migrations applied (initial placements excluded)',
  host_shutdowns: 'host power-off actions applied',
  slatah_pct: '100 * mean over hosts ever on of (steps with summed CPU usage >= capacity) / (steps on)',
  pdm_pct: '100 * mean over instances of (0.1 * CPU usage * migration seconds, summed over its migrations) / (sum of CPU usage * step seconds)',
  slav_pct: '100 * SLATAH * PDM (both as fractions)',
  active_host_hours: 'host-steps powered on * step seconds / 3600',
  wall_ms: 'wall-clock time of the simulation (reading the trace included, report excluded), milliseconds',
} as const;

/** The raw sums behind ResourceMetrics (plain data, e.g. posted by a worker thread). */
export interface ResourceTotals {
  samples: number;
  violations: number;
  allocatedSum: number;
  slackSum: number;
  usageSum: number;
}

export class ResourceMetrics implements ResourceTotals {
  samples = 0;
  violations = 0;
  allocatedSum = 0;
  slackSum = 0;
  usageSum = 0;

  add(usage: number, allocation: number): void {
    if (!Number.isFinite(usage) || !Number.isFinite(allocation)) return;
    this.samples++;
    if (usage > allocation) this.violations++;
    this.allocatedSum += allocation;
    this.usageSum += usage;
    if (allocation > usage) this.slackSum += allocation - usage;
  }

  merge(o: ResourceTotals): void {
    this.samples += o.samples;
    this.violations += o.violations;
    this.allocatedSum += o.allocatedSum;
    this.slackSum += o.slackSum;
    this.usageSum += o.usageSum;
  }

  totals(): ResourceTotals {
    return { samples: this.samples, violations: this.violations, allocatedSum: this.allocatedSum, slackSum: this.slackSum, usageSum: this.usageSum };
  }

  get violationRate(): number {
    return this.samples > 0 ? this.violations / this.samples : 0;
  }

  get slack(): number {
    return this.allocatedSum > 0 ? this.slackSum / this.allocatedSum : 0;
  }

  toJSON() {
    return {
      violation_rate: this.violationRate,
      slack: this.slack,
      samples: this.samples,
      violations: this.violations,
      allocated_sum: this.allocatedSum,
      usage_sum: this.usageSum,
    };
  }
}

/** SPECpower_ssj2008 of the HP ProLiant ML110 G5 (Xeon 3075), watts at 0 %, 10 %, ... 100 % load (as CloudSim). */
export const HP_PROLIANT_ML110_G5_WATTS = [93.7, 97, 101, 105, 110, 116, 121, 125, 129, 133, 135] as const;

/** Power draw at a CPU utilisation in [0, 1] (clamped), linear between the table's points. */
export function powerWatts(utilisation: number, table: readonly number[] = HP_PROLIANT_ML110_G5_WATTS): number {
  const u = Math.min(1, Math.max(0, Number.isFinite(utilisation) ? utilisation : 0));
  const x = u * (table.length - 1);
  const i = Math.min(table.length - 2, Math.floor(x));
  return table[i]! + (table[i + 1]! - table[i]!) * (x - i);
}

export class FleetMetrics {
  energyJ = 0;
  hostSteps = 0;
  migrations = 0;
  shutdowns = 0;
  failedPlans = 0;
  /**
   * Per host slot (`hostStepAt`; `hostStep` gives each new id the next slot): steps on and steps
   * overloaded, and the slots in the order of their first step on (SLATAH's mean runs in it).
   */
  private hostActive = new Int32Array(0);
  private hostOverloaded = new Int32Array(0);
  private readonly activated: number[] = [];
  private readonly hostSlotOf = new Map<string, number>();
  private readonly cpuRequested = new Map<string, number>();
  private readonly cpuDegraded = new Map<string, number>();
  /** Hosts powered on at each step. */
  readonly hostsOn: number[] = [];
  /**
   * With `useSlots`: CPU requested per instance slot (instead of `cpuRequested`), whether the
   * slot has had a step, and each slot's id.
   */
  private slotIds: readonly string[] | null = null;
  private slotOf: Map<string, number> | null = null;
  private slotRequested = new Float64Array(0);
  private slotSeen = new Uint8Array(0);

  constructor(readonly stepSeconds: number) {}

  /**
   * Instances by slot (ids in slot order), for `instanceStepAt`. The instances' first steps must
   * come in slot order (as the engine's first step does): PDM's mean runs over them in that order.
   */
  useSlots(ids: readonly string[]): void {
    this.slotIds = ids;
    this.slotOf = new Map(ids.map((id, k) => [id, k]));
    this.slotRequested = new Float64Array(ids.length);
    this.slotSeen = new Uint8Array(ids.length);
  }

  /** `instanceStep` for the instance in a slot (after `useSlots`). */
  instanceStepAt(slot: number, cpuUsage: number): void {
    const u = Number.isFinite(cpuUsage) ? cpuUsage : 0;
    this.slotRequested[slot] = this.slotRequested[slot]! + u * this.stepSeconds;
    this.slotSeen[slot] = 1;
  }

  /** Hosts by slot 0 .. count - 1, for `hostStepAt` (a fleet's hosts by index). */
  useHostSlots(count: number): void {
    if (count > this.hostActive.length) this.growHostSlots(count);
  }

  private growHostSlots(count: number): void {
    const active = new Int32Array(Math.max(count, 2 * this.hostActive.length));
    const overloaded = new Int32Array(active.length);
    active.set(this.hostActive);
    overloaded.set(this.hostOverloaded);
    this.hostActive = active;
    this.hostOverloaded = overloaded;
  }

  /** One step of the host with this id (slots given by first sight; not mixed with `hostStepAt`). */
  hostStep(hostId: string, on: boolean, cpuDemand: number, cpuCapacity: number): void {
    let slot = this.hostSlotOf.get(hostId);
    if (slot === undefined) {
      slot = this.hostSlotOf.size;
      this.hostSlotOf.set(hostId, slot);
      if (slot >= this.hostActive.length) this.growHostSlots(slot + 1);
    }
    this.hostStepAt(slot, on, cpuDemand, cpuCapacity);
  }

  /** One step of the host in a slot (after `useHostSlots`, or a slot `hostStep` gave). */
  hostStepAt(slot: number, on: boolean, cpuDemand: number, cpuCapacity: number): void {
    if (!on) return;
    this.hostSteps++;
    if (this.hostActive[slot]!++ === 0) this.activated.push(slot);
    if (cpuCapacity > 0 && cpuDemand >= cpuCapacity) this.hostOverloaded[slot]!++;
    this.energyJ += powerWatts(cpuCapacity > 0 ? cpuDemand / cpuCapacity : 0) * this.stepSeconds;
  }

  instanceStep(id: string, cpuUsage: number): void {
    const slot = this.slotOf?.get(id);
    if (slot !== undefined) return this.instanceStepAt(slot, cpuUsage);
    const u = Number.isFinite(cpuUsage) ? cpuUsage : 0;
    this.cpuRequested.set(id, (this.cpuRequested.get(id) ?? 0) + u * this.stepSeconds);
  }

  migration(id: string, cpuUsage: number, migrationSeconds: number): void {
    const u = Number.isFinite(cpuUsage) ? cpuUsage : 0;
    this.cpuDegraded.set(id, (this.cpuDegraded.get(id) ?? 0) + 0.1 * u * migrationSeconds);
  }

  get slatah(): number {
    let s = 0;
    let n = 0;
    for (const h of this.activated) {
      s += this.hostOverloaded[h]! / this.hostActive[h]!;
      n++;
    }
    return n > 0 ? s / n : 0;
  }

  get pdm(): number {
    let s = 0;
    let n = 0;
    if (this.slotIds) {
      for (let k = 0; k < this.slotIds.length; k++) {
        if (!this.slotSeen[k]) continue;
        const req = this.slotRequested[k]!;
        n++;
        if (req > 0) s += (this.cpuDegraded.get(this.slotIds[k]!) ?? 0) / req;
      }
    }
    for (const [id, req] of this.cpuRequested) {
      n++;
      if (req > 0) s += (this.cpuDegraded.get(id) ?? 0) / req;
    }
    return n > 0 ? s / n : 0;
  }

  toJSON() {
    const slatah = this.slatah;
    const pdm = this.pdm;
    return {
      energy_kwh: this.energyJ / 3.6e6,
      migrations: this.migrations,
      host_shutdowns: this.shutdowns,
      slatah_pct: 100 * slatah,
      pdm_pct: 100 * pdm,
      slav_pct: 100 * slatah * pdm,
      active_host_hours: (this.hostSteps * this.stepSeconds) / 3600,
      failed_plans: this.failedPlans,
    };
  }
}
