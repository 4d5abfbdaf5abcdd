// API tokens are stored as their sha256 only. The server hashes what a client presents and asks
// the store who that hash speaks for (Store.authenticate).
import { createHash, randomBytes } from 'node:crypto';

/** sha256 of a token, as 64 lowercase hex digits (what the Store keeps). */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A new random token: 32 bytes, base64url (43 characters), with a readable prefix. */
export function newToken(prefix = 'pst'): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}
