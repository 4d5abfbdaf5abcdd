// Forecaster contracts. Everything under src/forecast is pure: no I/O, no clock, no Math.random().

/**
 * A point forecaster updated online, one sample at a time.
 * `update` costs O(1) or O(log n) per sample where the method allows.
 */
export interface Forecaster {
  readonly name: string;
  /** Feed the next sample (NaN = missing; a model should carry on sensibly). */
  update(y: number): void;
  /**
   * Point forecasts for steps 1..horizon after the last sample fed. With `out` (length >=
   * horizon) the values are written there and `out` is returned: no allocation on hot paths.
   */
  forecast(horizon: number, out?: Float64Array): Float64Array;
  /** Number of samples seen. */
  readonly count: number;
  /**
   * False while the model has nothing of its own to say yet (e.g. Holt-Winters before it has
   * found a season): wrappers may skip it. Absent means always ready.
   */
  readonly ready?: boolean;
}

/** A forecaster that also produces its own distribution (e.g. a decaying histogram). */
export interface QuantileForecaster extends Forecaster {
  /** Quantile forecasts: result[k][h-1] is quantile qs[k] at step h. */
  quantiles(horizon: number, qs: readonly number[]): Float64Array[];
  /**
   * The same values written into `out[offset + k * stride + h - 1]` (no allocation; the ensemble
   * uses it on its hot path when a member has it).
   */
  quantilesInto?(horizon: number, qs: readonly number[], out: Float64Array, offset: number, stride: number): void;
}

export function isQuantileForecaster(f: Forecaster): f is QuantileForecaster {
  return typeof (f as QuantileForecaster).quantiles === 'function';
}

/** A probabilistic forecast for steps 1..horizon. */
export interface ProbForecast {
  mean: Float64Array;
  /** quantiles[k][h-1] for the requested levels, in the order requested. */
  quantiles: Float64Array[];
  levels: readonly number[];
  /** In [0, 1]: recent accuracy and history length. */
  confidence: number;
  /** Name of the model (or blend) that produced it. */
  model: string;
  /** Standardized error of the latest sample and whether it is flagged as an anomaly. */
  anomaly?: { z: number; flagged: boolean };
}

export type ForecasterFactory = () => Forecaster;
