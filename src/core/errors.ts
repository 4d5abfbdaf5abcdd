// Errors as a small class tree with stable codes (the drizzle-orm habit).
// Decisions are values; exceptions are for failures and bad input.

export type ErrorCode =
  | 'E_INPUT'
  | 'E_TRACE_FORMAT'
  | 'E_CONFIG'
  | 'E_POLICY'
  | 'E_DRIVER'
  | 'E_STORE'
  | 'E_INTERNAL';

export class PrescientError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Where in the input a problem is: file, 1-based line, and field. */
export interface InputLocation {
  file?: string;
  line?: number;
  field?: string;
}

export function formatLocation(loc: InputLocation): string {
  const parts: string[] = [];
  if (loc.file !== undefined) parts.push(loc.line !== undefined ? `${loc.file}:${loc.line}` : loc.file);
  else if (loc.line !== undefined) parts.push(`line ${loc.line}`);
  if (loc.field !== undefined) parts.push(`field ${loc.field}`);
  return parts.join(', ');
}

/** Bad input: says what is wrong and where. */
export class InputError extends PrescientError {
  constructor(
    message: string,
    readonly location: InputLocation = {},
    options?: { cause?: unknown; code?: ErrorCode },
  ) {
    const where = formatLocation(location);
    super(options?.code ?? 'E_INPUT', where ? `${where}: ${message}` : message, options);
  }
}

export class TraceFormatError extends InputError {
  constructor(message: string, location: InputLocation, options?: { cause?: unknown }) {
    super(message, location, { ...options, code: 'E_TRACE_FORMAT' });
  }
}

/** One problem found by validation, with its path (`policies[2].args.margin`). */
export interface Issue {
  path: string;
  message: string;
}

/** Validation that collects every problem instead of stopping at the first. */
export class ValidationError extends PrescientError {
  constructor(readonly issues: Issue[], context = 'invalid input') {
    super('E_CONFIG', `${context}:\n${issues.map((i) => `  ${i.path || '(root)'}: ${i.message}`).join('\n')}`);
  }
}
