// The synthetic generator behind the TraceFormat interface: the "path" is a spec string.
import { InputError } from '../../core/errors.js';
import type { ReadOptions, TraceFormat, TraceSeries } from '../format.js';
import {
  WORKLOAD_ARCHETYPES,
  generateWorkloadSeries,
  type GenerateWorkloadOptions,
  type WorkloadArchetype,
} from './generate-workload.js';

/** Defaults for keys a spec leaves out. */
export const SYNTHETIC_SPEC_DEFAULTS = { count: 10, length: 2016, seed: 1, step: 300, start: 0 } as const;

const NUMERIC_KEYS = ['count', 'length', 'seed', 'step', 'start'] as const;

/**
 * Parses a spec such as `synthetic:count=50,length=2016,seed=7`.
 *
 * Keys (all optional, `key=value` separated by commas; the `synthetic:` prefix is optional):
 * - `count` series (default 10), `length` samples each (default 2016 = one week of 5 min),
 * - `seed` integer (default 1), `step` seconds between samples (default 300),
 * - `start` time of sample 0 in Unix seconds (default 0),
 * - archetype weights `seasonal`, `bursty`, `trending`, `steady`: when any is given, the mix is
 *   exactly the weights given (others 0); else the default mix.
 * Throws an InputError naming the bad key.
 */
export function parseSyntheticSpec(spec: string): GenerateWorkloadOptions {
  const body = spec.trim().replace(/^synthetic:/, '');
  const n: Record<string, number> = { ...SYNTHETIC_SPEC_DEFAULTS };
  const mix: Partial<Record<WorkloadArchetype, number>> = {};
  let mixGiven = false;
  for (const part of body.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).trim();
    const raw = eq < 0 ? '' : part.slice(eq + 1).trim();
    const isNumeric = (NUMERIC_KEYS as readonly string[]).includes(key);
    const isMix = (WORKLOAD_ARCHETYPES as readonly string[]).includes(key);
    if (!isNumeric && !isMix) {
      throw new InputError(`unknown key ${JSON.stringify(key)} in synthetic spec; valid keys: ${[...NUMERIC_KEYS, ...WORKLOAD_ARCHETYPES].join(', ')}`, {
        file: spec,
        field: key,
      });
    }
    const value = raw === '' ? Number.NaN : Number(raw);
    if (!Number.isFinite(value)) throw new InputError(`${key} needs a number, got ${JSON.stringify(raw)}`, { file: spec, field: key });
    if (isNumeric) n[key] = value;
    else {
      mix[key as WorkloadArchetype] = value;
      mixGiven = true;
    }
  }
  return {
    count: n.count!,
    length: n.length!,
    seed: n.seed!,
    stepSeconds: n.step!,
    startTimeS: n.start!,
    ...(mixGiven ? { mix } : {}),
  };
}

/**
 * `synthetic` as a TraceFormat. listFiles(spec) validates the spec and returns it as the single
 * pseudo-file; read(spec) generates the series lazily, one at a time, calling
 * onProgress(i, count) after each (for this format progress counts series, not files).
 */
export const syntheticFormat: TraceFormat = {
  name: 'synthetic',
  description: 'Seeded synthetic workload; path is a spec like "synthetic:count=50,length=2016,seed=7"',
  resources: ['cpu', 'memory'],
  async listFiles(path: string): Promise<string[]> {
    parseSyntheticSpec(path);
    return [path];
  },
  read(path: string, options?: ReadOptions): AsyncIterable<TraceSeries> {
    return (async function* () {
      const opts = parseSyntheticSpec(path);
      const keep = options?.filter ?? (() => true);
      let done = 0;
      for (const s of generateWorkloadSeries(opts, path)) {
        done++;
        options?.onProgress?.(done, opts.count);
        if (keep(s.id)) yield s;
      }
    })();
  },
};
