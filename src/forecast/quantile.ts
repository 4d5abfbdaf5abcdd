// Quantile helpers shared by the probabilistic layer. Pure.

/** Linear-interpolated quantile (type 7) of an ascending-sorted array of length n. */
export function sortedQuantile(sorted: Float64Array, n: number, p: number): number {
  if (n <= 0) return NaN;
  if (n === 1) return sorted[0]!;
  const pos = p * (n - 1);
  const i = Math.floor(pos);
  if (i >= n - 1) return sorted[n - 1]!;
  const f = pos - i;
  return sorted[i]! + f * (sorted[i + 1]! - sorted[i]!);
}

/** sortedQuantile of the n ascending values at a[off..off+n) (the same arithmetic). */
export function sortedQuantileAt(a: Float64Array, off: number, n: number, p: number): number {
  if (n <= 0) return NaN;
  if (n === 1) return a[off]!;
  const pos = p * (n - 1);
  const i = Math.floor(pos);
  if (i >= n - 1) return a[off + n - 1]!;
  const f = pos - i;
  return a[off + i]! + f * (a[off + i + 1]! - a[off + i]!);
}

/** Parses and checks quantile levels: each in (0, 1), ascending order not required. */
export function checkLevels(levels: readonly number[]): void {
  for (const q of levels) {
    if (!(q > 0 && q < 1)) throw new RangeError(`quantile level ${q} must be in (0, 1)`);
  }
}

/** Pinball (quantile) loss of forecast `q` at level `tau` for actual `y`. */
export function pinball(y: number, q: number, tau: number): number {
  const d = y - q;
  return d >= 0 ? tau * d : (tau - 1) * d;
}

/**
 * Makes each horizon step's quantiles non-decreasing in the level (no crossing), in place.
 * `order` lists level indices by ascending level.
 */
export function uncross(quantiles: Float64Array[], order: readonly number[], horizon: number): void {
  for (let h = 0; h < horizon; h++) {
    let prev = -Infinity;
    for (const k of order) {
      const row = quantiles[k]!;
      if (row[h]! < prev) row[h] = prev;
      prev = row[h]!;
    }
  }
}

export function levelOrder(levels: readonly number[]): number[] {
  return levels.map((_, i) => i).sort((a, b) => levels[a]! - levels[b]!);
}
