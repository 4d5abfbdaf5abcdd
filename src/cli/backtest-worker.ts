// Worker thread of `prescient backtest --jobs N`: reads every N-th series of the trace (by
// position in name order), appends each series' CSV rows to its own part file and posts where
// they are, with the series' accuracy figures, to the main thread.
import { closeSync, openSync, writeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { getTraceFormat } from '../traces/registry.js';
import { backtestOneSeries, type SeriesJob } from './backtest-core.js';

interface WorkerInput {
  /** This worker's part file: its series' CSV rows, one contiguous chunk per series. */
  part: string;
  trace: string;
  format: string;
  worker: number;
  jobs: number;
  job: SeriesJob;
}

const input = workerData as WorkerInput;
let position = -1;
let kept = -1;
let offset = 0;
const fd = openSync(input.part, 'w');
for await (const s of getTraceFormat(input.format).read(input.trace, {
  filter: () => {
    position++;
    if (position % input.jobs !== input.worker) return false;
    kept = position;
    return true;
  },
})) {
  const r = backtestOneSeries(s, input.job);
  const bytes = Buffer.from(r.csv, 'utf8');
  writeSync(fd, bytes);
  // the rows go to the part file; the main thread gets where they are and the accuracy figures
  parentPort!.postMessage({ position: kept, offset, length: bytes.length, rows: r.rows, result: { ...r, csv: '' } });
  offset += bytes.length;
}
closeSync(fd);
