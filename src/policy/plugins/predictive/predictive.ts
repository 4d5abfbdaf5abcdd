// `predictive`: prescient's own rightsizer. Per instance and resource, the forecasting engine's
// quantile forecast of the next step(s) (from the `predictive-forecast` companion, through
// ctx.forecasts) becomes an allocation in four moves:
//
// 1. price rule (level-controller.ts): climb the forecast's quantile levels from `baseLevel`
//    while the extra allocation per unit of violation probability avoided is at most
//    price x scale (scale = the instance's typical usage, an exponentially weighted mean with a
//    24 h half-life), extending past the top level with an exponential tail. With
//    `horizonSteps` > 1 each level's quantile is the max over the next steps.
// 2. budget controller: the price is per instance and resource; it starts at the reference
//    (`cpuPrice`, `memoryPrice`) and rises while the instance's realised violation rate is above
//    its budget (`cpuBudget`, `memoryBudget`), falling back to the reference when it is under.
//    Defaults: budgets 2 % (VPA's CPU violation rates on Bitbrains and Google are 1.6-2 %; the
//    aggregate comes out well under, since only instances above the budget are pushed); prices:
//    CPU 10 (one point of violation probability is worth 10 % of typical usage), memory 150
//    (a memory shortfall is an OOM kill, not throttling: 15x as dear).
// 3. guards: a safe floor (`minCpu*`, `minMemory*` per unit); the OOM guard for memory: after a
//    sample above the allocation in effect, the allocation is at least
//    `oomBumpRatio` x max(usage, allocation) (VPA's bump, but relative to what was forecast and
//    allocated), decaying with a half-life of `oomGuardHalfLifeMinutes`.
// 4. smoothing: up at once, down by `downFraction` of the gap per step (fast up, slow down).
//
// Operator settings (framework/settings.ts): the price is multiplied by headroom^2, headroom =
// 2^(1 - 2 x aggressiveness) (2 when degraded): x4 / x1 / x0.25 at aggressiveness 0 / 0.5 / 1;
// a degradationThreshold d replaces both budgets with d / (managed resources), in [0.001, 0.5].
// Without settings both are exactly the arguments'.
//
// Every decision carries reasons (R.FORECAST_QUANTILE plus 'predictive-*' constants), and
// `explain(id)` gives the controller state per resource (price, level, realised violation rate).
// An allocation at step i only depends on samples < i: the engine, the scale, the controller and
// the guard are all updated in `observe` after the sample was taken.
import { z } from 'zod';
import type { Amounts } from '../../../core/plan.js';
import type { Unit } from '../../../core/resources.js';
import type { ProbForecast } from '../../../forecast/types.js';
import { R } from '../../framework/reasons.js';
import type { PluginEntry } from '../../framework/registry.js';
import { effectiveSettings, headroomReasons, violationBudget } from '../../framework/settings.js';
import type { DecideContext, InstanceState, PluginEnv, ResourceKey, RightsizeDecision, Rightsizer } from '../../framework/types.js';
import { BudgetController, priceRule, type PriceRuleResult } from './level-controller.js';

/** Reason constants of this plugin (in addition to R.FORECAST_QUANTILE, R.OOM_BUMP, R.MIN_RESOURCES, R.NO_HISTORY, R.KEEP). */
export const PR = {
  PRICE_LEVEL: 'predictive-price-level',
  TAIL_EXTRAPOLATED: 'predictive-tail-extrapolated',
  BUDGET_RAISED_CPU: 'predictive-budget-raised-cpu',
  BUDGET_RAISED_MEMORY: 'predictive-budget-raised-memory',
  SMOOTHED_DOWN: 'predictive-smoothed-down',
  NO_FORECAST: 'predictive-no-forecast',
} as const;

export const predictiveArgs = z
  .object({
    /** Per-instance cap on the realised violation rate, CPU. */
    cpuBudget: z.number().gt(0).lt(1).default(0.02),
    /** Per-instance cap on the realised violation rate, memory. */
    memoryBudget: z.number().gt(0).lt(1).default(0.02),
    /** Reference price, CPU: allocation (x typical usage) one unit of violation probability is worth. */
    cpuPrice: z.number().positive().default(10),
    memoryPrice: z.number().positive().default(150),
    /** Controller gain (log-price step per violation). */
    gain: z.number().min(0).max(5).default(0.1),
    /** Largest rise of the log price above the reference. */
    maxRaise: z.number().min(0).max(50).default(Math.log(1e4)),
    /** Lowest level the price rule starts from. */
    baseLevel: z.number().gt(0).lt(1).default(0.9),
    /** Smallest tail probability the exponential extension goes to. */
    minTailProbability: z.number().gt(0).lt(0.5).default(1e-4),
    /** Smallest tail width, as a fraction of scale (so a flat forecast still has a tail). */
    minTailWidthFraction: z.number().min(0).default(0.02),
    /** Allocate for the max over the next this many steps (capped by the forecast's horizon). */
    horizonSteps: z.number().int().min(1).max(288).default(1),
    /** Half-life of the typical-usage scale, hours. */
    scaleHalfLifeHours: z.number().positive().default(24),
    oomBumpRatio: z.number().min(1).default(1.2),
    oomGuardHalfLifeMinutes: z.number().positive().default(30),
    /** Fraction of the gap closed per step when the allocation goes down (1 = at once). */
    downFraction: z.number().gt(0).max(1).default(0.5),
    minCpuMillicores: z.number().min(0).default(1),
    minCpuPercent: z.number().min(0).default(0.01),
    minMemoryMiB: z.number().min(0).default(16),
    minMemoryPercent: z.number().min(0).default(0.01),
  })
  .strict();
export type PredictiveArgs = z.infer<typeof predictiveArgs>;

/** Per-resource state of one instance. */
export interface ResourceState {
  readonly controller: BudgetController;
  /** Typical usage (EWMA); NaN before the first sample. */
  scale: number;
  /** OOM guard level (memory), decaying. */
  guard: number;
  /** Last allocation decided (NaN before the first). */
  last: number;
  /** Level chosen by the last decision. */
  level: number;
}

export interface InstanceExplanation {
  cpu?: { price: number; level: number; violationRate: number; samples: number; guard: number; scale: number };
  memory?: { price: number; level: number; violationRate: number; samples: number; guard: number; scale: number };
}

function minFor(unit: Unit, key: ResourceKey, a: PredictiveArgs): number {
  if (key === 'cpu') {
    if (unit === 'cores') return a.minCpuMillicores / 1000;
    if (unit === 'millicores') return a.minCpuMillicores;
    if (unit === 'percent') return a.minCpuPercent;
    return 0;
  }
  if (unit === 'MiB') return a.minMemoryMiB;
  if (unit === 'percent') return a.minMemoryPercent;
  return 0;
}

export class PredictiveRightsizer implements Rightsizer {
  readonly name = 'predictive';
  private readonly states = new Map<string, { cpu: ResourceState; memory: ResourceState }>();
  private readonly scaleDecay: number;
  private readonly guardDecay: number;
  private readonly scratch: PriceRuleResult = { allocation: 0, level: 0, extrapolated: false };
  private qbuf = new Float64Array(8);

  constructor(
    readonly args: PredictiveArgs,
    private readonly env: PluginEnv,
  ) {
    this.scaleDecay = Math.pow(0.5, env.stepSeconds / (args.scaleHalfLifeHours * 3600));
    this.guardDecay = Math.pow(0.5, env.stepSeconds / (args.oomGuardHalfLifeMinutes * 60));
  }

  private newResource(key: ResourceKey): ResourceState {
    const a = this.args;
    const c = key === 'cpu' ? new BudgetController(a.cpuPrice, a.cpuBudget, a.gain, a.maxRaise) : new BudgetController(a.memoryPrice, a.memoryBudget, a.gain, a.maxRaise);
    return { controller: c, scale: NaN, guard: 0, last: NaN, level: NaN };
  }

  state(id: string): { cpu: ResourceState; memory: ResourceState } {
    let s = this.states.get(id);
    if (!s) {
      s = { cpu: this.newResource('cpu'), memory: this.newResource('memory') };
      this.states.set(id, s);
    }
    return s;
  }

  forget(id: string): void {
    this.states.delete(id);
  }

  observe(inst: InstanceState, usage: Amounts, allocation: Amounts): void {
    const s = this.state(inst.id);
    this.observeResource(s.cpu, usage.cpu, allocation.cpu, false);
    this.observeResource(s.memory, usage.memory, allocation.memory, true);
  }

  private observeResource(r: ResourceState, u: number, alloc: number, oomGuard: boolean): void {
    r.guard *= this.guardDecay;
    if (!Number.isFinite(u)) return;
    r.scale = Number.isFinite(r.scale) ? this.scaleDecay * r.scale + (1 - this.scaleDecay) * u : u;
    // Only allocations this policy decided are scored (not the provisioned capacity before them).
    if (!Number.isFinite(alloc) || !Number.isFinite(r.last)) return;
    const violated = u > alloc;
    r.controller.record(violated);
    if (violated && oomGuard) r.guard = Math.max(r.guard, this.args.oomBumpRatio * Math.max(u, alloc));
  }

  explain(id: string): InstanceExplanation {
    const s = this.states.get(id);
    if (!s) return {};
    const one = (r: ResourceState) => ({
      price: r.controller.price,
      level: r.level,
      violationRate: r.controller.violationRate,
      samples: r.controller.samples,
      guard: r.guard,
      scale: r.scale,
    });
    return { cpu: one(s.cpu), memory: one(s.memory) };
  }

  /** The allocation for one resource from its forecast (NaN when there is nothing to go on). */
  private decideResource(key: ResourceKey, unit: Unit, f: ProbForecast | undefined, r: ResourceState, reasons: string[], priceFactor = 1): number {
    if (!f || f.levels.length === 0 || !Number.isFinite(r.scale)) return NaN;
    const a = this.args;
    const levels = f.levels;
    const K = levels.length;
    if (this.qbuf.length < K) this.qbuf = new Float64Array(K);
    const q = this.qbuf;
    const H = Math.min(a.horizonSteps, f.mean.length);
    for (let k = 0; k < K; k++) {
      const row = f.quantiles[k]!;
      let m = row[0]!;
      for (let h = 1; h < H; h++) if (row[h]! > m) m = row[h]!;
      q[k] = m;
    }
    for (let k = 0; k < K; k++) if (!Number.isFinite(q[k]!)) return NaN;
    let base = 0;
    while (base < K - 1 && levels[base]! < a.baseLevel - 1e-12) base++;
    const res = priceRule(levels, q, base, r.controller.price * priceFactor, r.scale, a.minTailProbability, a.minTailWidthFraction * r.scale, this.scratch);
    r.level = res.level;
    let alloc = res.allocation;
    if (res.extrapolated) reasons.push(PR.TAIL_EXTRAPOLATED);
    if (r.controller.raised) reasons.push(key === 'cpu' ? PR.BUDGET_RAISED_CPU : PR.BUDGET_RAISED_MEMORY);
    if (r.guard > alloc) {
      alloc = r.guard;
      reasons.push(R.OOM_BUMP);
    }
    if (Number.isFinite(r.last) && alloc < r.last && a.downFraction < 1) {
      alloc = r.last + a.downFraction * (alloc - r.last);
      reasons.push(PR.SMOOTHED_DOWN);
    }
    const floor = minFor(unit, key, a);
    if (alloc < floor) {
      alloc = floor;
      reasons.push(R.MIN_RESOURCES);
    }
    r.last = alloc;
    return alloc;
  }

  recommend(inst: InstanceState, ctx: DecideContext): RightsizeDecision {
    const s = this.state(inst.id);
    const f = ctx.forecasts.get(inst.id);
    if (!f) return { cpu: NaN, memory: NaN, reasons: [inst.samples === 0 ? R.NO_HISTORY : PR.NO_FORECAST, R.KEEP] };
    const reasons: string[] = [R.FORECAST_QUANTILE, PR.PRICE_LEVEL];
    const hasCpu = Number.isFinite(inst.capacity.cpu);
    const hasMemory = Number.isFinite(inst.capacity.memory);
    // operator settings: headroom scales the price; a degradation threshold sets the budgets
    const settings = effectiveSettings(ctx.snapshot, inst.id);
    const d = settings.degradationThreshold;
    s.cpu.controller.budget = d === undefined ? this.args.cpuBudget : violationBudget(d, (hasCpu ? 1 : 0) + (hasMemory ? 1 : 0));
    s.memory.controller.budget = d === undefined ? this.args.memoryBudget : s.cpu.controller.budget;
    if (d !== undefined) reasons.push(R.DEGRADATION_BUDGET);
    headroomReasons(settings, reasons);
    const priceFactor = settings.headroom * settings.headroom;
    const cpu = hasCpu ? this.decideResource('cpu', inst.units.cpu, f.cpu, s.cpu, reasons, priceFactor) : NaN;
    const memory = hasMemory ? this.decideResource('memory', inst.units.memory, f.memory, s.memory, reasons, priceFactor) : NaN;
    return { cpu, memory, reasons };
  }
}

export const predictivePolicy: PluginEntry<PredictiveArgs> = {
  name: 'predictive',
  description:
    'Forecast-driven rightsizing: per step, the quantile of the engine forecast where extra allocation stops paying for less risk (price rule), a per-instance violation budget, OOM guard, fast up / slow down',
  points: ['rightsize'],
  args: predictiveArgs,
  create: (a, env) => new PredictiveRightsizer(a, env),
  companions: { forecast: { name: 'predictive-forecast' } },
};
