// `predictive-forecast`: the forecasting engine (src/forecast) as the policy framework's forecast
// source. One online ensemble per instance and resource, fed every sample through `observe`;
// `forecast` returns its probabilistic forecast for the next `horizonSteps` steps, which the
// runner hands to every plugin as `ctx.forecasts` (the `predictive` rightsizer, and
// `peak-predictor` with method 'forecast' for overcommit).
//
// members 'fast' (default): the engine's own members restricted to the cheap ones that carry most
// of the weight at one step ahead (conformal naive and SES(0.3), and the two sliding-window
// quantiles), two blended, scored every `evalEverySteps` samples: about 1.7 µs per update and
// forecast instead of 6.7 µs for the full ensemble (one thread, the Bitbrains month of 125 VMs x
// 2 resources: 3.5 s vs 14 s). 'full' = the engine's default ensemble.
import { z } from 'zod';
import type { Amounts } from '../../../core/plan.js';
import { createEngine, defaultMembers } from '../../../forecast/engine.js';
import { EnsembleForecaster } from '../../../forecast/ensemble.js';
import type { PluginEntry } from '../../framework/registry.js';
import type { ForecastProvider, InstanceForecast, InstanceState, PluginEnv, ResourceKey } from '../../framework/types.js';

/** Quantile levels the engine forecasts by default (the price rule walks the upper ones). */
export const PREDICTIVE_LEVELS: readonly number[] = [0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995];

export const predictiveForecastArgs = z
  .object({
    levels: z.array(z.number().gt(0).lt(1)).min(2).default([...PREDICTIVE_LEVELS]),
    horizonSteps: z.number().int().min(1).max(288).default(1),
    members: z.enum(['fast', 'full']).default('fast'),
    /** 'fast' only: members blended. */
    topK: z.number().int().min(1).max(12).default(2),
    /** 'fast' only: score the members every this many samples. */
    evalEverySteps: z.number().int().min(1).max(288).default(6),
  })
  .strict();
export type PredictiveForecastArgs = z.infer<typeof predictiveForecastArgs>;

/** Names of the engine members kept by the 'fast' configuration. */
export function isFastMember(name: string): boolean {
  return name === 'conformal(naive)' || name === 'conformal(ses(0.3))' || name.startsWith('window-quantile(');
}

/** An engine for one series, in the configuration the args ask for. */
export function createSeriesEngine(a: PredictiveForecastArgs, stepSeconds: number): EnsembleForecaster {
  const levels = [...a.levels].sort((x, y) => x - y);
  const o = { horizon: a.horizonSteps, levels, stepSeconds };
  if (a.members === 'full') return createEngine(o);
  let members = defaultMembers(o).filter((m) => isFastMember(m.name));
  if (members.length < 2) members = defaultMembers(o); // the engine renamed its members: use them all
  return new EnsembleForecaster(members, { levels, horizon: a.horizonSteps, topK: Math.min(a.topK, members.length), evalEvery: a.evalEverySteps, coverageRate: 0.02 });
}

interface Engines {
  cpu: EnsembleForecaster | null;
  memory: EnsembleForecaster | null;
  samples: number;
}

export class PredictiveForecastProvider implements ForecastProvider {
  readonly name = 'predictive-forecast';
  private readonly engines = new Map<string, Engines>();

  constructor(
    readonly args: PredictiveForecastArgs,
    private readonly env: PluginEnv,
  ) {}

  private engine(inst: InstanceState, key: ResourceKey, e: Engines): EnsembleForecaster | null {
    let f = e[key];
    if (!f && Number.isFinite(inst.capacity[key])) {
      f = createSeriesEngine(this.args, this.env.stepSeconds);
      e[key] = f;
    }
    return f;
  }

  observe(inst: InstanceState, usage: Amounts): void {
    let e = this.engines.get(inst.id);
    if (!e) {
      e = { cpu: null, memory: null, samples: 0 };
      this.engines.set(inst.id, e);
    }
    this.engine(inst, 'cpu', e)?.update(usage.cpu);
    this.engine(inst, 'memory', e)?.update(usage.memory);
    e.samples++;
  }

  forget(id: string): void {
    this.engines.delete(id);
  }

  forecast(inst: InstanceState): InstanceForecast | undefined {
    const e = this.engines.get(inst.id);
    if (!e || e.samples === 0) return undefined;
    const out: InstanceForecast = {};
    if (e.cpu) out.cpu = e.cpu.forecast(this.args.horizonSteps);
    if (e.memory) out.memory = e.memory.forecast(this.args.horizonSteps);
    return out;
  }
}

export const predictiveForecastPolicy: PluginEntry<PredictiveForecastArgs> = {
  name: 'predictive-forecast',
  description: 'Forecast source: one online ensemble of the forecasting engine per instance and resource (quantile forecasts for ctx.forecasts)',
  points: ['forecast'],
  args: predictiveForecastArgs,
  create: (a, env) => new PredictiveForecastProvider(a, env),
};
