// Figures the market endpoints report about an instance: its preemption multiplier, its estimated
// runtime, and a host's predicted free capacity. They describe the state; they decide nothing.
import type { Priority } from '../core/model.js';
import type { ProbForecast } from '../forecast/types.js';
import { quantileAt } from './forecasters.js';

/**
 * How strongly a priority resists host pressure in the multiplier: critical instances are never
 * preempted (exponent 0: multiplier 1), low ones feel pressure squared.
 */
export const PRIORITY_EXPONENT: Readonly<Record<Priority, number>> = { critical: 0, high: 0.5, normal: 1, low: 2 };

/** Relative weight of a priority (what a bid's priority is worth). */
export const PRIORITY_WEIGHT: Readonly<Record<Priority, number>> = { critical: 8, high: 4, normal: 2, low: 1 };

export interface PreemptionMultiplier {
  /** >= 1. 1 = no pressure: the instance would keep its allocation at its current price. */
  value: number;
  /** Predicted demand on the instance's host over its capacity (the larger of CPU and memory), at `level`. */
  hostPressure: number;
  level: number;
  priority: Priority;
  hostId: string | null;
  /** How the figure is computed, for people reading the API. */
  basis: string;
}

/**
 * The host-pressure figure (what the API served before the markets ran in the loop; now only the
 * `basis` shown when the service runs without markets: the multiplier the API serves is the
 * markets' PreemptionMultipliers value, src/server/routes/common.ts multiplierOf).
 * max(1, host pressure) ^ exponent(priority): the factor by which the
 * instance's bid would have to grow to keep its place if its host ran at its predicted demand.
 * A pending instance (no host) has pressure 0 and multiplier 1.
 */
export function preemptionMultiplier(priority: Priority, hostPressure: number, level: number, hostId: string | null): PreemptionMultiplier {
  const p = Number.isFinite(hostPressure) && hostPressure > 0 ? hostPressure : 0;
  const value = Math.pow(Math.max(1, p), PRIORITY_EXPONENT[priority]);
  return {
    value,
    hostPressure: p,
    level,
    priority,
    hostId,
    basis: `max(1, predicted host demand at q${level} / capacity) ^ ${PRIORITY_EXPONENT[priority]} (priority ${priority})`,
  };
}

/** Host pressure from the summed predicted demand and the capacity of each resource. */
export function hostPressure(predicted: { cpu: number; memory: number }, capacity: { cpu: number; memory: number }): number {
  const r = (a: number, c: number): number => (Number.isFinite(a) && c > 0 ? a / c : 0);
  return Math.max(r(predicted.cpu, capacity.cpu), r(predicted.memory, capacity.memory));
}

export interface RuntimeEstimate {
  expectedSeconds: number | null;
  elapsedSeconds: number;
  /** null when no expected runtime is known. */
  remainingSeconds: number | null;
  completed: boolean;
  /** Where the elapsed time comes from. */
  source: 'runtime-feedback' | 'instance-age';
}

export function estimateRuntime(
  expectedSeconds: number | undefined,
  createdAtMs: number,
  nowMs: number,
  feedback?: { runtimeSeconds?: number; completed?: boolean; atMs: number },
): RuntimeEstimate {
  let elapsed: number;
  let source: RuntimeEstimate['source'];
  if (feedback?.runtimeSeconds !== undefined) {
    elapsed = feedback.runtimeSeconds + (feedback.completed ? 0 : Math.max(0, nowMs - feedback.atMs) / 1000);
    source = 'runtime-feedback';
  } else {
    elapsed = Math.max(0, nowMs - createdAtMs) / 1000;
    source = 'instance-age';
  }
  const completed = feedback?.completed === true;
  const exp = expectedSeconds ?? null;
  const remaining = completed ? 0 : exp === null ? null : Math.max(0, exp - elapsed);
  return { expectedSeconds: exp, elapsedSeconds: elapsed, remainingSeconds: remaining, completed, source };
}

/** A forecast as JSON: arrays instead of typed arrays, quantiles keyed by level. */
export function forecastJson(f: ProbForecast | undefined): ForecastJson | null {
  if (!f) return null;
  const quantiles: Record<string, Array<number | null>> = {};
  f.levels.forEach((l, k) => {
    quantiles[String(l)] = Array.from(f.quantiles[k] ?? [], (x) => round6(x));
  });
  return {
    model: f.model,
    confidence: Number.isFinite(f.confidence) ? f.confidence : null,
    mean: Array.from(f.mean, (x) => round6(x)),
    levels: [...f.levels],
    quantiles,
    anomaly: f.anomaly ? { z: Number.isFinite(f.anomaly.z) ? f.anomaly.z : null, flagged: f.anomaly.flagged } : null,
  };
}

export interface ForecastJson {
  model: string;
  confidence: number | null;
  mean: Array<number | null>;
  levels: number[];
  quantiles: Record<string, Array<number | null>>;
  anomaly: { z: number | null; flagged: boolean } | null;
}

function round6(x: number): number | null {
  return Number.isFinite(x) ? Math.round(x * 1e6) / 1e6 : null;
}

/** Predicted demand of one forecast at step h and a level (NaN when absent). */
export function predictedAt(f: ProbForecast | undefined, level: number, h = 1): number {
  return f ? quantileAt(f, level, h) : NaN;
}
