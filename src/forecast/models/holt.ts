// Holt's linear method with a damped trend (ETS(A,Ad,N)).
import { z } from 'zod';
import type { Forecaster } from '../types.js';
import { checkHorizon, isMissing, parseOptions } from './common.js';

export interface HoltOptions {
  /** Level smoothing weight, in (0, 1]. Default 0.5. */
  alpha?: number;
  /** Trend smoothing weight (beta* of Hyndman & Athanasopoulos, fpp3 section 8.2), in [0, 1]. Default 0.1. */
  beta?: number;
  /** Trend damping, in (0, 1]; 1 = undamped (plain Holt). Default 0.98. */
  phi?: number;
  /** Name reported by the model. Default `holt(<alpha>,<beta>,<phi>)`. */
  name?: string;
}

export const holtOptionsSchema = z.strictObject({
  alpha: z.number().gt(0).max(1).default(0.5),
  beta: z.number().min(0).max(1).default(0.1),
  phi: z.number().gt(0).max(1).default(0.98),
  name: z.string().min(1).optional(),
});

/**
 * Double exponential smoothing with a damped trend (fpp3 notation):
 *
 *     l_t = alpha * y_t + (1 - alpha) * (l_{t-1} + phi * b_{t-1})
 *     b_t = beta * (l_t - l_{t-1}) + (1 - beta) * phi * b_{t-1}
 *     yhat_{t+h} = l_t + (phi + phi^2 + ... + phi^h) * b_t
 *
 * Initialisation: the first finite sample sets `l = y, b = 0`; the second finite sample sets
 * `b = (y - l) / (steps between them), l = y`; the recursion runs from the third finite sample on.
 * A missing sample (NaN, ±Infinity) advances time without information: `l += phi*b, b *= phi`
 * (the same as feeding the model its own one-step forecast). Before any finite sample the
 * forecast is NaN. `count` counts every update.
 *
 * Cost: update O(1), about ten flops, no allocation; forecast O(horizon); memory O(1).
 */
export class HoltForecaster implements Forecaster {
  readonly name: string;
  readonly alpha: number;
  readonly beta: number;
  readonly phi: number;
  private lvl = NaN;
  private trd = 0;
  /** 0 = no finite sample yet, 1 = one finite sample, 2 = running. */
  private phase = 0;
  private firstIndex = 0;
  private n = 0;

  constructor(options: HoltOptions = {}) {
    const o = parseOptions(holtOptionsSchema, options, 'holt');
    this.alpha = o.alpha;
    this.beta = o.beta;
    this.phi = o.phi;
    this.name = o.name ?? `holt(${o.alpha},${o.beta},${o.phi})`;
  }

  get count(): number {
    return this.n;
  }

  /** Current level l_t (NaN before the first finite sample). */
  get level(): number {
    return this.lvl;
  }

  /** Current trend b_t per step. */
  get trend(): number {
    return this.trd;
  }

  update(y: number): void {
    const index = this.n++;
    if (isMissing(y)) {
      if (this.phase === 2) {
        this.lvl += this.phi * this.trd;
        this.trd *= this.phi;
      }
      return;
    }
    if (this.phase === 2) {
      const l0 = this.lvl;
      const pb = this.phi * this.trd;
      const l = this.alpha * y + (1 - this.alpha) * (l0 + pb);
      this.trd = this.beta * (l - l0) + (1 - this.beta) * pb;
      this.lvl = l;
    } else if (this.phase === 1) {
      this.trd = (y - this.lvl) / (index - this.firstIndex);
      this.lvl = y;
      this.phase = 2;
    } else {
      this.lvl = y;
      this.trd = 0;
      this.firstIndex = index;
      this.phase = 1;
    }
  }

  forecast(horizon: number, into?: Float64Array): Float64Array {
    checkHorizon(horizon);
    const out = into ?? new Float64Array(horizon);
    const phi = this.phi;
    const l = this.lvl;
    const b = this.trd;
    let p = 1;
    let s = 0;
    for (let h = 0; h < horizon; h++) {
      p *= phi;
      s += p;
      out[h] = l + s * b;
    }
    return out;
  }
}
