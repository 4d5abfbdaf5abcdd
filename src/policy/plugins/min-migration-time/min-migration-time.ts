// `min-migration-time` (MMT, Beloglazov & Buyya 2012): move the instance that migrates fastest
// first, i.e. the one with the least memory (migration time = memory / bandwidth).
import { z } from 'zod';
import { R } from '../../framework/reasons.js';
import type { PluginEntry } from '../../framework/registry.js';
import type { FleetView, HostState, VictimSelector } from '../../framework/types.js';

export class MinMigrationTime implements VictimSelector {
  readonly name = 'min-migration-time';
  select(host: HostState, fleet: FleetView) {
    const mem = (id: string): number => {
      const m = fleet.allocationOf(id).memory;
      return Number.isFinite(m) ? m : 0;
    };
    return [...fleet.instancesOn(host.id)]
      .sort((a, b) => mem(a.id) - mem(b.id) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((instance) => ({ instance, reasons: [R.VICTIM, 'min-migration-time'] }));
  }
}

export const minMigrationTimePolicy: PluginEntry = {
  name: 'min-migration-time',
  description: 'Victims in order of shortest migration time (least memory first)',
  points: ['victim'],
  args: z.object({}).strict(),
  create: () => new MinMigrationTime(),
};
