// Bearer tokens: random 256-bit secrets shown once, stored only as sha256 digests (through the
// Store), with roles admin | tenant | agent.
//
// Comparison: the presented token is hashed and the digest looked up by the store's index. The
// timing of that lookup can only reveal prefixes of digests of random 256-bit secrets, which does
// not help to forge one. The short-lived principal cache below compares digests with
// crypto.timingSafeEqual before it trusts an entry.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Principal, Role, Store } from '../core/store.js';
import { ApiError, forbidden, unauthorized } from './errors.js';

const TOKEN_PREFIX = 'psk_';

/** A new secret token: `psk_` + 43 base64url characters (32 random bytes). */
export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/** A new random id with a prefix (`tok_3f9a...`). */
export function randomId(prefix: string, bytes = 8): string {
  return `${prefix}${randomBytes(bytes).toString('hex')}`;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Constant-time equality of two hex digests of the same length. */
export function digestsEqual(aHex: string, bHex: string): boolean {
  const a = Buffer.from(aHex, 'hex');
  const b = Buffer.from(bHex, 'hex');
  return a.length === b.length && a.length > 0 && timingSafeEqual(a, b);
}

/** The bearer token of a request, from `Authorization: Bearer ...`, or (GET only) `?access_token=` for EventSource. */
export function bearerToken(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (typeof h === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
    if (!m) throw new ApiError(401, 'unauthorized', 'the Authorization header must be "Bearer <token>"', 'headers.authorization');
    return m[1];
  }
  if (req.method === 'GET') {
    const q = req.query as Record<string, unknown> | undefined;
    const t = q?.access_token;
    if (typeof t === 'string' && t.length > 0) return t;
  }
  return undefined;
}

interface CacheEntry {
  digest: string;
  principal: Principal;
  untilMs: number;
}

/** Resolves tokens to principals through the store, with a short cache (revocations clear it). */
export class Authenticator {
  private readonly cache = new Map<string, CacheEntry>();

  constructor(
    private readonly store: Store,
    private readonly nowMs: () => number,
    private readonly cacheMs = 2000,
  ) {}

  async principal(token: string): Promise<Principal | undefined> {
    if (token.length > 512) return undefined;
    const digest = sha256Hex(token);
    const now = this.nowMs();
    const hit = this.cache.get(digest);
    if (hit && hit.untilMs > now && digestsEqual(hit.digest, digest)) return hit.principal;
    const p = await this.store.authenticate(digest, now);
    if (p) {
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(digest, { digest, principal: p, untilMs: now + this.cacheMs });
    } else this.cache.delete(digest);
    return p;
  }

  /** Forget every cached principal (after a token is revoked or an agent changes). */
  invalidate(): void {
    this.cache.clear();
  }

  /** The principal of a request, or a 401. */
  async require(req: FastifyRequest): Promise<Principal> {
    const token = bearerToken(req);
    if (token === undefined) throw unauthorized('missing bearer token (Authorization: Bearer <token>)');
    const p = await this.principal(token);
    if (!p) throw unauthorized('unknown, revoked or expired token');
    return p;
  }
}

/** 403 unless the principal has one of the roles. */
export function requireRole(p: Principal, ...roles: Role[]): void {
  if (!roles.includes(p.role)) {
    throw forbidden(`this endpoint needs a ${roles.join(' or ')} token; this one is a ${p.role} token`);
  }
}
