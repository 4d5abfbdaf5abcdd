// A QMP client over QEMU's unix socket: JSON objects, one per line. Every command is sent with a
// unique `id`, so its reply ({"return": ..., "id"} or {"error": ..., "id"}) is told apart from
// the asynchronous events ({"event": ..., "timestamp": ...}) that may arrive in between.
import { createConnection, type Socket } from 'node:net';
import { DriverError } from '../../core/ports.js';

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

/** A QMP error reply: the command, QEMU's class and description. */
export class QmpError extends DriverError {
  constructor(
    readonly command: string,
    readonly errorClass: string,
    readonly desc: string,
  ) {
    super(`QMP ${command}: ${errorClass}: ${desc}`);
  }
}

interface Pending {
  command: string;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  timer: ReturnType<typeof setTimeout>;
}

type Listener = (e: QmpEvent) => void;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class QmpClient {
  private buf = '';
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private readonly listeners = new Set<Listener>();
  private closedError: Error | undefined;
  /** Every event received, newest last (bounded), for diagnostics and waits that start late. */
  readonly events: QmpEvent[] = [];

  private constructor(
    private readonly socket: Socket,
    readonly path: string,
  ) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('close', () => this.fail(new DriverError(`QMP ${path}: connection closed`)));
    socket.on('error', (e) => this.fail(new DriverError(`QMP ${path}: ${e.message}`, undefined, { cause: e })));
  }

  /**
   * Connects (retrying while QEMU creates the socket), reads the greeting and negotiates
   * capabilities. Gives up after timeoutMs.
   */
  static async connect(path: string, timeoutMs = 10_000): Promise<QmpClient> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const socket = await new Promise<Socket>((res, rej) => {
          const s = createConnection(path);
          s.once('connect', () => res(s));
          s.once('error', rej);
        });
        const c = new QmpClient(socket, path);
        await c.greeting(Math.max(1000, deadline - Date.now()));
        await c.execute('qmp_capabilities');
        return c;
      } catch (e) {
        if (Date.now() > deadline) throw new DriverError(`QMP ${path}: could not connect within ${timeoutMs} ms: ${(e as Error).message}`, undefined, { cause: e });
        await sleep(50);
      }
    }
  }

  private greetingWaiter: ((v: unknown) => void) | undefined;
  private greeting(timeoutMs: number): Promise<void> {
    return new Promise((res, rej) => {
      const t = setTimeout(() => rej(new DriverError(`QMP ${this.path}: no greeting within ${timeoutMs} ms`)), timeoutMs);
      this.greetingWaiter = () => {
        clearTimeout(t);
        res();
      };
    });
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl).trim();
      this.buf = this.buf.slice(nl + 1);
      if (line === '') continue;
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      if ('QMP' in msg) {
        this.greetingWaiter?.(msg);
        this.greetingWaiter = undefined;
      } else if (typeof msg['event'] === 'string') {
        const ev = msg as unknown as QmpEvent;
        this.events.push(ev);
        if (this.events.length > 1000) this.events.splice(0, this.events.length - 1000);
        for (const l of [...this.listeners]) l(ev);
      } else if (msg['id'] !== undefined) {
        const p = this.pending.get(String(msg['id']));
        if (!p) continue;
        this.pending.delete(String(msg['id']));
        clearTimeout(p.timer);
        if ('error' in msg) {
          const err = msg['error'] as { class?: string; desc?: string };
          p.reject(new QmpError(p.command, err.class ?? 'Error', err.desc ?? JSON.stringify(err)));
        } else p.resolve(msg['return']);
      }
    }
  }

  private fail(e: Error): void {
    if (this.closedError) return;
    this.closedError = e;
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(e);
    }
    this.pending.clear();
  }

  get closed(): boolean {
    return this.closedError !== undefined;
  }

  /** Runs one command; resolves with its "return", rejects with a QmpError (or a timeout). */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs = 10_000): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = `p${this.nextId++}`;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new DriverError(`QMP ${command}: no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { command, resolve: resolve as (v: unknown) => void, reject, timer });
      this.socket.write(`${JSON.stringify(args === undefined ? { execute: command, id } : { execute: command, arguments: args, id })}\n`);
    });
  }

  on(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Waits for an event (optionally matching) after now, up to timeoutMs. */
  waitEvent(name: string, match: (e: QmpEvent) => boolean = () => true, timeoutMs = 10_000): Promise<QmpEvent> {
    return new Promise((res, rej) => {
      const off = this.on((e) => {
        if (e.event === name && match(e)) {
          clearTimeout(t);
          off();
          res(e);
        }
      });
      const t = setTimeout(() => {
        off();
        rej(new DriverError(`QMP ${this.path}: no ${name} event within ${timeoutMs} ms`));
      }, timeoutMs);
    });
  }

  close(): void {
    this.fail(new DriverError(`QMP ${this.path}: closed`));
    this.socket.destroy();
  }
}
