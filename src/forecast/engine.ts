// The forecasting engine: a default per-series ensemble, the two baselines it is measured
// against, and a rolling-origin backtest that only ever feeds the past. Pure.
import { MeanForecaster } from './combination.js';
import { ConformalForecaster } from './conformal.js';
import { EnsembleForecaster, type EnsembleOptions } from './ensemble.js';
import {
  ArForecaster,
  DecayingHistogramForecaster,
  HoltForecaster,
  HoltWintersForecaster,
  SeasonalNaiveForecaster,
  SesForecaster,
} from './models/index.js';
import type { ProbForecast, QuantileForecaster } from './types.js';
import { WindowQuantileForecaster } from './window-quantile.js';

export interface EngineOptions {
  horizon: number;
  levels: readonly number[];
  /** Seconds between samples (sets the daily period and the histogram's half-life in samples). */
  stepSeconds: number;
  /** Ensemble tuning (defaults are the engine's). */
  ensemble?: Partial<Omit<EnsembleOptions, 'levels' | 'horizon'>>;
  /** Conformal calibration window, samples. Default one day. */
  calibrationWindow?: number;
  /** Calibrate on forecasts made every this many samples. Default 1 (every sample: short series need every error). */
  calibrateEvery?: number;
}

/** Samples per day at this step (288 at 5 minutes), at least 1. */
export function dailyPeriod(stepSeconds: number): number {
  return Math.max(1, Math.round(86_400 / stepSeconds));
}

/**
 * The candidate models every series starts with. Parameters are not fixed per trace: each
 * series weighs these variants by their pinball loss on its own past (the ensemble), so the
 * smoothing weight, window and model family are chosen per series by backtest on its history.
 */
export function defaultMembers(o: EngineOptions): QuantileForecaster[] {
  const day = dailyPeriod(o.stepSeconds);
  const w = o.calibrationWindow ?? day;
  const every = o.calibrateEvery ?? 1;
  const conf = (m: ConstructorParameters<typeof ConformalForecaster>[0]) =>
    new ConformalForecaster(m, { horizon: o.horizon, window: Math.max(8, Math.round(w / every)), calibrateEvery: every });
  return [
    conf(new SeasonalNaiveForecaster({ period: 1, name: 'naive' })),
    conf(new SesForecaster({ alpha: 0.6 })),
    conf(new SesForecaster({ alpha: 0.3 })),
    conf(new ArForecaster({ p: 3, d: 1 })),
    conf(new ArForecaster({ p: 6, d: 1 })),
    conf(new ArForecaster({ p: 12, d: 1 })),
    conf(new HoltForecaster({ alpha: 0.3, beta: 0.1, phi: 0.8 })),
    conf(
      new MeanForecaster([new SesForecaster({ alpha: 0.3 }), new ArForecaster({ p: 3, d: 1 }), new HoltForecaster({ alpha: 0.3, beta: 0.1, phi: 0.8 })]),
    ),
    conf(new HoltWintersForecaster({ stepSeconds: o.stepSeconds })),
    new WindowQuantileForecaster({ window: Math.max(6, Math.round(day / 12)) }),
    new WindowQuantileForecaster({ window: Math.max(12, Math.round(day / 4)) }),
    new DecayingHistogramForecaster({ halfLifeSeconds: 86_400, stepSeconds: o.stepSeconds }),
  ];
}

/** A ready ensemble for one series. */
export function createEngine(o: EngineOptions): EnsembleForecaster {
  return new EnsembleForecaster(defaultMembers(o), { levels: o.levels, horizon: o.horizon, topK: 5, evalEvery: o.horizon, coverageRate: 0.02, ...o.ensemble });
}

/** Something that can be fed samples and asked for a probabilistic forecast. */
export interface ProbabilisticModel {
  update(y: number): void;
  forecast(horizon: number): ProbForecast;
}

/** Wraps a single quantile forecaster as a probabilistic model (used for the baselines). */
export function single(m: QuantileForecaster, levels: readonly number[]): ProbabilisticModel {
  return {
    update: (y) => m.update(y),
    forecast: (h) => ({ mean: m.forecast(h), quantiles: m.quantiles(h, levels), levels, confidence: NaN, model: m.name }),
  };
}

/** Baseline 1: the VPA decaying histogram (24 h half-life), read as a flat quantile forecast. */
export function vpaBaseline(o: EngineOptions): ProbabilisticModel {
  return single(new DecayingHistogramForecaster({ halfLifeSeconds: 86_400, stepSeconds: o.stepSeconds }), o.levels);
}

/**
 * Baseline 2: seasonal naive (a day's period where the series holds at least two days, else the
 * last value) with empirical quantiles of all its past errors per step.
 */
export function seasonalNaiveBaseline(o: EngineOptions, seriesLength: number): ProbabilisticModel {
  const day = dailyPeriod(o.stepSeconds);
  const period = seriesLength >= 2 * day + o.horizon ? day : 1;
  return single(
    new ConformalForecaster(new SeasonalNaiveForecaster({ period }), { horizon: o.horizon, window: Math.max(1, seriesLength) }),
    o.levels,
  );
}

export interface BacktestOptions {
  horizon: number;
  every: number;
  warmup: number;
}

/** Origins of a rolling-origin backtest: warmup-1, warmup-1+every, ... while origin+1 <= length-1. */
export function backtestOrigins(length: number, b: BacktestOptions): number[] {
  const out: number[] = [];
  for (let o = b.warmup - 1; o + 1 <= length - 1; o += b.every) if (o >= 0) out.push(o);
  return out;
}

/**
 * Rolling-origin backtest of one series: feeds samples in order and, at each origin o, asks for
 * the forecast of o+1..o+horizon having fed ONLY samples 0..o. Calls `emit` per origin.
 */
export function backtestSeries(
  values: Float64Array,
  model: ProbabilisticModel,
  b: BacktestOptions,
  emit: (origin: number, f: ProbForecast) => void,
): void {
  const origins = backtestOrigins(values.length, b);
  let next = 0;
  for (let t = 0; t < values.length && next < origins.length; t++) {
    model.update(values[t]!);
    if (t === origins[next]) {
      emit(t, model.forecast(b.horizon));
      next++;
    }
  }
}
