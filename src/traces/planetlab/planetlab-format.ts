// PlanetLab (CoMon) traces as shipped with CloudSim: a folder of files, one per VM-day,
// one integer CPU utilisation in percent per line, a sample every 300 s.
import type { ReadOptions, TraceFormat, TraceSeries } from '../format.js';
import { listTraceFiles, readLines, seriesIdOf } from '../common/files.js';
import { GrowableFloat64Array } from '../common/growable-array.js';
import { parseUsage } from '../common/parse.js';
import { streamFiles } from '../common/stream-files.js';

/** Seconds between PlanetLab samples. */
export const PLANETLAB_STEP_SECONDS = 300;

/**
 * PlanetLab reader. Every file directly in the folder is one series (id = file name); each
 * line holds one CPU % (decimals are accepted too). Blank lines (such as an empty trailing
 * line) are skipped and counted in `skippedRows`; a non-numeric or negative value throws a
 * TraceFormatError with file, line and field `cpu`. `startTimeS` is 0 (the files carry no time).
 */
export const planetlabFormat: TraceFormat = {
  name: 'planetlab',
  description: 'PlanetLab/CloudSim: folder of files, one CPU % per line, 300 s step',
  resources: ['cpu'],
  listFiles: (path: string) => listTraceFiles(path),
  read(path: string, options?: ReadOptions): AsyncIterable<TraceSeries> {
    return (async function* () {
      const files = await listTraceFiles(path);
      yield* streamFiles(files, options, async (file) => [await readPlanetlabFile(file)], true);
    })();
  },
};

async function readPlanetlabFile(file: string): Promise<TraceSeries> {
  const cpu = new GrowableFloat64Array(512);
  let line = 0;
  let skippedRows = 0;
  for await (const text of readLines(file)) {
    line++;
    if (text.trim() === '') {
      skippedRows++;
      continue;
    }
    cpu.push(parseUsage(text, 'cpu', { file, line }));
  }
  return {
    id: seriesIdOf(file),
    file,
    stepSeconds: PLANETLAB_STEP_SECONDS,
    startTimeS: 0,
    length: cpu.length,
    values: { cpu: cpu.toArray() },
    units: { cpu: 'percent' },
    skippedRows,
  };
}
