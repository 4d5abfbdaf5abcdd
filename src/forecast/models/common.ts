// Helpers shared by the online forecasting models. Pure: no I/O, no clock, no randomness.
import type { z } from 'zod';
import { InputError, ValidationError, type Issue } from '../../core/errors.js';

/** True for NaN and ±Infinity: every model treats such a sample as missing. */
export function isMissing(y: number): boolean {
  // y - y is 0 for every finite number and NaN for NaN and ±Infinity.
  return y - y !== 0;
}

/** `a.b[2].c` from a zod issue path. */
export function formatIssuePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}

/**
 * Flattens zod issues to (path, message), one per unknown key for `unrecognized_keys`
 * (`alpah: unknown field`) so every message names its field.
 */
export function flattenIssues(issues: readonly z.core.$ZodIssue[]): Array<{ path: PropertyKey[]; message: string }> {
  const out: Array<{ path: PropertyKey[]; message: string }> = [];
  for (const i of issues) {
    if (i.code === 'unrecognized_keys') {
      for (const key of i.keys) out.push({ path: [...i.path, key], message: 'unknown field' });
    } else {
      out.push({ path: [...i.path], message: i.message });
    }
  }
  return out;
}

/** Every problem of a failed zod parse, with its path (prefixed when given). */
export function zodIssues(error: z.ZodError, prefix = ''): Issue[] {
  return flattenIssues(error.issues).map((i) => {
    const p = formatIssuePath(i.path);
    return { path: prefix && p ? `${prefix}.${p}` : prefix || p, message: i.message };
  });
}

/** Parsed options per schema, by the options' JSON (engines build the same models per series). */
const parsedOptions = new WeakMap<z.ZodType, Map<string, unknown>>();
const PARSED_OPTIONS_KEPT = 256;

/**
 * JSON of options made only of finite numbers, strings, booleans and arrays of them (the key of
 * the parse cache), else undefined: JSON would not tell such options apart from others.
 */
function optionsKey(input: unknown): string | undefined {
  if (input === undefined || input === null) return '{}';
  if (typeof input !== 'object' || Array.isArray(input)) return undefined;
  for (const v of Object.values(input)) {
    if (Array.isArray(v)) {
      for (const x of v) if (!plain(x)) return undefined;
    } else if (!plain(v)) return undefined;
  }
  return JSON.stringify(input);
}

function plain(v: unknown): boolean {
  return typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
}

/**
 * Parses model options with a zod schema; throws a ValidationError naming each bad field
 * (`invalid holt options: alpha: Too big: expected number to be <=1`). A successful parse of
 * plain options is kept per schema and handed out again, frozen (models only read their options).
 */
export function parseOptions<S extends z.ZodType>(schema: S, input: unknown, model: string): z.output<S> {
  const key = optionsKey(input);
  let cache = parsedOptions.get(schema);
  if (key !== undefined && cache !== undefined) {
    const hit = cache.get(key);
    if (hit !== undefined) return hit as z.output<S>;
  }
  const r = schema.safeParse(input ?? {});
  if (!r.success) throw new ValidationError(zodIssues(r.error), `invalid ${model} options`);
  if (key !== undefined && r.data !== null && typeof r.data === 'object') {
    if (cache === undefined) parsedOptions.set(schema, (cache = new Map()));
    if (cache.size >= PARSED_OPTIONS_KEPT) cache.clear();
    for (const v of Object.values(r.data)) if (Array.isArray(v)) Object.freeze(v);
    cache.set(key, Object.freeze(r.data));
  }
  return r.data;
}

/** Checks a forecast horizon: a non-negative integer. */
export function checkHorizon(horizon: number): void {
  if (!Number.isInteger(horizon) || horizon < 0) {
    throw new InputError(`horizon must be a non-negative integer, got ${horizon}`, { field: 'horizon' });
  }
}

/** Checks quantile levels: each in [0, 1]. */
export function checkLevels(qs: readonly number[]): void {
  for (let k = 0; k < qs.length; k++) {
    const q = qs[k]!;
    if (!(q >= 0 && q <= 1)) throw new InputError(`quantile level must be in [0, 1], got ${q}`, { field: `qs[${k}]` });
  }
}

/** A horizon-long array filled with one value. */
export function flat(horizon: number, value: number, into?: Float64Array): Float64Array {
  return fillRange(into ?? new Float64Array(horizon), value, 0, horizon);
}

/**
 * out[from..to) = value; returns out. A plain loop: TypedArray.prototype.fill is a runtime call
 * that costs more than the few values the hot paths fill.
 */
export function fillRange<T extends Float64Array | Uint8Array>(out: T, value: number, from: number, to: number): T {
  for (let i = from; i < to; i++) out[i] = value;
  return out;
}

/**
 * Solves M x = rhs for a symmetric positive definite P x P matrix (row-major) by Cholesky, in
 * place: M is overwritten by its factor, rhs by the solution. False (and garbage in both) when M
 * is not positive definite or the solution is not finite.
 */
export function choleskySolveInPlace(M: Float64Array, rhs: Float64Array, P: number): boolean {
  for (let j = 0; j < P; j++) {
    let sum = M[j * P + j]!;
    for (let k = 0; k < j; k++) sum -= M[j * P + k]! * M[j * P + k]!;
    if (!(sum > 0)) return false;
    const ljj = Math.sqrt(sum);
    M[j * P + j] = ljj;
    for (let i = j + 1; i < P; i++) {
      let s = M[i * P + j]!;
      for (let k = 0; k < j; k++) s -= M[i * P + k]! * M[j * P + k]!;
      M[i * P + j] = s / ljj;
    }
  }
  for (let i = 0; i < P; i++) {
    let s = rhs[i]!;
    for (let k = 0; k < i; k++) s -= M[i * P + k]! * rhs[k]!;
    rhs[i] = s / M[i * P + i]!;
  }
  for (let i = P - 1; i >= 0; i--) {
    let s = rhs[i]!;
    for (let k = i + 1; k < P; k++) s -= M[k * P + i]! * rhs[k]!;
    rhs[i] = s / M[i * P + i]!;
  }
  for (let i = 0; i < P; i++) if (!Number.isFinite(rhs[i]!)) return false;
  return true;
}
