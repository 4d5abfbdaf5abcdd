// Season length detection by autocorrelation.
import FFT from 'fft.js';
import { InputError } from '../../core/errors.js';
import { isMissing } from './common.js';

/** How far the autocorrelation must dip before a later peak counts as a season. */
const MIN_DIP = 0.1;

export interface SeasonDetectOptions {
  /**
   * Season lengths to test, in samples (e.g. `[288, 2016]` = daily and weekly at 5-minute steps).
   * When absent, every lag in [minPeriod, maxPeriod] is searched.
   */
  candidates?: readonly number[];
  /** Shortest lag searched when there are no candidates. Default 2. */
  minPeriod?: number;
  /** Longest lag searched when there are no candidates. Default: half the series. */
  maxPeriod?: number;
  /** Minimum autocorrelation for a season to count, in (0, 1). Default 0.3. */
  threshold?: number;
  /**
   * A shorter season (a candidate, or a divisor of the best lag) wins over the best one when its
   * autocorrelation is within this distance of the best. Default 0.1.
   */
  tolerance?: number;
}

/**
 * Detects the season length of a regularly sampled series from its autocorrelation, after
 * filling missing samples with the mean and removing a least-squares linear trend.
 *
 * - With `candidates`: each candidate `c` needs at least two full periods (`values.length >= 2c`);
 *   its score is the Pearson correlation between the series and itself shifted by `c`. The
 *   shortest candidate scoring at least `threshold` and within `tolerance` of the best wins.
 * - Without: the autocorrelation at every lag up to half the series (so again two full periods)
 *   is computed by FFT (fft.js, O(n log n)); the best local peak that scores at least `threshold`
 *   and comes after a dip of the autocorrelation is taken, then replaced by its fundamental
 *   (best/2, best/3, ...) when that scores within `tolerance` of it.
 *
 * A lag scores enough when its autocorrelation reaches both `threshold` and three standard
 * errors of white noise (3/sqrt(pairs)), which matters for short series only.
 * Returns the period in samples, or 0 for "no season" (too short, constant, or no lag scores
 * enough).
 *
 * `detectSeasonPeriod(values, [288, 2016])` is short for `{ candidates: [288, 2016] }`.
 *
 * Cost: O(n * candidates) with candidates, O(n log n) without.
 */
export function detectSeasonPeriod(values: ArrayLike<number>, options: SeasonDetectOptions | readonly number[] = {}): number {
  if (isCandidateList(options)) options = { candidates: options };
  const threshold = options.threshold ?? 0.3;
  const tolerance = options.tolerance ?? 0.1;
  if (!(threshold > 0 && threshold < 1)) throw new InputError(`threshold must be in (0, 1), got ${threshold}`, { field: 'threshold' });
  if (!(tolerance >= 0 && tolerance < 1)) throw new InputError(`tolerance must be in [0, 1), got ${tolerance}`, { field: 'tolerance' });
  options.candidates?.forEach((c, i) => {
    if (!Number.isInteger(c) || c < 2) throw new InputError(`a season candidate must be an integer >= 2, got ${c}`, { field: `candidates[${i}]` });
  });
  const x = prepare(values);
  if (x === null) return 0;
  const n = x.length;

  if (options.candidates !== undefined) {
    const scores: Array<[number, number]> = [];
    for (const c of options.candidates) {
      if (n < 2 * c) continue;
      const r = pearsonAtLag(x, c);
      if (r >= Math.max(threshold, significance(n - c))) scores.push([c, r]);
    }
    let best = -Infinity;
    for (const [, r] of scores) if (r > best) best = r;
    let period = 0;
    for (const [c, r] of scores) if (r >= best - tolerance && (period === 0 || c < period)) period = c;
    return period;
  }

  const minPeriod = Math.max(2, options.minPeriod ?? 2);
  const maxPeriod = Math.min(Math.floor(n / 2), options.maxPeriod ?? Infinity);
  if (!(maxPeriod >= minPeriod)) return 0;
  const r = autocorrelations(x, maxPeriod + 1);
  // A valid peak: a local maximum scoring at least `threshold`, reached after the autocorrelation
  // dipped at least MIN_DIP below it (which rules out the slow decay at short lags of a smooth series).
  const peak = new Uint8Array(maxPeriod + 1);
  let bestLag = 0;
  let bestR = -Infinity;
  let lowest = Infinity; // lowest autocorrelation at lags below the one examined
  for (let l = 1; l <= maxPeriod; l++) {
    const v = r[l]!;
    if (l >= minPeriod && v >= threshold && v >= significance(n - l) && v >= r[l - 1]! && (l === maxPeriod || v >= r[l + 1]!) && lowest <= v - MIN_DIP) {
      peak[l] = 1;
      if (v > bestR) {
        bestR = v;
        bestLag = l;
      }
    }
    if (v < lowest) lowest = v;
  }
  if (bestLag === 0) return 0;
  // Prefer the fundamental: a valid peak near best/k (k largest first) that scores almost as well.
  for (let k = Math.floor(bestLag / minPeriod); k >= 2; k--) {
    const centre = bestLag / k;
    const lo = Math.max(minPeriod, Math.floor(centre * 0.98));
    const hi = Math.min(maxPeriod, Math.ceil(centre * 1.02));
    let lag = 0;
    let lagR = -Infinity;
    for (let l = lo; l <= hi; l++) {
      if (peak[l] === 1 && r[l]! > lagR) {
        lagR = r[l]!;
        lag = l;
      }
    }
    if (lag > 0 && lagR >= bestR - tolerance) return refine(x, lag, minPeriod, maxPeriod);
  }
  return refine(x, bestLag, minPeriod, maxPeriod);
}

/**
 * A smooth season has a flat autocorrelation peak, so noise moves its arg-max by a few lags.
 * Re-centre within 2 % of `lag` by folding: for each lag l, the series is cut into cycles of l
 * samples and each phase averaged; the lag whose phase means explain the most variance (largest
 * F statistic, so longer lags get no credit for their extra phases) wins. This is phase
 * dispersion minimisation (Stellingwerf 1978), O(n) per lag tried.
 */
function refine(x: Float64Array, lag: number, minPeriod: number, maxPeriod: number): number {
  const n = x.length;
  const lo = Math.max(minPeriod, Math.floor(lag * 0.98));
  const hi = Math.min(maxPeriod, Math.ceil(lag * 1.02));
  let total = 0;
  for (let i = 0; i < n; i++) total += x[i]! * x[i]!;
  const sums = new Float64Array(hi);
  const counts = new Float64Array(hi);
  let best = lag;
  let bestF = -Infinity;
  for (let l = lo; l <= hi; l++) {
    sums.fill(0, 0, l);
    counts.fill(0, 0, l);
    for (let i = 0, ph = 0; i < n; i++) {
      sums[ph]! += x[i]!;
      counts[ph]! += 1;
      if (++ph === l) ph = 0;
    }
    let between = 0;
    for (let ph = 0; ph < l; ph++) between += (sums[ph]! * sums[ph]!) / counts[ph]!;
    const within = total - between;
    const f = within > 0 ? between / (l - 1) / (within / (n - l)) : Infinity;
    if (f > bestF) {
      bestF = f;
      best = l;
    }
  }
  return best;
}

function isCandidateList(o: SeasonDetectOptions | readonly number[]): o is readonly number[] {
  return Array.isArray(o);
}

/**
 * Three standard errors of a correlation over `pairs` pairs of white noise: a season must score
 * above this too, so short buffers do not see seasons in noise (0.61 over 24 pairs).
 */
function significance(pairs: number): number {
  return 3 / Math.sqrt(pairs);
}

/** Pearson correlation of a series with itself shifted by `lag` (NaN-filled and detrended first). */
export function autocorrelationAt(values: ArrayLike<number>, lag: number): number {
  const x = prepare(values);
  if (x === null || !(lag >= 1 && lag < x.length - 1)) return NaN;
  return pearsonAtLag(x, lag);
}

/** Mean-filled, linearly detrended copy; null when fewer than 4 finite samples or constant. */
function prepare(values: ArrayLike<number>): Float64Array | null {
  const n = values.length;
  let finite = 0;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (!isMissing(v)) {
      finite++;
      sum += v;
    }
  }
  if (finite < 4) return null;
  const mean = sum / finite;
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    x[i] = isMissing(v) ? mean : v;
  }
  // Least-squares line through (i, x_i).
  const tm = (n - 1) / 2;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    const dt = i - tm;
    sxy += dt * (x[i]! - mean);
    sxx += dt * dt;
  }
  const slope = sxx > 0 ? sxy / sxx : 0;
  let ss = 0;
  for (let i = 0; i < n; i++) {
    const v = x[i]! - mean - slope * (i - tm);
    x[i] = v;
    ss += v * v;
  }
  if (!(ss > 1e-300)) return null;
  return x;
}

function pearsonAtLag(x: Float64Array, lag: number): number {
  const m = x.length - lag;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < m; i++) {
    ma += x[i]!;
    mb += x[i + lag]!;
  }
  ma /= m;
  mb /= m;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < m; i++) {
    const a = x[i]! - ma;
    const b = x[i + lag]! - mb;
    sab += a * b;
    saa += a * a;
    sbb += b * b;
  }
  const d = Math.sqrt(saa * sbb);
  return d > 0 ? sab / d : 0;
}

/**
 * Autocorrelation r(l) for l = 0..maxLag-1 of a centred series, normalised per overlapping pair
 * (`r(l) = [S(l)/(n-l)] / [S(0)/n]`, S the lagged sum of products), via a zero-padded FFT.
 */
function autocorrelations(x: Float64Array, maxLag: number): Float64Array {
  const n = x.length;
  let size = 2;
  while (size < 2 * n) size *= 2;
  const f = new FFT(size);
  const input = new Float64Array(size);
  input.set(x);
  const spec = f.createComplexArray() as number[];
  f.realTransform(spec, input);
  f.completeSpectrum(spec);
  for (let k = 0; k < size; k++) {
    const re = spec[2 * k]!;
    const im = spec[2 * k + 1]!;
    spec[2 * k] = re * re + im * im;
    spec[2 * k + 1] = 0;
  }
  const back = f.createComplexArray() as number[];
  f.inverseTransform(back, spec);
  const s0 = back[0]! / n;
  const r = new Float64Array(maxLag);
  for (let l = 0; l < maxLag && l < n; l++) r[l] = back[2 * l]! / (n - l) / s0;
  return r;
}
