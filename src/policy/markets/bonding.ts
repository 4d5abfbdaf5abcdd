// Bonding units -> preemption multiplier, its predictive adjustment, victim selection by
// multiplier, and the predicted availability of a host. Pure. (Bonding itself, the irreversible
// ledger transaction with its tax, is CreditBook.bond in credits.ts.)
//
// Multiplier of an instance = clamp(base(BU) x smoothed predictive factor, [min, max]):
//  - base(BU): a configurable non-linear table. Default: 0 BU x1 (unbonded), 1 BU x1.5, 2 BU x3,
//    3 BU x5. Beyond the table it extends by `extend`:
//      'second-difference' (default): keeps the last second difference of the table, so
//        1.5, 3, 5 (differences 1.5, 2; second difference 0.5) goes on 7.5, 10.5, 14, 18, ...
//        (a table of two entries extends linearly, of one entry flat);
//      'linear': keeps the last difference (1.5, 3, 5 -> 7, 9, 11, ...);
//      'flat':   holds the last entry (5, 5, ...).
//    The clamp to [min, max] bounds every extension.
//  - predictive factor, from the forecast of the instance's demand over a short horizon:
//      relative change r = max(peak, floor) / max(current, floor) - 1, where peak is the max over
//      the horizon of the forecast at `level` (both floored, so an idle instance neither divides
//      by ~0 nor reads a steady near-zero forecast as a fall);
//      r >= riseThreshold:  raw = 1 + min(maxRaise, gain x r)      (a significant rise)
//      r <= -fallThreshold: raw = 1 - min(maxLower, gain x |r|)    (a predicted fall)
//      otherwise raw = 1. The step away from 1 is scaled by the forecast's confidence (when it
//      is a number), then exponentially smoothed: factor = alpha x raw + (1 - alpha) x previous
//      factor (the first update takes raw as is). Smoothing the factor, not the product, lets a
//      new bond take effect at once while forecast noise cannot make priorities thrash.
import { ValidationError, type Issue } from '../../core/errors.js';
import type { ProbForecast } from '../../forecast/types.js';
import { horizonOf, quantileAt } from './dist.js';
import { kv, MR } from './reasons.js';

export type MultiplierExtension = 'second-difference' | 'linear' | 'flat';

export interface MultiplierTableOptions {
  /** Multiplier of 1, 2, 3, ... bonding units. Default [1.5, 3, 5]. */
  table?: readonly number[];
  /** Multiplier with no bonding unit. Default 1. */
  unbonded?: number;
  /** How the table continues beyond its last entry. Default 'second-difference'. */
  extend?: MultiplierExtension;
}

export interface PredictiveMultiplierOptions extends MultiplierTableOptions {
  min?: number;
  max?: number;
  /** Exponential smoothing weight of the newest factor, in (0, 1]. Default 0.3. */
  alpha?: number;
  /** Relative rise that counts as significant. Default 0.2 (+20 %). */
  riseThreshold?: number;
  /** Relative fall that lowers the multiplier. Default 0.2 (-20 %). */
  fallThreshold?: number;
  gain?: number;
  /** Largest raise of the factor above 1. Default 0.5 (x1.5). */
  maxRaise?: number;
  /** Largest lowering of the factor below 1. Default 0.3 (x0.7). */
  maxLower?: number;
  /** Steps of the forecast looked at (default its whole horizon). */
  horizonSteps?: number;
  /** Forecast quantile read as the predicted demand. Default 0.5. */
  level?: number;
  /** Current demand is floored at this (forecast units) for the relative change. Default 0.1. */
  floor?: number;
}

export interface CompiledMultiplierOptions {
  table: number[];
  unbonded: number;
  extend: MultiplierExtension;
  min: number;
  max: number;
  alpha: number;
  riseThreshold: number;
  fallThreshold: number;
  gain: number;
  maxRaise: number;
  maxLower: number;
  horizonSteps: number | undefined;
  level: number;
  floor: number;
}

export function compileMultiplierOptions(o: PredictiveMultiplierOptions = {}, path = 'multiplier'): CompiledMultiplierOptions {
  const c: CompiledMultiplierOptions = {
    table: (o.table ?? [1.5, 3, 5]).slice(),
    unbonded: o.unbonded ?? 1,
    extend: o.extend ?? 'second-difference',
    min: o.min ?? 0.5,
    max: o.max ?? 20,
    alpha: o.alpha ?? 0.3,
    riseThreshold: o.riseThreshold ?? 0.2,
    fallThreshold: o.fallThreshold ?? 0.2,
    gain: o.gain ?? 1,
    maxRaise: o.maxRaise ?? 0.5,
    maxLower: o.maxLower ?? 0.3,
    horizonSteps: o.horizonSteps,
    level: o.level ?? 0.5,
    floor: o.floor ?? 0.1,
  };
  const issues: Issue[] = [];
  const pos = (name: keyof CompiledMultiplierOptions, v: number, allowZero = false) => {
    if (!Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) issues.push({ path: `${path}.${name}`, message: `must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${v}` });
  };
  if (c.table.length === 0) issues.push({ path: `${path}.table`, message: 'must list the multiplier of at least 1 bonding unit' });
  c.table.forEach((v, i) => {
    if (!Number.isFinite(v) || v <= 0) issues.push({ path: `${path}.table[${i}]`, message: `must be a positive number, got ${v}` });
    const prev = i === 0 ? c.unbonded : c.table[i - 1]!;
    if (v < prev) issues.push({ path: `${path}.table[${i}]`, message: `must not be below the multiplier of one unit fewer (${prev}), got ${v}` });
  });
  pos('unbonded', c.unbonded);
  if (!['second-difference', 'linear', 'flat'].includes(c.extend)) issues.push({ path: `${path}.extend`, message: `must be second-difference, linear or flat, got ${String(c.extend)}` });
  pos('min', c.min);
  pos('max', c.max);
  if (c.min > c.max) issues.push({ path: `${path}.min`, message: `must be <= max (${c.max}), got ${c.min}` });
  if (!(c.alpha > 0 && c.alpha <= 1)) issues.push({ path: `${path}.alpha`, message: `must be in (0, 1], got ${c.alpha}` });
  pos('riseThreshold', c.riseThreshold, true);
  pos('fallThreshold', c.fallThreshold, true);
  pos('gain', c.gain, true);
  pos('maxRaise', c.maxRaise, true);
  if (!(c.maxLower >= 0 && c.maxLower < 1)) issues.push({ path: `${path}.maxLower`, message: `must be in [0, 1), got ${c.maxLower}` });
  if (c.horizonSteps !== undefined && !(Number.isInteger(c.horizonSteps) && c.horizonSteps > 0)) issues.push({ path: `${path}.horizonSteps`, message: `must be a positive integer, got ${c.horizonSteps}` });
  if (!(c.level > 0 && c.level < 1)) issues.push({ path: `${path}.level`, message: `must be in (0, 1), got ${c.level}` });
  pos('floor', c.floor);
  if (issues.length > 0) throw new ValidationError(issues, 'invalid multiplier options');
  return c;
}

/** Base multiplier of `units` bonding units from the table and its extension rule. */
export function baseMultiplier(units: number, o: Pick<CompiledMultiplierOptions, 'table' | 'unbonded' | 'extend'>): number {
  if (units <= 0) return o.unbonded;
  const t = o.table;
  if (units <= t.length) return t[units - 1]!;
  const n = t.length;
  const beyond = units - n;
  const last = t[n - 1]!;
  if (o.extend === 'flat' || n === 1) return last;
  const d = last - t[n - 2]!;
  if (o.extend === 'linear' || n === 2) return last + beyond * d;
  const dd = d - (t[n - 2]! - t[n - 3]!);
  // sum_{k=1..beyond} (d + k dd) = beyond d + dd beyond (beyond + 1) / 2
  return last + beyond * d + (dd * beyond * (beyond + 1)) / 2;
}

export interface MultiplierDecision {
  id: string;
  multiplier: number;
  base: number;
  bondUnits: number;
  /** Unsmoothed factor of this update and the smoothed one in effect. */
  rawFactor: number;
  factor: number;
  relativeChange: number;
  reasons: string[];
}

/**
 * One instance's multiplier state: its smoothed factor, and its last update in compact form (the
 * figures of its MultiplierDecision, whose reasons are only formatted when someone asks:
 * `explain`), updated in place every step. A loop over every instance each step keeps the record
 * `refreshRecord` returned and passes it back: no lookup by id.
 */
export interface MultiplierRecord {
  readonly id: string;
  /** The multiplier of the last update (meaningful once `updated`). */
  readonly multiplier: number;
}

interface Rec extends Omit<MultiplierDecision, 'reasons'> {
  /** False once forgotten (a caller's kept record is then stale: look the id up again). */
  alive: boolean;
  /** Whether the figures below are set (a restored factor has no update yet). */
  updated: boolean;
  /** 0 no forecast, 1 predicted rise, 2 predicted fall, 3 steady. */
  trend: 0 | 1 | 2 | 3;
  smoothed: boolean;
  /** 0 none, 1 clamped at min, 2 clamped at max. */
  clamp: 0 | 1 | 2;
  /** The decision as `explain` built it (dropped by the next update). */
  decision: MultiplierDecision | undefined;
  /**
   * The last forecast read (only one with a horizon), its peak over the horizon and its confidence
   * (forecasts are values, never changed once made; an instance's changes every few steps, its
   * multiplier every step).
   */
  peakOf: ProbForecast | null;
  peak: number;
  confidence: number;
}

/** Per-instance multipliers with their smoothed predictive factors. */
export class PreemptionMultipliers {
  readonly options: CompiledMultiplierOptions;
  /** Every instance with a smoothed factor (updated, or restored), in the order they got one. */
  private readonly recs = new Map<string, Rec>();

  constructor(options: PredictiveMultiplierOptions = {}) {
    this.options = compileMultiplierOptions(options);
  }

  /**
   * Updates one instance's multiplier from its bonding units, the forecast of its demand and its
   * current demand (same unit as the forecast). Without a forecast the factor decays toward 1.
   */
  update(id: string, input: { bondUnits: number; forecast?: ProbForecast | null; currentDemand?: number }): MultiplierDecision {
    this.refresh(id, input.bondUnits, input.forecast, input.currentDemand);
    return this.explain(id)!;
  }

  /**
   * `update` without building the decision (its reasons are formatted when `explain` asks): the
   * same multiplier and smoothed factor, for a loop over every instance each step. Returns the
   * multiplier.
   */
  refresh(id: string, bondUnits: number, forecast?: ProbForecast | null, currentDemand?: number): number {
    return this.refreshRecord(id, this.recs.get(id), bondUnits, forecast, currentDemand).multiplier;
  }

  /**
   * `refresh` for a loop that keeps each instance's record: `kept` is what the last call returned
   * for `id` (or undefined); returns the record to keep. The same multiplier and factor as `refresh`.
   */
  refreshRecord(id: string, kept: MultiplierRecord | undefined, bondUnits: number, forecast?: ProbForecast | null, currentDemand?: number): MultiplierRecord {
    let u = kept as Rec | undefined;
    if (u === undefined || !u.alive || u.id !== id) u = this.recs.get(id);
    const o = this.options;
    const base = baseMultiplier(bondUnits, o);
    let raw = 1;
    let rel = 0;
    let trend: Rec['trend'] = 0;
    const f = forecast;
    const cur = currentDemand;
    let peakOf: ProbForecast | null = null;
    let peak = NaN;
    let confidence = NaN;
    // the forecast's figures are read once per forecast (an instance's changes every few steps)
    if (f && cur !== undefined && Number.isFinite(cur) && (u?.peakOf === f || horizonOf(f) > 0)) {
      peakOf = f;
      if (u !== undefined && u.peakOf === f) {
        peak = u.peak;
        confidence = u.confidence;
      } else {
        peak = this.peakOf(f);
        confidence = f.confidence;
        if (u !== undefined) {
          u.peakOf = f;
          u.peak = peak;
          u.confidence = confidence;
        }
      }
      if (Number.isFinite(peak)) {
        rel = Math.max(peak, o.floor) / Math.max(cur, o.floor) - 1;
        if (rel >= o.riseThreshold) {
          raw = 1 + Math.min(o.maxRaise, o.gain * rel);
          trend = 1;
        } else if (rel <= -o.fallThreshold) {
          raw = 1 - Math.min(o.maxLower, o.gain * -rel);
          trend = 2;
        } else trend = 3;
        if (Number.isFinite(confidence)) raw = 1 + (raw - 1) * Math.min(1, Math.max(0, confidence));
      }
    }
    const prev = u?.factor;
    const factor = prev === undefined ? raw : o.alpha * raw + (1 - o.alpha) * prev;
    let m = base * factor;
    let clamp: Rec['clamp'] = 0;
    if (m < o.min) {
      m = o.min;
      clamp = 1;
    } else if (m > o.max) {
      m = o.max;
      clamp = 2;
    }
    if (u === undefined) {
      u = { id, alive: true, updated: true, multiplier: m, base, bondUnits, rawFactor: raw, factor, relativeChange: rel, trend, smoothed: false, clamp, decision: undefined, peakOf, peak, confidence };
      this.recs.set(id, u);
      return u;
    }
    u.multiplier = m;
    u.updated = true;
    u.base = base;
    u.bondUnits = bondUnits;
    u.rawFactor = raw;
    u.factor = factor;
    u.relativeChange = rel;
    u.trend = trend;
    u.smoothed = prev !== undefined;
    u.clamp = clamp;
    u.decision = undefined;
    return u;
  }

  /** Max over the horizon (at most `horizonSteps`) of the forecast at `level`; -Infinity when none is finite. */
  private peakOf(f: ProbForecast): number {
    const o = this.options;
    const H = Math.min(horizonOf(f), o.horizonSteps ?? Infinity);
    let peak = -Infinity;
    for (let h = 1; h <= H; h++) {
      const q = quantileAt(f, o.level, h);
      if (Number.isFinite(q) && q > peak) peak = q;
    }
    return peak;
  }

  /** The instance's current multiplier (its unbonded base before any update). */
  get(id: string): number {
    const u = this.recs.get(id);
    return u?.updated ? u.multiplier : Math.min(this.options.max, Math.max(this.options.min, this.options.unbonded));
  }

  /** The last update's decision with its reasons (the same object until the next update). */
  explain(id: string): MultiplierDecision | undefined {
    const u = this.recs.get(id);
    if (!u?.updated) return undefined;
    if (u.decision) return u.decision;
    const reasons: string[] = [MR.BOND_MULTIPLIER, kv('bondUnits', u.bondUnits), kv('base', u.base)];
    if (u.trend === 1) reasons.push(MR.PREDICTED_RISE, kv('relativeChange', u.relativeChange));
    else if (u.trend === 2) reasons.push(MR.PREDICTED_FALL, kv('relativeChange', u.relativeChange));
    else if (u.trend === 3) reasons.push(MR.PREDICTED_STEADY, kv('relativeChange', u.relativeChange));
    else reasons.push(MR.NO_FORECAST);
    if (u.smoothed) reasons.push(MR.SMOOTHED, kv('factor', u.factor));
    if (u.clamp === 1) reasons.push(MR.CLAMPED_MIN);
    else if (u.clamp === 2) reasons.push(MR.CLAMPED_MAX);
    u.decision = { id, multiplier: u.multiplier, base: u.base, bondUnits: u.bondUnits, rawFactor: u.rawFactor, factor: u.factor, relativeChange: u.relativeChange, reasons };
    return u.decision;
  }

  forget(id: string): void {
    const u = this.recs.get(id);
    if (!u) return;
    u.alive = false;
    this.recs.delete(id);
  }

  /** The smoothed factor of an instance (undefined before its first update). */
  factorOf(id: string): number | undefined {
    return this.recs.get(id)?.factor;
  }

  /** Every smoothed factor, as plain data (what a live shell persists). */
  exportFactors(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [id, u] of this.recs) out[id] = u.factor;
    return out;
  }

  /**
   * Restores smoothed factors (restart continuity): the next update smooths from them. The last
   * decisions are not restored: `get` returns the unbonded base until the next update.
   */
  restoreFactors(factors: Readonly<Record<string, number>>): void {
    for (const [id, f] of Object.entries(factors)) {
      if (!(Number.isFinite(f) && f > 0)) continue;
      const u = this.recs.get(id);
      if (u) u.factor = f;
      else this.recs.set(id, { id, alive: true, updated: false, multiplier: NaN, base: NaN, bondUnits: 0, rawFactor: NaN, factor: f, relativeChange: NaN, trend: 0, smoothed: false, clamp: 0, decision: undefined, peakOf: null, peak: NaN, confidence: NaN });
    }
  }
}

export interface VictimCandidate {
  id: string;
  multiplier: number;
  /** CPU in use (or wanted), millicores. */
  usageMillicores: number;
  /** Throttling leaves it this much (its baseline), millicores. */
  floorMillicores: number;
}

export interface VictimDecision {
  id: string;
  action: 'throttle' | 'evict';
  multiplier: number;
  reclaimMillicores: number;
  reasons: string[];
}

export interface VictimSelection {
  victims: VictimDecision[];
  reclaimedMillicores: number;
  uncoveredMillicores: number;
  reasons: string[];
}

/**
 * Picks victims when a host is short of `shortfallMillicores`: lowest multiplier first (ties by
 * id), first throttling each to its floor (baseline); if throttling everyone is not enough and
 * eviction is allowed, evicting in the same order (an evicted instance frees all it uses).
 */
export function selectVictims(shortfallMillicores: number, candidates: readonly VictimCandidate[], options: { allowEvict?: boolean } = {}): VictimSelection {
  const order = candidates.slice().sort((a, b) => a.multiplier - b.multiplier || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const byId = new Map<string, VictimDecision>();
  const victims: VictimDecision[] = [];
  let left = shortfallMillicores;
  for (const c of order) {
    if (left <= 0) break;
    const reclaim = Math.min(left, Math.max(0, c.usageMillicores - c.floorMillicores));
    if (reclaim <= 0) continue;
    const v: VictimDecision = { id: c.id, action: 'throttle', multiplier: c.multiplier, reclaimMillicores: reclaim, reasons: [MR.LOWEST_MULTIPLIER, kv('multiplier', c.multiplier), MR.THROTTLE, kv('reclaimMillicores', reclaim)] };
    victims.push(v);
    byId.set(c.id, v);
    left -= reclaim;
  }
  if (left > 0 && options.allowEvict !== false) {
    for (const c of order) {
      if (left <= 0) break;
      const already = byId.get(c.id)?.reclaimMillicores ?? 0;
      const more = Math.max(0, c.usageMillicores - already);
      if (more <= 0) continue;
      let v = byId.get(c.id);
      if (!v) {
        v = { id: c.id, action: 'evict', multiplier: c.multiplier, reclaimMillicores: 0, reasons: [MR.LOWEST_MULTIPLIER, kv('multiplier', c.multiplier)] };
        victims.push(v);
        byId.set(c.id, v);
      }
      v.action = 'evict';
      v.reclaimMillicores = c.usageMillicores;
      v.reasons.push(MR.EVICT, kv('reclaimMillicores', c.usageMillicores));
      left -= more;
    }
  }
  const reclaimed = victims.reduce((s, v) => s + v.reclaimMillicores, 0);
  const uncovered = Math.max(0, left);
  return { victims, reclaimedMillicores: reclaimed, uncoveredMillicores: uncovered, reasons: [uncovered > 0 ? MR.SHORTFALL_UNCOVERED : MR.SHORTFALL_COVERED, kv('shortfallMillicores', shortfallMillicores)] };
}

export interface HostAvailability {
  /** Capacity minus the summed demand quantiles, per forecast step. */
  perStep: Float64Array;
  /** The smallest of them: what the host can promise over the horizon. */
  minimum: number;
  level: number;
  reasons: string[];
}

/**
 * Predicted availability of a host: capacity minus the sum of its instances' demand forecasts at
 * quantile `level` (summing quantiles is conservative: it assumes peaks coincide), per step.
 */
export function predictedHostAvailability(capacity: number, forecasts: readonly ProbForecast[], level = 0.9, horizon?: number): HostAvailability {
  const H = horizon ?? forecasts.reduce((m, f) => Math.max(m, horizonOf(f)), 1);
  const perStep = new Float64Array(H).fill(capacity);
  for (const f of forecasts) {
    const fh = horizonOf(f);
    for (let h = 1; h <= H; h++) {
      const q = quantileAt(f, level, Math.min(h, fh));
      if (Number.isFinite(q)) perStep[h - 1]! -= q;
    }
  }
  let minimum = Infinity;
  for (const v of perStep) minimum = Math.min(minimum, v);
  return { perStep, minimum, level, reasons: [kv('level', level), kv('instances', forecasts.length), kv('minimumAvailable', minimum)] };
}
