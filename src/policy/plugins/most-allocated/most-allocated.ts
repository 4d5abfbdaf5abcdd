// `most-allocated` (bin packing, as the Kubernetes NodeResourcesFit MostAllocated strategy) and
// `least-allocated` (spreading): score a host by its allocated share after placing the instance.
import { z } from 'zod';
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

export class MostAllocated implements PlacementScorer {
  readonly name = 'most-allocated';
  readonly hostSymmetric = true;
  score(inst: InstanceState, host: HostState, fleet: FleetView): number {
    return 100 * share(inst, host, fleet);
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
