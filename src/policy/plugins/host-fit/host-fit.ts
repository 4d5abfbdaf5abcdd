// `host-fit`: a host admits an instance while the sum of planned allocations fits its capacity
// (filter), and is overloaded when it does not (overload detector). No overcommit.
import { z } from 'zod';
import type { Amounts } from '../../../core/plan.js';
import { R } from '../../framework/reasons.js';
import type { PluginEntry } from '../../framework/registry.js';
import type { DetectStatus, FilterStatus, FleetView, HostState, InstanceState, OverloadDetector, PlacementFilter } from '../../framework/types.js';

export const hostFitArgs = z
  .object({
    /** Fraction of capacity that may be allocated (1 = all of it). */
    threshold: z.number().positive().max(10).default(1),
  })
  .strict();

export class HostFit implements PlacementFilter, OverloadDetector {
  readonly name = 'host-fit';
  readonly hostSymmetric = true;
  constructor(private readonly threshold: number) {}

  /**
   * With a threshold of at most 1, `filter` admits a host only when its free allocation is at
   * least the instance's, less its 1e-9 tolerance (and a rounding margin); above 1, no bound.
   */
  requiredFree(inst: InstanceState, fleet: FleetView): Amounts | undefined {
    if (this.threshold > 1) return undefined;
    const a = fleet.allocationOf(inst.id);
    const need = (x: number): number => fin(x) - 1e-9 * (2 + Math.abs(fin(x)));
    return { cpu: need(a.cpu), memory: need(a.memory) };
  }

  filter(inst: InstanceState, host: HostState, fleet: FleetView): FilterStatus {
    if (!host.on) return { feasible: false, reasons: [R.HOST_OFF] };
    const a = fleet.allocationOf(inst.id);
    const s = fleet.allocatedOn(host.id);
    const reasons: string[] = [];
    if (fin(s.cpu) + fin(a.cpu) > host.capacity.cpu * this.threshold + 1e-9) reasons.push(R.INSUFFICIENT_CPU);
    if (fin(s.memory) + fin(a.memory) > host.capacity.memory * this.threshold + 1e-9) reasons.push(R.INSUFFICIENT_MEMORY);
    return { feasible: reasons.length === 0, reasons };
  }

  overloaded(host: HostState, fleet: FleetView): DetectStatus {
    const s = fleet.allocatedOn(host.id);
    const reasons: string[] = [];
    if (s.cpu > host.capacity.cpu * this.threshold + 1e-9) reasons.push(R.OVERLOADED, R.INSUFFICIENT_CPU);
    if (s.memory > host.capacity.memory * this.threshold + 1e-9) reasons.push(...(reasons.length ? [] : [R.OVERLOADED]), R.INSUFFICIENT_MEMORY);
    return { detected: reasons.length > 0, reasons: reasons.length ? reasons : [R.NOT_OVERLOADED] };
  }
}

const fin = (x: number): number => (Number.isFinite(x) ? x : 0);

export const hostFitPolicy: PluginEntry<z.infer<typeof hostFitArgs>> = {
  name: 'host-fit',
  description: 'Admit while the sum of allocations fits the host; overloaded when it does not',
  points: ['filter', 'overload'],
  args: hostFitArgs,
  create: (a) => new HostFit(a.threshold),
};
