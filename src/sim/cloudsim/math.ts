// Statistics used by CloudSim 3.0.3's overload detectors (org.cloudbus.cloudsim.util.MathUtil and
// the Apache Commons Math 3 pieces it calls), reproduced step by step so results match to the last
// bit where the operation order allows. Pure: no I/O. Functions take (array, length) so callers can
// reuse scratch buffers.

/**
 * Commons Math 3 `Percentile.evaluate` (legacy estimation): pos = p (n + 1) / 100, linear
 * interpolation between the order statistics around it. Sorts `work[0..n)` in place.
 */
export function percentileInPlace(work: Float64Array, n: number, p: number): number {
  if (n === 0) return Number.NaN;
  if (n === 1) return work[0]!;
  const pos = (p * (n + 1)) / 100;
  const fpos = Math.floor(pos);
  const intPos = fpos | 0;
  const dif = pos - fpos;
  if (pos < 1) return selectKth(work, n, 0);
  if (pos >= n) return selectKth(work, n, n - 1);
  // The order statistics intPos - 1 and intPos, found by selection instead of a full sort (same
  // values as sorting; this runs ~10^5 times per simulated day).
  const lower = selectKth(work, n, intPos - 1);
  let upper = work[intPos]!;
  for (let i = intPos + 1; i < n; i++) if (work[i]! < upper) upper = work[i]!;
  return lower + dif * (upper - lower);
}

/**
 * Rearranges a[0..n) so that a[k] is the k-th smallest value, everything before it <= a[k] and
 * everything after it >= a[k] (Hoare quickselect); returns a[k].
 */
export function selectKth(a: Float64Array, n: number, k: number): number {
  let lo = 0;
  let hi = n - 1;
  while (hi > lo) {
    if (hi - lo < 8) {
      for (let i = lo + 1; i <= hi; i++) {
        const v = a[i]!;
        let j = i - 1;
        while (j >= lo && a[j]! > v) {
          a[j + 1] = a[j]!;
          j--;
        }
        a[j + 1] = v;
      }
      return a[k]!;
    }
    const mid = (lo + hi) >> 1;
    // median of three as pivot
    if (a[mid]! < a[lo]!) swap(a, mid, lo);
    if (a[hi]! < a[lo]!) swap(a, hi, lo);
    if (a[hi]! < a[mid]!) swap(a, hi, mid);
    const pivot = a[mid]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        swap(a, i, j);
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k]!;
  }
  return a[k]!;
}

function swap(a: Float64Array, i: number, j: number): void {
  const t = a[i]!;
  a[i] = a[j]!;
  a[j] = t;
}

/** Median of data[0..n) (does not modify `data`; uses `scratch`). */
export function median(data: Float64Array, n: number, scratch: Float64Array = new Float64Array(n)): number {
  for (let i = 0; i < n; i++) scratch[i] = data[i]!;
  return percentileInPlace(scratch, n, 50);
}

/** MathUtil.mad: median of absolute deviations from the median. 0 for empty data. */
export function mad(data: Float64Array, n: number, scratch: Float64Array = new Float64Array(n)): number {
  if (n <= 0) return 0;
  const med = median(data, n, scratch);
  for (let i = 0; i < n; i++) scratch[i] = Math.abs(med - data[i]!);
  return percentileInPlace(scratch, n, 50);
}

/**
 * MathUtil.iqr: sorts the data, then Q3 - Q1 with Q1 at index round(0.25 (n + 1)) - 1 and Q3 at
 * round(0.75 (n + 1)) - 1 (no interpolation). Uses `scratch` (data is not modified).
 */
export function iqr(data: Float64Array, n: number, scratch: Float64Array = new Float64Array(n)): number {
  for (let i = 0; i < n; i++) scratch[i] = data[i]!;
  const q1 = javaRound(0.25 * (n + 1)) - 1;
  const q3 = javaRound(0.75 * (n + 1)) - 1;
  const v3 = selectKth(scratch, n, q3);
  // after selecting q3, everything left of it is <= it: select q1 there
  const v1 = selectKth(scratch, q3 + 1, q1);
  return v3 - v1;
}

/**
 * MathUtil.countNonZeroBeginning: the length of the prefix that ends at the last non-zero value.
 * Quirk kept: an all-zero (or empty) array counts as 1.
 */
export function countNonZeroBeginning(data: Float64Array, n: number): number {
  let i = n - 1;
  while (i >= 0) {
    if (data[i--] !== 0) break;
  }
  return i + 2;
}

/**
 * Ordinary least squares of y on x = 1..n with Commons Math 3 `SimpleRegression` update formulas
 * (Chan, Golub & LeVeque). Writes [intercept, slope] to `out`.
 */
export function simpleRegressionOnIndex(y: ArrayLike<number>, n: number, out: Float64Array): void {
  let sumX = 0;
  let sumY = 0;
  let sumXX = 0;
  let sumXY = 0;
  let xbar = 0;
  let ybar = 0;
  for (let i = 0; i < n; i++) {
    const x = i + 1;
    const yi = y[i]!;
    if (i === 0) {
      xbar = x;
      ybar = yi;
    } else {
      const fact1 = 1.0 + i;
      const fact2 = i / (1.0 + i);
      const dx = x - xbar;
      const dy = yi - ybar;
      sumXX += dx * dx * fact2;
      sumXY += dx * dy * fact2;
      xbar += dx / fact1;
      ybar += dy / fact1;
    }
    sumX += x;
    sumY += yi;
  }
  // regress(): params = { getIntercept(), getSlope() } when |sumXX| > SAFE_MIN.
  if (Math.abs(sumXX) > 2.2250738585072014e-308) {
    const slope = n < 2 || Math.abs(sumXX) < 10 * Number.MIN_VALUE ? Number.NaN : sumXY / sumXX;
    out[0] = (sumY - slope * sumX) / n;
    out[1] = slope;
  } else {
    out[0] = sumY / n;
    out[1] = Number.NaN;
  }
}

/**
 * MathUtil.getTricubeWeigts. CloudSim builds these for its "local regression" but, because every
 * weight is positive, createWeigthedLinearRegression then runs an UNWEIGHTED regression
 * (it only weights when at least 40 % of the weights are <= 0). Kept for documentation and tests.
 */
export function tricubeWeights(n: number): Float64Array {
  const w = new Float64Array(n);
  const top = n - 1;
  const spread = top;
  for (let i = 2; i < n; i++) {
    const k = Math.pow(1 - Math.pow((top - i) / spread, 3), 3);
    w[i] = k > 0 ? 1 / k : Number.MAX_VALUE;
  }
  w[0] = w[1] = w[2]!;
  return w;
}

/** MathUtil.getTricubeBisquareWeigts (see tricubeWeights: never <= 0, so never used as weights). */
export function tricubeBisquareWeights(residuals: Float64Array, out?: Float64Array): Float64Array {
  const n = residuals.length;
  const w = cachedTricubeWeights(n);
  const w2 = out !== undefined && out.length === n ? out : new Float64Array(n);
  if (bisquareAbs.length < n) {
    bisquareAbs = new Float64Array(n);
    bisquareScratch = new Float64Array(n);
  }
  for (let i = 0; i < n; i++) bisquareAbs[i] = Math.abs(residuals[i]!);
  const s6 = median(bisquareAbs, n, bisquareScratch) * 6;
  for (let i = 2; i < n; i++) {
    const k = Math.pow(1 - Math.pow(residuals[i]! / s6, 2), 2);
    w2[i] = k > 0 ? (1 / k) * w[i]! : Number.MAX_VALUE;
  }
  w2[0] = w2[1] = w2[2]!;
  return w2;
}
let bisquareAbs = new Float64Array(10);
let bisquareScratch = new Float64Array(10);

/**
 * Weighted linear regression as CloudSim's MathUtil.createWeigthedLinearRegression does it: the
 * weights (square roots) are applied to x and y only when >= 40 % of them are <= 0; otherwise the
 * plain regression of y on x. x must be 1..n here. Writes [intercept, slope].
 */
export function cloudsimWeightedRegression(y: ArrayLike<number>, n: number, weights: ArrayLike<number>, out: Float64Array): void {
  let numZero = 0;
  for (let i = 0; i < n; i++) if (weights[i]! <= 0) numZero++;
  if (numZero >= 0.4 * n) {
    // Never reached with CloudSim's weight functions; implemented for completeness.
    const xw = new Float64Array(n);
    const yw = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const s = Math.sqrt(weights[i]!);
      xw[i] = s * (i + 1);
      yw[i] = s * y[i]!;
    }
    generalRegression(xw, yw, n, out);
    return;
  }
  simpleRegressionOnIndex(y, n, out);
}

const tricubeCache = new Map<number, Float64Array>();
/** tricubeWeights(n), computed once per n (the weights only depend on n). */
function cachedTricubeWeights(n: number): Float64Array {
  let w = tricubeCache.get(n);
  if (w === undefined) {
    w = tricubeWeights(n);
    tricubeCache.set(n, w);
  }
  return w;
}

/** MathUtil.getLoessParameterEstimates: [intercept, slope] for y at x = 1..n. */
export function loessParameterEstimates(y: ArrayLike<number>, n: number, out: Float64Array): void {
  cloudsimWeightedRegression(y, n, cachedTricubeWeights(n), out);
}

/**
 * MathUtil.getRobustLoessParameterEstimates: [intercept, slope] for y at x = 1..n. The second pass
 * re-weights by the bisquare of the first pass's residuals; as those weights are never <= 0, CloudSim
 * again runs the plain regression, so LRR gives exactly LR's estimates (and the reference results
 * for LR and LRR are identical).
 */
export function robustLoessParameterEstimates(y: ArrayLike<number>, n: number, out: Float64Array): void {
  cloudsimWeightedRegression(y, n, cachedTricubeWeights(n), robustFirst);
  if (robustResiduals.length < n) robustResiduals = new Float64Array(n);
  const residuals = robustResiduals.length === n ? robustResiduals : robustResiduals.subarray(0, n);
  for (let i = 0; i < n; i++) residuals[i] = y[i]! - (robustFirst[0]! + robustFirst[1]! * (i + 1));
  if (robustWeights.length !== n) robustWeights = new Float64Array(n);
  cloudsimWeightedRegression(y, n, tricubeBisquareWeights(residuals, robustWeights), out);
  // CloudSim's NaN guard compares with `== Double.NaN`, which is always false: kept as is.
}
const robustFirst = new Float64Array(2);
let robustResiduals = new Float64Array(10);
let robustWeights = new Float64Array(10);

function generalRegression(x: Float64Array, y: Float64Array, n: number, out: Float64Array): void {
  let sumX = 0;
  let sumY = 0;
  let sumXX = 0;
  let sumXY = 0;
  let xbar = 0;
  let ybar = 0;
  for (let i = 0; i < n; i++) {
    if (i === 0) {
      xbar = x[0]!;
      ybar = y[0]!;
    } else {
      const fact1 = 1.0 + i;
      const fact2 = i / (1.0 + i);
      const dx = x[i]! - xbar;
      const dy = y[i]! - ybar;
      sumXX += dx * dx * fact2;
      sumXY += dx * dy * fact2;
      xbar += dx / fact1;
      ybar += dy / fact1;
    }
    sumX += x[i]!;
    sumY += y[i]!;
  }
  const slope = sumXY / sumXX;
  out[0] = (sumY - slope * sumX) / n;
  out[1] = slope;
}

/** Java Math.round for the non-negative values used here. */
function javaRound(x: number): number {
  return Math.floor(x + 0.5);
}
