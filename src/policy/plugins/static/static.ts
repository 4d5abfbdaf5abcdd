// `static`: every instance keeps the trace's provisioned capacity (what its owner bought).
// The baseline with (almost) no violations and the most slack.
import { z } from 'zod';
import { R } from '../../framework/reasons.js';
import type { PluginEntry } from '../../framework/registry.js';
import type { InstanceState, RightsizeDecision, Rightsizer } from '../../framework/types.js';

export const staticArgs = z
  .object({
    /** Multiplies the provisioned capacity (1 = exactly what was provisioned). */
    factor: z.number().positive().finite().default(1),
  })
  .strict();

export class StaticRightsizer implements Rightsizer {
  readonly name = 'static';
  constructor(private readonly factor: number) {}
  recommend(inst: InstanceState): RightsizeDecision {
    return { cpu: inst.capacity.cpu * this.factor, memory: inst.capacity.memory * this.factor, reasons: [R.PROVISIONED_CAPACITY] };
  }
}

export const staticPolicy: PluginEntry<z.infer<typeof staticArgs>> = {
  name: 'static',
  description: "Allocate the trace's provisioned capacity to every instance, always",
  points: ['rightsize'],
  args: staticArgs,
  create: (args) => new StaticRightsizer(args.factor),
};
