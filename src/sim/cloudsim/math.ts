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
  sortPrefix(work, n);
  const pos = (p * (n + 1)) / 100;
  const fpos = Math.floor(pos);
  const intPos = fpos | 0;
  const dif = pos - fpos;
  if (pos < 1) return work[0]!;
  if (pos >= n) return work[n - 1]!;
  const lower = work[intPos - 1]!;
  const upper = work[intPos]!;
  return lower + dif * (upper - lower);
}

/** Median of data[0..n) (does not modify `data`; uses `scratch`). */
export function median(data: ArrayLike<number>, n: number, scratch: Float64Array = new Float64Array(n)): number {
  for (let i = 0; i < n; i++) scratch[i] = data[i]!;
  return percentileInPlace(scratch, n, 50);
}

/** MathUtil.mad: median of absolute deviations from the median. 0 for empty data. */
export function mad(data: ArrayLike<number>, n: number, scratch: Float64Array = new Float64Array(n)): number {
  if (n <= 0) return 0;
  const med = median(data, n, scratch);
  for (let i = 0; i < n; i++) scratch[i] = Math.abs(med - data[i]!);
  return percentileInPlace(scratch, n, 50);
}

/**
 * MathUtil.iqr: sorts the data, then Q3 - Q1 with Q1 at index round(0.25 (n + 1)) - 1 and Q3 at
 * round(0.75 (n + 1)) - 1 (no interpolation). Uses `scratch` (data is not modified).
 */
export function iqr(data: ArrayLike<number>, n: number, scratch: Float64Array = new Float64Array(n)): number {
  for (let i = 0; i < n; i++) scratch[i] = data[i]!;
  sortPrefix(scratch, n);
  const q1 = javaRound(0.25 * (n + 1)) - 1;
  const q3 = javaRound(0.75 * (n + 1)) - 1;
  return scratch[q3]! - scratch[q1]!;
}

/**
 * MathUtil.countNonZeroBeginning: the length of the prefix that ends at the last non-zero value.
 * Quirk kept: an all-zero (or empty) array counts as 1.
 */
export function countNonZeroBeginning(data: ArrayLike<number>, n: number): number {
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
export function tricubeBisquareWeights(residuals: Float64Array): Float64Array {
  const n = residuals.length;
  const w = tricubeWeights(n);
  const w2 = new Float64Array(n);
  const abs = new Float64Array(n);
  for (let i = 0; i < n; i++) abs[i] = Math.abs(residuals[i]!);
  const s6 = median(abs, n) * 6;
  for (let i = 2; i < n; i++) {
    const k = Math.pow(1 - Math.pow(residuals[i]! / s6, 2), 2);
    w2[i] = k > 0 ? (1 / k) * w[i]! : Number.MAX_VALUE;
  }
  w2[0] = w2[1] = w2[2]!;
  return w2;
}

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

/** MathUtil.getLoessParameterEstimates: [intercept, slope] for y at x = 1..n. */
export function loessParameterEstimates(y: ArrayLike<number>, n: number, out: Float64Array): void {
  cloudsimWeightedRegression(y, n, tricubeWeights(n), out);
}

/** MathUtil.getRobustLoessParameterEstimates: [intercept, slope] for y at x = 1..n. */
export function robustLoessParameterEstimates(y: ArrayLike<number>, n: number, out: Float64Array): void {
  const first = new Float64Array(2);
  cloudsimWeightedRegression(y, n, tricubeWeights(n), first);
  const residuals = new Float64Array(n);
  for (let i = 0; i < n; i++) residuals[i] = y[i]! - (first[0]! + first[1]! * (i + 1));
  cloudsimWeightedRegression(y, n, tricubeBisquareWeights(residuals), out);
  // CloudSim's NaN guard compares with `== Double.NaN`, which is always false: kept as is.
}

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

/** Insertion sort of a short prefix (histories have at most 30 values). */
function sortPrefix(a: Float64Array, n: number): void {
  for (let i = 1; i < n; i++) {
    const v = a[i]!;
    let j = i - 1;
    while (j >= 0 && a[j]! > v) {
      a[j + 1] = a[j]!;
      j--;
    }
    a[j + 1] = v;
  }
}
