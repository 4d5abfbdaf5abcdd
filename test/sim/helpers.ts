// Test helpers: hand-made trace series and a one-call rightsizing / fleet run.
import type { Unit } from '../../src/core/resources.js';
import { seededRng } from '../../src/core/rng.js';
import { compileProfile, createRegistry, defaultProfile, PolicyRunner } from '../../src/policy/index.js';
import type { OvercommitMode } from '../../src/policy/profiles.js';
import { simulateCohort, type CohortOptions, type CohortResult, type HostSpec } from '../../src/sim/engine.js';
import type { TraceSeries } from '../../src/traces/format.js';

export function series(
  id: string,
  cpu: ArrayLike<number> | null,
  memory: ArrayLike<number> | null,
  opts: { units?: { cpu?: Unit; memory?: Unit }; capacity?: { cpu?: number; memory?: number }; stepSeconds?: number } = {},
): TraceSeries {
  const length = (cpu ?? memory)!.length;
  const values: TraceSeries['values'] = {};
  const units: TraceSeries['units'] = {};
  if (cpu) {
    values.cpu = Float64Array.from(cpu);
    units.cpu = opts.units?.cpu ?? 'cores';
  }
  if (memory) {
    values.memory = Float64Array.from(memory);
    units.memory = opts.units?.memory ?? 'MiB';
  }
  return {
    id,
    file: `${id}.csv`,
    stepSeconds: opts.stepSeconds ?? 300,
    startTimeS: 0,
    length,
    values,
    units,
    ...(opts.capacity ? { capacity: opts.capacity } : {}),
    skippedRows: 0,
  };
}

export interface Row {
  instance: string;
  index: number;
  cpu: number;
  memory: number;
}

export function run(
  input: TraceSeries[],
  policy: string,
  o: { policyArgs?: unknown; hosts?: HostSpec[]; overcommit?: OvercommitMode; seed?: number; extra?: Partial<CohortOptions> } = {},
): { rows: Row[]; result: CohortResult } {
  const scenario = o.hosts ? 'fleet' : 'rightsizing';
  const profile = defaultProfile({ policy, policyArgs: o.policyArgs, scenario, overcommit: o.overcommit ?? 'none' });
  const runner = new PolicyRunner(compileProfile(profile, createRegistry(), { stepSeconds: input[0]?.stepSeconds ?? 300 }));
  const rows: Row[] = [];
  const result = simulateCohort(input, {
    runner,
    rng: seededRng(o.seed ?? 1),
    stepSeconds: input[0]?.stepSeconds ?? 300,
    ...(o.hosts ? { hosts: o.hosts, overcommit: (o.overcommit ?? 'none') !== 'none' } : {}),
    onAllocation: (instance, index, cpu, memory) => rows.push({ instance, index, cpu, memory }),
    ...o.extra,
  });
  return { rows, result };
}
