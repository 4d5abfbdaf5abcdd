// Trace loading for the market experiments: the first `days` of each series, in canonical units.
import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { InputError } from '../../core/errors.js';
import { getTraceFormat } from '../../traces/registry.js';

/** One VM or job: CPU and memory per step (Bitbrains: cores and MiB; Google: percent of a machine). */
export interface MarketSeries {
  id: string;
  stepSeconds: number;
  cpu: Float64Array;
  memory: Float64Array;
  /** Actual seconds between sample t-1 and t (Bitbrains rows are irregular), when known. */
  stepSecondsAt?: Float64Array;
  /** Provisioned cores (Bitbrains). */
  cores?: number;
}

/** `../shared/traces` from the repository root (or PRESCIENT_TRACES when set by the caller). */
export function defaultTracesRoot(cwd: string): string {
  return resolve(cwd, '..', 'shared', 'traces');
}

export const BITBRAINS_DIR = join('bitbrains-rnd', '2013-7');
export const GOOGLE_DIR = 'google2011';

function need(path: string): void {
  if (!existsSync(path)) throw new InputError(`trace folder not found: ${path} (set --traces to the folder holding ${BITBRAINS_DIR} and ${GOOGLE_DIR})`, { file: path });
}

const finite = (v: number | undefined): number => (v !== undefined && Number.isFinite(v) ? v : 0);

/** Bitbrains VMs (sorted by numeric id), the first `days` days (288 rows a day), at most `limit` VMs. */
export async function loadBitbrains(root: string, o: { days: number; limit?: number }): Promise<MarketSeries[]> {
  const dir = join(root, BITBRAINS_DIR);
  need(dir);
  const out: MarketSeries[] = [];
  const n = Math.round(o.days * 288);
  const keep = o.limit;
  for await (const s of getTraceFormat('bitbrains').read(dir, keep !== undefined ? { filter: (id) => Number(id) <= keep } : {})) {
    const len = Math.min(n, s.length);
    const cpu = new Float64Array(len);
    const memory = new Float64Array(len);
    const stepAt = new Float64Array(len);
    for (let t = 0; t < len; t++) {
      cpu[t] = Math.max(0, finite(s.values.cpu?.[t]));
      memory[t] = Math.max(0, finite(s.values.memory?.[t]));
      const dt = t > 0 && s.timesS ? s.timesS[t]! - s.timesS[t - 1]! : s.stepSeconds;
      stepAt[t] = Number.isFinite(dt) && dt > 0 ? dt : s.stepSeconds;
    }
    out.push({ id: s.id, stepSeconds: s.stepSeconds, cpu, memory, stepSecondsAt: stepAt, cores: s.capacity?.cpu ?? 1 });
  }
  out.sort((a, b) => Number(a.id) - Number(b.id) || (a.id < b.id ? -1 : 1));
  return out;
}

/** Google 2011 job-days (one day each, percent of a machine), sorted by id, at most `limit`. */
export async function loadGoogle(root: string, o: { limit?: number } = {}): Promise<MarketSeries[]> {
  const dir = join(root, GOOGLE_DIR);
  need(dir);
  const out: MarketSeries[] = [];
  const format = getTraceFormat('google2011');
  let keep: Set<string> | undefined;
  if (o.limit !== undefined) {
    const ids = (await format.listFiles(dir)).map((f) => basename(f)).sort();
    keep = new Set(ids.slice(0, o.limit));
  }
  for await (const s of format.read(dir, keep ? { filter: (id) => keep.has(id) } : {})) {
    const len = s.length;
    const cpu = new Float64Array(len);
    const memory = new Float64Array(len);
    for (let t = 0; t < len; t++) {
      cpu[t] = Math.max(0, finite(s.values.cpu?.[t]));
      memory[t] = Math.max(0, finite(s.values.memory?.[t]));
    }
    out.push({ id: s.id, stepSeconds: s.stepSeconds, cpu, memory });
  }
  out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return o.limit !== undefined ? out.slice(0, o.limit) : out;
}
