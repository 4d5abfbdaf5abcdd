// The Kubernetes VPA recommender's decaying exponential histogram, and a forecaster over it.
import { z } from 'zod';
import { InputError } from '../../core/errors.js';
import type { QuantileForecaster } from '../types.js';
import { checkHorizon, checkLevels, fillRange, flat, isMissing, parseOptions } from './common.js';

/** When a weight's exponent would pass 2^MAX_DECAY_EXPONENT the reference time moves forward (as VPA). */
const MAX_DECAY_EXPONENT = 100;

export interface DecayingHistogramOptions {
  /** Width of the first bucket [0, firstBucket), in the unit of the values (VPA: 0.001 core). */
  firstBucket: number;
  /** Largest value with its own bucket; larger values fall into the last bucket. */
  maxValue: number;
  /** Each bucket is this much wider than the previous one, > 1. Default 1.05 (VPA). */
  ratio?: number;
  /** Time for a sample to lose half its weight, in seconds. Default 86400 (VPA's 24 h). */
  halfLifeSeconds?: number;
  /** A bucket lighter than this counts as empty. Default 1e-4 (VPA: 0.001 * minSampleWeight 0.1). */
  epsilon?: number;
}

export const decayingHistogramOptionsSchema = z.strictObject({
  firstBucket: z.number().gt(0),
  maxValue: z.number().gt(0),
  ratio: z.number().gt(1).max(10).default(1.05),
  halfLifeSeconds: z.number().gt(0).default(86_400),
  epsilon: z.number().gt(0).default(1e-4),
});

/**
 * A histogram with exponentially growing buckets whose samples lose half their weight every
 * `halfLifeSeconds`, as the Kubernetes VPA recommender's (vertical-pod-autoscaler
 * pkg/recommender/util: histogram.go, histogram_options.go, decaying_histogram.go):
 *
 * - bucket n >= 1 starts at `firstBucket * (ratio^n - 1) / (ratio - 1)`; bucket 0 is
 *   [0, firstBucket); the last bucket starts at or above `maxValue` and has no upper bound;
 *   values below 0 go to bucket 0, values above the last start to the last bucket;
 * - a sample at time t is added with weight `w * 2^((t - reference) / halfLife)`, the reference
 *   time a multiple of the half life, moved forward (and all weights scaled by a power of two)
 *   when an exponent would pass 100;
 * - `percentile(p)` walks the buckets from the smallest non-empty one until the cumulative
 *   weight reaches `p * total` and returns that bucket's END (its upper bound), or the start of
 *   the last bucket; 0 when empty. So it over-estimates by at most one bucket width (5 %).
 *
 * Additions to VPA: `mean()` (the decayed weighted mean of the raw values, not bucketed) and
 * `merge` that leaves the other histogram untouched.
 *
 * Cost: addSample O(1) (a log, a pow, no allocation); percentile O(buckets); memory one double
 * per bucket (about 220-280 buckets for a 1e6-1e7 range at ratio 1.05).
 */
export class DecayingHistogram {
  readonly firstBucket: number;
  readonly maxValue: number;
  readonly ratio: number;
  readonly halfLifeSeconds: number;
  readonly epsilon: number;
  /** Number of buckets. */
  readonly size: number;
  private readonly logRatio: number;
  /** starts[i] = start of bucket i; starts[size] = +Infinity. */
  private readonly starts: Float64Array;
  private readonly weights: Float64Array;
  private total = 0;
  private minBucket: number;
  private maxBucket = 0;
  private ref = 0;
  private sumW = 0;
  private sumWV = 0;

  constructor(options: DecayingHistogramOptions) {
    const o = parseOptions(decayingHistogramOptionsSchema, options, 'decaying histogram');
    this.firstBucket = o.firstBucket;
    this.maxValue = o.maxValue;
    this.ratio = o.ratio;
    this.halfLifeSeconds = o.halfLifeSeconds;
    this.epsilon = o.epsilon;
    this.logRatio = Math.log(o.ratio);
    this.size = Math.ceil(Math.log((o.maxValue * (o.ratio - 1)) / o.firstBucket + 1) / this.logRatio) + 1;
    this.starts = bucketStarts(o.firstBucket, o.ratio, this.size);
    this.weights = new Float64Array(this.size);
    this.minBucket = this.size - 1;
  }

  /** Start (inclusive lower bound) of bucket i. */
  bucketStart(i: number): number {
    return this.starts[i]!;
  }

  /** End of bucket i (the next start; Infinity for the last bucket). */
  bucketEnd(i: number): number {
    return this.starts[i + 1]!;
  }

  /** Index of the bucket holding a value. */
  findBucket(value: number): number {
    if (!(value >= this.firstBucket)) return 0; // also NaN and negatives
    let b = Math.floor(Math.log((value * (this.ratio - 1)) / this.firstBucket + 1) / this.logRatio);
    if (b >= this.size) return this.size - 1;
    // Exact boundaries despite rounding in the logarithm.
    if (value < this.starts[b]!) b--;
    else if (value >= this.starts[b + 1]!) b++;
    return b;
  }

  /** Current reference time (seconds), a multiple of the half life. */
  get referenceTimeS(): number {
    return this.ref;
  }

  /** Sum of the bucket weights, relative to the reference time. */
  get totalWeight(): number {
    return this.total;
  }

  /** Adds a sample of a value with a weight (>= 0) at a time in seconds; non-finite values are ignored. */
  addSample(value: number, weight: number, timeS: number): void {
    if (!(weight >= 0)) throw new InputError(`sample weight must be >= 0, got ${weight}`, { field: 'weight' });
    if (isMissing(value)) return;
    const w = weight * this.decayFactor(timeS);
    const b = this.findBucket(value);
    const bw = this.weights[b]! + w;
    this.weights[b] = bw;
    this.total += w;
    this.sumW += w;
    this.sumWV += w * value;
    if (bw >= this.epsilon) {
      if (b < this.minBucket) this.minBucket = b;
      if (b > this.maxBucket) this.maxBucket = b;
    }
  }

  /** Removes (part of) a sample added before; a bucket never goes below 0. */
  subtractSample(value: number, weight: number, timeS: number): void {
    if (!(weight >= 0)) throw new InputError(`sample weight must be >= 0, got ${weight}`, { field: 'weight' });
    if (isMissing(value)) return;
    let w = weight * this.decayFactor(timeS);
    const b = this.findBucket(value);
    if (w > this.weights[b]! - this.epsilon) w = this.weights[b]!;
    this.weights[b]! -= w;
    this.total -= w;
    this.sumW -= w;
    this.sumWV -= w * value;
    this.updateMinMax();
  }

  /** True when no bucket holds at least epsilon. */
  isEmpty(): boolean {
    return this.weights[this.minBucket]! < this.epsilon;
  }

  /** VPA's percentile: the end of the bucket where the cumulative weight reaches p * total; 0 if empty. */
  percentile(p: number): number {
    if (this.isEmpty()) return 0;
    const threshold = p * this.total;
    let partial = 0;
    let b = this.minBucket;
    for (; b < this.maxBucket; b++) {
      partial += this.weights[b]!;
      if (partial >= threshold) break;
    }
    return b < this.size - 1 ? this.starts[b + 1]! : this.starts[b]!;
  }

  /** Decayed weighted mean of the raw sample values (not bucketed); NaN when empty. */
  mean(): number {
    return this.sumW > 0 ? this.sumWV / this.sumW : NaN;
  }

  /**
   * Adds every sample of another histogram with the same options (the other is not changed).
   * The older reference time is aligned on the younger one, as VPA does.
   */
  merge(other: DecayingHistogram): void {
    if (
      other.firstBucket !== this.firstBucket ||
      other.maxValue !== this.maxValue ||
      other.ratio !== this.ratio ||
      other.halfLifeSeconds !== this.halfLifeSeconds ||
      other.epsilon !== this.epsilon
    ) {
      throw new InputError('cannot merge decaying histograms with different options', { field: 'other' });
    }
    if (this.ref < other.ref) this.shiftReference(other.ref);
    const factor = Math.pow(2, Math.round((other.ref - this.ref) / this.halfLifeSeconds));
    for (let b = other.minBucket; b <= other.maxBucket; b++) this.weights[b]! += other.weights[b]! * factor;
    this.total += other.total * factor;
    this.sumW += other.sumW * factor;
    this.sumWV += other.sumWV * factor;
    if (other.minBucket < this.minBucket) this.minBucket = other.minBucket;
    if (other.maxBucket > this.maxBucket) this.maxBucket = other.maxBucket;
  }

  /** An independent copy. */
  clone(): DecayingHistogram {
    const h = new DecayingHistogram({
      firstBucket: this.firstBucket,
      maxValue: this.maxValue,
      ratio: this.ratio,
      halfLifeSeconds: this.halfLifeSeconds,
      epsilon: this.epsilon,
    });
    h.weights.set(this.weights);
    h.total = this.total;
    h.minBucket = this.minBucket;
    h.maxBucket = this.maxBucket;
    h.ref = this.ref;
    h.sumW = this.sumW;
    h.sumWV = this.sumWV;
    return h;
  }

  private decayFactor(timeS: number): number {
    if (timeS > this.ref + this.halfLifeSeconds * MAX_DECAY_EXPONENT) this.shiftReference(timeS);
    return Math.pow(2, (timeS - this.ref) / this.halfLifeSeconds);
  }

  private shiftReference(timeS: number): void {
    const hl = this.halfLifeSeconds;
    const newRef = Math.round(timeS / hl) * hl;
    const factor = Math.pow(2, Math.round((this.ref - newRef) / hl));
    for (let b = this.minBucket; b <= this.maxBucket; b++) this.weights[b]! *= factor;
    this.total *= factor;
    this.sumW *= factor;
    this.sumWV *= factor;
    this.ref = newRef;
    this.updateMinMax();
  }

  private updateMinMax(): void {
    const last = this.size - 1;
    while (this.weights[this.minBucket]! < this.epsilon && this.minBucket < last) this.minBucket++;
    while (this.weights[this.maxBucket]! < this.epsilon && this.maxBucket > 0) this.maxBucket--;
  }
}

export interface DecayingHistogramForecasterOptions {
  /** Time for a sample to lose half its weight, seconds. Default 86400 (VPA). */
  halfLifeSeconds?: number;
  /** Time between samples, seconds (sample i is at i * stepSeconds). Default 300. */
  stepSeconds?: number;
  /**
   * Width of the first bucket, in the series' unit. Default: derived from the first non-zero
   * sample y as `10^floor(log10 y) / 1000`, the power of ten clamped to 1e-6..1e12 (percent 37 -> 0.01; cores 0.25 -> 0.0001;
   * MiB 3000 -> 1), so that every value above a fiftieth of the first one's magnitude is
   * resolved to 5 % (VPA fixes 0.001 core and 10 MB instead).
   */
  firstBucket?: number;
  /** Bucket growth, > 1. Default 1.05 (VPA). */
  ratio?: number;
  /** Largest value with its own bucket. Default `firstBucket * 1e7` (1e4 times the first magnitude). */
  maxValue?: number;
  /** A bucket lighter than this counts as empty. Default 1e-4. */
  epsilon?: number;
  /** Name reported by the model. Default `decaying-histogram(<halfLifeSeconds>s)`. */
  name?: string;
}

export const decayingHistogramForecasterOptionsSchema = z
  .strictObject({
    halfLifeSeconds: z.number().gt(0).default(86_400),
    stepSeconds: z.number().gt(0).default(300),
    firstBucket: z.number().gt(0).optional(),
    ratio: z.number().gt(1).max(10).default(1.05),
    maxValue: z.number().gt(0).optional(),
    epsilon: z.number().gt(0).default(1e-4),
    name: z.string().min(1).optional(),
  })
  .superRefine((o, ctx) => {
    if (o.firstBucket !== undefined && o.maxValue !== undefined && o.maxValue <= o.firstBucket) {
      ctx.addIssue({ code: 'custom', path: ['maxValue'], message: 'must be larger than firstBucket' });
    }
  });

/**
 * Forecaster over a `DecayingHistogram` (weight 1 per sample, sample i at i * stepSeconds):
 * quantile q is the histogram's VPA percentile(q), flat over the horizon; the point forecast is
 * the decayed weighted mean, flat.
 *
 * Values below 0 count as 0 (resource usage). Until the first non-zero sample fixes the bucket
 * scale (when `firstBucket` is not given), zero samples are kept as one decayed weight and land
 * in bucket 0 once the histogram exists; an all-zero history forecasts 0. Missing samples
 * (NaN, ±Infinity) add nothing but time passes. Before any finite sample: NaN. `count` counts
 * every update.
 *
 * Cost: update O(1) (see DecayingHistogram.addSample); quantiles O(buckets * levels + horizon *
 * levels); forecast O(horizon).
 */
export class DecayingHistogramForecaster implements QuantileForecaster {
  readonly name: string;
  readonly halfLifeSeconds: number;
  readonly stepSeconds: number;
  private readonly opts: {
    firstBucket: number | undefined;
    maxValue: number | undefined;
    ratio: number;
    epsilon: number;
  };
  private hist: DecayingHistogram | null = null;
  private n = 0;
  private seen = false;
  /** Zero samples seen before the histogram exists: decayed weight relative to zeroRef. */
  private zeroWeight = 0;
  private zeroRef = 0;

  constructor(options: DecayingHistogramForecasterOptions = {}) {
    const o = parseOptions(decayingHistogramForecasterOptionsSchema, options, 'decaying-histogram');
    this.halfLifeSeconds = o.halfLifeSeconds;
    this.stepSeconds = o.stepSeconds;
    this.opts = { firstBucket: o.firstBucket, maxValue: o.maxValue, ratio: o.ratio, epsilon: o.epsilon };
    this.name = o.name ?? `decaying-histogram(${o.halfLifeSeconds}s)`;
    if (o.firstBucket !== undefined) this.hist = this.makeHistogram(o.firstBucket);
  }

  get count(): number {
    return this.n;
  }

  /** The underlying histogram (null until the bucket scale is known). */
  get histogram(): DecayingHistogram | null {
    return this.hist;
  }

  update(y: number): void {
    const timeS = this.n++ * this.stepSeconds;
    if (isMissing(y)) return;
    this.seen = true;
    if (y < 0) y = 0;
    if (this.hist !== null) {
      this.hist.addSample(y, 1, timeS);
      return;
    }
    if (y === 0) {
      const hl = this.halfLifeSeconds;
      if (timeS > this.zeroRef + hl * MAX_DECAY_EXPONENT) {
        const newRef = Math.round(timeS / hl) * hl;
        this.zeroWeight *= Math.pow(2, Math.round((this.zeroRef - newRef) / hl));
        this.zeroRef = newRef;
      }
      this.zeroWeight += Math.pow(2, (timeS - this.zeroRef) / hl);
      return;
    }
    // Magnitude of the first non-zero sample, kept within 1e-6..1e12 (denormals, absurd values).
    const magnitude = Math.pow(10, Math.min(12, Math.max(-6, Math.floor(Math.log10(y)))));
    const firstBucket = magnitude / 1000;
    const h = this.makeHistogram(firstBucket);
    if (this.zeroWeight > 0) h.addSample(0, this.zeroWeight, this.zeroRef);
    h.addSample(y, 1, timeS);
    this.hist = h;
  }

  forecast(horizon: number, into?: Float64Array): Float64Array {
    checkHorizon(horizon);
    if (!this.seen) return flat(horizon, NaN, into);
    return flat(horizon, this.hist === null ? 0 : this.hist.mean(), into);
  }

  quantiles(horizon: number, qs: readonly number[]): Float64Array[] {
    checkHorizon(horizon);
    checkLevels(qs);
    return qs.map((q) => flat(horizon, !this.seen ? NaN : this.hist === null ? 0 : this.hist.percentile(q)));
  }

  quantilesInto(horizon: number, qs: readonly number[], out: Float64Array, offset: number, stride: number): void {
    checkHorizon(horizon);
    checkLevels(qs);
    for (let k = 0; k < qs.length; k++) {
      const o = offset + k * stride;
      fillRange(out, !this.seen ? NaN : this.hist === null ? 0 : this.hist.percentile(qs[k]!), o, o + horizon);
    }
  }

  private makeHistogram(firstBucket: number): DecayingHistogram {
    return new DecayingHistogram({
      firstBucket,
      maxValue: this.opts.maxValue ?? firstBucket * 1e7,
      ratio: this.opts.ratio,
      halfLifeSeconds: this.halfLifeSeconds,
      epsilon: this.opts.epsilon,
    });
  }
}

/**
 * Bucket starts for (firstBucket, ratio, size), shared by every histogram with the same options
 * (read-only after it is built): a fleet of 10,000 instances keeps one copy instead of 10,000.
 * The values are computed by the same expression as before, so histograms are unchanged.
 */
const STARTS_CACHE = new Map<string, Float64Array>();
const STARTS_CACHE_MAX = 64;

function bucketStarts(firstBucket: number, ratio: number, size: number): Float64Array {
  const key = `${firstBucket}|${ratio}|${size}`;
  let starts = STARTS_CACHE.get(key);
  if (starts === undefined) {
    starts = new Float64Array(size + 1);
    for (let i = 1; i < size; i++) starts[i] = (firstBucket * (Math.pow(ratio, i) - 1)) / (ratio - 1);
    starts[size] = Infinity;
    if (STARTS_CACHE.size >= STARTS_CACHE_MAX) STARTS_CACHE.delete(STARTS_CACHE.keys().next().value!);
    STARTS_CACHE.set(key, starts);
  }
  return starts;
}
