// A small stand-in for the control plane's /v1/telemetry on 127.0.0.1: it stores each
// (agentId, sequence) once (a resend is acknowledged, not stored twice), can be stopped and
// restarted on the same port, and can be told to answer with an error.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Collector, Reading } from '../../src/agent/collectors.js';
import type { TelemetryBatch } from '../../src/core/telemetry.js';

export interface Arrival {
  batch: TelemetryBatch;
  authorization: string | undefined;
}

export class FakeTelemetryServer {
  /** Batches stored, in arrival order, each (agentId, sequence) once. */
  readonly stored: TelemetryBatch[] = [];
  /** Every POST, resends included. */
  readonly arrivals: Arrival[] = [];
  /** Return a status and body to answer with instead of storing. */
  respond: ((batch: TelemetryBatch) => { status: number; body: string } | undefined) | undefined;
  private server: Server | undefined;
  private seen = new Set<string>();
  port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Closes the listener and every open connection (like a crashed or restarted server). */
  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    const closed = new Promise<void>((r) => s.close(() => r()));
    s.closeAllConnections();
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (req.method !== 'POST' || req.url !== '/v1/telemetry') {
      res.writeHead(404).end();
      return;
    }
    const batch = JSON.parse(Buffer.concat(chunks).toString('utf8')) as TelemetryBatch;
    this.arrivals.push({ batch, authorization: req.headers.authorization });
    const custom = this.respond?.(batch);
    if (custom) {
      res.writeHead(custom.status, { 'content-type': 'application/json' }).end(custom.body);
      return;
    }
    const key = `${batch.agentId}/${batch.sequence}`;
    if (!this.seen.has(key)) {
      this.seen.add(key);
      this.stored.push(batch);
    }
    res.writeHead(202, { 'content-type': 'application/json' }).end('{"ok":true}');
  }
}

/** A collector whose every reading carries the next counter value (custom "n") and cpuMillicores = n. */
export class CountingCollector implements Collector {
  readonly label: string;
  n = 0;
  constructor(label = 'counting') {
    this.label = label;
  }
  async collect(): Promise<Reading> {
    this.n++;
    return { values: { cpuMillicores: this.n }, custom: { n: this.n } };
  }
}

/** The counter values of an instance over stored batches, in order. */
export function counters(batches: TelemetryBatch[], instanceId: string): number[] {
  return batches.flatMap((b) => b.profiles.filter((p) => p.instanceId === instanceId).flatMap((p) => p.samples.map((s) => s.custom?.['n'] ?? NaN)));
}

export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (!(await cond())) {
    if (performance.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

export function isContiguous(xs: number[]): boolean {
  return xs.every((x, i) => i === 0 || x === xs[i - 1]! + 1);
}
