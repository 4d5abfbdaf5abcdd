// Scenario runner: reads a trace through its format, builds the policy profile, runs the
// scenario and returns the metrics. The only code in the simulator that awaits (trace reading).
//
// rightsizing: series are independent, so they stream: each series is simulated on its own as
//   soon as it is read, then dropped (a month of 125 Bitbrains VMs never sits in memory twice);
//   with `jobs` > 1 they are split across worker threads with outputs identical to one thread
//   (rightsizing.ts).
// fleet: every series is read, then all run together on N hosts, index-aligned (sample i of
//   every series happens at virtual time i * step).
// cloudsim-planetlab: delegates to the CloudSim-compatible runner in src/sim/cloudsim.
import { InputError } from '../core/errors.js';
import { seededRng, type Rng } from '../core/rng.js';
import { createRegistry } from '../policy/builtin.js';
import { PolicyRunner } from '../policy/framework/decide.js';
import { compileProfile } from '../policy/framework/profile.js';
import type { PluginRegistry } from '../policy/framework/registry.js';
import { defaultProfile, type OvercommitMode } from '../policy/profiles.js';
import type { TraceFormat, TraceSeries } from '../traces/format.js';
import { getTraceFormat } from '../traces/registry.js';
import { seriesIdOf } from '../traces/common/files.js';
import { capacityOf, simulateCohort, type CohortResult, type HostSpec, type KeptSeries } from './engine.js';
import { FleetMetrics, ResourceMetrics } from './metrics.js';
import type { AllocationsWriter } from './output.js';
import {
  checkSeries,
  ONE_SERIES_PER_FILE,
  resolveJobs,
  RightsizingTotals,
  runRightsizingInWorkers,
  simulateSeries,
  workersAvailable,
} from './rightsizing.js';

export const SCENARIOS = ['rightsizing', 'fleet', 'cloudsim-planetlab'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface SimulateOptions {
  trace: string;
  format: string;
  scenario?: Scenario;
  policy: string;
  policyArgs?: unknown;
  seed?: number;
  /** Fleet: number of hosts (default: ceil(instances / 2)). */
  hosts?: number;
  /** Fleet: host CPU capacity in the trace's CPU unit (default: 4 x the largest instance's). */
  hostCpu?: number;
  /** Fleet: host memory capacity in the trace's memory unit (default: 4 x the largest instance's). */
  hostMemory?: number;
  overcommit?: OvercommitMode;
  registry?: PluginRegistry;
  /** How many instances to keep full series of, for charts (the first ones read). */
  keepSeries?: number;
  onAllocation?: (instance: string, index: number, cpu: number, memory: number) => void;
  /**
   * allocations.csv writer (instead of `onAllocation`): with it, rightsizing can run on worker
   * threads, whose rows are copied in series order (the file is the same as with one thread).
   */
  allocations?: AllocationsWriter;
  /**
   * Rightsizing: worker threads for formats with one series per file ("auto" = one per core,
   * at most one per 8 files). Default 1. Results and allocations.csv do not depend on it.
   * One thread is used anyway with `onAllocation`, a custom `registry`, or from the TypeScript
   * sources (the worker entry is compiled JavaScript).
   */
  jobs?: number | 'auto';
  onProgress?: (phase: 'read' | 'simulate', done: number, total: number) => void;
}

export interface SimulationResult {
  policy: string;
  scenario: Scenario;
  format: string;
  trace: string;
  instances: number;
  rows: number;
  steps: number;
  stepSeconds: number;
  skippedRows: number;
  cpu: ResourceMetrics;
  memory: ResourceMetrics;
  /** Resources the trace carries among cpu and memory. */
  resources: Array<'cpu' | 'memory'>;
  fleet?: ReturnType<FleetMetrics['toJSON']>;
  hostsOn?: number[];
  hostsConfig?: { hosts: number; hostCpu: number; hostMemory: number; overcommit: OvercommitMode };
  kept: KeptSeries[];
  failedPlans: number;
  wallMs: number;
}

export async function runSimulation(o: SimulateOptions): Promise<SimulationResult> {
  const t0 = performance.now();
  const scenario: Scenario = o.scenario ?? 'rightsizing';
  if (!SCENARIOS.includes(scenario)) {
    throw new InputError(`unknown scenario "${scenario}"; valid: ${SCENARIOS.join(', ')}`, { field: 'scenario' });
  }
  const format = getTraceFormat(o.format);
  if (scenario === 'cloudsim-planetlab') return runCloudSim(o, format, t0);

  const registry = o.registry ?? createRegistry();
  // Validate the policy before reading a byte of trace (errors list the valid names).
  registry.get(o.policy, 'rightsize');
  const files = await format.listFiles(o.trace);
  if (files.length === 0) throw new InputError(`no ${format.name} trace files found`, { file: o.trace });

  const rng = seededRng(o.seed ?? 1);
  const keepN = o.keepSeries ?? 4;

  if (scenario === 'rightsizing') {
    const emit = o.onAllocation ?? o.allocations?.write;
    const progress = (d: number, t: number): void => o.onProgress?.('simulate', d, t);
    const jobs = resolveJobs(o.jobs ?? 1, files.length);
    let totals: RightsizingTotals | undefined;
    let stepSeconds = 0;
    // Worker threads: one series per file, the built-in registry (workers rebuild it), rows
    // going to a file (a callback cannot cross threads), unique ids (a duplicate is reported by
    // the one-thread reader), and the compiled worker entry present.
    if (jobs > 1 && ONE_SERIES_PER_FILE.has(format.name) && !o.registry && !o.onAllocation && uniqueIds(files) && workersAvailable()) {
      // The profile is compiled with the first series' step, as with one thread.
      let first: TraceSeries | undefined;
      let asked = false;
      const onlyFirst = (): boolean => !asked && (asked = true);
      for await (const s of format.read(o.trace, { filter: onlyFirst })) first = s;
      if (first) {
        stepSeconds = first.stepSeconds;
        totals = await runRightsizingInWorkers({
          jobs,
          trace: o.trace,
          format: format.name,
          policy: o.policy,
          policyArgs: o.policyArgs,
          seed: o.seed ?? 1,
          stepSeconds,
          keepN,
          files: files.length,
          ...(o.allocations ? { sink: o.allocations } : {}),
          onSeries: progress,
        });
      }
    }
    if (!totals) {
      totals = new RightsizingTotals();
      let runner: PolicyRunner | undefined;
      for await (const s of format.read(o.trace, { onProgress: progress })) {
        checkSeries(s);
        if (!runner) {
          stepSeconds = s.stepSeconds;
          runner = new PolicyRunner(compileProfile(defaultProfile({ policy: o.policy, policyArgs: o.policyArgs, scenario }), registry, { stepSeconds }));
        }
        totals.add(simulateSeries(s, runner, rng.fork(), totals.instances < keepN, emit));
      }
    }
    if (totals.instances === 0) throw new InputError(`no series could be read as ${format.name}`, { file: o.trace });
    return {
      policy: o.policy, scenario, format: format.name, trace: o.trace, instances: totals.instances, rows: totals.rows, steps: totals.steps, stepSeconds,
      skippedRows: totals.skippedRows, cpu: totals.cpu, memory: totals.memory, resources: [...totals.resources], kept: totals.kept,
      failedPlans: totals.failedPlans, wallMs: performance.now() - t0,
    };
  }

  // fleet
  const resources = new Set<'cpu' | 'memory'>();
  let skippedRows = 0;
  const emit = o.onAllocation ?? o.allocations?.write;
  const series: TraceSeries[] = [];
  for await (const s of format.read(o.trace, { onProgress: (d, t) => o.onProgress?.('read', d, t) })) {
    checkSeries(s);
    series.push(s);
    skippedRows += s.skippedRows;
    for (const k of ['cpu', 'memory'] as const) if (s.values[k]) resources.add(k);
  }
  if (series.length === 0) throw new InputError(`no series could be read as ${format.name}`, { file: o.trace });
  const stepSeconds = series[0]!.stepSeconds;
  const maxCap = (k: 'cpu' | 'memory'): number => series.reduce((m, s) => Math.max(m, nz(capacityOf(s, k))), 0);
  const hostCpu = o.hostCpu ?? 4 * maxCap('cpu');
  const hostMemory = o.hostMemory ?? (resources.has('memory') ? 4 * maxCap('memory') : Infinity);
  const nHosts = o.hosts ?? Math.max(1, Math.ceil(series.length / 2));
  for (const [name, v] of [['hosts', nHosts], ['host-cpu', hostCpu], ['host-memory', hostMemory]] as const) {
    if (!(v > 0)) throw new InputError(`must be a positive number, got ${v}`, { field: name });
  }
  const width = String(nHosts - 1).length;
  const hosts: HostSpec[] = Array.from({ length: nHosts }, (_, k) => ({ id: `host-${String(k).padStart(width, '0')}`, capacity: { cpu: hostCpu, memory: hostMemory } }));
  const overcommit = o.overcommit ?? 'none';
  const runner = new PolicyRunner(compileProfile(defaultProfile({ policy: o.policy, policyArgs: o.policyArgs, scenario, overcommit }), registry, { stepSeconds }));
  const keepIds = new Set(series.slice(0, keepN).map((s) => s.id));
  const r: CohortResult = simulateCohort(series, {
    runner,
    rng: rng.fork(),
    stepSeconds,
    hosts,
    overcommit: overcommit !== 'none',
    ...(emit ? { onAllocation: emit } : {}),
    onStep: (d, t) => {
      if (d % 16 === 0 || d === t) o.onProgress?.('simulate', d, t);
    },
    keepSeries: (id) => keepIds.has(id),
  });
  return {
    policy: o.policy, scenario, format: format.name, trace: o.trace, instances: series.length, rows: r.rows, steps: r.steps, stepSeconds, skippedRows,
    cpu: r.cpu, memory: r.memory, resources: [...resources],
    fleet: r.fleet!.toJSON(), hostsOn: r.fleet!.hostsOn,
    hostsConfig: { hosts: nHosts, hostCpu, hostMemory, overcommit },
    kept: r.kept, failedPlans: r.failedPlans, wallMs: performance.now() - t0,
  };
}

const nz = (x: number): number => (Number.isFinite(x) ? x : 0);

/** True when no two files map to the same series id. */
function uniqueIds(files: readonly string[]): boolean {
  return new Set(files.map(seriesIdOf)).size === files.length;
}

async function runCloudSim(o: SimulateOptions, format: TraceFormat, t0: number): Promise<SimulationResult> {
  const { runCloudSimScenario } = await import('./cloudsim-scenario.js');
  const emit = o.onAllocation ?? o.allocations?.write;
  return runCloudSimScenario({ ...o, ...(emit ? { onAllocation: emit } : {}) }, format, t0);
}

export type { Rng };
