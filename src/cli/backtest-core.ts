// The per-series work of `prescient backtest`, shared by the main thread and its workers:
// run the engine (and the baselines) over one series and format its CSV rows.
import type { ResourceName } from '../core/resources.js';
import {
  backtestSeries,
  createEngine,
  seasonalNaiveBaseline,
  vpaBaseline,
  type BacktestOptions,
  type EngineOptions,
} from '../forecast/engine.js';
import { AccuracyAccumulator } from '../forecast/metrics.js';
import { csvNumber, csvText } from '../io/csv-writer.js';
import type { TraceSeries } from '../traces/format.js';
import { InputError } from '../core/errors.js';

export interface SeriesJob {
  resource: ResourceName;
  backtest: BacktestOptions;
  levels: number[];
  baselines: boolean;
}

export interface SeriesResult {
  id: string;
  /** The series' CSV rows, each ending in a newline. */
  csv: string;
  rows: number;
  engine: AccuracyAccumulator;
  vpa?: AccuracyAccumulator;
  seasonalNaive?: AccuracyAccumulator;
}

export function backtestOneSeries(s: TraceSeries, job: SeriesJob): SeriesResult {
  const values = s.values[job.resource];
  if (!values) throw new InputError(`series ${s.id} has no ${job.resource} values`, { file: s.file, field: job.resource });
  const b = job.backtest;
  const eo: EngineOptions = { horizon: b.horizon, levels: job.levels, stepSeconds: s.stepSeconds };
  const id = csvText(s.id);
  const parts: string[] = [];
  const engine = new AccuracyAccumulator(job.levels);
  backtestSeries(values, createEngine(eo), b, (origin, f) => {
    engine.addForecast(values, origin, f);
    for (let h = 0; h < b.horizon; h++) {
      let line = `${id},${origin},${h + 1},${csvNumber(f.mean[h]!)}`;
      for (const q of f.quantiles) line += `,${csvNumber(q[h]!)}`;
      parts.push(line, '\n');
    }
  });
  engine.addScale(values, values.length - 1);
  const r: SeriesResult = { id: s.id, csv: parts.join(''), rows: parts.length / 2, engine };
  if (job.baselines) {
    const vpa = new AccuracyAccumulator(job.levels);
    const sn = new AccuracyAccumulator(job.levels);
    backtestSeries(values, vpaBaseline(eo), b, (origin, f) => vpa.addForecast(values, origin, f));
    backtestSeries(values, seasonalNaiveBaseline(eo, values.length), b, (origin, f) => sn.addForecast(values, origin, f));
    vpa.addScale(values, values.length - 1);
    sn.addScale(values, values.length - 1);
    r.vpa = vpa;
    r.seasonalNaive = sn;
  }
  return r;
}
