// Sends spooled batches to the control plane, oldest first, one at a time, so the server sees
// them in sequence order. The contract (src/core/telemetry.ts): POST `${server}/v1/telemetry`
// with `Authorization: Bearer <token>`.
//   2xx  the server stored the batch durably (a resend is acknowledged, not stored twice): remove it.
//   4xx  the batch is bad: log the server's message, drop it, go on with the next.
//        Except 401 (the token, not the batch, is wrong), 408 and 429 (come back later): retried.
//   5xx, no connection, timeout: retry the same batch with exponential backoff and jitter.
import type { Rng } from '../core/rng.js';
import type { Log } from './collectors.js';
import type { Spool } from './spool.js';

export interface BackoffOptions {
  /** First retry delay before jitter, ms. Default 500. */
  initialMs: number;
  /** Largest delay before jitter, ms. Default 30 000. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000 };

/**
 * Delay before retry number `attempt` (0-based): exponential, capped, with "equal jitter"
 * (half fixed, half uniform random), so a fleet of agents does not come back in lockstep after an
 * outage, yet no retry is immediate.
 */
export function backoffDelayMs(attempt: number, rng: Rng, o: BackoffOptions = DEFAULT_BACKOFF): number {
  const cap = Math.min(o.maxMs, o.initialMs * 2 ** Math.min(attempt, 40));
  return cap / 2 + rng.next() * (cap / 2);
}

export type SendOutcome =
  | { kind: 'stored'; status: number }
  | { kind: 'rejected'; status: number; message: string }
  | { kind: 'retry'; reason: string; retryAfterMs?: number };

/** The server's message from an error body: JSON `message` / `error` (string or {message}), else the text. */
export function serverMessage(body: string): string {
  let msg = body.trim();
  try {
    const j = JSON.parse(body) as Record<string, unknown>;
    const pick = (v: unknown): string | undefined =>
      typeof v === 'string' ? v : v && typeof v === 'object' && typeof (v as { message?: unknown }).message === 'string' ? (v as { message: string }).message : undefined;
    msg = pick(j['message']) ?? pick(j['error']) ?? msg;
  } catch {
    /* not JSON */
  }
  return msg.length > 500 ? `${msg.slice(0, 500)}...` : msg || '(empty body)';
}

function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const s = Number(header);
  if (Number.isFinite(s) && s >= 0) return Math.min(s, 300) * 1000;
  const at = Date.parse(header);
  return Number.isFinite(at) ? Math.min(Math.max(0, at - Date.now()), 300_000) : undefined;
}

export interface SenderOptions {
  spool: Spool;
  /** Base URL of the control plane, e.g. http://127.0.0.1:8080 */
  serverUrl: string;
  token: string;
  rng: Rng;
  /** Wall clock, for sentAtMs. */
  wallMs: () => number;
  log: Log;
  backoff?: BackoffOptions;
  /** Per-request timeout, ms. Default 10 000. */
  requestTimeoutMs?: number;
}

export interface SenderStats {
  /** Batches the server acknowledged. */
  stored: number;
  /** Batches the server refused as bad (4xx) and that were dropped. */
  rejected: number;
  /** Failed attempts that will be (or were) retried. */
  retries: number;
  /** Retries since the last success (0 when the server is reachable). */
  failingAttempts: number;
  lastError?: string;
}

export class Sender {
  private readonly url: string;
  private readonly stopCtl = new AbortController();
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private idleWaiters: Array<() => void> = [];
  readonly stats: SenderStats = { stored: 0, rejected: 0, retries: 0, failingAttempts: 0 };

  constructor(private readonly opts: SenderOptions) {
    this.url = `${opts.serverUrl.replace(/\/+$/, '')}/v1/telemetry`;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** A new batch was spooled. */
  notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** Resolves when the spool is empty (true) or after `timeoutMs` (false). */
  async drain(timeoutMs: number): Promise<boolean> {
    if (this.opts.spool.oldest() === undefined) return true;
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<boolean>((r) => this.idleWaiters.push(() => r(true)));
    const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs)));
    try {
      return await Promise.race([idle, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops sending (an in-flight request is aborted; its batch stays in the spool). */
  async stop(): Promise<void> {
    this.stopCtl.abort();
    this.notify();
    await this.loop;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const signal = this.stopCtl.signal;
      if (signal.aborted) return resolve();
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done);
    });
  }

  private async run(): Promise<void> {
    const { spool, log } = this.opts;
    const backoff = this.opts.backoff ?? DEFAULT_BACKOFF;
    while (!this.stopCtl.signal.aborted) {
      const seq = spool.oldest();
      if (seq === undefined) {
        for (const w of this.idleWaiters.splice(0)) w();
        await new Promise<void>((r) => (this.wake = r));
        continue;
      }
      // Marked in flight until acknowledged and removed, so the bound never drops (and counts)
      // a batch the server may already hold; unmarked while waiting to retry.
      spool.markSending(seq);
      let outcome: SendOutcome | undefined;
      try {
        outcome = await this.attempt(seq);
        if (outcome === undefined || this.stopCtl.signal.aborted) continue;
        if (outcome.kind === 'stored' || outcome.kind === 'rejected') {
          if (this.stats.failingAttempts > 0) {
            log(`server reachable again after ${this.stats.failingAttempts} failed attempts; ${spool.stats().batches} batches pending`);
          }
          this.stats.failingAttempts = 0;
          if (outcome.kind === 'stored') this.stats.stored++;
          else {
            this.stats.rejected++;
            log(`server rejected batch ${seq} (HTTP ${outcome.status}): ${outcome.message}; dropped, not retried`);
          }
          await spool.remove(seq);
          continue;
        }
      } finally {
        spool.markSending(undefined);
      }
      const delay = Math.max(backoffDelayMs(this.stats.failingAttempts, this.opts.rng, backoff), outcome.retryAfterMs ?? 0);
      this.stats.failingAttempts++;
      this.stats.retries++;
      this.stats.lastError = outcome.reason;
      log(`sending batch ${seq} failed (${outcome.reason}); ${spool.stats().batches} batches spooled; retry ${this.stats.failingAttempts} in ${Math.round(delay)} ms`);
      await this.sleep(delay);
    }
  }

  /** One attempt at the batch; undefined if it is no longer in the spool. */
  private async attempt(seq: number): Promise<SendOutcome | undefined> {
    try {
      const batch = await this.opts.spool.read(seq);
      if (!batch) return undefined; // dropped or set aside meanwhile
      return await this.post(JSON.stringify({ ...batch, sentAtMs: this.opts.wallMs() }));
    } catch (err) {
      return { kind: 'retry', reason: `spool: ${(err as Error).message}` };
    }
  }

  private async post(body: string): Promise<SendOutcome> {
    const timeout = AbortSignal.timeout(this.opts.requestTimeoutMs ?? 10_000);
    let res: Response;
    try {
      res = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${this.opts.token}` },
        body,
        signal: AbortSignal.any([this.stopCtl.signal, timeout]),
      });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      const why = timeout.aborted ? 'request timed out' : (e.cause?.code ?? e.cause?.message ?? e.message);
      return { kind: 'retry', reason: why };
    }
    let text = '';
    try {
      text = await res.text();
    } catch {
      /* the body is only for messages */
    }
    if (res.ok) return { kind: 'stored', status: res.status };
    if (res.status === 401) return { kind: 'retry', reason: `HTTP 401 (check --token): ${serverMessage(text)}` };
    if (res.status === 408 || res.status === 429) return { kind: 'retry', reason: `HTTP ${res.status}`, retryAfterMs: retryAfterMs(res.headers.get('retry-after')) };
    if (res.status >= 400 && res.status < 500) return { kind: 'rejected', status: res.status, message: serverMessage(text) };
    return { kind: 'retry', reason: `HTTP ${res.status}: ${serverMessage(text)}`, retryAfterMs: retryAfterMs(res.headers.get('retry-after')) };
  }
}
