// Simple exponential smoothing (ETS(A,N,N)).
import { z } from 'zod';
import type { Forecaster } from '../types.js';
import { checkHorizon, flat, isMissing, parseOptions } from './common.js';

export interface SesOptions {
  /** Smoothing weight of the newest sample, in (0, 1]. Default 0.5. */
  alpha?: number;
  /** Name reported by the model. Default `ses(<alpha>)`. */
  name?: string;
}

export const sesOptionsSchema = z.strictObject({
  alpha: z.number().gt(0).max(1).default(0.5),
  name: z.string().min(1).optional(),
});

/**
 * Simple exponential smoothing: `level_t = level_{t-1} + alpha * (y_t - level_{t-1})`, the level
 * initialised to the first finite sample; the forecast is the level, flat over the horizon.
 *
 * A missing sample (NaN, ±Infinity) leaves the level unchanged (the same as feeding the model its
 * own forecast). Before any finite sample the forecast is NaN. `count` counts every update.
 *
 * Cost: update O(1), a multiply-add; forecast O(horizon); memory O(1).
 */
export class SesForecaster implements Forecaster {
  readonly name: string;
  readonly alpha: number;
  private lvl = NaN;
  private n = 0;

  constructor(options: SesOptions = {}) {
    const o = parseOptions(sesOptionsSchema, options, 'ses');
    this.alpha = o.alpha;
    this.name = o.name ?? `ses(${o.alpha})`;
  }

  get count(): number {
    return this.n;
  }

  /** Current level (NaN before the first finite sample). */
  get level(): number {
    return this.lvl;
  }

  update(y: number): void {
    this.n++;
    if (isMissing(y)) return;
    const l = this.lvl;
    this.lvl = l === l ? l + this.alpha * (y - l) : y;
  }

  forecast(horizon: number, into?: Float64Array): Float64Array {
    checkHorizon(horizon);
    return flat(horizon, this.lvl, into);
  }
}
