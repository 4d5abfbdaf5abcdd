// Google cluster-data 2011 as aggregated per job by Hieu et al.: one file per "VM" (job-day),
// each line "CPU% MEM%" separated by white space, a sample every 300 s.
import type { ReadOptions, TraceFormat, TraceSeries } from '../format.js';
import { listTraceFiles, readLines, seriesIdOf } from '../common/files.js';
import { GrowableFloat64Array } from '../common/growable-array.js';
import { parseUsage } from '../common/parse.js';
import { streamFiles } from '../common/stream-files.js';
import { TraceFormatError } from '../../core/errors.js';

/** Seconds between Google 2011 samples in this aggregation. */
export const GOOGLE2011_STEP_SECONDS = 300;

/**
 * Google 2011 reader. Every file directly in the folder is one series (id = file name); each
 * line holds CPU % and memory %, separated by spaces or tabs. Blank lines are skipped and
 * counted; a line without exactly two fields, or a non-numeric or negative value, throws a
 * TraceFormatError with file, line and field (`cpu` or `memory`). `startTimeS` is 0.
 */
export const google2011Format: TraceFormat = {
  name: 'google2011',
  description: 'Google cluster-data 2011 per-job aggregation: "CPU% MEM%" per line, 300 s step',
  resources: ['cpu', 'memory'],
  listFiles: (path: string) => listTraceFiles(path),
  read(path: string, options?: ReadOptions): AsyncIterable<TraceSeries> {
    return (async function* () {
      const files = await listTraceFiles(path);
      yield* streamFiles(files, options, async (file) => [await readGoogleFile(file)], true);
    })();
  },
};

const WHITESPACE = /[ \t]+/;

async function readGoogleFile(file: string): Promise<TraceSeries> {
  const cpu = new GrowableFloat64Array(512);
  const memory = new GrowableFloat64Array(512);
  let line = 0;
  let skippedRows = 0;
  for await (const text of readLines(file)) {
    line++;
    const trimmed = text.trim();
    if (trimmed === '') {
      skippedRows++;
      continue;
    }
    const fields = trimmed.split(WHITESPACE);
    if (fields.length !== 2) {
      throw new TraceFormatError(`expected 2 fields "CPU% MEM%", found ${fields.length}`, { file, line });
    }
    cpu.push(parseUsage(fields[0]!, 'cpu', { file, line }));
    memory.push(parseUsage(fields[1]!, 'memory', { file, line }));
  }
  return {
    id: seriesIdOf(file),
    file,
    stepSeconds: GOOGLE2011_STEP_SECONDS,
    startTimeS: 0,
    length: cpu.length,
    values: { cpu: cpu.toArray(), memory: memory.toArray() },
    units: { cpu: 'percent', memory: 'percent' },
    skippedRows,
  };
}
