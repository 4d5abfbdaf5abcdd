// Worker thread of the rightsizing scenario (see rightsizing.ts): simulates every `jobs`-th
// series of the trace (by position in name order), appends each series' allocations rows to its
// part file as one chunk, and posts where the chunk is with the series' outcome.
import { closeSync, openSync, writeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { seededRng, type Rng } from '../core/rng.js';
import { createRegistry } from '../policy/builtin.js';
import { PolicyRunner } from '../policy/framework/decide.js';
import { compileProfile } from '../policy/framework/profile.js';
import { defaultProfile } from '../policy/profiles.js';
import { getTraceFormat } from '../traces/registry.js';
import { allocationLine } from './output.js';
import { serializeError, simulateSeries, type RightsizingWorkerInput, type RightsizingWorkerMessage } from './rightsizing.js';

const input = workerData as RightsizingWorkerInput;
const post = (m: RightsizingWorkerMessage): void => parentPort!.postMessage(m);
let position = -1;
let current = -1;
let currentRng: Rng | undefined;
const fd = input.part !== null ? openSync(input.part, 'w') : null;
let offset = 0;
try {
  const runner = new PolicyRunner(
    compileProfile(defaultProfile({ policy: input.policy, policyArgs: input.policyArgs, scenario: 'rightsizing' }), createRegistry(), { stepSeconds: input.stepSeconds }),
  );
  const rng = seededRng(input.seed);
  const lines: string[] = [];
  const emit = fd !== null ? (instance: string, index: number, cpu: number, memory: number): void => void lines.push(allocationLine(instance, index, cpu, memory)) : undefined;
  for await (const s of getTraceFormat(input.format).read(input.trace, {
    filter: () => {
      position++;
      // one fork per series in trace order, as one thread does: series k gets the k-th stream
      const r = rng.fork();
      if (position % input.jobs !== input.worker) return false;
      current = position;
      currentRng = r;
      return true;
    },
  })) {
    lines.length = 0;
    const outcome = simulateSeries(s, runner, currentRng!, current < input.keepN, emit);
    let length = 0;
    if (fd !== null && lines.length > 0) {
      lines.push('');
      const bytes = Buffer.from(lines.join('\n'), 'utf8');
      writeSync(fd, bytes);
      length = bytes.length;
    }
    post({ type: 'series', position: current, offset, length, outcome });
    offset += length;
  }
} catch (e) {
  post({ type: 'error', position: current, error: serializeError(e) });
} finally {
  if (fd !== null) closeSync(fd);
}
