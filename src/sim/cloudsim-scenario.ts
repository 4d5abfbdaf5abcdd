// The `cloudsim-planetlab` scenario: CloudSim's PlanetLab power-aware consolidation example
// (Beloglazov & Buyya 2012), run by the CloudSim-compatible engine in src/sim/cloudsim, wrapped
// in the simulate command's outputs. The CPU "allocation" of a VM is the MIPS its host gives
// it at the scheduling step that serves the sample, in percent of the VM's MIPS; usage is the
// trace's CPU %. As in CloudSim, a VM gets min(its demand, what its host has left) at each step:
// a violation here means the host could not serve the VM's demand.
import { InputError } from '../core/errors.js';
import type { TraceFormat } from '../traces/format.js';
import { MinimumMigrationTimeSelector, runCloudSimPlanetLab, type CloudSimOptions, type CloudSimPolicyName } from './cloudsim/index.js';
import { zodIssues } from '../policy/framework/registry.js';
import {
  PredictiveCloudSimModel,
  PredictiveOverloadDetector,
  PredictivePlacementScorer,
  predictiveCloudSimArgs,
} from '../policy/plugins/predictive/cloudsim.js';
import { ValidationError } from '../core/errors.js';
import { roundUp6, startIndex, type KeptSeries } from './engine.js';
import { ResourceMetrics } from './metrics.js';
import type { SimulateOptions, SimulationResult } from './run.js';

export const CLOUDSIM_POLICIES: readonly string[] = ['thr-mmt', 'iqr-mmt', 'mad-mmt', 'lr-mmt', 'lrr-mmt', 'npa', 'dvfs', 'predictive'];

/**
 * CloudSim options for a policy name: the built-in ones as they are; 'predictive' plugs the
 * forecast-driven overload detector and placement scorer (src/policy/plugins/predictive/cloudsim.ts)
 * with MMT victim selection into the migration loop (its args: `policyArgs`).
 */
export function cloudSimOptionsFor(policy: string, policyArgs?: unknown): { options: CloudSimOptions; model?: PredictiveCloudSimModel } {
  if (policy !== 'predictive') return { options: { policy: policy as CloudSimPolicyName } };
  const parsed = predictiveCloudSimArgs.safeParse(policyArgs ?? {});
  if (!parsed.success) throw new ValidationError(zodIssues(parsed.error, 'policy-args'), 'invalid predictive arguments for cloudsim-planetlab');
  const model = new PredictiveCloudSimModel(parsed.data);
  return {
    options: { policy: 'lr-mmt', detector: new PredictiveOverloadDetector(model), selector: new MinimumMigrationTimeSelector(), scorer: new PredictivePlacementScorer(model) },
    model,
  };
}

export async function runCloudSimScenario(o: SimulateOptions, format: TraceFormat, t0: number): Promise<SimulationResult> {
  if (!CLOUDSIM_POLICIES.includes(o.policy)) {
    throw new InputError(`unknown cloudsim-planetlab policy "${o.policy}"; valid: ${CLOUDSIM_POLICIES.join(', ')}`, { field: 'policy' });
  }
  if (format.name !== 'planetlab') throw new InputError(`the cloudsim-planetlab scenario reads planetlab traces, not ${format.name}`, { field: 'format' });
  const files = await format.listFiles(o.trace);
  if (files.length === 0) throw new InputError('no planetlab trace files found', { file: o.trace });
  const ids: string[] = [];
  const vms: Float64Array[] = [];
  let skippedRows = 0;
  for await (const s of format.read(o.trace, { onProgress: (d, t) => o.onProgress?.('read', d, t) })) {
    ids.push(s.id);
    vms.push(s.values.cpu!);
    skippedRows += s.skippedRows;
  }
  let step = 0;
  const { options } = cloudSimOptionsFor(o.policy, o.policyArgs);
  const res = runCloudSimPlanetLab(vms, { ...options, ...(o.hosts !== undefined ? { hosts: o.hosts } : {}) }, {
    onStep: () => {
      step++;
      if (step % 8 === 0) o.onProgress?.('simulate', step, 288);
    },
  });
  o.onProgress?.('simulate', 288, 288);
  const cpu = new ResourceMetrics();
  const memory = new ResourceMetrics();
  const n = vms.length;
  const steps = res.allocations.length / Math.max(1, n);
  const keepN = o.keepSeries ?? 4;
  const kept: KeptSeries[] = [];
  let rows = 0;
  for (let v = 0; v < n; v++) {
    const usage = vms[v]!;
    const start = startIndex(usage.length);
    const ks: KeptSeries | undefined =
      v < keepN
        ? { id: ids[v]!, units: { cpu: 'percent', memory: 'percent' }, start, usage: { cpu: usage, memory: new Float64Array(usage.length).fill(NaN) }, allocation: { cpu: new Float64Array(usage.length).fill(NaN), memory: new Float64Array(usage.length).fill(NaN) } }
        : undefined;
    for (let i = 0; i < usage.length; i++) {
      // CloudSim's step k runs at time (k + 1) x 300 s on sample k + 1, so sample i is served by
      // the allocation of step i - 1 (a removed VM, NaN in the engine, holds nothing: 0).
      const inRun = i >= 1 && i <= steps;
      const a = inRun ? res.allocations[(i - 1) * n + v]! : NaN;
      const alloc = Number.isNaN(a) ? 0 : roundUp6(a);
      if (ks) ks.allocation.cpu[i] = inRun ? alloc : NaN;
      if (i < start || !inRun) continue;
      rows++;
      o.onAllocation?.(ids[v]!, i, alloc, NaN);
      cpu.add(usage[i]!, alloc);
    }
    if (ks) kept.push(ks);
  }
  return {
    policy: o.policy,
    scenario: 'cloudsim-planetlab',
    format: format.name,
    trace: o.trace,
    instances: n,
    rows,
    steps: res.steps,
    stepSeconds: 300,
    skippedRows,
    cpu,
    memory,
    resources: ['cpu'],
    fleet: {
      energy_kwh: res.energyKwh,
      migrations: res.migrations,
      host_shutdowns: res.hostShutdowns,
      slatah_pct: res.slatahPct,
      pdm_pct: res.pdmPct,
      slav_pct: res.slavPct,
      active_host_hours: res.activeHostHours,
      failed_plans: 0,
    },
    hostsOn: Array.from(res.hostsActive),
    hostsConfig: { hosts: res.hosts, hostCpu: NaN, hostMemory: NaN, overcommit: 'none' },
    kept,
    failedPlans: 0,
    wallMs: performance.now() - t0,
  };
}
