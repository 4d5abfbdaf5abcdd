// Operator settings as decisions read them (the control plane's `/v1/policies`: global and
// per-instance aggressiveness, maxMigrationsPerHour, degradationThreshold). Pure: the settings and
// what the shell measured for them (recent migrations, violation shares) arrive in the snapshot
// (`Snapshot.control`); nothing here reads a store or a clock.
//
// Resolution: per field, the instance's own value when it has one, else the global value, else
// unset. Unset everywhere (and a snapshot without `control`, as in the simulator) = every policy
// behaves exactly as without settings.
//
// aggressiveness a in [0, 1] (values outside are clamped) scales the rightsizers' headroom by
//     headroom(a) = 2^(1 - 2a):  a = 0 -> 2 (conservative), a = 0.5 -> 1 (the policy's defaults),
//     a = 1 -> 0.5 (aggressive); bounded to [0.5, 2].
//   vpa:        safety margin = safetyMarginFraction x headroom (default 15 %: 30 % / 15 % / 7.5 %).
//   predictive: price = price x headroom^2 (the price of one unit of violation probability, in
//               typical usage; x4 / x1 / x0.25): a higher price climbs to higher forecast quantiles.
//   static:     ignores it (the provisioned capacity).
// maxMigrationsPerHour n: at most n applied live migrations of the instance in any window of
//     MIGRATION_WINDOW_S (3600 s) of model time (`nowS`); a migration the round wants beyond that
//     is withheld (not in `plan.actions`), listed in `plan.withheld` with reason
//     R.MIGRATION_RATE_LIMITED. n = 0: never migrated (initial placement is not a migration).
//     A host that cannot be drained because of it is not drained; an overloaded host whose victim
//     may not move tries the next victim (then, without overcommit, allocations are capped).
// degradationThreshold d in [0, 1]: the share of recent steps an instance may spend with usage
//     above its allocation (in any managed resource). The shell measures the share
//     (`updateViolationShare`: the mean over the steps seen, then an exponentially weighted mean
//     over about a day of steps); after MIN_DEGRADATION_SAMPLES steps, share > d = degraded.
//     A degraded instance is rightsized as with aggressiveness 0 (headroom 2, reason
//     R.DEGRADED_HEADROOM) until its share is back at or under d. The predictive rightsizer also
//     takes d as its violation budget: d / (managed resources) per resource, bounded to
//     [0.001, 0.5] (reason R.DEGRADATION_BUDGET), so that the union stays near d.
import { R } from './reasons.js';
import type { ControlInputs, ControlSettings, Snapshot, ViolationRecord } from './types.js';

/** The rate limit's window, model seconds. */
export const MIGRATION_WINDOW_S = 3600;
/** The violation share's window, model seconds (about this many seconds of steps). */
export const DEGRADATION_WINDOW_S = 86400;
/** Steps an instance must have been observed before it can count as degraded. */
export const MIN_DEGRADATION_SAMPLES = 12;
/** Bounds of the headroom factor. */
export const MIN_HEADROOM = 0.5;
export const MAX_HEADROOM = 2;
/** Bounds of a per-resource violation budget derived from a degradation threshold. */
export const MIN_VIOLATION_BUDGET = 0.001;
export const MAX_VIOLATION_BUDGET = 0.5;

/** The settings in effect for one instance, resolved and bounded. */
export interface EffectiveSettings {
  /** In [0, 1], or undefined when unset. */
  readonly aggressiveness: number | undefined;
  /** Integer >= 0, or undefined (no limit). */
  readonly maxMigrationsPerHour: number | undefined;
  /** In [0, 1], or undefined (never degraded; policies keep their own budgets). */
  readonly degradationThreshold: number | undefined;
  /** True when the instance's measured violation share is above its threshold. */
  readonly degraded: boolean;
  /** Multiplier of the rightsizers' headroom, in [MIN_HEADROOM, MAX_HEADROOM]; exactly 1 when nothing applies. */
  readonly headroom: number;
}

export const DEFAULT_SETTINGS: EffectiveSettings = Object.freeze({
  aggressiveness: undefined,
  maxMigrationsPerHour: undefined,
  degradationThreshold: undefined,
  degraded: false,
  headroom: 1,
});

const clamp = (x: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, x));

/** headroom(a) = 2^(1 - 2a), a clamped to [0, 1]: 2 at 0, exactly 1 at 0.5, 0.5 at 1. */
export function headroomFactor(aggressiveness: number): number {
  if (!Number.isFinite(aggressiveness)) return 1;
  return clamp(Math.pow(2, 1 - 2 * clamp(aggressiveness, 0, 1)), MIN_HEADROOM, MAX_HEADROOM);
}

const finite = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
const pick = (own: number | undefined, global: number | undefined): number | undefined => (finite(own) ? own : finite(global) ? global : undefined);

/** Per field: the instance's value, else the global one, bounded (unset fields stay unset). */
export function resolveSettings(control: ControlInputs | undefined, instanceId: string): ControlSettings {
  if (!control) return {};
  const own = control.instances?.get(instanceId);
  const g = control.global;
  const a = pick(own?.aggressiveness, g?.aggressiveness);
  const m = pick(own?.maxMigrationsPerHour, g?.maxMigrationsPerHour);
  const d = pick(own?.degradationThreshold, g?.degradationThreshold);
  return {
    ...(a !== undefined ? { aggressiveness: clamp(a, 0, 1) } : {}),
    ...(m !== undefined ? { maxMigrationsPerHour: Math.max(0, Math.floor(m)) } : {}),
    ...(d !== undefined ? { degradationThreshold: clamp(d, 0, 1) } : {}),
  };
}

/** True after MIN_DEGRADATION_SAMPLES steps when the share is above the threshold. */
export function isDegraded(v: ViolationRecord | undefined, threshold: number): boolean {
  return v !== undefined && v.samples >= MIN_DEGRADATION_SAMPLES && v.share > threshold + 1e-12;
}

/** Effective settings of a settings object alone (no measurements), memoized per object. */
const fromSettings = new WeakMap<ControlSettings, EffectiveSettings>();
/** Effective settings of an instance's own settings object with the global object they were resolved with. */
const fromOwn = new WeakMap<ControlSettings, { global: ControlSettings | undefined; value: EffectiveSettings }>();
/** The degraded variant of an effective settings value, memoized. */
const degradedOf = new WeakMap<EffectiveSettings, EffectiveSettings>();

function effectiveOf(s: ControlSettings): EffectiveSettings {
  const a = s.aggressiveness;
  return Object.freeze({
    aggressiveness: a,
    maxMigrationsPerHour: s.maxMigrationsPerHour,
    degradationThreshold: s.degradationThreshold,
    degraded: false,
    headroom: a !== undefined ? headroomFactor(a) : 1,
  });
}

/**
 * The settings in effect for an instance in this round (DEFAULT_SETTINGS when none apply). Cheap
 * for a large fleet: an instance without its own settings shares one value per global settings
 * object (memoized; settings objects are treated as immutable).
 */
export function effectiveSettings(snapshot: Snapshot, instanceId: string): EffectiveSettings {
  const c = snapshot.control;
  if (!c) return DEFAULT_SETTINGS;
  const own = c.instances?.get(instanceId);
  let base: EffectiveSettings;
  if (own) {
    const hit = fromOwn.get(own);
    if (hit && hit.global === c.global) base = hit.value;
    else fromOwn.set(own, { global: c.global, value: (base = effectiveOf(resolveSettings(c, instanceId))) });
  }
  else if (c.global) {
    const g = c.global;
    let cached = fromSettings.get(g);
    if (!cached) fromSettings.set(g, (cached = effectiveOf(resolveSettings({ global: g }, instanceId))));
    base = cached;
  } else return DEFAULT_SETTINGS;
  const d = base.degradationThreshold;
  if (d === undefined || !isDegraded(c.violations?.get(instanceId), d)) return base;
  let v = degradedOf.get(base);
  if (!v) degradedOf.set(base, (v = Object.freeze({ ...base, degraded: true, headroom: headroomFactor(0) })));
  return v;
}

/** Adds the reasons that explain a headroom other than 1 (degraded, or aggressiveness). */
export function headroomReasons(s: EffectiveSettings, reasons: string[]): void {
  if (s.degraded) reasons.push(R.DEGRADED_HEADROOM);
  else if (s.headroom !== 1) reasons.push(R.AGGRESSIVENESS_SCALED);
}

/** Migrations at times t with nowS - windowS < t <= nowS. */
export function migrationsInWindow(timesS: readonly number[] | undefined, nowS: number, windowS = MIGRATION_WINDOW_S): number {
  if (!timesS) return 0;
  let n = 0;
  for (const t of timesS) if (t > nowS - windowS && t <= nowS) n++;
  return n;
}

/** May the instance be live-migrated in the round at `nowS`? (Its maxMigrationsPerHour.) */
export function migrationAllowed(snapshot: Snapshot, instanceId: string, nowS: number): boolean {
  const max = effectiveSettings(snapshot, instanceId).maxMigrationsPerHour;
  if (max === undefined) return true;
  return migrationsInWindow(snapshot.control?.migrationsS?.get(instanceId), nowS) < max;
}

/** Steps in the violation share's window for a step length. */
export function degradationWindowSteps(stepSeconds: number): number {
  return Math.max(1, Math.round(DEGRADATION_WINDOW_S / stepSeconds));
}

/**
 * One step observed: the running mean of the violation indicator over the first `windowSteps`
 * steps, then an exponentially weighted mean with weight 1 / windowSteps.
 */
export function updateViolationShare(rec: ViolationRecord, violated: boolean, windowSteps: number): void {
  rec.samples++;
  const n = Math.min(rec.samples, Math.max(1, windowSteps));
  rec.share += ((violated ? 1 : 0) - rec.share) / n;
}

/** A per-resource violation budget from a degradation threshold shared by `resources` resources. */
export function violationBudget(threshold: number, resources: number): number {
  return clamp(threshold / Math.max(1, resources), MIN_VIOLATION_BUDGET, MAX_VIOLATION_BUDGET);
}
