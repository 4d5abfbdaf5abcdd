// Worker thread of `prescient backtest --jobs N`: reads every N-th series of the trace (by
// position in name order) and posts each series' CSV rows and accuracy back to the main thread.
import { parentPort, workerData } from 'node:worker_threads';
import { getTraceFormat } from '../traces/registry.js';
import { backtestOneSeries, type SeriesJob } from './backtest-core.js';

interface WorkerInput {
  trace: string;
  format: string;
  worker: number;
  jobs: number;
  job: SeriesJob;
}

const input = workerData as WorkerInput;
let position = -1;
let kept = -1;
for await (const s of getTraceFormat(input.format).read(input.trace, {
  filter: () => {
    position++;
    if (position % input.jobs !== input.worker) return false;
    kept = position;
    return true;
  },
})) {
  const r = backtestOneSeries(s, input.job);
  parentPort!.postMessage({ position: kept, result: r });
}
