// The loop every file-based format shares: files in name order, one after another, with the
// id filter, duplicate-id check and progress callback applied the same way.
import { TraceFormatError } from '../../core/errors.js';
import type { ReadOptions, TraceSeries } from '../format.js';
import { seriesIdOf } from './files.js';

/** Reads one file into its series; `keep` says which ids the caller wants. */
export type FileReader = (file: string, keep: (id: string) => boolean) => Promise<TraceSeries[]>;

/**
 * Reads `files` sequentially with `readFile` and yields their series in file order.
 * With `oneSeriesPerFile`, a file whose id (its name) the filter rejects is not opened.
 * `onProgress` is called after each file (before its series are yielded).
 */
export async function* streamFiles(
  files: readonly string[],
  options: ReadOptions | undefined,
  readFile: FileReader,
  oneSeriesPerFile: boolean,
): AsyncGenerator<TraceSeries, void, undefined> {
  const keep = options?.filter ?? (() => true);
  const seen = new Map<string, string>();
  let done = 0;
  for (const file of files) {
    const series = oneSeriesPerFile && !keep(seriesIdOf(file)) ? [] : await readFile(file, keep);
    for (const s of series) {
      const first = seen.get(s.id);
      if (first !== undefined) {
        throw new TraceFormatError(`duplicate series id ${JSON.stringify(s.id)} (first read from ${first})`, { file });
      }
      seen.set(s.id, file);
    }
    done++;
    options?.onProgress?.(done, files.length);
    yield* series;
  }
}

/** Median of the positive differences between consecutive times; `fallback` when there are none. */
export function medianPositiveStep(timesS: Float64Array, fallback: number): number {
  const diffs: number[] = [];
  for (let i = 1; i < timesS.length; i++) {
    const d = timesS[i]! - timesS[i - 1]!;
    if (d > 0) diffs.push(d);
  }
  if (diffs.length === 0) return fallback;
  diffs.sort((a, b) => a - b);
  const mid = diffs.length >> 1;
  return diffs.length % 2 === 1 ? diffs[mid]! : (diffs[mid - 1]! + diffs[mid]!) / 2;
}
