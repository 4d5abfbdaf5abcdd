// `least-utilized`: hosts whose allocated CPU share is below a threshold are candidates to drain
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
  })
  .strict();

export class LeastUtilized implements UnderloadDetector {
  readonly name = 'least-utilized';
  constructor(private readonly args: z.infer<typeof leastUtilizedArgs>) {}
  underloaded(hosts: readonly HostState[], fleet: FleetView) {
    const util = (h: HostState): number => (h.capacity.cpu > 0 ? fleet.allocatedOn(h.id).cpu / h.capacity.cpu : 0);
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
