// `most-allocated` (bin packing, as the Kubernetes NodeResourcesFit MostAllocated strategy) and
// `least-allocated` (spreading): score a host by its allocated share after placing the instance.
import { z } from 'zod';
import type { Amounts } from '../../../core/plan.js';
import type { PluginEntry } from '../../framework/registry.js';
import type { FleetView, HostState, InstanceState, PlacementScorer } from '../../framework/types.js';

export const allocatedArgs = z.object({}).strict();

function share(inst: InstanceState, host: HostState, fleet: FleetView): number {
  const a = fleet.allocationOf(inst.id);
  const s = fleet.allocatedOn(host.id);
  let total = 0;
  let n = 0;
  for (const k of ['cpu', 'memory'] as const) {
    const cap = host.capacity[k];
    if (!(cap > 0) || !Number.isFinite(a[k])) continue;
    total += Math.min(1, (s[k] + a[k]) / cap);
    n++;
  }
  return n === 0 ? 0 : total / n;
}

/**
 * An upper bound of `share` over hosts of a capacity with at least `minFree` free: each term as
 * for the fullest such host, its allocated sum rounded up by far more than rounding error (every
 * step of `share` is monotone in the sum, rounding included); a term that cannot be bounded
 * (unknown or infinite amounts) counts as 1, its largest value.
 */
function shareBound(inst: InstanceState, capacity: Amounts, minFree: Amounts, fleet: FleetView): number {
  const a = fleet.allocationOf(inst.id);
  let total = 0;
  let n = 0;
  for (const k of ['cpu', 'memory'] as const) {
    const cap = capacity[k];
    if (!(cap > 0) || !Number.isFinite(a[k])) continue;
    const used = cap - minFree[k] + 1e-9 * (Math.abs(cap) + Math.abs(minFree[k]));
    const term = Math.min(1, (used + a[k]) / cap);
    total += Number.isNaN(term) ? 1 : term;
    n++;
  }
  return n === 0 ? 0 : total / n;
}

export class MostAllocated implements PlacementScorer {
  readonly name = 'most-allocated';
  readonly hostSymmetric = true;
  score(inst: InstanceState, host: HostState, fleet: FleetView): number {
    return 100 * share(inst, host, fleet);
  }
  scoreBound(inst: InstanceState, capacity: Amounts, minFree: Amounts, fleet: FleetView): number {
    return 100 * shareBound(inst, capacity, minFree, fleet);
  }
}

export class LeastAllocated implements PlacementScorer {
  readonly name = 'least-allocated';
  readonly hostSymmetric = true;
  score(inst: InstanceState, host: HostState, fleet: FleetView): number {
    return 100 * (1 - share(inst, host, fleet));
  }
}

export const mostAllocatedPolicy: PluginEntry = {
  name: 'most-allocated',
  description: 'Prefer the fullest host (bin packing: fewer hosts powered)',
  points: ['score'],
  args: allocatedArgs,
  create: () => new MostAllocated(),
};

export const leastAllocatedPolicy: PluginEntry = {
  name: 'least-allocated',
  description: 'Prefer the emptiest host (spreading)',
  points: ['score'],
  args: allocatedArgs,
  create: () => new LeastAllocated(),
};
