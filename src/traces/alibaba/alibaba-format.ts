// Alibaba cluster-trace-v2018 machine_usage.csv: rows of several machines in one file, sampled
// at irregular intervals (~10-60 s), possibly out of order. Resampled to a fixed step per machine.
import type { ReadOptions, TraceFormat, TraceSeries } from '../format.js';
import { listTraceFiles, readLines } from '../common/files.js';
import { parseDecimal, parseUnixSeconds, parseUsage } from '../common/parse.js';
import { streamFiles } from '../common/stream-files.js';
import { InputError, TraceFormatError } from '../../core/errors.js';
import { BucketAccumulator } from './bucket-accumulator.js';

/** Default resampling step (seconds). */
export const ALIBABA_DEFAULT_STEP_SECONDS = 300;

/** The 9 machine_usage columns, in file order (names used in error messages). */
export const ALIBABA_COLUMNS = [
  'machine_id',
  'time_stamp',
  'cpu_util_percent',
  'mem_util_percent',
  'mem_gps',
  'mkpi',
  'net_in',
  'net_out',
  'disk_io_percent',
] as const;

/**
 * Alibaba v2018 machine_usage reader. Reads `path` when it is a file, else the files in the
 * folder whose name starts with `machine_usage` (so machine_meta.csv beside it is ignored);
 * `.gz` files are gunzipped. No header; 9 comma-separated fields per row.
 *
 * One series per machine id (sorted by id within a file). Each machine is resampled to
 * `options.stepSeconds` (default 300): buckets are aligned on multiples of the step
 * (bucket = floor(time / step)) and a bucket's value is the mean of its samples. A bucket with
 * no sample takes the previous bucket's values (carried forward) and is counted in
 * `filledSamples`. The series spans the machine's first to last non-empty bucket;
 * `startTimeS` is the first bucket's start, in seconds from the trace start (the trace's own
 * clock, not Unix time).
 *
 * Resources: cpu and memory in percent of the machine, disk = disk_io_percent in percent.
 * disk_io_percent's abnormal markers -1 and 101 (and an empty field) count as missing and are
 * left out of the bucket mean. net_in/net_out (normalised, cumulative-looking counters),
 * mem_gps and mkpi are not read. A row with a wrong field count, an empty machine id, or a
 * non-numeric or negative cpu/memory/time throws a TraceFormatError with file, line and field.
 * Blank lines are skipped and counted (in every series of that file). With `options.filter`,
 * rows of machines it rejects are not parsed beyond their id (nor held in memory).
 */
export const alibabaFormat: TraceFormat = {
  name: 'alibaba',
  description: 'Alibaba cluster-trace-v2018 machine_usage.csv, resampled per machine (default 300 s)',
  resources: ['cpu', 'memory', 'disk'],
  listFiles: (path: string) => listTraceFiles(path, isAlibabaUsageFile),
  read(path: string, options?: ReadOptions): AsyncIterable<TraceSeries> {
    const stepSeconds = options?.stepSeconds ?? ALIBABA_DEFAULT_STEP_SECONDS;
    return (async function* () {
      if (!(Number.isFinite(stepSeconds) && stepSeconds > 0)) {
        throw new InputError(`stepSeconds must be a positive number, got ${stepSeconds}`, { field: 'stepSeconds' });
      }
      const files = await listTraceFiles(path, isAlibabaUsageFile);
      yield* streamFiles(files, options, (file, keep) => readAlibabaFile(file, keep, stepSeconds), false);
    })();
  },
};

function isAlibabaUsageFile(name: string): boolean {
  return name.startsWith('machine_usage');
}

async function readAlibabaFile(file: string, keep: (id: string) => boolean, stepSeconds: number): Promise<TraceSeries[]> {
  const machines = new Map<string, BucketAccumulator | null>();
  let line = 0;
  let skippedRows = 0;
  for await (const text of readLines(file)) {
    line++;
    if (text.trim() === '') {
      skippedRows++;
      continue;
    }
    const fields = text.split(',');
    if (fields.length !== ALIBABA_COLUMNS.length) {
      throw new TraceFormatError(`expected ${ALIBABA_COLUMNS.length} comma-separated fields, found ${fields.length}`, {
        file,
        line,
      });
    }
    const at = { file, line };
    const id = fields[0]!.trim();
    if (id === '') throw new TraceFormatError('empty machine id', { ...at, field: ALIBABA_COLUMNS[0] });
    let acc = machines.get(id);
    if (acc === undefined) {
      acc = keep(id) ? new BucketAccumulator() : null;
      machines.set(id, acc);
    }
    if (acc === null) continue;
    const t = parseUnixSeconds(fields[1]!, ALIBABA_COLUMNS[1], at);
    if (t < 0) throw new TraceFormatError(`negative time: ${fields[1]}`, { ...at, field: ALIBABA_COLUMNS[1] });
    const cpu = parseUsage(fields[2]!, ALIBABA_COLUMNS[2], at);
    const memory = parseUsage(fields[3]!, ALIBABA_COLUMNS[3], at);
    acc.add(Math.floor(t / stepSeconds), cpu, memory, parseDisk(fields[8]!, at));
  }
  const ids = [...machines.keys()].sort();
  const out: TraceSeries[] = [];
  for (const id of ids) {
    const acc = machines.get(id);
    if (!acc) continue;
    const { firstBucket, values, filled } = acc.finish();
    out.push({
      id,
      file,
      stepSeconds,
      startTimeS: firstBucket * stepSeconds,
      length: values.cpu.length,
      values,
      units: { cpu: 'percent', memory: 'percent', disk: 'percent' },
      skippedRows,
      filledSamples: filled,
    });
  }
  return out;
}

/** disk_io_percent: NaN (missing) for an empty field or the abnormal markers -1 and 101. */
function parseDisk(text: string, at: { file: string; line: number }): number {
  const trimmed = text.trim();
  if (trimmed === '') return Number.NaN;
  const v = parseDecimal(trimmed);
  if (v === -1 || v === 101) return Number.NaN;
  return parseUsage(trimmed, ALIBABA_COLUMNS[8], at);
}
