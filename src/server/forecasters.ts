// Per instance and resource online forecasters for the control loop (the forecasting engine of
// src/forecast, configured like the `predictive-forecast` source: 'fast' members or the 'full'
// default ensemble).
//
// Each tick records the instance's usage. Every `everyTicks` ticks an instance's step closes: the
// mean CPU and the peak memory over those ticks feed its engines, and the forecast is recomputed
// and kept. Instances are spread over the ticks (instance k closes its step on ticks where
// (tick + slot_k) % everyTicks === 0), so a large fleet costs the same every tick instead of
// all at once. With everyTicks = 1 every tick is a step.
import type { Amounts } from '../core/plan.js';
import type { ProbForecast } from '../forecast/types.js';
import type { InstanceForecast } from '../policy/framework/types.js';
import { createSeriesEngine } from '../policy/plugins/predictive/forecast-provider.js';
import type { EnsembleForecaster } from '../forecast/ensemble.js';

export interface ForecasterOptions {
  /** Steps forecast ahead. */
  horizonSteps: number;
  /** Quantile levels, ascending, in (0, 1). */
  levels: readonly number[];
  /** 'fast': the engine's cheap members (about 7 µs per update and forecast); 'full': createEngine's ensemble. */
  members: 'fast' | 'full';
  /** Ticks per forecast step (>= 1). */
  everyTicks: number;
  /** Model seconds per tick (a forecast step is everyTicks * stepSeconds). */
  stepSeconds: number;
}

export const DEFAULT_FORECAST_LEVELS: readonly number[] = [0.05, 0.25, 0.5, 0.75, 0.9, 0.95];

export interface LatestForecast {
  /** Tick whose step closed when the forecast was made. */
  tick: number;
  madeAtMs: number;
  stepSeconds: number;
  cpu?: ProbForecast;
  memory?: ProbForecast;
}

interface Entry {
  slot: number;
  cpu: EnsembleForecaster | null;
  memory: EnsembleForecaster | null;
  cpuSum: number;
  cpuN: number;
  memMax: number;
  /** Any usage recorded since the entry was created (no engine is fed before the first sample). */
  seen: boolean;
  latest?: LatestForecast;
}

export class SeriesForecasters {
  private readonly entries = new Map<string, Entry>();
  private nextSlot = 0;
  private readonly forecasts = new Map<string, InstanceForecast>();

  constructor(readonly options: ForecasterOptions) {
    if (!(Number.isInteger(options.everyTicks) && options.everyTicks >= 1)) throw new RangeError(`everyTicks must be an integer >= 1, got ${options.everyTicks}`);
  }

  get size(): number {
    return this.entries.size;
  }

  private engine(): EnsembleForecaster {
    const o = this.options;
    return createSeriesEngine(
      { levels: [...o.levels], horizonSteps: o.horizonSteps, members: o.members, topK: 2, evalEverySteps: 6 },
      o.stepSeconds * o.everyTicks,
    );
  }

  add(id: string): void {
    if (this.entries.has(id)) return;
    this.entries.set(id, { slot: this.nextSlot++ % this.options.everyTicks, cpu: null, memory: null, cpuSum: 0, cpuN: 0, memMax: NaN, seen: false });
  }

  remove(id: string): void {
    this.entries.delete(id);
    this.forecasts.delete(id);
  }

  /** Usage observed for an instance this tick (NaN fields = not measured). */
  record(id: string, usage: Amounts): void {
    const e = this.entries.get(id);
    if (!e) return;
    if (Number.isFinite(usage.cpu)) {
      e.cpuSum += usage.cpu;
      e.cpuN++;
      e.seen = true;
    }
    if (Number.isFinite(usage.memory)) {
      e.memMax = Number.isNaN(e.memMax) ? usage.memory : Math.max(e.memMax, usage.memory);
      e.seen = true;
    }
  }

  /**
   * Closes the steps due at this tick: feeds the engines and recomputes those forecasts.
   * Returns the ids whose forecast changed.
   */
  step(tick: number, nowMs: number): string[] {
    const k = this.options.everyTicks;
    const changed: string[] = [];
    for (const [id, e] of this.entries) {
      if ((tick + e.slot) % k !== 0 || !e.seen) continue;
      const cpu = e.cpuN > 0 ? e.cpuSum / e.cpuN : NaN;
      const mem = e.memMax;
      e.cpuSum = 0;
      e.cpuN = 0;
      e.memMax = NaN;
      if (!e.cpu && Number.isFinite(cpu)) e.cpu = this.engine();
      if (!e.memory && Number.isFinite(mem)) e.memory = this.engine();
      e.cpu?.update(cpu);
      e.memory?.update(mem);
      const h = this.options.horizonSteps;
      const latest: LatestForecast = { tick, madeAtMs: nowMs, stepSeconds: this.options.stepSeconds * k };
      if (e.cpu) latest.cpu = e.cpu.forecast(h);
      if (e.memory) latest.memory = e.memory.forecast(h);
      e.latest = latest;
      const f: InstanceForecast = {};
      if (latest.cpu) f.cpu = latest.cpu;
      if (latest.memory) f.memory = latest.memory;
      this.forecasts.set(id, f);
      changed.push(id);
    }
    return changed;
  }

  latest(id: string): LatestForecast | undefined {
    return this.entries.get(id)?.latest;
  }

  /** Latest forecasts of every instance, in the shape decide() takes. */
  all(): ReadonlyMap<string, InstanceForecast> {
    return this.forecasts;
  }
}

/** Quantile `level` at step `h` (1-based) of a forecast, interpolating between its levels. */
export function quantileAt(f: ProbForecast, level: number, h = 1): number {
  const lv = f.levels;
  if (lv.length === 0) return f.mean[h - 1] ?? NaN;
  let k = 0;
  while (k < lv.length && lv[k]! < level) k++;
  if (k < lv.length && lv[k] === level) return f.quantiles[k]![h - 1]!;
  if (k === 0) return f.quantiles[0]![h - 1]!;
  if (k === lv.length) return f.quantiles[lv.length - 1]![h - 1]!;
  const a = lv[k - 1]!;
  const b = lv[k]!;
  const qa = f.quantiles[k - 1]![h - 1]!;
  const qb = f.quantiles[k]![h - 1]!;
  return qa + ((qb - qa) * (level - a)) / (b - a);
}
