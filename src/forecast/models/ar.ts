// AR(p) on d-times differenced data (ARIMA(p,d,0) with an intercept), fitted online.
import { z } from 'zod';
import type { Forecaster } from '../types.js';
import { checkHorizon, choleskySolveInPlace, flat, isMissing, parseOptions } from './common.js';

export interface ArOptions {
  /** Autoregressive order (number of lags). Default 3. */
  p?: number;
  /** Times the series is differenced before the AR fit (0, 1 or 2). Default 0. */
  d?: number;
  /**
   * Sliding window of regression rows (0 = none: exponential forgetting instead). With a window,
   * `lambda` must be 1. Default 0.
   */
  window?: number;
  /**
   * Exponential forgetting factor per regression row, in (0, 1]; memory about 1/(1-lambda) rows.
   * Default 0.998 without a window (about 500 rows, 1.7 days at 5 minutes), 1 with one.
   */
  lambda?: number;
  /** Solve the normal equations again every this many new rows. Default 12. */
  refitEvery?: number;
  /**
   * Ridge term added to the lag coefficients' diagonal (not the intercept's), relative to their
   * mean diagonal of X'X: it shrinks towards the mean-only model. Default 1e-6.
   */
  ridge?: number;
  /**
   * Forecasts are clipped to [lo - margin*span, hi + margin*span], lo/hi/span being the range of
   * the last `bandSamples` finite samples (guards explosive fits). Default 0.5.
   */
  clipMargin?: number;
  /** Samples that define the clipping band. Default 288. */
  bandSamples?: number;
  /** Name reported by the model. Default `ar(<p>,<d>)`. */
  name?: string;
}

export const arOptionsSchema = z
  .strictObject({
    p: z.number().int().min(1).max(32).default(3),
    d: z.number().int().min(0).max(2).default(0),
    window: z.number().int().min(0).max(1_000_000).default(0),
    lambda: z.number().gt(0).max(1).optional(),
    refitEvery: z.number().int().min(1).default(12),
    ridge: z.number().min(0).default(1e-6),
    clipMargin: z.number().min(0).default(0.5),
    bandSamples: z.number().int().min(2).default(288),
    name: z.string().min(1).optional(),
  })
  .superRefine((o, ctx) => {
    if (o.window > 0 && o.lambda !== undefined && o.lambda !== 1) {
      ctx.addIssue({ code: 'custom', path: ['lambda'], message: 'must be 1 (or absent) when a window is set' });
    }
    if (o.window > 0 && o.window < 2 * (o.p + 1)) {
      ctx.addIssue({ code: 'custom', path: ['window'], message: `must be at least 2*(p+1) = ${2 * (o.p + 1)} rows (or 0)` });
    }
  });

/**
 * ARIMA(p, d, 0) with an intercept, by least squares on running sufficient statistics:
 * `z_t = Δ^d y_t`, rows `x_t = [1, z_{t-1}, ..., z_{t-p}]`, target `z_t`;
 * `A = Σ w x x'`, `c = Σ w x z` with weights `lambda^age` (exponential forgetting) or 1 over the
 * last `window` rows (the leaving row is subtracted; A and c are recomputed from the stored rows
 * once per window to stop rounding drift). Every `refitEvery` rows `(A + ridge I) beta = c` is
 * solved by Cholesky (the ridge on the lag coefficients, relative to their mean diagonal, guards
 * singular systems and shrinks towards the mean-only model; it grows if the factorisation still
 * fails, and the previous coefficients stay when nothing works).
 *
 * Forecast: recursion on z, then un-differencing, each step clipped to a band around the recent
 * data (see `clipMargin`). Until the first fit (2(p+1)+2 rows) the forecast is the last finite
 * sample, flat; before any finite sample it is NaN.
 *
 * A missing sample (NaN, ±Infinity) is imputed with the model's one-step forecast so time keeps
 * moving, but no regression row that touches an imputed value enters the statistics.
 * `count` counts every update.
 *
 * Cost: update O(p^2) (p = 3: about 30 flops); a refit O(p^3) + O(bandSamples) every
 * `refitEvery` rows (+ O(window p^2) once per window); forecast O(horizon (p + d));
 * memory O(p^2 + window + bandSamples).
 */
export class ArForecaster implements Forecaster {
  readonly name: string;
  readonly p: number;
  readonly d: number;
  readonly window: number;
  readonly lambda: number;
  private readonly refitEvery: number;
  private readonly ridge: number;
  private readonly clipMargin: number;
  private readonly P: number;
  private readonly minRows: number;
  private readonly A: Float64Array;
  private readonly c: Float64Array;
  private readonly coef: Float64Array;
  private readonly x: Float64Array;
  private readonly M: Float64Array;
  private readonly zRing: Float64Array;
  private readonly added: Uint8Array;
  private readonly diffs: Float64Array;
  /** Scratch for forecast recursion (no allocation per forecast). */
  private zsScratch = new Float64Array(0);
  private readonly levelsScratch: Float64Array;
  private readonly band: Float64Array;
  private fitted = false;
  private n = 0;
  private rawCount = 0;
  private zCount = 0;
  private rows = 0;
  private rowsSinceFit = 0;
  private rowsSinceRecompute = 0;
  private lastImputedRaw = -Infinity;
  private lastFinite = NaN;
  private bandPos = 0;
  private lo = NaN;
  private hi = NaN;

  constructor(options: ArOptions = {}) {
    const o = parseOptions(arOptionsSchema, options, 'ar');
    this.p = o.p;
    this.d = o.d;
    this.window = o.window;
    this.lambda = o.lambda ?? (o.window > 0 ? 1 : 0.998);
    this.refitEvery = o.refitEvery;
    this.ridge = o.ridge;
    this.clipMargin = o.clipMargin;
    this.name = o.name ?? `ar(${o.p},${o.d})`;
    const P = o.p + 1;
    this.P = P;
    this.minRows = 2 * P + 2;
    this.A = new Float64Array(P * P);
    this.c = new Float64Array(P);
    this.coef = new Float64Array(P);
    this.x = new Float64Array(P);
    this.M = new Float64Array(P * P);
    const Z = o.window + o.p + 1;
    this.zRing = new Float64Array(Z);
    this.added = new Uint8Array(Z);
    this.diffs = new Float64Array(Math.max(1, o.d));
    this.levelsScratch = new Float64Array(this.diffs.length);
    this.band = new Float64Array(o.bandSamples).fill(NaN);
  }

  get count(): number {
    return this.n;
  }

  /** Fitted coefficients `[intercept, phi_1, ..., phi_p]` (a copy), or null before the first fit. */
  get coefficients(): Float64Array | null {
    return this.fitted ? this.coef.slice() : null;
  }

  update(y: number): void {
    this.n++;
    let imputed = false;
    if (isMissing(y)) {
      if (this.rawCount === 0) return; // nothing to carry yet
      y = this.oneStep();
      imputed = true;
    } else {
      this.lastFinite = y;
      this.band[this.bandPos] = y;
      this.bandPos = this.bandPos + 1 === this.band.length ? 0 : this.bandPos + 1;
    }
    const r = this.rawCount++;
    if (imputed) this.lastImputedRaw = r;

    // Differencing: diffs[k] holds Δ^k y at the newest time.
    const d = this.d;
    let carry = y;
    for (let k = 0; k < d; k++) {
      const old = this.diffs[k]!;
      this.diffs[k] = carry;
      if (r <= k) return; // Δ^(k+1) y is not defined yet
      carry -= old;
    }
    if (d === 0) this.diffs[0] = y;

    const Z = this.zRing.length;
    const t = this.zCount++;
    const slot = t % Z;
    this.zRing[slot] = carry;
    this.added[slot] = 0;
    if (t < this.p) return;

    const P = this.P;
    if (this.window > 0) {
      const s = t - this.window;
      if (s >= this.p && this.added[s % Z] === 1) {
        this.rowInto(s);
        this.accumulate(-1, this.zRing[s % Z]!);
      }
    }
    // A row is clean when none of y_{r-p-d} .. y_r was imputed.
    if (r - this.lastImputedRaw > this.p + d) {
      this.rowInto(t);
      if (this.lambda !== 1) this.accumulateDecayed(this.lambda, carry);
      else this.accumulate(1, carry);
      this.added[slot] = 1;
      this.rows++;
      this.rowsSinceFit++;
      this.rowsSinceRecompute++;
    }
    if (this.rows >= this.minRows && (!this.fitted || this.rowsSinceFit >= this.refitEvery)) this.fit();
  }

  forecast(horizon: number, into?: Float64Array): Float64Array {
    checkHorizon(horizon);
    if (!this.fitted) return flat(horizon, this.lastFinite, into);
    return this.recurse(horizon, into);
  }

  /** x = [1, z_{s-1}, ..., z_{s-p}] into the scratch row. */
  private rowInto(s: number): void {
    const Z = this.zRing.length;
    const x = this.x;
    x[0] = 1;
    for (let i = 1; i <= this.p; i++) x[i] = this.zRing[(s - i) % Z]!;
  }

  /**
   * A += sign x x', c += sign x target. Only A's lower triangle and diagonal are kept: the
   * Cholesky solve reads nothing else (the matrix is symmetric, entry by entry exactly so).
   */
  private accumulate(sign: number, target: number): void {
    const P = this.P;
    const x = this.x;
    const A = this.A;
    for (let i = 0; i < P; i++) {
      const xi = sign * x[i]!;
      const row = i * P;
      for (let j = 0; j <= i; j++) A[row + j]! += xi * x[j]!;
      this.c[i]! += xi * target;
    }
  }

  /** A = lam A + x x', c = lam c + x target in one pass (the same roundings as scaling first). */
  private accumulateDecayed(lam: number, target: number): void {
    const P = this.P;
    const x = this.x;
    const A = this.A;
    const c = this.c;
    for (let i = 0; i < P; i++) {
      const xi = x[i]!;
      const row = i * P;
      for (let j = 0; j <= i; j++) A[row + j] = A[row + j]! * lam + xi * x[j]!;
      c[i] = c[i]! * lam + xi * target;
    }
  }

  /** Rebuilds A and c from the rows still in the window (stops rounding drift). */
  private recompute(): void {
    this.A.fill(0);
    this.c.fill(0);
    const Z = this.zRing.length;
    const last = this.zCount - 1;
    for (let s = Math.max(this.p, last - this.window + 1); s <= last; s++) {
      if (this.added[s % Z] !== 1) continue;
      this.rowInto(s);
      this.accumulate(1, this.zRing[s % Z]!);
    }
    this.rowsSinceRecompute = 0;
  }

  private fit(): void {
    if (this.window > 0 && this.rowsSinceRecompute >= this.window) this.recompute();
    this.rowsSinceFit = 0;
    const P = this.P;
    let trace = 0;
    for (let i = 1; i < P; i++) trace += this.A[i * P + i]!;
    const scale = trace > 0 ? trace / this.p : 1;
    let ridge = this.ridge * scale;
    for (let attempt = 0; attempt < 6; attempt++) {
      if (this.solve(ridge)) {
        this.fitted = true;
        break;
      }
      ridge = ridge > 0 ? ridge * 100 : 1e-10 * scale;
    }
    // Clipping band from the recent finite samples.
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < this.band.length; i++) {
      const v = this.band[i]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    this.lo = lo;
    this.hi = hi;
  }

  /** Cholesky solve of (A + ridge I') coef = c (I' spares the intercept); false when not positive definite. */
  private solve(ridge: number): boolean {
    const P = this.P;
    const M = this.M;
    M.set(this.A);
    for (let i = 1; i < P; i++) M[i * P + i]! += ridge;
    const sol = this.x; // scratch
    sol.set(this.c);
    if (!choleskySolveInPlace(M, sol, P)) return false;
    this.coef.set(sol);
    return true;
  }

  /** One-step forecast used to impute a missing sample (no allocation). */
  private oneStep(): number {
    if (!this.fitted || this.zCount < this.p) return this.lastFinite;
    const Z = this.zRing.length;
    const t = this.zCount; // index of the z being forecast
    let zhat = this.coef[0]!;
    for (let i = 1; i <= this.p; i++) zhat += this.coef[i]! * this.zRing[(t - i) % Z]!;
    let v = zhat;
    for (let k = this.d - 1; k >= 0; k--) v += this.diffs[k]!;
    return this.clip(v, this.lastFinite);
  }

  private clip(v: number, fallback: number): number {
    const span = this.hi - this.lo;
    const margin = this.clipMargin * (span > 0 ? span : Math.abs(this.hi) || 1);
    if (v !== v) return fallback;
    if (v < this.lo - margin) return this.lo - margin;
    if (v > this.hi + margin) return this.hi + margin;
    return v;
  }

  private recurse(horizon: number, into?: Float64Array): Float64Array {
    const p = this.p;
    const d = this.d;
    const Z = this.zRing.length;
    const t = this.zCount;
    if (this.zsScratch.length < p + horizon) this.zsScratch = new Float64Array(p + horizon);
    const zs = this.zsScratch;
    for (let i = 0, r = (t - p) % Z; i < p; i++, r = r + 1 === Z ? 0 : r + 1) zs[i] = this.zRing[r]!; // oldest first
    const levels = this.levelsScratch;
    levels.set(this.diffs);
    const out = into ?? new Float64Array(horizon);
    let prev = this.lastFinite;
    for (let h = 0; h < horizon; h++) {
      let zhat = this.coef[0]!;
      for (let i = 1; i <= p; i++) zhat += this.coef[i]! * zs[p + h - i]!;
      zs[p + h] = zhat;
      let v = zhat;
      for (let k = d - 1; k >= 0; k--) {
        levels[k]! += v;
        v = levels[k]!;
      }
      prev = this.clip(v, prev);
      out[h] = prev;
    }
    return out;
  }
}
