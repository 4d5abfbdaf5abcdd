// `prescient demo [all|backtest|simulate]`: a short, self-contained tour on a seeded synthetic
// workload (no trace files needed). It reuses the real commands' code paths:
//   backtest -> runBacktest (the forecasting engine vs the VPA-histogram and seasonal-naive
//               baselines, rolling origins), prints the same summary table as `prescient backtest`;
//   simulate -> simulateAction (rightsizing with `static`, `vpa` and any other registered
//               rightsizer such as `predictive`), writes the same files as `prescient simulate`,
//               prints a small comparison.
// `prescient start` runs the same tour until the control plane exists.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { InputError } from '../../core/errors.js';
import { createRegistry } from '../../policy/builtin.js';
import { formatReport, runBacktest, type BacktestReport } from './backtest.js';
import { simulateAction } from './simulate.js';
import { registerQemuDemo } from './demo-qemu.js';

export const DEMO_PARTS = ['all', 'backtest', 'simulate'] as const;
export type DemoPart = (typeof DEMO_PARTS)[number];

export interface DemoOptions {
  part: DemoPart;
  /** Output folder for backtest.csv and simulate/<policy>/. */
  out: string;
  /** Synthetic series (VMs). */
  series: number;
  /** Days of 5-minute samples per series (at least 2: one day warms the models up). */
  days: number;
  seed: number;
  progress: boolean;
}

export const DEMO_DEFAULTS = { out: 'out/demo', series: 40, days: 3, seed: 1 } as const;

/** Backtest settings of the demo (the `prescient backtest` defaults). */
export const DEMO_BACKTEST = { resource: 'cpu', horizon: '12', every: '12', warmup: '288', quantiles: '0.5,0.9,0.95,0.99' } as const;

/** Rightsizing policies the demo compares: static and vpa first, then any other registered rightsizer. */
export function demoPolicies(): string[] {
  const names = createRegistry().names('rightsize');
  return ['static', 'vpa', ...names.filter((n) => n !== 'static' && n !== 'vpa').sort()];
}

export interface PolicyRow {
  policy: string;
  out: string;
  cpu: ResourceSummary;
  memory: ResourceSummary;
  wallMs: number;
}
interface ResourceSummary {
  violation_rate: number;
  slack: number;
  allocated_sum: number;
}

export interface DemoResult {
  spec: string;
  backtest?: BacktestReport;
  simulations: PolicyRow[];
}

/** The synthetic trace spec of the demo workload (5-minute samples). */
export function demoSpec(o: Pick<DemoOptions, 'series' | 'days' | 'seed'>): string {
  return `synthetic:count=${o.series},length=${o.days * 288},seed=${o.seed}`;
}

export async function runDemo(o: DemoOptions, write: (text: string) => void): Promise<DemoResult> {
  if (!(DEMO_PARTS as readonly string[]).includes(o.part)) {
    throw new InputError(`unknown demo "${o.part}"; valid: ${DEMO_PARTS.join(', ')}`, { field: 'part' });
  }
  const spec = demoSpec(o);
  mkdirSync(o.out, { recursive: true });
  const result: DemoResult = { spec, simulations: [] };
  write(`Workload: ${o.series} synthetic VMs x ${o.days} days of 5-minute CPU and memory samples (seed ${o.seed}; trace spec "${spec}").\n`);

  if (o.part === 'all' || o.part === 'backtest') {
    const csv = join(o.out, 'backtest.csv');
    write(
      `\n== Forecasting backtest ==\n` +
        `At every ${DEMO_BACKTEST.every}th sample after a one-day warm-up, each model forecasts the next ${DEMO_BACKTEST.horizon} samples (1 hour) of CPU\n` +
        `from the past only; scored by pinball loss per point (lower is better) and coverage of each quantile.\n` +
        `prescient = the per-series ensemble; vpa-histogram and seasonal-naive are the baselines.\n\n`,
    );
    const report = await runBacktest({
      trace: spec,
      format: 'synthetic',
      ...DEMO_BACKTEST,
      out: csv,
      baselines: true,
      progress: o.progress,
    });
    result.backtest = report;
    write(formatReport(report));
    write(`forecasts: ${csv}\n`);
  }

  if (o.part === 'all' || o.part === 'simulate') {
    const policies = demoPolicies();
    write(
      `\n== Rightsizing simulation ==\n` +
        `Each policy sets every VM's CPU and memory allocation for the next 5 minutes from the samples before it;\n` +
        `scored from day 2 on. violation = usage above the allocation; slack = allocated but unused.\n\n`,
    );
    for (const policy of policies) {
      const out = join(o.out, 'simulate', policy);
      const s = (await simulateAction({
        trace: spec,
        format: 'synthetic',
        scenario: 'rightsizing',
        policy,
        out,
        seed: String(o.seed),
        overcommit: 'none',
        progress: false,
        report: true,
      })) as unknown as { cpu: ResourceSummary; memory: ResourceSummary; wall_ms: number };
      result.simulations.push({ policy, out, cpu: s.cpu, memory: s.memory, wallMs: s.wall_ms });
    }
    write(formatSimulations(result.simulations));
    write(`reports: ${result.simulations.map((r) => join(r.out, 'report.html')).join(', ')}\n`);
  }
  return result;
}

/** The comparison table of the simulated policies (allocation relative to the first, `static`). */
export function formatSimulations(rows: readonly PolicyRow[]): string {
  const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(2)}%` : '-');
  const base = rows[0];
  const head = ['policy', 'cpu violations', 'cpu slack', 'memory violations', 'memory slack', `cpu allocated vs ${base?.policy ?? '-'}`, `memory allocated vs ${base?.policy ?? '-'}`];
  const lines = rows.map((r) => [
    r.policy,
    pct(r.cpu.violation_rate),
    pct(r.cpu.slack),
    pct(r.memory.violation_rate),
    pct(r.memory.slack),
    base ? pct(r.cpu.allocated_sum / base.cpu.allocated_sum) : '-',
    base ? pct(r.memory.allocated_sum / base.memory.allocated_sum) : '-',
  ]);
  const table = [head, ...lines];
  const widths = head.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
  return `${table.map((row) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')).join('\n')}\n`;
}

function intIn(name: string, v: string, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new InputError(`--${name} must be an integer in ${min}..${max}, got "${v}"`, { field: name });
  return n;
}

export interface DemoCliOptions {
  out: string;
  series: string;
  days: string;
  seed: string;
  progress: boolean;
}

/** Adds the demo's options to a command (shared by `demo` and `start`). */
export function withDemoOptions(cmd: Command): Command {
  return cmd
    .option('--out <dir>', 'output folder for backtest.csv and simulate/<policy>/', DEMO_DEFAULTS.out)
    .option('--series <n>', 'synthetic VMs', String(DEMO_DEFAULTS.series))
    .option('--days <n>', 'days of 5-minute samples per VM (at least 2)', String(DEMO_DEFAULTS.days))
    .option('--seed <n>', 'workload seed', String(DEMO_DEFAULTS.seed))
    .option('--no-progress', 'no progress bar');
}

export function parseDemoOptions(part: string, o: DemoCliOptions): DemoOptions {
  if (!(DEMO_PARTS as readonly string[]).includes(part)) {
    throw new InputError(`unknown demo "${part}"; valid: ${DEMO_PARTS.join(', ')}`, { field: 'part' });
  }
  return {
    part: part as DemoPart,
    out: o.out,
    series: intIn('series', o.series, 1, 10_000),
    days: intIn('days', o.days, 2, 365),
    seed: intIn('seed', o.seed, -(2 ** 31), 2 ** 31 - 1),
    progress: o.progress && process.stderr.isTTY === true,
  };
}

export function register(program: Command): void {
  const demo = withDemoOptions(
    program
      .command('demo')
      .argument('[part]', `what to run: ${DEMO_PARTS.join(', ')}`, 'all')
      .description('Short tour on a seeded synthetic workload: forecasting backtest (engine vs baselines) and a rightsizing simulation (static vs vpa)'),
  ).action(async (part: string, opts: DemoCliOptions) => {
    await runDemo(parseDemoOptions(part, opts), (t) => process.stdout.write(t));
  });
  registerQemuDemo(demo);
}
