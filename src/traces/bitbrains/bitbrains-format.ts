// Bitbrains GWA-T-12 (fastStorage / Rnd) traces: one CSV per VM, fields separated by ";" and a
// tab, a header line, a row roughly every 300 s (with jitter, gaps and some repeated rows).
import type { ReadOptions, TraceFormat, TraceSeries } from '../format.js';
import { forEachLine, listTraceFiles, readText, seriesIdOf } from '../common/files.js';
import { GrowableFloat64Array } from '../common/growable-array.js';
import { parseDecimal, parseSimpleDecimalAt, parseUnixSeconds, parseUsage } from '../common/parse.js';
import { medianPositiveStep, streamFiles } from '../common/stream-files.js';
import { TraceFormatError } from '../../core/errors.js';

/** The 11 GWA-T-12 columns, in file order (names used in error messages). */
export const BITBRAINS_COLUMNS = [
  'Timestamp',
  'CPU cores',
  'CPU capacity provisioned [MHZ]',
  'CPU usage [MHZ]',
  'CPU usage [%]',
  'Memory capacity provisioned [KB]',
  'Memory usage [KB]',
  'Disk read throughput [KB/s]',
  'Disk write throughput [KB/s]',
  'Network received throughput [KB/s]',
  'Network transmitted throughput [KB/s]',
] as const;

/** Step reported for a file with fewer than two distinct timestamps. */
const FALLBACK_STEP_SECONDS = 300;

/**
 * Bitbrains reader, for `<id>.csv.gz` or `<id>.csv` files (others in the folder are ignored).
 *
 * - cpu: cores in use = usage MHz / (capacity MHz / cores), 0 when cores or capacity is 0.
 * - memory: MiB = usage KB / 1024 (the trace's KB are taken as KiB).
 * - disk: read + write KB/s, as KiBps; network: received + transmitted KB/s, as KiBps.
 * - capacity: cpu = largest core count seen, memory = largest provisioned KB / 1024.
 *
 * Rows are kept as they are, never resampled: sample i is the i-th data row (0-based), its time
 * is in `timesS` (the Timestamp column, Unix seconds despite the header's [ms]),
 * `startTimeS` is the first row's time and `stepSeconds` the median positive spacing.
 * The first line is the header when its first field is not a number. Blank lines are skipped
 * and counted; a row without 11 fields, or a non-numeric or negative value, throws a
 * TraceFormatError with file, line and column name.
 */
export const bitbrainsFormat: TraceFormat = {
  name: 'bitbrains',
  description: 'Bitbrains GWA-T-12: ";"+tab separated CSV per VM (.csv or .csv.gz), ~300 s rows',
  resources: ['cpu', 'memory', 'disk', 'network'],
  listFiles: (path: string) => listTraceFiles(path, isBitbrainsFile),
  read(path: string, options?: ReadOptions): AsyncIterable<TraceSeries> {
    return (async function* () {
      const files = await listTraceFiles(path, isBitbrainsFile);
      yield* streamFiles(files, options, async (file) => [await readBitbrainsFile(file)], true);
    })();
  },
};

function isBitbrainsFile(name: string): boolean {
  return name.endsWith('.csv') || name.endsWith('.csv.gz');
}

async function readBitbrainsFile(file: string): Promise<TraceSeries> {
  // The whole file at once (a month of one VM is about a megabyte), then lines and fields are
  // scanned by index: no per-line stream events, no split arrays.
  const text = await readText(file);
  const times = new GrowableFloat64Array(8192);
  const cpu = new GrowableFloat64Array(8192);
  const memory = new GrowableFloat64Array(8192);
  const disk = new GrowableFloat64Array(8192);
  const network = new GrowableFloat64Array(8192);
  let maxCores = 0;
  let maxMemoryKB = 0;
  let skippedRows = 0;
  let seenFirst = false;
  const ends = new Int32Array(BITBRAINS_COLUMNS.length);
  forEachLine(text, (t, start, end, line) => {
    if (isBlank(t, start, end)) {
      skippedRows++;
      return;
    }
    // field k spans (k === 0 ? start : ends[k - 1] + 1) .. ends[k]
    let fields = 0;
    let p = start;
    for (;;) {
      const semi = t.indexOf(';', p);
      const e = semi === -1 || semi > end ? end : semi;
      if (fields < ends.length) ends[fields] = e;
      fields++;
      if (e === end) break;
      p = e + 1;
    }
    if (!seenFirst) {
      seenFirst = true;
      if (Number.isNaN(parseDecimal(t.slice(start, ends[0]).trim()))) return; // the header
    }
    if (fields !== BITBRAINS_COLUMNS.length) {
      throw new TraceFormatError(`expected ${BITBRAINS_COLUMNS.length} ";"-separated fields, found ${fields}`, {
        file,
        line,
      });
    }
    const ts = parseUnixSeconds(t.slice(start, ends[0]), BITBRAINS_COLUMNS[0], { file, line });
    const cores = fieldUsage(t, ends, 1, file, line);
    const capacityMHz = fieldUsage(t, ends, 2, file, line);
    const usageMHz = fieldUsage(t, ends, 3, file, line);
    const memCapacityKB = fieldUsage(t, ends, 5, file, line);
    const memUsageKB = fieldUsage(t, ends, 6, file, line);
    const diskKBps = fieldUsage(t, ends, 7, file, line) + fieldUsage(t, ends, 8, file, line);
    const netKBps = fieldUsage(t, ends, 9, file, line) + fieldUsage(t, ends, 10, file, line);
    times.push(ts);
    cpu.push(cores === 0 || capacityMHz === 0 ? 0 : usageMHz / (capacityMHz / cores));
    memory.push(memUsageKB / 1024);
    disk.push(diskKBps);
    network.push(netKBps);
    if (cores > maxCores) maxCores = cores;
    if (memCapacityKB > maxMemoryKB) maxMemoryKB = memCapacityKB;
  });
  const timesS = times.toArray();
  return {
    id: seriesIdOf(file),
    file,
    stepSeconds: medianPositiveStep(timesS, FALLBACK_STEP_SECONDS),
    startTimeS: timesS.length > 0 ? timesS[0]! : 0,
    length: timesS.length,
    values: { cpu: cpu.toArray(), memory: memory.toArray(), disk: disk.toArray(), network: network.toArray() },
    units: { cpu: 'cores', memory: 'MiB', disk: 'KiBps', network: 'KiBps' },
    capacity: { cpu: maxCores, memory: maxMemoryKB / 1024 },
    skippedRows,
    timesS,
  };
}

/** True when text[start, end) is empty or white space only (as `.trim() === ''`). */
function isBlank(t: string, start: number, end: number): boolean {
  if (start === end) return true;
  const c = t.charCodeAt(start);
  if (c > 32 && c < 127) return false;
  return t.slice(start, end).trim() === '';
}

const isAsciiSpace = (c: number): boolean => c === 32 || (c >= 9 && c <= 13);

/** Usage in column k (k >= 1) of the line whose field ends are `ends`. */
function fieldUsage(t: string, ends: Int32Array, k: number, file: string, line: number): number {
  return usageAt(t, ends[k - 1]! + 1, ends[k]!, k, file, line);
}

/**
 * parseUsage of text[start, end) without the copies: ASCII white space is skipped by index and
 * the number parsed from one slice. Anything unusual (a non-ASCII character at either end, or a
 * value parseUsage rejects) goes through parseUsage itself, for the same result or error.
 */
function usageAt(t: string, start: number, end: number, column: number, file: string, line: number): number {
  let s = start;
  let e = end;
  while (s < e && isAsciiSpace(t.charCodeAt(s))) s++;
  while (e > s && isAsciiSpace(t.charCodeAt(e - 1))) e--;
  if (s < e && t.charCodeAt(s) < 128 && t.charCodeAt(e - 1) < 128) {
    let v = parseSimpleDecimalAt(t, s, e);
    if (Number.isNaN(v)) v = parseDecimal(t.slice(s, e));
    if (v >= 0 && v !== Infinity) return v;
  }
  return parseUsage(t.slice(start, end), BITBRAINS_COLUMNS[column]!, { file, line });
}
