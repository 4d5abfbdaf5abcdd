// Benchmark 3: accuracy and speed against @bsull/augurs (Rust ETS / MSTL compiled to WASM).
// Same series, same rolling origins, same scoring (AccuracyAccumulator) for every method:
//   - ours: the engine and the two baselines, online (one pass, forecasts at each origin);
//   - augurs: AutoETS ('ZZN', model chosen by AICc) and, where the series holds two days,
//     MSTL([288]) with an AutoETS trend; both refit on the whole past at every origin;
//   - on PlanetLab, a reference that reads the future: flat quantiles of the whole day (as in the
//     backtest bench), the floor for any forecaster that ignores the order of the day.
// augurs gives a central interval at one level per predict call: the upper bounds at levels
// 0.8 / 0.9 / 0.98 are the 0.9 / 0.95 / 0.99 quantiles, and its point forecast is the median.
import { readFileSync } from 'node:fs';
import { dist, num, progress, runChild, seconds, table, tracePath } from './lib/harness.mjs';

export const meta = {
  name: 'augurs',
  title: 'Accuracy (pinball) and speed vs @bsull/augurs AutoETS / MSTL on Bitbrains, Google and PlanetLab CPU',
};

const LEVELS = [0.5, 0.9, 0.95, 0.99];
/** augurs interval level whose upper bound is each of LEVELS (0.5: the point forecast). */
const AUGURS_LEVEL = { 0.9: 0.8, 0.95: 0.9, 0.99: 0.98 };

/**
 * Datasets (series taken in the trace reader's order: files sorted by name, the first `count`
 * long enough). Bitbrains: the first 3 days of each VM (864 samples), first origin after 2 days
 * so MSTL sees two daily periods, an origin every 2 hours. Google: one day per file (288), first
 * origin after half a day, an origin every hour (as the PlanetLab backtest). PlanetLab: the first
 * files by name of the backtest bench's day (one day each, 288 samples), the backtest's origins;
 * no MSTL (half a day of history holds no daily period) and the whole-day oracle as a reference.
 */
const DATASETS = [
  { id: 'bitbrains', format: 'bitbrains', dir: 'bitbrains-rnd/2013-7', unit: 'cores', length: 864, options: { horizon: 12, every: 24, warmup: 576 }, mstl: true },
  { id: 'google2011', format: 'google2011', dir: 'google2011', unit: 'CPU %', length: 288, options: { horizon: 12, every: 12, warmup: 144 }, mstl: false },
  { id: 'planetlab', format: 'planetlab', dir: 'planetlab/20110303', unit: 'CPU %', length: 288, options: { horizon: 12, every: 12, warmup: 144 }, mstl: false, oracle: true },
];

/** Our two baselines: "total vs best baseline" divides by the lower of their total pinballs on each set. */
const BASELINES = ['vpa', 'seasonal-naive'];

function wasm(module) {
  return readFileSync(new URL(`${module}_bg.wasm`, import.meta.resolve(`@bsull/augurs/${module}`)));
}

/** Carries the last finite value forward (leading gaps take the first finite value; none: 0). */
function fillGaps(values) {
  const out = Float64Array.from(values);
  let last = NaN;
  for (let i = 0; i < out.length; i++) {
    if (Number.isFinite(out[i])) last = out[i];
    else out[i] = last;
  }
  const first = out.find((v) => Number.isFinite(v)) ?? 0;
  for (let i = 0; i < out.length && !Number.isFinite(out[i]); i++) out[i] = first;
  return out;
}

/** A forecast with a quantile above 10x the largest magnitude in its training data (+1). */
function isWild(f, train) {
  let top = 0;
  for (const v of train) top = Math.max(top, Math.abs(v));
  const bound = 10 * top + 1;
  return f.quantiles.some((q) => q.some((v) => Math.abs(v) > bound));
}

/**
 * Per-series comparison with a reference: median of (method's total pinball / reference's) over
 * series where the reference's is > 0, and wins / ties / losses (lower total pinball wins).
 */
function versus(method, ref) {
  const ratios = [];
  let wins = 0;
  let ties = 0;
  let losses = 0;
  for (let i = 0; i < ref.perSeries.length; i++) {
    const a = method.perSeries[i];
    const b = ref.perSeries[i];
    if (Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b))) ties++;
    else if (a < b) wins++;
    else losses++;
    if (b > 0) ratios.push(a / b);
  }
  ratios.sort((x, y) => x - y);
  const median = ratios.length ? ratios[Math.floor(ratios.length / 2)] : NaN;
  return { medianRatio: median, wins, ties, losses };
}

export const jobs = {
  /** Child: every method on `count` series of one dataset. */
  async compare({ dataset, count, root }) {
    const ds = DATASETS.find((d) => d.id === dataset);
    const { getTraceFormat } = await import(dist('traces/index.js'));
    const { backtestOrigins, backtestSeries, createEngine, seasonalNaiveBaseline, vpaBaseline } = await import(dist('forecast/engine.js'));
    const { AccuracyAccumulator } = await import(dist('forecast/metrics.js'));
    const { sortedQuantile } = await import(dist('forecast/quantile.js'));
    /** Reference only: flat quantiles of the WHOLE series (it reads the future), as in the backtest bench. */
    const oracle = (values) => {
      const sorted = Float64Array.from(values).sort();
      const q = LEVELS.map((l) => sortedQuantile(sorted, sorted.length, l));
      const mean = values.reduce((a, v) => a + v, 0) / values.length;
      return {
        update() {},
        forecast: (h) => ({ mean: new Float64Array(h).fill(mean), quantiles: q.map((v) => new Float64Array(h).fill(v)), levels: LEVELS, confidence: 1, model: 'oracle' }),
      };
    };
    const { initSync: initEts, AutoETS } = await import('@bsull/augurs/ets');
    const { initSync: initMstl, MSTL } = await import('@bsull/augurs/mstl');
    initEts({ module: wasm('ets') });
    initMstl({ module: wasm('mstl') });

    const series = [];
    const format = getTraceFormat(ds.format);
    for await (const s of format.read(root)) {
      const v = s.values.cpu;
      if (!v || v.length < ds.length) continue;
      series.push({ id: s.id, values: v.slice(0, ds.length) });
      if (series.length === count) break;
    }
    const ids = series.map((s) => s.id);
    const b = ds.options;
    const methods = [
      { id: 'engine', label: 'prescient engine', online: true, make: (eo) => createEngine(eo) },
      { id: 'vpa', label: 'VPA histogram', online: true, make: (eo) => vpaBaseline(eo) },
      { id: 'seasonal-naive', label: 'seasonal naive', online: true, make: (eo, n) => seasonalNaiveBaseline(eo, n) },
      { id: 'autoets', label: "augurs AutoETS 'ZZN'", online: false, fit: (train) => { const m = new AutoETS(1, 'ZZN'); m.fit(train); return m; } },
      ...(ds.mstl
        ? [{ id: 'mstl', label: 'augurs MSTL([288])+ETS', online: false, fit: (train) => { const m = MSTL.ets([288]); m.fit(train); return m; } }]
        : []),
      ...(ds.oracle ? [{ id: 'oracle', label: 'flat whole-day quantiles (reads the future)', online: true, make: (_eo, _n, values) => oracle(values) }] : []),
    ];
    const out = [];
    for (const m of methods) {
      const acc = new AccuracyAccumulator(LEVELS);
      let ms = 0;
      let origins = 0;
      let failures = 0;
      let wild = 0;
      let firstError;
      const perSeries = [];
      const bar = progress(`${dataset} ${m.id}`, series.length);
      for (const s of series) {
        const values = s.values;
        const before = acc.totalPinball();
        if (m.online) {
          const eo = { horizon: b.horizon, levels: LEVELS, stepSeconds: 300 };
          const t0 = performance.now();
          const model = m.make(eo, values.length, values);
          const fs = [];
          backtestSeries(values, model, b, (origin, f) => fs.push([origin, f]));
          ms += performance.now() - t0;
          for (const [origin, f] of fs) acc.addForecast(values, origin, f);
          origins += fs.length;
        } else {
          const filled = fillGaps(values);
          for (const origin of backtestOrigins(values.length, b)) {
            const train = filled.subarray(0, origin + 1);
            let f;
            const t0 = performance.now();
            try {
              const model = m.fit(train);
              const mean = Float64Array.from(model.predict(b.horizon).point);
              const quantiles = LEVELS.map((q) =>
                q === 0.5 ? mean : Float64Array.from(model.predict(b.horizon, AUGURS_LEVEL[q]).intervals.upper),
              );
              model.free();
              if (![mean, ...quantiles].every((a) => a.every(Number.isFinite))) throw new Error('non-finite forecast');
              f = { mean, quantiles, levels: LEVELS };
            } catch (err) {
              failures++;
              firstError ??= String(err?.message ?? err);
            }
            ms += performance.now() - t0;
            if (f && isWild(f, train)) wild++;
            if (!f) {
              // a failed fit forecasts the last value for every level (the naive forecast)
              const flat = new Float64Array(b.horizon).fill(train[train.length - 1]);
              f = { mean: flat, quantiles: LEVELS.map(() => flat), levels: LEVELS };
            }
            acc.addForecast(values, origin, f);
            origins++;
          }
        }
        acc.addScale(values, values.length - 1);
        perSeries.push(acc.totalPinball() - before);
        bar.tick();
      }
      bar.done();
      out.push({
        method: m.id,
        label: m.label,
        ms,
        origins,
        points: acc.count,
        failures,
        wild,
        firstError,
        perSeries,
        pinball: Array.from(acc.pinball, (p) => p / Math.max(1, acc.count)),
        totalPinball: acc.totalPinball() / Math.max(1, acc.count),
        coverage: LEVELS.map((_, k) => acc.coverage(k)),
        mase: acc.mase(),
      });
    }
    return { dataset, dir: ds.dir, series: series.length, firstId: ids[0], lastId: ids[ids.length - 1], length: ds.length, options: b, unit: ds.unit, methods: out };
  },
};

export async function run(ctx) {
  const count = ctx.quick ? 20 : 100;
  const checks = [];
  const data = {};
  for (const ds of DATASETS) {
    const root = tracePath(ds.dir);
    if (!root) {
      ctx.print(`${ds.id}: skipped (${ds.dir} not found under the traces folder)`);
      continue;
    }
    const r = (await runChild('augurs', 'compare', { dataset: ds.id, count, root })).result;
    data[ds.id] = r;
    const ref = r.methods.find((m) => m.method === 'autoets');
    for (const m of r.methods) m.vsAutoEts = versus(m, ref);
    const best = Math.min(...r.methods.filter((m) => BASELINES.includes(m.method)).map((m) => m.totalPinball));
    for (const m of r.methods) m.vsBestBaseline = m.totalPinball / best;
    r.bestBaselineTotalPinball = best;
    const o = r.options;
    ctx.print(
      `\n${ds.id}: ${r.series} CPU series (${r.unit}), first ${r.length} samples each, the first ${r.series} files by name of ${r.dir} (${r.firstId} .. ${r.lastId}); ` +
        `horizon ${o.horizon}, every ${o.every}, warmup ${o.warmup}; ${ref.origins} origins, ${ref.points} scored points`,
    );
    ctx.print(
      table(
        [
          { key: 'label', label: 'method' },
          { key: 'how', label: 'fitting', align: 'left' },
          ...LEVELS.map((q, k) => ({ key: `p${k}`, label: `pinball@${q}` })),
          { key: 'rel', label: 'total vs AutoETS' },
          { key: 'relBase', label: 'total vs best baseline' },
          { key: 'med', label: 'median series vs AutoETS' },
          { key: 'wins', label: 'series won/tied/lost' },
          { key: 'cov', label: 'cover@0.9/0.95/0.99' },
          { key: 'mase', label: 'MASE' },
          { key: 'wall', label: 'wall' },
          { key: 'per', label: 'ms/origin' },
          { key: 'speed', label: 'speed vs AutoETS' },
          { key: 'fail', label: 'failed fits' },
          { key: 'wild', label: 'wild forecasts' },
        ],
        r.methods.map((m) => ({
          label: m.label,
          how: m.method === 'autoets' || m.method === 'mstl' ? 'refit per origin' : m.method === 'oracle' ? 'reads the future' : 'online',
          ...Object.fromEntries(m.pinball.map((p, k) => [`p${k}`, num(p)])),
          rel: num(m.totalPinball / ref.totalPinball),
          relBase: m.vsBestBaseline.toFixed(3),
          med: m.vsAutoEts.medianRatio.toFixed(3),
          wins: m.method === 'autoets' ? '-' : `${m.vsAutoEts.wins}/${m.vsAutoEts.ties}/${m.vsAutoEts.losses}`,
          cov: m.coverage.slice(1).map((c) => `${(c * 100).toFixed(0)}%`).join('/'),
          mase: num(m.mase),
          wall: seconds(m.ms),
          per: num(m.ms / m.origins),
          speed: `${num(ref.ms / m.ms)}x`,
          fail: m.method === 'autoets' || m.method === 'mstl' ? String(m.failures) : '-',
          wild: m.method === 'autoets' || m.method === 'mstl' ? String(m.wild) : '-',
        })),
      ),
    );
    for (const m of r.methods) if (m.failures) ctx.print(`${m.label}: ${m.failures} fits failed (first: ${m.firstError}); scored as the last value`);
  }
  ctx.print(
    '\npinball per point (lower is better); "total vs AutoETS" = total pinball over all points and the 4 levels / AutoETS\'s ' +
      '(one blown-up interval can dominate it); "total vs best baseline" = the same total / the lower of the two baselines\' ' +
      '(VPA histogram, seasonal naive) on that set; "median series vs AutoETS" = median over series of the same ratio per series; ' +
      '"series won" = series where the method\'s total pinball is below AutoETS\'s; "wild forecasts" = origins where a quantile ' +
      'exceeds 10x the largest value in the training data (+1), kept and scored as given; ' +
      'online methods are timed over the whole pass (every update and every forecast), augurs over fit + predicts at each origin.',
  );
  return { checks, data: { count, levels: LEVELS, augursLevels: AUGURS_LEVEL, datasets: data } };
}
