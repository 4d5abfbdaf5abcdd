// `least-utilized`: hosts whose allocated (or used) CPU share is below a threshold are candidates to drain
// and power off, least utilized first (CloudSim's underload rule picks the least utilized host).
import { z } from 'zod';
import { R } from '../../framework/reasons.js';
import type { PluginEntry } from '../../framework/registry.js';
import type { FleetView, HostState, UnderloadDetector } from '../../framework/types.js';

export const leastUtilizedArgs = z
  .object({
    /** Allocated CPU share below which a host is underloaded. */
    threshold: z.number().min(0).max(1).default(0.5),
    /** Hosts to try to drain per decision round. */
    maxPerRound: z.number().int().min(1).default(1),
    /** What "utilized" means: the allocated CPU share, or the CPU usage share of the last step (overcommit). */
    measure: z.enum(['allocation', 'usage']).default('allocation'),
  })
  .strict();

export class LeastUtilized implements UnderloadDetector {
  readonly name = 'least-utilized';
  constructor(private readonly args: z.infer<typeof leastUtilizedArgs>) {}
  underloaded(hosts: readonly HostState[], fleet: FleetView) {
    const load = (h: HostState): number => {
      if (this.args.measure === 'allocation') return fleet.allocatedOn(h.id).cpu;
      let u = 0;
      for (const i of fleet.instancesOn(h.id)) if (Number.isFinite(i.lastUsage.cpu)) u += i.lastUsage.cpu;
      return u;
    };
    const util = (h: HostState): number => (h.capacity.cpu > 0 ? load(h) / h.capacity.cpu : 0);
    return hosts
      .filter((h) => h.on && fleet.instancesOn(h.id).length > 0 && util(h) < this.args.threshold)
      .sort((a, b) => util(a) - util(b) || (a.id < b.id ? -1 : 1))
      .slice(0, this.args.maxPerRound)
      .map((host) => ({ host, reasons: [R.UNDERLOADED] }));
  }
}

export const leastUtilizedPolicy: PluginEntry<z.infer<typeof leastUtilizedArgs>> = {
  name: 'least-utilized',
  description: 'Drain the least utilized hosts below a CPU share threshold',
  points: ['underload'],
  args: leastUtilizedArgs,
  create: (a) => new LeastUtilized(a),
};
