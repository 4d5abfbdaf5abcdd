// API errors: every 4xx/5xx body is `{ error: { code, message, field } }`, where `field` names
// the input that is wrong (`profiles[2].samples[0].values.memoryMiB`, `params.id`), or null.
import { isStoreError, type StoreError } from '../core/store.js';

export type ApiErrorCode =
  | 'bad_request'
  | 'invalid'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'rate_limited'
  | 'internal';

export interface ApiErrorBody {
  error: { code: ApiErrorCode; message: string; field: string | null };
}

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: ApiErrorCode,
    message: string,
    readonly field: string | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ApiError';
  }
  body(): ApiErrorBody {
    return { error: { code: this.code, message: this.message, field: this.field } };
  }
}

export const badRequest = (message: string, field: string | null = null): ApiError => new ApiError(400, 'invalid', message, field);
export const notFound = (what: string, id: string, field: string | null): ApiError => new ApiError(404, 'not_found', `${what} "${id}" not found`, field);
export const forbidden = (message: string, field: string | null = null): ApiError => new ApiError(403, 'forbidden', message, field);
export const unauthorized = (message: string): ApiError => new ApiError(401, 'unauthorized', message, 'headers.authorization');

/** Formats a zod-style path (['profiles', 2, 'samples']) as `profiles[2].samples`, under a prefix. */
export function fieldPath(prefix: string, path: readonly PropertyKey[]): string {
  let out = prefix;
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out || '(root)';
}

/** Maps a store failure to an API error (conflict -> 409, not_found -> 404, ...). */
export function fromStoreError(e: StoreError, field: string | null = null): ApiError {
  switch (e.reason) {
    case 'not_found':
      return new ApiError(404, 'not_found', e.message, field, { cause: e });
    case 'conflict':
      return new ApiError(409, 'conflict', e.message, field, { cause: e });
    case 'forbidden':
      return new ApiError(403, 'forbidden', e.message, field, { cause: e });
    case 'insufficient_funds':
      return new ApiError(409, 'conflict', e.message, field, { cause: e });
    case 'invalid':
      return new ApiError(400, 'invalid', e.message, field, { cause: e });
    default:
      return new ApiError(500, 'internal', `store failure: ${e.message}`, null, { cause: e });
  }
}

export function asApiError(e: unknown, field: string | null = null): ApiError | undefined {
  if (e instanceof ApiError) return e;
  if (isStoreError(e)) return fromStoreError(e, field);
  return undefined;
}
