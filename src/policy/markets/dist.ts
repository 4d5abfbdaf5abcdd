// Small distribution helpers shared by the markets: reading a quantile of a ProbForecast at any
// level, a normal approximation of one step's distribution, and the normal tail. Pure.
import type { ProbForecast } from '../../forecast/types.js';

/**
 * Quantile `level` of step h (1-based) of a forecast: exact where the level was forecast, linear
 * between the two nearest levels otherwise, the nearest end outside them, and the mean when the
 * forecast carries no quantiles. NaN quantiles fall back to the mean.
 */
export function quantileAt(f: ProbForecast, level: number, h: number): number {
  const i = h - 1;
  const L = f.levels.length;
  const mean = f.mean[i] ?? f.mean[f.mean.length - 1] ?? NaN;
  if (L === 0) return mean;
  let lo = -1;
  let hi = -1;
  for (let k = 0; k < L; k++) {
    const l = f.levels[k]!;
    if (l === level) return finiteOr(f.quantiles[k]![i], mean);
    if (l < level && (lo < 0 || l > f.levels[lo]!)) lo = k;
    if (l > level && (hi < 0 || l < f.levels[hi]!)) hi = k;
  }
  if (lo < 0) return finiteOr(f.quantiles[hi]![i], mean);
  if (hi < 0) return finiteOr(f.quantiles[lo]![i], mean);
  const a = f.quantiles[lo]![i]!;
  const b = f.quantiles[hi]![i]!;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return mean;
  const t = (level - f.levels[lo]!) / (f.levels[hi]! - f.levels[lo]!);
  return a + t * (b - a);
}

function finiteOr(v: number | undefined, fallback: number): number {
  return v !== undefined && Number.isFinite(v) ? v : fallback;
}

/** Horizon of a forecast (steps). */
export function horizonOf(f: ProbForecast): number {
  return f.mean.length;
}

/** Standard normal quantile of common levels (used to turn a quantile spread into a sigma). */
// Acklam's rational approximation of the normal quantile (relative error < 1.2e-9 over (0, 1)): its coefficients.
const NQ_A = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239] as const;
const NQ_B = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1] as const;
const NQ_C = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783] as const;
const NQ_D = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416] as const;

export function normalQuantile(p: number): number {
  // Acklam's rational approximation (relative error < 1.2e-9 over (0, 1)).
  const a = NQ_A;
  const b = NQ_B;
  const c = NQ_C;
  const d = NQ_D;
  if (p <= 0) return -Infinity;
  if (p >= 1) return Infinity;
  const pl = 0.02425;
  if (p < pl) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  }
  if (p > 1 - pl) {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    return -(((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  }
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
}

/** P(Z > z) for a standard normal Z (complementary error function, Numerical Recipes' erfcc: |rel. error| < 1.2e-7). */
export function normalTail(z: number): number {
  const x = z / Math.SQRT2;
  const ax = Math.abs(x);
  const t = 1 / (1 + 0.5 * ax);
  const erfc =
    t *
    Math.exp(
      -ax * ax - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  const e = x >= 0 ? erfc : 2 - erfc;
  return e / 2;
}

/**
 * Normal approximation of step h: mu = the median (0.5 quantile, else the mean), sigma from the
 * spread to the highest forecast level above 0.5 (sigma = (q_u - q_0.5) / z_u), 0 without one.
 */
export function normalOf(f: ProbForecast, h: number): { mu: number; sigma: number } {
  const mu = quantileAt(f, 0.5, h);
  let top = -1;
  for (let k = 0; k < f.levels.length; k++) if (f.levels[k]! > 0.5 && (top < 0 || f.levels[k]! > f.levels[top]!)) top = k;
  if (top < 0) return { mu, sigma: 0 };
  const q = f.quantiles[top]![h - 1]!;
  const z = normalQuantile(f.levels[top]!);
  const sigma = Number.isFinite(q) && z > 0 ? Math.max(0, (q - mu) / z) : 0;
  return { mu, sigma };
}

/** A flat forecast (every step the same) from a mean and quantiles: a static workload profile. */
export function flatForecast(mean: number, levels: readonly number[], values: readonly number[], horizon = 1, model = 'profile'): ProbForecast {
  return {
    mean: new Float64Array(horizon).fill(mean),
    quantiles: values.map((v) => new Float64Array(horizon).fill(v)),
    levels: levels.slice(),
    confidence: 1,
    model,
  };
}
