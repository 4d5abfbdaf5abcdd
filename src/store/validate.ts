// Checks every Store backend applies to what it is asked to write. The HTTP layer validates
// requests with zod first; these are the store's own guard rails (a bad value never reaches the
// database), and their messages say which record and which field.
import type { Priority } from '../core/model.js';
import type { ResourceVector } from '../core/resources.js';
import {
  BID_STATES,
  INSTANCE_STATES,
  LEDGER_ASSETS,
  ROLES,
  StoreError,
  type BidState,
  type InstanceState,
  type LedgerAsset,
  type Role,
  type Scope,
} from '../core/store.js';

const PRIORITIES: readonly Priority[] = ['critical', 'high', 'normal', 'low'];

export function invalid(what: string, field: string, message: string): never {
  throw new StoreError('invalid', `${what}: ${field}: ${message}`);
}

export function checkId(what: string, field: string, v: unknown): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > 256) invalid(what, field, `must be a non-empty string of at most 256 characters, got ${show(v)}`);
  return v;
}

export function checkOptionalId(what: string, field: string, v: unknown): string | null {
  return v === null || v === undefined ? null : checkId(what, field, v);
}

export function checkText(what: string, field: string, v: unknown, maxLength = 10_000): string {
  if (typeof v !== 'string' || v.length > maxLength) invalid(what, field, `must be a string of at most ${maxLength} characters, got ${show(v)}`);
  return v;
}

export function checkTimeMs(what: string, field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) invalid(what, field, `must be a non-negative integer of Unix milliseconds, got ${show(v)}`);
  return v;
}

export function checkFinite(what: string, field: string, v: unknown, min = -Infinity): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) invalid(what, field, `must be a finite number${min > -Infinity ? ` >= ${min}` : ''}, got ${show(v)}`);
  return v;
}

export function checkMicrocredits(what: string, field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) invalid(what, field, `must be a safe integer of microcredits, got ${show(v)}`);
  return v;
}

/** A safe integer (a ledger delta or amount); `unit` says in what, for the message. */
export function checkSafeInteger(what: string, field: string, v: unknown, unit: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) invalid(what, field, `must be a safe integer of ${unit}, got ${show(v)}`);
  return v;
}

export function checkVector(what: string, field: string, v: unknown): ResourceVector {
  if (typeof v !== 'object' || v === null) invalid(what, field, `must be a resource vector, got ${show(v)}`);
  const r = v as Record<string, unknown>;
  for (const k of ['cpuMillicores', 'memoryMiB', 'diskKiBps', 'networkKiBps'] as const) checkFinite(what, `${field}.${k}`, r[k], 0);
  return v as ResourceVector;
}

function checkOneOf<T extends string>(what: string, field: string, v: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(v as T)) invalid(what, field, `must be one of ${allowed.join(', ')}, got ${show(v)}`);
  return v as T;
}

export const checkPriority = (what: string, v: unknown): Priority => checkOneOf(what, 'priority', v, PRIORITIES);
export const checkInstanceState = (what: string, v: unknown): InstanceState => checkOneOf(what, 'state', v, INSTANCE_STATES);
export const checkBidState = (what: string, v: unknown): BidState => checkOneOf(what, 'state', v, BID_STATES);
/** A ledger asset; undefined means 'money' (the default of every ledger call). */
export const checkAsset = (what: string, field: string, v: unknown): LedgerAsset => (v === undefined ? 'money' : checkOneOf(what, field, v, LEDGER_ASSETS));
export const checkRole = (what: string, v: unknown): Role => checkOneOf(what, 'role', v, ROLES);

export function checkLabels(what: string, v: unknown): Record<string, string> {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) invalid(what, 'labels', `must be an object of strings, got ${show(v)}`);
  for (const [k, x] of Object.entries(v)) if (typeof x !== 'string') invalid(what, `labels.${k}`, `must be a string, got ${show(x)}`);
  return v as Record<string, string>;
}

/** JSON text of a payload; refuses what JSON cannot carry (undefined, functions, cycles, BigInt). */
export function toJson(what: string, field: string, v: unknown): string {
  let s: string | undefined;
  try {
    s = JSON.stringify(v);
  } catch (e) {
    invalid(what, field, `must be JSON-serializable (${(e as Error).message})`);
  }
  if (s === undefined) invalid(what, field, `must be a JSON value, got ${show(v)}`);
  return s;
}

export function checkSha256Hex(what: string, v: unknown): string {
  if (typeof v !== 'string' || !/^[0-9a-f]{64}$/.test(v))
    invalid(what, 'tokenSha256Hex', 'must be the sha256 of the token as 64 lowercase hex digits (never the token itself)');
  return v;
}

/** A tenant scope may only write rows of its own tenant. */
export function checkOwnTenant(scope: Scope, what: string, tenant: string): void {
  if ('tenant' in scope && scope.tenant !== tenant)
    throw new StoreError('forbidden', `${what}: tenant ${JSON.stringify(scope.tenant)} may not write rows of tenant ${JSON.stringify(tenant)}`);
}

export function show(v: unknown): string {
  if (typeof v === 'number') return String(v);
  if (v === undefined) return 'undefined';
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
  } catch {
    return String(v);
  }
}
