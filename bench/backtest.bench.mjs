// Benchmark 2: backtest speed of the forecasting engine on one PlanetLab day, with the two
// baselines (VPA decaying histogram, seasonal naive) timed and scored on the same series.
// Each model runs in its own child process: the trace is read first (timed apart), then every
// series goes through backtestSeries (the engine's rolling-origin loop) and is scored.
// PRESCIENT_BENCH_REF=<git revision> also builds that revision in a temporary folder and runs its
// engine and its `prescient backtest` in the same run, for before/after figures side by side.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildReference, check, dist, mib, num, progress, runChild, seconds, table, tracePath, verdict } from './lib/harness.mjs';

export const meta = {
  name: 'backtest',
  title: 'Backtest speed: one PlanetLab day (1,052 series x 288) through the engine vs the baselines',
};

const DAY = 'planetlab/20110303';
const LEVELS = [0.5, 0.9, 0.95, 0.99];
const OPTIONS = { horizon: 12, every: 12, warmup: 144 };
const TARGET_S = 2;
/** Largest engine time for which the end-to-end CLI run is repeated. */
const CLI_BUDGET_S = 30;

/** A compiled module of this checkout's dist, or of a reference build's (`distRoot`). */
function distModule(distRoot, path) {
  if (!distRoot) return dist(path);
  const file = join(distRoot, path);
  if (!existsSync(file)) throw new Error(`${file} is missing in the reference build`);
  return pathToFileURL(file).href;
}

/** CPU time of the whole process (every thread) in ms. */
function cpuMs() {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
}

async function readDay(path, stride, distRoot) {
  const { getTraceFormat } = await import(distModule(distRoot, 'traces/index.js'));
  const t0 = performance.now();
  const series = [];
  let k = 0;
  for await (const s of getTraceFormat('planetlab').read(path)) {
    if (k++ % stride === 0) series.push(s);
  }
  return { series, readMs: performance.now() - t0 };
}

export const jobs = {
  /** Child: read the day, then backtest every (stride-th) series with one model; time and score. */
  async run({ path, model, stride, distRoot }) {
    const { backtestSeries, createEngine, seasonalNaiveBaseline, vpaBaseline } = await import(distModule(distRoot, 'forecast/engine.js'));
    const { AccuracyAccumulator } = await import(distModule(distRoot, 'forecast/metrics.js'));
    const { sortedQuantile } = await import(distModule(distRoot, 'forecast/quantile.js'));
    /** Reference only: flat quantiles of the WHOLE series (it reads the future). */
    const oracle = (values) => {
      const sorted = Float64Array.from(values).sort();
      const q = LEVELS.map((l) => sortedQuantile(sorted, sorted.length, l));
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      return {
        update() {},
        forecast: (h) => ({ mean: new Float64Array(h).fill(mean), quantiles: q.map((v) => new Float64Array(h).fill(v)), levels: LEVELS, confidence: 1, model: 'oracle' }),
      };
    };
    const { series, readMs } = await readDay(path, stride, distRoot);
    const acc = new AccuracyAccumulator(LEVELS);
    const bar = progress(`${model}`, series.length);
    const t0 = performance.now();
    const c0 = cpuMs();
    let origins = 0;
    for (const s of series) {
      const values = s.values.cpu;
      const eo = { horizon: OPTIONS.horizon, levels: LEVELS, stepSeconds: s.stepSeconds };
      const m =
        model === 'engine'
          ? createEngine(eo)
          : model === 'vpa'
            ? vpaBaseline(eo)
            : model === 'oracle'
              ? oracle(values)
              : seasonalNaiveBaseline(eo, values.length);
      backtestSeries(values, m, OPTIONS, (origin, f) => {
        origins++;
        acc.addForecast(values, origin, f);
      });
      acc.addScale(values, values.length - 1);
      bar.tick();
    }
    const computeMs = performance.now() - t0;
    const computeCpuMs = cpuMs() - c0;
    bar.done();
    return {
      model,
      series: series.length,
      samples: series.reduce((a, s) => a + s.length, 0),
      origins,
      points: acc.count,
      readMs,
      computeMs,
      computeCpuMs,
      pinball: Array.from(acc.pinball, (p) => p / Math.max(1, acc.count)),
      totalPinball: acc.totalPinball() / Math.max(1, acc.count),
      coverage: LEVELS.map((_, k) => acc.coverage(k)),
      mase: acc.mase(),
    };
  },

  /** Child: the `prescient backtest` command's own function end to end (read + engine + CSV). */
  async cli({ path, distRoot }) {
    const { runBacktest } = await import(distModule(distRoot, 'cli/commands/backtest.js'));
    const dir = mkdtempSync(join(tmpdir(), 'prescient-bench-'));
    const c0 = cpuMs();
    try {
      const r = await runBacktest({
        trace: path,
        format: 'planetlab',
        resource: 'cpu',
        horizon: String(OPTIONS.horizon),
        every: String(OPTIONS.every),
        warmup: String(OPTIONS.warmup),
        quantiles: LEVELS.join(','),
        out: join(dir, 'backtest.csv'),
        baselines: false,
        progress: false,
        jobs: 'auto',
      });
      // CPU of every thread of this process: the worker threads' too
      return { series: r.series, points: r.points, wallMs: r.wallMs, cpuMs: cpuMs() - c0 };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

export async function run(ctx) {
  const path = tracePath(DAY);
  if (!path) {
    ctx.print(`skipped: ${DAY} not found under the traces folder`);
    return { checks: [], data: { skipped: `${DAY} missing` } };
  }
  // --quick: every 4th series (263 of 1,052); the target is then checked on the extrapolated time.
  const stride = ctx.quick ? 4 : 1;
  const refRev = process.env.PRESCIENT_BENCH_REF;
  const ref = refRev ? buildReference(refRev) : undefined;
  try {
    return await measure(ctx, path, stride, ref);
  } finally {
    if (ref) rmSync(ref.dir, { recursive: true, force: true });
  }
}

async function measure(ctx, path, stride, ref) {
  const models = [
    { id: 'engine', label: 'prescient engine (createEngine)' },
    ...(ref ? [{ id: 'engine', label: `prescient engine at ${ref.rev} (reference build)`, distRoot: ref.dist }] : []),
    { id: 'vpa', label: 'baseline: VPA histogram' },
    { id: 'seasonal-naive', label: 'baseline: seasonal naive' },
    { id: 'oracle', label: 'reference: flat whole-day quantiles (reads the future)' },
  ];
  const results = [];
  for (const m of models) {
    const r = await runChild('backtest', 'run', { path, model: m.id, stride, ...(m.distRoot ? { distRoot: m.distRoot } : {}) });
    results.push({ ...m, ...r.result, maxRssKiB: r.maxRssKiB });
  }
  const engine = results[0];
  const refEngine = ref ? results[1] : undefined;
  const vpa = results.find((r) => r.model === 'vpa');
  const fullSeries = 1052;
  const scale = fullSeries / engine.series;
  const engineDayS = (engine.computeMs * scale) / 1000;
  const engineDayCpuS = (engine.computeCpuMs * scale) / 1000;
  const best = Math.min(...results.filter((r) => r.model === 'vpa' || r.model === 'seasonal-naive').map((r) => r.totalPinball));
  ctx.print(
    table(
      [
        { key: 'label', label: 'model' },
        { key: 'series', label: 'series' },
        { key: 'compute', label: 'backtest wall' },
        { key: 'cpu', label: 'CPU' },
        { key: 'rate', label: 'series/s' },
        { key: 'perOrigin', label: 'µs/origin' },
        { key: 'vsVpa', label: 'time vs VPA' },
        ...LEVELS.map((q, k) => ({ key: `p${k}`, label: `pinball@${q}` })),
        { key: 'rel', label: 'pinball vs best baseline' },
        { key: 'cov', label: 'cover@0.9/0.95/0.99' },
        { key: 'rss', label: 'peak RSS' },
      ],
      results.map((r) => ({
        label: r.label,
        series: String(r.series),
        compute: seconds(r.computeMs),
        cpu: seconds(r.computeCpuMs),
        rate: num(r.series / (r.computeMs / 1000)),
        perOrigin: num((r.computeMs * 1000) / r.origins),
        vsVpa: `${(r.computeMs / vpa.computeMs).toFixed(1)}x`,
        ...Object.fromEntries(r.pinball.map((p, k) => [`p${k}`, num(p)])),
        rel: (r.totalPinball / best).toFixed(3),
        cov: r.coverage.slice(1).map((c) => `${(c * 100).toFixed(0)}%`).join('/'),
        rss: mib(r.maxRssKiB),
      })),
    ),
  );
  ctx.print(
    `horizon ${OPTIONS.horizon}, every ${OPTIONS.every}, warmup ${OPTIONS.warmup}; ${engine.origins} origins, ${engine.points} scored points; ` +
      `trace read ${seconds(engine.readMs)} (not in the backtest wall); pinball per point (CPU %); CPU = the process's CPU time during the backtest.`,
  );
  const extrapolated = ctx.quick ? ` (extrapolated from ${engine.series} series)` : '';
  ctx.print(`engine on one thread: ${engineDayS.toFixed(2)} s wall, ${engineDayCpuS.toFixed(2)} s CPU for the day${extrapolated}`);
  if (refEngine) {
    const same = refEngine.totalPinball === engine.totalPinball ? 'same pinball' : `pinball ${num(refEngine.totalPinball)} there vs ${num(engine.totalPinball)} here`;
    ctx.print(
      `  reference ${ref.rev}: ${((refEngine.computeMs * scale) / 1000).toFixed(2)} s wall, ${((refEngine.computeCpuMs * scale) / 1000).toFixed(2)} s CPU ` +
        `(this checkout takes ${(engine.computeCpuMs / refEngine.computeCpuMs).toFixed(2)}x its CPU; ${same})`,
    );
  }
  const checks = [];
  let cli;
  let refCli;
  // The target is for the product's backtest: `prescient backtest` (runBacktest: read + engine +
  // CSV, series spread over worker threads, one per core).
  if (ctx.quick) ctx.print('end to end (runBacktest): skipped with --quick');
  else if (engineDayS > CLI_BUDGET_S) ctx.print(`end to end (runBacktest): skipped, the engine alone took ${engineDayS.toFixed(1)} s (> ${CLI_BUDGET_S} s budget)`);
  else {
    const r = await runChild('backtest', 'cli', { path });
    cli = { ...r.result, maxRssKiB: r.maxRssKiB };
    ctx.print(
      `end to end (runBacktest: read + engine + CSV on worker threads, no baselines): ${seconds(cli.wallMs)} wall, ${seconds(cli.cpuMs)} CPU (all threads) ` +
        `for ${cli.series} series, peak RSS ${mib(cli.maxRssKiB)}`,
    );
    if (ref) {
      const rr = await runChild('backtest', 'cli', { path, distRoot: ref.dist });
      refCli = { ...rr.result, maxRssKiB: rr.maxRssKiB };
      ctx.print(`  reference ${ref.rev}: ${seconds(refCli.wallMs)} wall, ${seconds(refCli.cpuMs)} CPU (all threads), peak RSS ${mib(refCli.maxRssKiB)}`);
    }
    checks.push(check(`backtest one PlanetLab day (prescient backtest) < ${TARGET_S} s`, cli.wallMs / 1000, TARGET_S, 'lower', 's'));
    ctx.print(`${verdict(checks[0])}: prescient backtest ${(cli.wallMs / 1000).toFixed(2)} s for the day vs target < ${TARGET_S} s`);
  }
  return {
    checks,
    data: { day: DAY, options: OPTIONS, levels: LEVELS, stride, engineDayS, engineDayCpuS, models: results, cli, ...(ref ? { reference: { rev: ref.rev, cli: refCli } } : {}) },
  };
}
