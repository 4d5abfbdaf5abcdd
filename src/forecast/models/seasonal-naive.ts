// Seasonal naive forecaster: tomorrow at 10:00 looks like today at 10:00.
import { z } from 'zod';
import type { Forecaster } from '../types.js';
import { checkHorizon, isMissing, parseOptions } from './common.js';

export interface SeasonalNaiveOptions {
  /** Season length in samples (288 = one day at 5-minute steps). 1 = plain naive (last value). Default 1. */
  period?: number;
  /** Name reported by the model. Default `seasonal-naive(<period>)`. */
  name?: string;
}

export const seasonalNaiveOptionsSchema = z.strictObject({
  period: z.number().int().min(1).max(1_000_000).default(1),
  name: z.string().min(1).optional(),
});

/**
 * Forecast `y[t+h] = y[t+h-period*k]` with the smallest k >= 1 that reaches a sample already seen.
 * With `period = 1` this is the naive forecaster (the last value, flat).
 *
 * Missing samples (NaN, ±Infinity) are imputed with the value one period earlier (or the last
 * finite value while less than a period has been seen); steps not yet seen forecast the last
 * finite value. Before any finite sample the forecast is NaN. `count` counts every update.
 *
 * Cost: update O(1) (one ring-buffer write, no allocation); forecast O(horizon); memory
 * `period` doubles.
 */
export class SeasonalNaiveForecaster implements Forecaster {
  readonly name: string;
  readonly period: number;
  private readonly ring: Float64Array;
  private pos = 0;
  private n = 0;
  private last = NaN;

  constructor(options: SeasonalNaiveOptions = {}) {
    const o = parseOptions(seasonalNaiveOptionsSchema, options, 'seasonal-naive');
    this.period = o.period;
    this.name = o.name ?? `seasonal-naive(${o.period})`;
    this.ring = new Float64Array(o.period).fill(NaN);
  }

  get count(): number {
    return this.n;
  }

  update(y: number): void {
    if (isMissing(y)) {
      const prev = this.ring[this.pos]!; // the sample one period ago (NaN until a period is seen)
      y = prev === prev ? prev : this.last;
    } else {
      this.last = y;
    }
    this.ring[this.pos] = y;
    this.pos = this.pos + 1 === this.period ? 0 : this.pos + 1;
    this.n++;
  }

  forecast(horizon: number, into?: Float64Array): Float64Array {
    checkHorizon(horizon);
    const out = into ?? new Float64Array(horizon);
    const m = this.period;
    // Step h reads the sample at absolute index n - m + ((h - 1) mod m), which lives in slot
    // (pos + (h - 1)) mod m once at least a period has been seen.
    let slot = this.pos;
    for (let h = 0; h < horizon; h++) {
      const age = m - (h % m); // how many samples back the source is
      let v = age <= this.n ? this.ring[slot]! : NaN;
      if (v !== v) v = this.last;
      out[h] = v;
      slot = slot + 1 === m ? 0 : slot + 1;
    }
    return out;
  }
}
