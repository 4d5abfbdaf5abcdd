// `prescient backtest`: rolling-origin backtest of the forecasting engine over every series of a
// trace, with the VPA-histogram and seasonal-naive baselines scored on the same points.
//   prescient backtest --trace DIR --format planetlab|bitbrains|google2011 --resource cpu|memory \
//     --horizon 12 --every 12 --warmup 288 --quantiles 0.5,0.9,0.95,0.99 --out FILE.csv
import { rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { SingleBar, Presets } from 'cli-progress';
import type { Command } from 'commander';
import { InputError } from '../../core/errors.js';
import type { ResourceName } from '../../core/resources.js';
import type { BacktestOptions } from '../../forecast/engine.js';
import { AccuracyAccumulator } from '../../forecast/metrics.js';
import { CsvWriter } from '../../io/csv-writer.js';
import { copyChunksInOrder, type PartChunk } from '../../io/part-files.js';
import { getTraceFormat, TRACE_FORMAT_NAMES } from '../../traces/registry.js';
import { backtestOneSeries, type SeriesJob, type SeriesResult } from '../backtest-core.js';

/** Formats whose every file holds exactly one series: these can be split across worker threads. */
const ONE_SERIES_PER_FILE = new Set(['planetlab', 'bitbrains', 'google2011']);

export interface BacktestCliOptions {
  trace: string;
  format: string;
  resource: string;
  horizon: string;
  every: string;
  warmup: string;
  quantiles: string;
  out: string;
  baselines: boolean;
  progress: boolean;
  /** Worker threads ("auto" = one per core); results do not depend on it. */
  jobs?: string;
}

export interface BacktestReport {
  series: number;
  points: number;
  levels: number[];
  wallMs: number;
  engine: AccuracyAccumulator;
  vpa?: AccuracyAccumulator;
  seasonalNaive?: AccuracyAccumulator;
}

function positiveInt(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InputError(`--${name} must be a positive integer, got "${v}"`, { field: name });
  return n;
}

/** Parses `0.5,0.9,0.95` keeping each level's text as typed (it names the CSV column). */
export function parseLevels(text: string): { levels: number[]; names: string[] } {
  const names = text.split(',').map((s) => s.trim());
  const levels = names.map((s) => {
    const q = Number(s);
    if (s === '' || !(q > 0 && q < 1)) throw new InputError(`--quantiles: "${s}" is not a level in (0, 1)`, { field: 'quantiles' });
    return q;
  });
  if (new Set(levels).size !== levels.length) throw new InputError('--quantiles: a level is repeated', { field: 'quantiles' });
  return { levels, names };
}

export async function runBacktest(o: BacktestCliOptions): Promise<BacktestReport> {
  if (!TRACE_FORMAT_NAMES.includes(o.format)) {
    throw new InputError(`unknown trace format "${o.format}"; valid formats: ${TRACE_FORMAT_NAMES.join(', ')}`, { field: 'format' });
  }
  const format = getTraceFormat(o.format);
  const resource = o.resource as ResourceName;
  if (!format.resources.includes(resource)) {
    throw new InputError(`format ${o.format} has no resource "${o.resource}"; it has: ${format.resources.join(', ')}`, { field: 'resource' });
  }
  const b: BacktestOptions = {
    horizon: positiveInt('horizon', o.horizon),
    every: positiveInt('every', o.every),
    warmup: positiveInt('warmup', o.warmup),
  };
  const { levels, names } = parseLevels(o.quantiles);
  const files = await format.listFiles(o.trace);
  if (files.length === 0) throw new InputError(`no ${o.format} trace files found`, { file: o.trace });

  const started = performance.now();
  const csv = new CsvWriter(o.out, ['series', 'origin', 'step', 'mean', ...names.map((n) => `q${n}`)]);
  const report: BacktestReport = { series: 0, points: 0, levels, wallMs: 0, engine: new AccuracyAccumulator(levels) };
  if (o.baselines) {
    report.vpa = new AccuracyAccumulator(levels);
    report.seasonalNaive = new AccuracyAccumulator(levels);
  }
  const bar = o.progress
    ? new SingleBar(
        { format: ' backtest [{bar}] {percentage}% | {value}/{total} series | eta {eta_formatted}', hideCursor: true, stream: process.stderr },
        Presets.shades_classic,
      )
    : undefined;
  bar?.start(files.length, 0);
  const job: SeriesJob = { resource, backtest: b, levels, baselines: o.baselines };
  const account = (r: SeriesResult): void => {
    report.engine.merge(r.engine);
    if (r.vpa) report.vpa!.merge(r.vpa);
    if (r.seasonalNaive) report.seasonalNaive!.merge(r.seasonalNaive);
    report.series++;
    bar?.update(report.series);
  };
  const jobs = parseJobs(o.jobs, files.length);
  try {
    if (jobs > 1 && ONE_SERIES_PER_FILE.has(o.format)) {
      await runInWorkers(o.trace, o.format, jobs, job, o.out, csv, account);
    } else {
      for await (const s of format.read(o.trace)) {
        const r = backtestOneSeries(s, job);
        if (r.rows > 0) csv.bytes(Buffer.from(r.csv, 'utf8'), r.rows);
        account(r);
      }
    }
  } finally {
    csv.close();
    bar?.stop();
  }
  report.points = report.engine.count;
  report.wallMs = performance.now() - started;
  return report;
}

function parseJobs(text: string | undefined, files: number): number {
  if (text === undefined || text === 'auto') return Math.max(1, Math.min(availableParallelism(), Math.ceil(files / 8)));
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new InputError(`--jobs must be a positive integer or "auto", got "${text}"`, { field: 'jobs' });
  return n;
}

/**
 * Splits the series across `jobs` worker threads by position (worker w takes positions w, w+jobs,
 * ...). Each worker appends its series' rows to a part file next to `out`; at the end the chunks
 * are copied into the CSV in position order, so the output is byte-identical to one thread.
 */
async function runInWorkers(
  trace: string,
  format: string,
  jobs: number,
  job: SeriesJob,
  out: string,
  csv: CsvWriter,
  account: (r: SeriesResult) => void,
): Promise<void> {
  const chunks = new Map<number, PartChunk>();
  const parts = Array.from({ length: jobs }, (_, w) => `${out}.part${w}`);
  const url = new URL('../backtest-worker.js', import.meta.url);
  try {
    await Promise.all(
      parts.map(
        (part, w) =>
          new Promise<void>((resolve, reject) => {
            const worker = new Worker(url, { workerData: { part, trace, format, worker: w, jobs, job } });
            worker.on('message', (m: { position: number; offset: number; length: number; rows: number; result: SeriesResult }) => {
              chunks.set(m.position, { worker: w, offset: m.offset, length: m.length, rows: m.rows });
              account(m.result);
            });
            worker.on('error', reject);
            worker.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`backtest worker ${w} exited with code ${code}`))));
          }),
      ),
    );
    copyChunksInOrder(parts, chunks, csv);
  } finally {
    for (const p of parts) rmSync(p, { force: true });
  }
}

/** The summary table printed after a backtest. */
export function formatReport(r: BacktestReport): string {
  const rows: Array<[string, AccuracyAccumulator]> = [['prescient', r.engine]];
  if (r.vpa) rows.push(['vpa-histogram', r.vpa]);
  if (r.seasonalNaive) rows.push(['seasonal-naive', r.seasonalNaive]);
  const best = r.vpa && r.seasonalNaive ? Math.min(r.vpa.totalPinball(), r.seasonalNaive.totalPinball()) : NaN;
  const head = ['model', ...r.levels.map((q) => `pinball@${q}`), 'total', 'vs best baseline', ...r.levels.map((q) => `cover@${q}`), 'MASE'];
  const lines = rows.map(([name, a]) => [
    name,
    ...r.levels.map((_, k) => fmt(a.pinball[k]! / Math.max(1, a.count))),
    fmt(a.totalPinball() / Math.max(1, a.count)),
    Number.isFinite(best) ? (a.totalPinball() / best).toFixed(3) : '-',
    ...r.levels.map((_, k) => `${(a.coverage(k) * 100).toFixed(1)}%`),
    fmt(a.mase()),
  ]);
  const table = [head, ...lines];
  const widths = head.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
  const text = table.map((row) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')).join('\n');
  return `${text}\n${r.series} series, ${r.points} scored points (pinball per point), ${(r.wallMs / 1000).toFixed(2)} s\n`;
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return '-';
  const a = Math.abs(x);
  return a >= 100 ? x.toFixed(1) : a >= 1 ? x.toFixed(3) : x.toPrecision(4);
}

export function register(program: Command): void {
  program
    .command('backtest')
    .description('Rolling-origin backtest of the forecasting engine over every series of a trace')
    .requiredOption('--trace <path>', 'trace folder (or file)')
    .requiredOption('--format <name>', `trace format: ${TRACE_FORMAT_NAMES.join('|')}`)
    .option('--resource <name>', 'resource to forecast: cpu|memory|disk|network', 'cpu')
    .option('--horizon <n>', 'steps ahead to forecast at each origin', '12')
    .option('--every <n>', 'samples between origins', '12')
    .option('--warmup <n>', 'samples before the first origin (first origin = warmup - 1)', '288')
    .option('--quantiles <list>', 'comma-separated quantile levels, each named q<level> in the CSV', '0.5,0.9,0.95,0.99')
    .requiredOption('--out <file>', 'output CSV: series,origin,step,mean,q<level>...')
    .option('--no-baselines', 'skip scoring the VPA-histogram and seasonal-naive baselines')
    .option('--no-progress', 'no progress bar')
    .option('--jobs <n>', 'worker threads for formats with one series per file ("auto": one per core); output is identical', 'auto')
    .action(async (opts: BacktestCliOptions) => {
      const report = await runBacktest({ ...opts, progress: opts.progress && process.stderr.isTTY === true });
      process.stdout.write(formatReport(report));
    });
}
