// Strict number parsing for trace fields. `Number()` alone accepts '', ' ', '0x1f' and 'Infinity';
// a trace reader must reject those with the file, line and field.
import { TraceFormatError } from '../../core/errors.js';

const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** Parses a plain decimal number (optional sign, fraction and exponent); NaN when it is not one. */
export function parseDecimal(text: string): number {
  return DECIMAL.test(text) ? Number(text) : Number.NaN;
}

/** Where a field sits, for error messages. */
export interface FieldLocation {
  file: string;
  /** 1-based line number in the file. */
  line: number;
}

/**
 * Parses a usage field: a finite decimal number that is not negative.
 * Throws a TraceFormatError naming file, line and field otherwise.
 */
export function parseUsage(text: string, field: string, at: FieldLocation): number {
  const trimmed = text.trim();
  const v = parseDecimal(trimmed);
  if (Number.isNaN(v)) {
    throw new TraceFormatError(`not a number: ${JSON.stringify(truncate(trimmed))}`, { ...at, field });
  }
  if (!Number.isFinite(v)) throw new TraceFormatError(`not a finite number: ${trimmed}`, { ...at, field });
  if (v < 0) throw new TraceFormatError(`negative usage: ${trimmed}`, { ...at, field });
  return v;
}

/** Parses a timestamp in Unix seconds (a finite decimal number). */
export function parseUnixSeconds(text: string, field: string, at: FieldLocation): number {
  const trimmed = text.trim();
  const v = parseDecimal(trimmed);
  if (!Number.isFinite(v)) {
    throw new TraceFormatError(`not a Unix time in seconds: ${JSON.stringify(truncate(trimmed))}`, { ...at, field });
  }
  return v;
}

function truncate(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}...` : s;
}
