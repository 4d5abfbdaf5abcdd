// The rightsizing scenario: every series is independent (no host limits), so each one is
// simulated on its own as soon as it is read, then dropped, and its policy state forgotten.
//
// With `jobs` > 1 (formats with one series per file), the series are split across worker threads
// by position (worker w takes positions w, w + jobs, ...; rightsizing-worker.ts). Each worker
// appends its series' allocations.csv rows to a part file, one contiguous chunk per series, and
// posts the chunk's place and the series' outcome. The main thread copies the chunks into
// allocations.csv and merges the outcomes in position order, exactly as one thread does, so the
// outputs are byte-identical whatever the number of workers. Each series gets the same random
// stream as with one thread (the k-th fork of the seeded source), and every worker compiles the
// profile with the step of the trace's first series, as one thread does.
import { existsSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { copyChunksInOrder } from '../io/part-files.js';
import { InputError, PrescientError, TraceFormatError, formatLocation, type ErrorCode, type InputLocation } from '../core/errors.js';
import type { Rng } from '../core/rng.js';
import type { PolicyRunner } from '../policy/framework/decide.js';
import type { TraceSeries } from '../traces/format.js';
import { simulateCohort, type KeptSeries } from './engine.js';
import { ResourceMetrics, type ResourceTotals } from './metrics.js';

/** Formats whose every file holds exactly one series: the ones split across worker threads. */
export const ONE_SERIES_PER_FILE: ReadonlySet<string> = new Set(['planetlab', 'bitbrains', 'google2011']);

/** What one series contributes to the run (plain data: it crosses from a worker). */
export interface SeriesOutcome {
  cpu: ResourceTotals;
  memory: ResourceTotals;
  rows: number;
  steps: number;
  failedPlans: number;
  skippedRows: number;
  resources: Array<'cpu' | 'memory'>;
  kept: KeptSeries[];
}

/** Throws when a series carries neither resource the simulator manages. */
export function checkSeries(s: TraceSeries): void {
  if (!s.values.cpu && !s.values.memory) throw new InputError('series has neither cpu nor memory values', { file: s.file });
}

/**
 * Simulates one series under `runner` (shared across series: per-instance state is keyed by
 * id and dropped when the series ends), then forgets the instance.
 */
export function simulateSeries(
  s: TraceSeries,
  runner: PolicyRunner,
  rng: Rng,
  keep: boolean,
  onAllocation?: (instance: string, index: number, cpu: number, memory: number) => void,
): SeriesOutcome {
  checkSeries(s);
  const r = simulateCohort([s], {
    runner,
    rng,
    stepSeconds: s.stepSeconds,
    ...(onAllocation ? { onAllocation } : {}),
    keepSeries: () => keep,
  });
  runner.forget(s.id);
  const resources: Array<'cpu' | 'memory'> = [];
  for (const k of ['cpu', 'memory'] as const) if (s.values[k]) resources.push(k);
  return {
    cpu: r.cpu.totals(),
    memory: r.memory.totals(),
    rows: r.rows,
    steps: r.steps,
    failedPlans: r.failedPlans,
    skippedRows: s.skippedRows,
    resources,
    kept: r.kept,
  };
}

/** Sums series outcomes; fed in position order it gives the same floating-point sums every time. */
export class RightsizingTotals {
  readonly cpu = new ResourceMetrics();
  readonly memory = new ResourceMetrics();
  readonly kept: KeptSeries[] = [];
  readonly resources = new Set<'cpu' | 'memory'>();
  instances = 0;
  rows = 0;
  steps = 0;
  failedPlans = 0;
  skippedRows = 0;

  add(o: SeriesOutcome): void {
    for (const k of o.resources) this.resources.add(k);
    this.skippedRows += o.skippedRows;
    this.cpu.merge(o.cpu);
    this.memory.merge(o.memory);
    this.kept.push(...o.kept);
    this.instances++;
    this.rows += o.rows;
    this.steps = Math.max(this.steps, o.steps);
    this.failedPlans += o.failedPlans;
  }
}

/** Worker threads for `jobs` ("auto" or undefined = one per core, at most one per 8 files). */
export function resolveJobs(jobs: number | 'auto' | undefined, files: number): number {
  if (jobs === undefined || jobs === 'auto') return Math.max(1, Math.min(availableParallelism(), Math.ceil(files / 8)));
  if (!Number.isInteger(jobs) || jobs < 1) throw new InputError(`jobs must be a positive integer or "auto", got ${jobs}`, { field: 'jobs' });
  return jobs;
}

const WORKER_URL = new URL('./rightsizing-worker.js', import.meta.url);

/** True when the compiled worker entry exists (not when running the TypeScript sources). */
export function workersAvailable(): boolean {
  return WORKER_URL.protocol === 'file:' && existsSync(fileURLToPath(WORKER_URL));
}

/** What a worker needs to rebuild the run (all plain data). */
export interface RightsizingWorkerInput {
  worker: number;
  jobs: number;
  trace: string;
  format: string;
  policy: string;
  policyArgs: unknown;
  seed: number;
  /** Step the profile is compiled with (the first series' step, as with one thread). */
  stepSeconds: number;
  /** Series at positions below this keep their full series (charts). */
  keepN: number;
  /** Part file for this worker's allocations rows; none = rows are not written. */
  part: string | null;
}

/** Messages from a worker. */
export type RightsizingWorkerMessage =
  | { type: 'series'; position: number; offset: number; length: number; outcome: SeriesOutcome }
  | { type: 'error'; position: number; error: SerializedError };

export interface SerializedError {
  name: string;
  message: string;
  code?: ErrorCode;
  location?: InputLocation;
}

export function serializeError(e: unknown): SerializedError {
  if (e instanceof PrescientError) {
    const location = (e as { location?: InputLocation }).location;
    return { name: e.name, message: e.message, code: e.code, ...(location ? { location } : {}) };
  }
  if (e instanceof Error) return { name: e.name, message: e.message };
  return { name: 'Error', message: String(e) };
}

/** The error a worker met, as the class one thread would have thrown (same message). */
export function deserializeError(e: SerializedError): Error {
  if ((e.name === 'TraceFormatError' || e.name === 'InputError') && e.location) {
    const where = formatLocation(e.location);
    const raw = where && e.message.startsWith(`${where}: `) ? e.message.slice(where.length + 2) : e.message;
    return e.name === 'TraceFormatError' ? new TraceFormatError(raw, e.location) : new InputError(raw, e.location, e.code ? { code: e.code } : {});
  }
  if (e.code) {
    const err = new PrescientError(e.code, e.message);
    err.name = e.name;
    return err;
  }
  const err = new Error(e.message);
  err.name = e.name;
  return err;
}

export interface ParallelRightsizingOptions extends Omit<RightsizingWorkerInput, 'worker' | 'part'> {
  /** Files in the trace (progress total). */
  files: number;
  /** Where the rows go (chunks copied in position order); none = rows are not kept. */
  sink?: { path: string; bytes(data: Uint8Array, rows: number): void };
  onSeries?: (done: number, total: number) => void;
}

/** Runs the rightsizing scenario on `jobs` worker threads; the totals equal one thread's. */
export async function runRightsizingInWorkers(o: ParallelRightsizingOptions): Promise<RightsizingTotals> {
  interface Done {
    worker: number;
    offset: number;
    length: number;
    outcome: SeriesOutcome;
  }
  const done = new Map<number, Done>();
  const errors: Array<{ position: number; error: SerializedError }> = [];
  const parts = Array.from({ length: o.jobs }, (_, w) => (o.sink ? `${o.sink.path}.part${w}` : null));
  let count = 0;
  try {
    await Promise.all(
      parts.map(
        (part, w) =>
          new Promise<void>((resolve, reject) => {
            const input: RightsizingWorkerInput = {
              worker: w, jobs: o.jobs, trace: o.trace, format: o.format, policy: o.policy, policyArgs: o.policyArgs,
              seed: o.seed, stepSeconds: o.stepSeconds, keepN: o.keepN, part,
            };
            const worker = new Worker(WORKER_URL, { workerData: input });
            worker.on('message', (m: RightsizingWorkerMessage) => {
              if (m.type === 'error') {
                errors.push({ position: m.position, error: m.error });
                return;
              }
              done.set(m.position, { worker: w, offset: m.offset, length: m.length, outcome: m.outcome });
              o.onSeries?.(++count, o.files);
            });
            worker.on('error', reject);
            worker.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`rightsizing worker ${w} exited with code ${code}`))));
          }),
      ),
    );
    if (errors.length > 0) {
      // The first failing series in trace order, as one thread would have reported it.
      errors.sort((a, b) => a.position - b.position);
      throw deserializeError(errors[0]!.error);
    }
    const totals = new RightsizingTotals();
    const order = [...done.keys()].sort((a, b) => a - b);
    for (const position of order) totals.add(done.get(position)!.outcome);
    if (o.sink) {
      const chunks = new Map(order.map((p) => {
        const c = done.get(p)!;
        return [p, { worker: c.worker, offset: c.offset, length: c.length, rows: c.outcome.rows }] as const;
      }));
      copyChunksInOrder(parts as string[], chunks, o.sink);
    }
    return totals;
  } finally {
    for (const p of parts) if (p) rmSync(p, { force: true });
  }
}
