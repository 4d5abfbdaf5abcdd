// Additive Holt-Winters with a damped trend (ETS(A,Ad,A)), season given or detected.
import { z } from 'zod';
import type { Forecaster } from '../types.js';
import { checkHorizon, isMissing, parseOptions } from './common.js';
import { HoltForecaster } from './holt.js';
import { detectSeasonPeriod } from './season.js';

export interface HoltWintersOptions {
  /** Level smoothing weight, in (0, 1]. Default 0.3. */
  alpha?: number;
  /** Trend smoothing weight (beta* of fpp3), in [0, 1]. Default 0.01. */
  beta?: number;
  /** Seasonal smoothing weight, in [0, 1] (fpp3 advises gamma <= 1 - alpha). Default 0.2. */
  gamma?: number;
  /** Trend damping, in (0, 1]; 1 = undamped. Default 0.98. */
  phi?: number;
  /**
   * Season length in samples; 0 = no season (the model is then damped Holt); 'auto' = detect it
   * from the first samples among `candidates` (see `detectSeasonPeriod`). Default 'auto'.
   */
  period?: number | 'auto';
  /**
   * Sample step, used only to derive the default candidates of `period: 'auto'`: one day and one
   * week in samples (288 and 2016 at the default 300 s). Default 300.
   */
  stepSeconds?: number;
  /** Season lengths tried by `period: 'auto'`. Default: a day and a week at `stepSeconds`. */
  candidates?: number[];
  /** Number of full periods buffered to initialise level, trend and season. Default 2. */
  initPeriods?: number;
  /** Name reported by the model. Default `holt-winters(<period>)`. */
  name?: string;
}

export const holtWintersOptionsSchema = z.strictObject({
  alpha: z.number().gt(0).max(1).default(0.3),
  beta: z.number().min(0).max(1).default(0.01),
  gamma: z.number().min(0).max(1).default(0.2),
  phi: z.number().gt(0).max(1).default(0.98),
  period: z.union([z.number().int().min(0).max(100_000), z.literal('auto')]).default('auto'),
  stepSeconds: z.number().gt(0).default(300),
  candidates: z.array(z.number().int().min(2).max(100_000)).min(1).optional(),
  initPeriods: z.number().int().min(1).max(10).default(2),
  name: z.string().min(1).optional(),
});

const DAY_SECONDS = 86_400;

/**
 * 'warmup': buffering the first periods of a given season; 'searching': period 'auto', no season
 * found yet; 'seasonal': running Holt-Winters; 'holt': no season (period 0), damped Holt.
 */
export type HoltWintersState = 'warmup' | 'searching' | 'seasonal' | 'holt';

/**
 * Additive Holt-Winters with a damped trend, in the error-correction form of fpp3 (section 8.3):
 *
 *     l_t = alpha * (y_t - s_{t-m}) + (1 - alpha) * (l_{t-1} + phi * b_{t-1})
 *     b_t = beta * (l_t - l_{t-1}) + (1 - beta) * phi * b_{t-1}
 *     s_t = gamma * (y_t - l_{t-1} - phi * b_{t-1}) + (1 - gamma) * s_{t-m}
 *     yhat_{t+h} = l_t + (phi + ... + phi^h) * b_t + s_{t+h-m(k+1)},  k = floor((h-1)/m)
 *
 * Initialisation (classical decomposition of the first `initPeriods` periods, buffered): period
 * means `M_j`; trend `b_0 = (M_last - M_0) / ((initPeriods - 1) * m)` (0 with one period); level
 * `l_0 = M_0 - b_0 * (m + 1) / 2` (the level one step before the first sample); season
 * `s_i` = mean over periods of `y_{jm+i} - (M_j + b_0 * (i - (m - 1) / 2))`, centred to sum 0.
 * The recursion then replays the buffered samples, once, and runs online from there on.
 *
 * While warming up or searching (and for good when `period` is 0) the forecasts come from an
 * internal damped Holt model with the same alpha, beta and phi. `period: 'auto'` keeps the
 * latest `max(2, initPeriods)` longest-candidate periods in a ring, tests them for a season
 * (`detectSeasonPeriod` with the candidates) every shortest-candidate samples once two periods
 * of it are in, and on the first season found initialises from the ring and runs seasonal for
 * good. A series that turns seasonal late is still caught.
 *
 * A missing sample (NaN, ±Infinity) advances time without information (`l += phi*b, b *= phi`,
 * season slot unchanged: the same as feeding the model its own forecast). `count` counts every
 * update. Before any finite sample the forecast is NaN.
 *
 * Cost: update O(1) once running (about 20 flops, no allocation); one O(initPeriods * m)
 * initialisation; while 'searching', an O(buffer * candidates) detection every
 * shortest-candidate samples (defaults: 4032 * 2 every 288, about 30 flops per update
 * amortised); forecast O(horizon); memory m doubles, plus the buffer until seasonal.
 */
export class HoltWintersForecaster implements Forecaster {
  readonly name: string;
  readonly alpha: number;
  readonly beta: number;
  readonly gamma: number;
  readonly phi: number;
  private readonly initPeriods: number;
  private readonly candidates: readonly number[] | null;
  private m: number;
  private mode: HoltWintersState;
  private holt: HoltForecaster | null;
  /** Ring of the latest samples (warm-up / search); null once seasonal or with no season. */
  private buf: Float64Array | null;
  private bufPos = 0;
  private bufLen = 0;
  private sinceCheck = 0;
  private season: Float64Array = new Float64Array(0);
  private pos = 0;
  private lvl = NaN;
  private trd = 0;
  private n = 0;

  constructor(options: HoltWintersOptions = {}) {
    const o = parseOptions(holtWintersOptionsSchema, options, 'holt-winters');
    this.alpha = o.alpha;
    this.beta = o.beta;
    this.gamma = o.gamma;
    this.phi = o.phi;
    this.initPeriods = o.initPeriods;
    this.holt = new HoltForecaster({ alpha: o.alpha, beta: o.beta, phi: o.phi });
    if (o.period === 'auto') {
      const step = o.stepSeconds;
      const defaults = [DAY_SECONDS / step, (7 * DAY_SECONDS) / step].filter((c) => Number.isInteger(c) && c >= 2);
      const cands = [...(o.candidates ?? defaults)].sort((a, b) => a - b);
      this.candidates = cands;
      this.m = 0;
      this.mode = cands.length > 0 ? 'searching' : 'holt';
      this.buf = cands.length > 0 ? new Float64Array(Math.max(2, this.initPeriods) * cands[cands.length - 1]!) : null;
    } else {
      this.candidates = null;
      this.m = o.period >= 2 ? o.period : 0;
      this.mode = this.m > 0 ? 'warmup' : 'holt';
      this.buf = this.m > 0 ? new Float64Array(this.initPeriods * this.m) : null;
    }
    this.name = o.name ?? `holt-winters(${o.period})`;
  }

  get count(): number {
    return this.n;
  }

  /** Season length in use: 0 while unknown ('searching') or when there is none. */
  get period(): number {
    return this.m;
  }

  /** See HoltWintersState. */
  get state(): HoltWintersState {
    return this.mode;
  }

  /** Current level, trend and the season (a copy, next slot first); null unless running seasonal. */
  components(): { level: number; trend: number; season: Float64Array } | null {
    if (this.mode !== 'seasonal') return null;
    const m = this.m;
    const s = new Float64Array(m);
    for (let i = 0; i < m; i++) s[i] = this.season[(this.pos + i) % m]!;
    return { level: this.lvl, trend: this.trd, season: s };
  }

  update(y: number): void {
    this.n++;
    if (this.mode === 'seasonal') {
      this.step(y);
      return;
    }
    this.holt!.update(y);
    if (this.mode === 'holt') return;
    const buf = this.buf!;
    const cap = buf.length;
    buf[this.bufPos] = y;
    this.bufPos = this.bufPos + 1 === cap ? 0 : this.bufPos + 1;
    if (this.bufLen < cap) this.bufLen++;
    if (this.candidates === null) {
      if (this.bufLen === cap) this.initialise();
      return;
    }
    // 'auto': test the latest samples for a season every shortest-candidate samples, for ever.
    const shortest = this.candidates[0]!;
    if (++this.sinceCheck < shortest || this.bufLen < 2 * shortest) return;
    this.sinceCheck = 0;
    const m = detectSeasonPeriod(this.chronological(), { candidates: this.candidates });
    if (m > 0 && this.bufLen >= this.initPeriods * m) {
      this.m = m;
      this.initialise();
    }
  }

  /** The buffered samples, oldest first, moved to the start of the buffer (O(buffer)). */
  private chronological(): Float64Array {
    const buf = this.buf!;
    if (this.bufLen === buf.length && this.bufPos !== 0) {
      const ordered = new Float64Array(buf.length);
      ordered.set(buf.subarray(this.bufPos));
      ordered.set(buf.subarray(0, this.bufPos), buf.length - this.bufPos);
      buf.set(ordered);
      this.bufPos = 0;
    }
    return buf.subarray(0, this.bufLen);
  }

  /** True once a season is found and the seasonal model runs (before that it is plain Holt). */
  get ready(): boolean {
    return this.mode === 'seasonal';
  }

  forecast(horizon: number, into?: Float64Array): Float64Array {
    checkHorizon(horizon);
    if (this.mode !== 'seasonal') return this.holt!.forecast(horizon, into);
    const out = into ?? new Float64Array(horizon);
    const m = this.m;
    const phi = this.phi;
    const l = this.lvl;
    const b = this.trd;
    let p = 1;
    let s = 0;
    let slot = this.pos;
    for (let h = 0; h < horizon; h++) {
      p *= phi;
      s += p;
      out[h] = l + s * b + this.season[slot]!;
      slot = slot + 1 === m ? 0 : slot + 1;
    }
    return out;
  }

  /** One step of the recursion (the hot path). */
  private step(y: number): void {
    const pos = this.pos;
    const pb = this.phi * this.trd;
    if (isMissing(y)) {
      this.lvl += pb;
      this.trd = pb;
    } else {
      const l0 = this.lvl;
      const s0 = this.season[pos]!;
      const l = this.alpha * (y - s0) + (1 - this.alpha) * (l0 + pb);
      this.trd = this.beta * (l - l0) + (1 - this.beta) * pb;
      this.season[pos] = this.gamma * (y - l0 - pb) + (1 - this.gamma) * s0;
      this.lvl = l;
    }
    this.pos = pos + 1 === this.m ? 0 : pos + 1;
  }

  /** Classical initialisation from the buffered periods, then replay of the whole buffer. */
  private initialise(): void {
    const buf = this.chronological();
    const m = this.m;
    const k = Math.min(this.initPeriods, Math.floor(this.bufLen / m));
    const means = new Float64Array(k);
    let any = false;
    for (let j = 0; j < k; j++) {
      let sum = 0;
      let cnt = 0;
      for (let i = j * m; i < (j + 1) * m; i++) {
        const v = buf[i]!;
        if (!isMissing(v)) {
          sum += v;
          cnt++;
        }
      }
      means[j] = cnt > 0 ? sum / cnt : NaN;
      if (cnt > 0) any = true;
    }
    if (!any) {
      // Nothing but missing samples so far: start the warm-up again (season phase is relative to
      // the buffer start, so nothing is lost).
      this.bufLen = 0;
      this.bufPos = 0;
      return;
    }
    // A period with no finite sample borrows the mean of the others.
    let ms = 0;
    let mc = 0;
    for (let j = 0; j < k; j++) if (means[j] === means[j]) (ms += means[j]!), mc++;
    for (let j = 0; j < k; j++) if (means[j] !== means[j]) means[j] = ms / mc;
    const b0 = k >= 2 ? (means[k - 1]! - means[0]!) / ((k - 1) * m) : 0;
    const season = new Float64Array(m);
    let total = 0;
    for (let i = 0; i < m; i++) {
      let sum = 0;
      let cnt = 0;
      for (let j = 0; j < k; j++) {
        const v = buf[j * m + i]!;
        if (!isMissing(v)) {
          sum += v - (means[j]! + b0 * (i - (m - 1) / 2));
          cnt++;
        }
      }
      season[i] = cnt > 0 ? sum / cnt : 0;
      total += season[i]!;
    }
    const centre = total / m;
    for (let i = 0; i < m; i++) season[i]! -= centre;
    this.season = season;
    this.lvl = means[0]! - (b0 * (m + 1)) / 2;
    this.trd = b0;
    this.pos = 0;
    this.mode = 'seasonal';
    for (let t = 0; t < buf.length; t++) this.step(buf[t]!);
    this.buf = null;
    this.holt = null;
  }
}
