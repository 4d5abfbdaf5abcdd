// `prescient simulate`: trace-driven rightsizing / fleet simulation of one policy.
//   prescient simulate --trace DIR --format planetlab|bitbrains|google2011 \
//     [--scenario rightsizing|fleet|cloudsim-planetlab] --policy NAME --out OUTDIR
// Writes OUTDIR/allocations.csv, OUTDIR/summary.json and OUTDIR/report.html.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import type { Command } from 'commander';
import { InputError } from '../../core/errors.js';
import { createRegistry } from '../../policy/builtin.js';
import { compileProfile } from '../../policy/framework/profile.js';
import { defaultProfile, type OvercommitMode } from '../../policy/profiles.js';
import { AllocationsWriter, buildSummary } from '../../sim/output.js';
import { renderReport, siblingRuns } from '../../sim/report.js';
import { runSimulation, SCENARIOS, type Scenario } from '../../sim/run.js';
import { getTraceFormat, TRACE_FORMAT_NAMES } from '../../traces/registry.js';

interface SimulateCliOptions {
  trace: string;
  format: string;
  scenario: string;
  policy: string;
  policyArgs?: string;
  out: string;
  seed: string;
  hosts?: string;
  hostCpu?: string;
  hostMemory?: string;
  overcommit: string;
  progress: boolean;
  report: boolean;
  /** Rightsizing worker threads ("auto": one per core); outputs do not depend on it. */
  jobs?: string;
}

function positive(name: string, v: string | undefined, integer = false): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new InputError(`--${name} must be a positive ${integer ? 'integer' : 'number'}, got "${v}"`, { field: name });
  }
  return n;
}

export async function simulateAction(o: SimulateCliOptions): Promise<Record<string, unknown>> {
  if (!TRACE_FORMAT_NAMES.includes(o.format)) {
    throw new InputError(`unknown trace format "${o.format}"; valid formats: ${TRACE_FORMAT_NAMES.join(', ')}`, { field: 'format' });
  }
  if (!(SCENARIOS as readonly string[]).includes(o.scenario)) {
    throw new InputError(`unknown scenario "${o.scenario}"; valid scenarios: ${SCENARIOS.join(', ')}`, { field: 'scenario' });
  }
  const overcommits = ['none', 'nsigma', 'forecast'];
  if (!overcommits.includes(o.overcommit)) {
    throw new InputError(`unknown overcommit mode "${o.overcommit}"; valid: ${overcommits.join(', ')}`, { field: 'overcommit' });
  }
  let policyArgs: unknown;
  if (o.policyArgs !== undefined) {
    try {
      policyArgs = JSON.parse(o.policyArgs);
    } catch (cause) {
      throw new InputError(`--policy-args must be JSON: ${(cause as Error).message}`, { field: 'policy-args' }, { cause });
    }
  }
  const jobs = o.jobs === undefined || o.jobs === 'auto' ? 'auto' : positive('jobs', o.jobs, true)!;
  const seed = Number(o.seed);
  if (!Number.isInteger(seed)) throw new InputError(`--seed must be an integer, got "${o.seed}"`, { field: 'seed' });
  const registry = createRegistry();
  if (o.scenario !== 'cloudsim-planetlab') {
    // Fail fast, before any output exists: unknown names list the valid ones, every bad argument is named.
    registry.get(o.policy, 'rightsize');
    compileProfile(defaultProfile({ policy: o.policy, policyArgs, scenario: o.scenario as 'rightsizing' | 'fleet', overcommit: o.overcommit as OvercommitMode }), registry, { stepSeconds: 300 });
  }

  const files = await getTraceFormat(o.format).listFiles(o.trace); // a missing path fails here, naming it
  if (files.length === 0) throw new InputError(`no ${o.format} trace files found`, { file: o.trace });
  mkdirSync(o.out, { recursive: true });
  const writer = new AllocationsWriter(join(o.out, 'allocations.csv'));
  const bar = o.progress ? new SingleBar({ format: ' {phase} [{bar}] {percentage}% | {value}/{total} | eta {eta_formatted}', hideCursor: true, clearOnComplete: false, stream: process.stderr }, Presets.shades_classic) : undefined;
  let barPhase = '';
  try {
    const result = await runSimulation({
      trace: o.trace,
      format: o.format,
      scenario: o.scenario as Scenario,
      policy: o.policy,
      policyArgs,
      seed,
      ...(o.hosts !== undefined ? { hosts: positive('hosts', o.hosts, true)! } : {}),
      ...(o.hostCpu !== undefined ? { hostCpu: positive('host-cpu', o.hostCpu)! } : {}),
      ...(o.hostMemory !== undefined ? { hostMemory: positive('host-memory', o.hostMemory)! } : {}),
      overcommit: o.overcommit as OvercommitMode,
      allocations: writer,
      jobs,
      onProgress: (phase, done, total) => {
        if (!bar) return;
        const label = phase === 'read' ? 'reading  ' : 'simulating';
        if (barPhase !== phase) {
          if (barPhase) bar.stop();
          bar.start(total, 0, { phase: label });
          barPhase = phase;
        }
        bar.update(done, { phase: label });
      },
    });
    bar?.stop();
    writer.close();
    const summary = buildSummary(result);
    writeFileSync(join(o.out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
    if (o.report) {
      const points = [
        ...siblingRuns(o.out, summary),
        ...result.resources.map((k) => ({ label: `${result.policy} (this run)`, resource: k, slack: result[k].slack, violationRate: result[k].violationRate, current: true })),
      ];
      const html = renderReport({ summary, kept: result.kept, ...(result.hostsOn ? { hostsOn: result.hostsOn } : {}), stepSeconds: result.stepSeconds, points });
      writeFileSync(join(o.out, 'report.html'), html);
    }
    return summary;
  } catch (err) {
    bar?.stop();
    try {
      writer.close();
    } catch {
      // already closed
    }
    throw err;
  }
}

export function register(program: Command): void {
  program
    .command('simulate')
    .description('Trace-driven simulation of a rightsizing / fleet policy: allocations.csv, summary.json, report.html')
    .requiredOption('--trace <dir>', 'trace folder (or file)')
    .requiredOption('--format <name>', `trace format: ${TRACE_FORMAT_NAMES.join(', ')}`)
    .option('--scenario <name>', `scenario: ${SCENARIOS.join(', ')}`, 'rightsizing')
    .requiredOption('--policy <name>', 'policy name (e.g. static, vpa, predictive; thr-mmt, iqr-mmt, mad-mmt, lr-mmt, lrr-mmt, npa, dvfs or predictive for cloudsim-planetlab)')
    .option('--policy-args <json>', 'policy arguments as JSON, validated by the policy (e.g. \'{"targetPercentile":0.95}\')')
    .requiredOption('--out <dir>', 'output folder (created if missing)')
    .option('--seed <n>', 'random seed', '1')
    .option('--hosts <n>', 'fleet: number of hosts (default: ceil(instances / 2))')
    .option('--host-cpu <x>', "fleet: host CPU capacity in the trace's CPU unit (default: 4 x the largest instance)")
    .option('--host-memory <x>', "fleet: host memory capacity in the trace's memory unit (default: 4 x the largest instance)")
    .option('--overcommit <mode>', 'fleet: none (allocations must fit), nsigma (Google max(N-sigma, percentile sum)), forecast', 'none')
    .option('--jobs <n>', 'rightsizing: worker threads for formats with one series per file ("auto": one per core); outputs are identical', 'auto')
    .option('--no-progress', 'no progress bar')
    .option('--no-report', 'skip report.html')
    .action(async (opts: SimulateCliOptions) => {
      const summary = await simulateAction(opts);
      const res = summary.resources as Record<string, { violation_rate: number; slack: number }>;
      const parts = Object.entries(res).map(([k, m]) => `${k}: violation_rate ${m.violation_rate.toFixed(4)}, slack ${m.slack.toFixed(4)}`);
      process.stdout.write(`${summary.policy} / ${summary.scenario}: ${parts.join('; ')}; wall ${summary.wall_ms} ms -> ${opts.out}\n`);
    });
}
