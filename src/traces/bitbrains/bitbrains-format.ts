// Bitbrains GWA-T-12 (fastStorage / Rnd) traces: one CSV per VM, fields separated by ";" and a
// tab, a header line, a row roughly every 300 s (with jitter, gaps and some repeated rows).
import type { ReadOptions, TraceFormat, TraceSeries } from '../format.js';
import { listTraceFiles, readLines, seriesIdOf } from '../common/files.js';
import { GrowableFloat64Array } from '../common/growable-array.js';
import { parseDecimal, parseUnixSeconds, parseUsage } from '../common/parse.js';
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
  const times = new GrowableFloat64Array(8192);
  const cpu = new GrowableFloat64Array(8192);
  const memory = new GrowableFloat64Array(8192);
  const disk = new GrowableFloat64Array(8192);
  const network = new GrowableFloat64Array(8192);
  let maxCores = 0;
  let maxMemoryKB = 0;
  let line = 0;
  let skippedRows = 0;
  let seenFirst = false;
  for await (const text of readLines(file)) {
    line++;
    if (text.trim() === '') {
      skippedRows++;
      continue;
    }
    const fields = text.split(';');
    if (!seenFirst) {
      seenFirst = true;
      if (Number.isNaN(parseDecimal(fields[0]!.trim()))) continue; // the header
    }
    if (fields.length !== BITBRAINS_COLUMNS.length) {
      throw new TraceFormatError(`expected ${BITBRAINS_COLUMNS.length} ";"-separated fields, found ${fields.length}`, {
        file,
        line,
      });
    }
    const at = { file, line };
    const num = (i: number): number => parseUsage(fields[i]!, BITBRAINS_COLUMNS[i]!, at);
    const t = parseUnixSeconds(fields[0]!, BITBRAINS_COLUMNS[0], at);
    const cores = num(1);
    const capacityMHz = num(2);
    const usageMHz = num(3);
    const memCapacityKB = num(5);
    const memUsageKB = num(6);
    const diskKBps = num(7) + num(8);
    const netKBps = num(9) + num(10);
    times.push(t);
    cpu.push(cores === 0 || capacityMHz === 0 ? 0 : usageMHz / (capacityMHz / cores));
    memory.push(memUsageKB / 1024);
    disk.push(diskKBps);
    network.push(netKBps);
    if (cores > maxCores) maxCores = cores;
    if (memCapacityKB > maxMemoryKB) maxMemoryKB = memCapacityKB;
  }
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
