// Server-sent events: the control loop and the API publish events; each subscriber (an SSE
// connection) receives those it may see. An event tagged with a tenant is delivered to admins and
// to that tenant only; an untagged event (fleet-wide summaries without tenant data) to every
// admin and tenant. Agents do not subscribe. The last `replay` events are kept so a client that
// reconnects with Last-Event-ID gets what it missed.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../core/store.js';

export type EventType =
  | 'hello'
  | 'tick'
  | 'actions'
  | 'plan-failed'
  | 'overrun'
  | 'commit-failed'
  | 'telemetry'
  | 'instance'
  | 'profile'
  | 'bid'
  | 'policy'
  | 'withheld'
  | 'degraded'
  // markets (src/server/markets): a victim of preemption (throttled or evicted), a credit
  // throttle starting or lifting, a bond, and anything else a market component reports
  | 'preempted'
  | 'credits'
  | 'bond'
  | 'market'
  // the spot auction: an interruptible instance gets notice before it is stopped (with the deadline)
  | 'preemption-notice';

export interface ServerEvent {
  id: number;
  type: EventType;
  /** Owner of the data in the event; undefined = fleet-wide, no tenant data. */
  tenant?: string | null;
  data: unknown;
}

type Listener = (e: ServerEvent) => void;

export class EventBus {
  private seq = 0;
  private readonly recent: ServerEvent[] = [];
  private readonly listeners = new Set<Listener>();

  constructor(private readonly replay = 500) {}

  publish(type: EventType, data: unknown, tenant?: string | null): ServerEvent {
    const e: ServerEvent = { id: ++this.seq, type, data, ...(tenant !== undefined ? { tenant } : {}) };
    this.recent.push(e);
    if (this.recent.length > this.replay) this.recent.splice(0, this.recent.length - this.replay);
    for (const l of this.listeners) l(e);
    return e;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Events after `id` still in the replay buffer. */
  since(id: number): ServerEvent[] {
    return this.recent.filter((e) => e.id > id);
  }

  get lastId(): number {
    return this.seq;
  }

  get subscribers(): number {
    return this.listeners.size;
  }
}

/** May this principal see this event? */
export function visibleTo(e: ServerEvent, p: Principal): boolean {
  if (p.role === 'admin') return true;
  if (p.role !== 'tenant') return false;
  return e.tenant === undefined || e.tenant === p.tenant;
}

export function formatSse(e: ServerEvent): string {
  return `id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e.data)}\n\n`;
}

/**
 * Streams events to one client until it disconnects (plain reply.raw streaming). A comment line
 * every `heartbeatMs` keeps proxies from closing an idle stream.
 */
export function streamEvents(bus: EventBus, req: FastifyRequest, reply: FastifyReply, p: Principal, heartbeatMs = 15_000): void {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.write(`retry: 2000\n\n`);
  const lastHeader = req.headers['last-event-id'];
  const lastId = typeof lastHeader === 'string' ? Number(lastHeader) : NaN;
  if (Number.isInteger(lastId) && lastId >= 0) {
    for (const e of bus.since(lastId)) if (visibleTo(e, p)) res.write(formatSse(e));
  }
  res.write(formatSse({ id: bus.lastId, type: 'hello', data: { role: p.role, tenant: p.tenant, lastEventId: bus.lastId } }));
  const unsubscribe = bus.subscribe((e) => {
    if (visibleTo(e, p)) res.write(formatSse(e));
  });
  const beat = setInterval(() => res.write(`: keep-alive\n\n`), heartbeatMs);
  beat.unref();
  const close = (): void => {
    clearInterval(beat);
    unsubscribe();
  };
  req.raw.on('close', close);
  res.on('close', close);
  res.on('error', close);
}
