// The telemetry agent: samples its targets every `intervalMs`, groups the samples of each target
// into a rolling window, and every `batchMs` turns the windows into one TelemetryBatch that goes
// to the durable spool first and to the server from there (./sender.ts).
//
//   tick (every intervalMs, monotonic schedule) -> collect all targets -> window per instance
//   every batchMs -> batch {agentId, sequence, profiles[instance window]} -> spool -> sender
import { randomInt } from 'node:crypto';
import { hostname } from 'node:os';
import { seededRng, type Rng } from '../core/rng.js';
import { telemetryBatchSchema, type PerformanceProfile, type TelemetryBatch, type TelemetrySample } from '../core/telemetry.js';
import { TargetGoneError, type Collector, type Log } from './collectors.js';
import { Sender, type BackoffOptions, type SenderStats } from './sender.js';
import { Spool } from './spool.js';

/** Wall time for timestamps, monotonic time for rates and scheduling. */
export interface AgentClock {
  wallMs(): number;
  monoMs(): number;
}

export const systemClock: AgentClock = { wallMs: () => Date.now(), monoMs: () => performance.now() };

export interface AgentTarget {
  instanceId: string;
  collector: Collector;
}

export interface AgentOptions {
  serverUrl: string;
  token: string;
  agentId: string;
  targets: AgentTarget[];
  intervalMs: number;
  batchMs: number;
  spoolDir: string;
  spoolMaxBytes: number;
  clock?: AgentClock;
  /** Jitter source for the retry backoff (seeded in tests). */
  rng?: Rng;
  log?: Log;
  backoff?: BackoffOptions;
  requestTimeoutMs?: number;
}

/** Largest number of profiles in one batch (the contract's bound). */
const MAX_PROFILES = 1000;
/** Largest number of samples in one profile (the contract's bound). */
const MAX_SAMPLES = 10_000;

export interface AgentStats {
  ticks: number;
  /** Ticks that started late because the previous one overran its interval. */
  overruns: number;
  batchesSpooled: number;
  samplesSpooled: number;
  spool: { batches: number; bytes: number; droppedTotal: number };
  sender: SenderStats;
}

export function defaultAgentId(): string {
  return hostname().replace(/[^A-Za-z0-9._:-]/g, '-').slice(0, 128) || 'agent';
}

export class Agent {
  private readonly clock: AgentClock;
  private readonly log: Log;
  private readonly targets: AgentTarget[];
  private readonly windows = new Map<string, TelemetrySample[]>();
  private spool: Spool | undefined;
  private sender: Sender | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopping = false;
  private primed = false;
  private startMono = 0;
  private tickIndex = 0;
  private lastFlushMono = 0;
  private readonly counters = { ticks: 0, overruns: 0, batchesSpooled: 0, samplesSpooled: 0 };

  constructor(private readonly opts: AgentOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? ((l) => process.stderr.write(`${new Date().toISOString()} agent: ${l}\n`));
    this.targets = [...opts.targets];
  }

  /** Opens the spool (resuming what a previous run left), starts sending and sampling. */
  async start(): Promise<void> {
    const o = this.opts;
    this.spool = await Spool.open({ dir: o.spoolDir, maxBytes: o.spoolMaxBytes, log: this.log, firstSequence: this.clock.wallMs() });
    this.sender = new Sender({
      spool: this.spool,
      serverUrl: o.serverUrl,
      token: o.token,
      rng: o.rng ?? seededRng(randomInt(2 ** 31)),
      wallMs: () => this.clock.wallMs(),
      log: this.log,
      ...(o.backoff ? { backoff: o.backoff } : {}),
      ...(o.requestTimeoutMs !== undefined ? { requestTimeoutMs: o.requestTimeoutMs } : {}),
    });
    this.sender.start();
    this.startMono = this.clock.monoMs();
    this.lastFlushMono = this.startMono;
    this.log(
      `agent ${o.agentId} -> ${o.serverUrl}: sampling ${this.targets.map((t) => `${t.collector.label} as ${t.instanceId}`).join(', ')} ` +
        `every ${o.intervalMs} ms, batches every ${o.batchMs} ms; spool ${o.spoolDir} (next sequence ${this.spool.nextSequence})`,
    );
    this.schedule(0);
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.running = this.tick().finally(() => {
        this.running = undefined;
      });
    }, delayMs);
  }

  private async tick(): Promise<void> {
    if (this.stopping) return;
    try {
      await this.sample();
      if (this.clock.monoMs() - this.lastFlushMono >= this.opts.batchMs) await this.flush();
    } catch (err) {
      this.log(`tick failed: ${(err as Error).message}`);
    }
    if (this.stopping) return;
    // next slot on the start + k * interval grid; slots already past are skipped and counted
    const now = this.clock.monoMs();
    let next = this.startMono + ++this.tickIndex * this.opts.intervalMs;
    if (next <= now) {
      const behind = Math.floor((now - next) / this.opts.intervalMs) + 1;
      this.counters.overruns += behind;
      this.tickIndex += behind;
      next += behind * this.opts.intervalMs;
      this.log(`sampling overran its ${this.opts.intervalMs} ms interval: ${behind} sample(s) skipped`);
    }
    this.schedule(next - now);
  }

  private async sample(): Promise<void> {
    const monoMs = this.clock.monoMs();
    const timestampMs = Math.round(this.clock.wallMs());
    this.counters.ticks++;
    const results = await Promise.allSettled(this.targets.map((t) => t.collector.collect(monoMs)));
    const gone: AgentTarget[] = [];
    results.forEach((r, i) => {
      const t = this.targets[i]!;
      if (r.status === 'rejected') {
        if (r.reason instanceof TargetGoneError) {
          this.log(`${r.reason.message}: instance ${t.instanceId} no longer sampled`);
          gone.push(t);
        } else this.log(`${t.collector.label} (${t.instanceId}): ${(r.reason as Error)?.message ?? r.reason}`);
        return;
      }
      if (!this.primed) return; // the first reading only primes the counters
      const { values, custom } = r.value;
      const hasCustom = Object.keys(custom).length > 0;
      if (Object.keys(values).length === 0 && !hasCustom) return;
      const sample: TelemetrySample = hasCustom ? { timestampMs, values, custom } : { timestampMs, values };
      let w = this.windows.get(t.instanceId);
      if (!w) this.windows.set(t.instanceId, (w = []));
      w.push(sample);
      if (w.length > MAX_SAMPLES) w.shift();
    });
    for (const g of gone) this.targets.splice(this.targets.indexOf(g), 1);
    if (gone.length > 0 && this.targets.length === 0) this.log('no targets left to sample; still sending what is spooled');
    this.primed = true;
  }

  /** Turns the current windows into batches (at most 1000 profiles each) and spools them. */
  private async flush(): Promise<void> {
    this.lastFlushMono = this.clock.monoMs();
    const profiles: PerformanceProfile[] = [];
    for (const [instanceId, samples] of this.windows) {
      if (samples.length > 0) profiles.push({ instanceId, intervalMs: this.opts.intervalMs, samples });
    }
    this.windows.clear();
    for (let i = 0; i < profiles.length; i += MAX_PROFILES) {
      const chunk = profiles.slice(i, i + MAX_PROFILES);
      const make = (sequence: number): TelemetryBatch => ({ agentId: this.opts.agentId, sequence, sentAtMs: Math.round(this.clock.wallMs()), profiles: chunk });
      const check = telemetryBatchSchema.safeParse(make(0));
      if (!check.success) {
        // a bug guard: the server would refuse it anyway
        this.log(`dropping ${chunk.length} profiles that do not meet the telemetry contract: ${check.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')}`);
        continue;
      }
      await this.spool!.append(make);
      this.counters.batchesSpooled++;
      this.counters.samplesSpooled += chunk.reduce((n, p) => n + p.samples.length, 0);
      this.sender!.notify();
    }
  }

  /**
   * Stops sampling, spools what was sampled since the last batch, gives the sender up to
   * `drainMs` to empty the spool, then stops it. Whatever is left stays in the spool for the
   * next start.
   */
  async stop(drainMs = 2000): Promise<AgentStats> {
    this.stopping = true;
    clearTimeout(this.timer);
    await this.running;
    if (this.spool) {
      try {
        await this.flush();
      } catch (err) {
        this.log(`final batch not spooled: ${(err as Error).message}`);
      }
      if (drainMs > 0 && !(await this.sender!.drain(drainMs))) {
        this.log(`stopping with ${this.spool.stats().batches} batches still spooled in ${this.opts.spoolDir}; they are sent on the next start`);
      }
      await this.sender!.stop();
      await this.spool.close();
    }
    return this.stats();
  }

  stats(): AgentStats {
    return {
      ...this.counters,
      spool: this.spool?.stats() ?? { batches: 0, bytes: 0, droppedTotal: 0 },
      sender: { ...(this.sender?.stats ?? { stored: 0, rejected: 0, retries: 0, failingAttempts: 0 }) },
    };
  }
}
