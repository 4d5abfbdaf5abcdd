// `prescient markets [credits|negotiation|auction|all]`: runs the market experiments on the real
// traces and prints their tables (see src/sim/markets/index.ts for every rule and metric).
//   prescient markets --traces ../shared/traces --days 7
//   prescient markets auction --load 1.5 --json out/markets.json
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { InputError } from '../../core/errors.js';
import { defaultTracesRoot, formatMarketReport, MARKET_EXPERIMENTS, runMarketExperiments, type MarketExperiment, type MarketReport } from '../../sim/markets/index.js';

interface MarketsCliOptions {
  traces?: string;
  days: string;
  vms?: string;
  jobs?: string;
  seed: string;
  load: string;
  capacityFactor: string;
  hostSize: string;
  quick: boolean;
  json?: string;
}

function num(name: string, v: string, o: { integer?: boolean; min?: number; max?: number } = {}): number {
  const n = Number(v);
  const min = o.min ?? -Infinity;
  const max = o.max ?? Infinity;
  if (!Number.isFinite(n) || (o.integer && !Number.isInteger(n)) || n < min || n > max) {
    throw new InputError(`--${name} must be ${o.integer ? 'an integer' : 'a number'} in [${min}, ${max}], got "${v}"`, { field: name });
  }
  return n;
}

export async function marketsAction(which: string, o: MarketsCliOptions, write: (s: string) => void = (s) => process.stdout.write(s)): Promise<MarketReport> {
  const valid = [...MARKET_EXPERIMENTS, 'all'];
  if (!valid.includes(which)) throw new InputError(`unknown experiment "${which}"; valid: ${valid.join(', ')}`, { field: 'experiment' });
  const experiments: MarketExperiment[] = which === 'all' ? [...MARKET_EXPERIMENTS] : [which as MarketExperiment];
  const report = await runMarketExperiments({
    traces: resolve(o.traces ?? process.env.PRESCIENT_TRACES ?? defaultTracesRoot(process.cwd())),
    experiments,
    days: o.quick ? 3 : num('days', o.days, { min: 2, max: 31 }),
    ...(o.quick ? { vms: 40 } : o.vms !== undefined ? { vms: num('vms', o.vms, { integer: true, min: 1 }) } : {}),
    ...(o.quick ? { jobs: 300 } : o.jobs !== undefined ? { jobs: num('jobs', o.jobs, { integer: true, min: 1 }) } : {}),
    seed: num('seed', o.seed, { integer: true }),
    load: num('load', o.load, { min: 0.1, max: 10 }),
    capacityFactor: num('capacity-factor', o.capacityFactor, { min: 0.1, max: 100 }),
    hostSize: num('host-size', o.hostSize, { integer: true, min: 2, max: 1000 }),
    clock: () => performance.now(),
    onPhase: (p) => process.stderr.write(`${p}...\n`),
  });
  write(formatMarketReport(report));
  if (o.json) {
    mkdirSync(dirname(resolve(o.json)), { recursive: true });
    writeFileSync(o.json, `${JSON.stringify(report, null, 2)}\n`);
  }
  return report;
}

export function register(program: Command): void {
  program
    .command('markets')
    .argument('[experiment]', `what to run: ${[...MARKET_EXPERIMENTS, 'all'].join(', ')}`, 'all')
    .description('Market experiments on real traces: burstable credits and preemption (Bitbrains), borrow/lend negotiation (Bitbrains), the spot auction vs price-only admission (Google 2011)')
    .option('--traces <dir>', 'folder holding bitbrains-rnd/2013-7 and google2011 (default ../shared/traces or $PRESCIENT_TRACES)')
    .option('--days <n>', 'days of Bitbrains (the first sizes classes and entitlements)', '7')
    .option('--vms <n>', 'Bitbrains VMs (ids 1..n; default all)')
    .option('--jobs <n>', 'Google job-days (first n by id; default all)')
    .option('--seed <n>', 'seed of the auction bids', '1')
    .option('--load <x>', 'auction: offered CPU / host capacity', '1.25')
    .option('--capacity-factor <x>', 'preemption: host CPU = x times its VMs\u2019 mean demand', '3')
    .option('--host-size <n>', 'VMs per host (credits preemption and negotiation)', '10')
    .option('--quick', 'small run: 3 days, 40 VMs, 300 jobs', false)
    .option('--json <file>', 'also write every figure as JSON')
    .action(async (which: string, opts: MarketsCliOptions) => {
      await marketsAction(which, opts);
    });
}
