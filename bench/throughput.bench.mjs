// Benchmark 1: online forecasting throughput on one core.
// Each model runs in its own Node process pinned to CPU 0 (taskset), so no other model's code
// shares its call sites (V8 would otherwise de-optimise the harness loop to a megamorphic call).
// Input: one seeded synthetic 5-minute series (seasonal archetype, 20 weeks), fed round and round.
import { check, dist, num, runChild, table, verdict } from './lib/harness.mjs';

export const meta = {
  name: 'throughput',
  title: 'Forecasting throughput (online updates per second, one core)',
};

const TARGET_UPDATES_PER_S = 1_000_000;
const LEVELS = [0.5, 0.9, 0.95, 0.99];
const HORIZON = 12;
const STEP_S = 300;

/**
 * The models measured. `cheap` ones are held to the 1,000,000 updates/s target; `floor` is a
 * trivial last-value model through the same loop (what the harness itself costs).
 */
const MODELS = [
  { id: 'floor', label: 'last value (harness floor)', kind: 'floor' },
  { id: 'seasonal-naive', label: 'seasonal naive (288)', kind: 'cheap' },
  { id: 'ses', label: 'SES (alpha 0.3)', kind: 'cheap' },
  { id: 'holt', label: 'Holt damped (0.4/0.05/0.9)', kind: 'cheap' },
  { id: 'holt-winters', label: 'Holt-Winters (period 288)', kind: 'cheap' },
  { id: 'holt-winters-auto', label: 'Holt-Winters (period auto)', kind: 'cheap' },
  { id: 'decaying-histogram', label: 'decaying histogram (24 h)', kind: 'cheap' },
  { id: 'window-quantile', label: 'window quantile (72)', kind: 'cheap' },
  { id: 'conformal-ses', label: 'conformal(SES), H=12, w=288', kind: 'cheap' },
  { id: 'ensemble', label: 'default ensemble (createEngine)', kind: 'ensemble' },
];

/** The cheapest possible online model: remembers the last sample (the harness floor). */
class LastValue {
  count = 0;
  last = NaN;
  update(y) {
    this.count++;
    this.last = y;
  }
  forecast(h) {
    return new Float64Array(h).fill(this.last);
  }
}

async function makeModel(id) {
  const m = await import(dist('forecast/models/index.js'));
  const { ConformalForecaster } = await import(dist('forecast/conformal.js'));
  const { WindowQuantileForecaster } = await import(dist('forecast/window-quantile.js'));
  const { createEngine } = await import(dist('forecast/engine.js'));
  switch (id) {
    case 'floor':
      return new LastValue();
    case 'seasonal-naive':
      return new m.SeasonalNaiveForecaster({ period: 288 });
    case 'ses':
      return new m.SesForecaster({ alpha: 0.3 });
    case 'holt':
      return new m.HoltForecaster({ alpha: 0.4, beta: 0.05, phi: 0.9 });
    case 'holt-winters':
      return new m.HoltWintersForecaster({ period: 288 });
    case 'holt-winters-auto':
      return new m.HoltWintersForecaster({ stepSeconds: STEP_S });
    case 'decaying-histogram':
      return new m.DecayingHistogramForecaster({ halfLifeSeconds: 86_400, stepSeconds: STEP_S });
    case 'window-quantile':
      return new WindowQuantileForecaster({ window: 72 });
    case 'conformal-ses':
      return new ConformalForecaster(new m.SesForecaster({ alpha: 0.3 }), { horizon: HORIZON, window: 288 });
    case 'ensemble':
      return createEngine({ horizon: HORIZON, levels: LEVELS, stepSeconds: STEP_S });
    default:
      throw new Error(`unknown model ${id}`);
  }
}

async function makeSeries() {
  const { generateWorkload } = await import(dist('traces/index.js'));
  const [s] = generateWorkload({ count: 1, length: 2016 * 20, seed: 7, mix: { seasonal: 1 } });
  return s.values.cpu;
}

export const jobs = {
  /** Runs in a child: rate of update() and of update()+forecast read, median of `rounds`. */
  async measure({ model: id, roundMs, rounds, warmupMs }) {
    const data = await makeSeries();
    const model = await makeModel(id);
    const n = data.length;
    let i = 0;
    const CHUNK = 1024;
    const feed = (ms) => {
      let count = 0;
      const t0 = performance.now();
      let elapsed = 0;
      do {
        for (let k = 0; k < CHUNK; k++) {
          model.update(data[i]);
          if (++i === n) i = 0;
        }
        count += CHUNK;
        elapsed = performance.now() - t0;
      } while (elapsed < ms);
      return count / (elapsed / 1000);
    };
    const read =
      typeof model.quantiles === 'function'
        ? () => model.quantiles(HORIZON, LEVELS)
        : () => model.forecast(HORIZON);
    let sink = 0;
    const feedAndRead = (ms) => {
      let count = 0;
      const t0 = performance.now();
      let elapsed = 0;
      do {
        for (let k = 0; k < 64; k++) {
          model.update(data[i]);
          if (++i === n) i = 0;
          const r = read();
          sink += r.length;
        }
        count += 64;
        elapsed = performance.now() - t0;
      } while (elapsed < ms);
      return count / (elapsed / 1000);
    };
    // Warm up past every model's initialisation (Holt-Winters buffers two periods; 'auto' searches).
    feed(warmupMs);
    while (model.count < 2 * 2016 + 1) feed(10);
    const rates = [];
    for (let r = 0; r < rounds; r++) rates.push(feed(roundMs));
    rates.sort((a, b) => a - b);
    const withRead = feedAndRead(Math.max(100, roundMs / 2));
    return {
      model: id,
      median: rates[Math.floor(rates.length / 2)],
      min: rates[0],
      max: rates[rates.length - 1],
      rounds: rates.length,
      withForecastPerS: withRead,
      sink,
      samplesFed: model.count,
    };
  },
};

export async function run(ctx) {
  const rounds = ctx.quick ? 3 : 7;
  const roundMs = ctx.quick ? 150 : 400;
  const warmupMs = ctx.quick ? 150 : 400;
  const rows = [];
  const checks = [];
  const results = [];
  const bar = ctx.progress('models', MODELS.length);
  for (const m of MODELS) {
    const r = await runChild('throughput', 'measure', { model: m.id, roundMs, rounds, warmupMs }, { pin: true });
    bar.tick();
    const res = r.result;
    results.push({ ...m, ...res, pinned: r.pinned });
    let status = 'info';
    if (m.kind === 'cheap') {
      const c = check(`throughput ${m.id} >= 1M updates/s (best of ${rounds} rounds)`, res.max, TARGET_UPDATES_PER_S, 'higher', 'updates/s');
      checks.push(c);
      status = verdict(c);
    }
    rows.push({
      model: m.label,
      best: num(res.max),
      median: num(res.median),
      worst: num(res.min),
      ns: (1e9 / res.max).toFixed(1),
      read: num(res.withForecastPerS),
      vsFloor: '',
      status,
    });
  }
  bar.done();
  const floor = results.find((r) => r.id === 'floor').max;
  for (let k = 0; k < rows.length; k++) rows[k].vsFloor = `${(floor / results[k].max).toFixed(1)}x`;
  ctx.print(
    table(
      [
        { key: 'model', label: 'model' },
        { key: 'best', label: `updates/s (best of ${rounds})` },
        { key: 'median', label: 'median' },
        { key: 'worst', label: 'worst' },
        { key: 'ns', label: 'ns/update' },
        { key: 'vsFloor', label: 'cost vs floor' },
        { key: 'read', label: 'update+forecast(12)/s' },
        { key: 'status', label: `target ${num(TARGET_UPDATES_PER_S)}/s` },
      ],
      rows,
    ),
  );
  ctx.print(
    `one process per model${results[0].pinned ? ', pinned to CPU 0 with taskset' : ' (taskset not found: not pinned)'}; ` +
      `${rounds} rounds of ${roundMs} ms after warm-up, the target checked on the best round (noise from other work only ever slows a round); ` +
      `"ns/update" and "cost vs floor" from the best round; "update+forecast(12)" also reads quantiles(12, [${LEVELS}]) ` +
      'where the model has them (the ensemble: its blended forecast).',
  );
  return { checks, data: { rounds, roundMs, targetUpdatesPerS: TARGET_UPDATES_PER_S, models: results } };
}
