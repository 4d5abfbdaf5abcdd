// The control-plane service: store + fleet + control loop + HTTP API, started and stopped as one.
// `prescient start` calls startService; tests and the benchmark do too.
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Action } from '../core/plan.js';
import type { Driver, Undo } from '../core/ports.js';
import { seededRng } from '../core/rng.js';
import { ALL_TENANTS, type Store } from '../core/store.js';
import type { TelemetryBatch } from '../core/telemetry.js';
import { createRegistry } from '../policy/builtin.js';
import { PolicyRunner } from '../policy/framework/decide.js';
import { compileProfile } from '../policy/framework/profile.js';
import { defaultProfile, type OvercommitMode } from '../policy/profiles.js';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';
import { buildApp, type Api, type AppLimits } from './app.js';
import { generateToken, randomId, sha256Hex } from './auth.js';
import { systemClock, type Clock } from './clock.js';
import { ControlLoop, describeError, type ControlLoopOptions } from './control-loop.js';
import { EventBus } from './events.js';
import { bindAuction, createMarketRuntime, DEFAULT_NEGOTIATION_MS, negotiationOf, type AuctionComponentOptions, type CreditsMarketOptions, type MarketComponentFactory } from './markets/index.js';
import { ServerMetrics } from './metrics.js';
import { SimulatedFleet } from './sim-fleet.js';
import { TelemetryWriter } from './telemetry-writer.js';

export interface ServiceOptions {
  /** TCP port (0 = any free port). Default 8080. */
  port?: number;
  /** Address to listen on. Default 127.0.0.1. */
  host?: string;
  /** SQLite file (created with its folder), or ':memory:'. Default .prescient/prescient.db. */
  dbPath?: string;
  /** An already open store (tests); dbPath is then ignored and the caller closes it. */
  store?: Store;
  tickMs?: number;
  stepSeconds?: number;
  /** The embedded simulated fleet (default on): hosts, instances and workload seed. */
  fleet?: false | { hosts: number; instances: number; seed: number };
  /** Rightsizing policy of the fleet profile (default 'vpa'). */
  policy?: string;
  policyArgs?: unknown;
  overcommit?: OvercommitMode;
  forecast?: ControlLoopOptions['forecast'];
  /** Revoke existing admin tokens and print a new one. */
  rotateAdminToken?: boolean;
  synchronous?: 'FULL' | 'NORMAL';
  limits?: Partial<AppLimits>;
  clock?: Clock;
  seed?: number;
  /** Keep raw telemetry samples this long (roll-ups are kept 7 days). Default 1 h. */
  retainSamplesMs?: number;
  /** The driver plans are applied through (real hosts: cgroups, QEMU). Default: the embedded fleet's, else one that accepts everything. */
  driver?: Driver;
  /** Do not start ticking (tests drive loop.tick() themselves). */
  manualTicks?: boolean;
  webRoot?: string;
  logger?: boolean;
  /**
   * The markets in the loop (default on): burstable credits, bonding and predictive preemption,
   * plus `extra` components. Eviction is allowed by default only with the embedded fleet's driver
   * or the accepting driver (real drivers cannot stop an instance); set
   * `credits.preemption.allowEvict` to decide yourself.
   */
  markets?: false | { credits?: CreditsMarketOptions; extra?: readonly MarketComponentFactory[]; flushEveryTicks?: number; nettedKinds?: readonly string[] };
  /**
   * The spot auction (with the markets): SpotMarket options and how often it runs. Default on with
   * the embedded fleet's or the accepting driver (it places and stops instances), off otherwise.
   */
  auction?: false | Omit<AuctionComponentOptions, 'store' | 'registry'>;
  /** Borrow/lend negotiation round period, ms (default 100; 0 = off). */
  negotiationMs?: number;
  /** Persist the simulated fleet's telemetry (default true). */
  persistFleetTelemetry?: boolean;
  onError?: (err: unknown, where: string) => void;
}

export interface Service {
  url: string;
  port: number;
  /** The admin token, when this start created it (first start or rotation); otherwise undefined. */
  adminToken?: string;
  app: Api;
  loop: ControlLoop;
  store: Store;
  events: EventBus;
  metrics: ServerMetrics;
  fleet?: SimulatedFleet;
  /** Group-committing telemetry writer (flush() waits for queued batches). */
  telemetry: TelemetryWriter;
  close(): Promise<void>;
}

export const DEFAULTS = {
  port: 8080,
  host: '127.0.0.1',
  dbPath: '.prescient/prescient.db',
  tickMs: 1000,
  stepSeconds: 300,
  hosts: 8,
  instances: 40,
  seed: 42,
  policy: 'vpa',
};

/** A driver for a fleet without a simulated or real backend: accepts every action, changes nothing. */
export class AcceptingDriver implements Driver {
  readonly name = 'accepting';
  readonly applied: Action[] = [];
  apply(action: Action): Undo {
    this.applied.push(action);
    return () => {
      const k = this.applied.lastIndexOf(action);
      if (k >= 0) this.applied.splice(k, 1);
    };
  }
}

/** Creates an admin token when none is active (or when asked to rotate). Returns the new secret. */
export async function ensureAdminToken(store: Store, nowMs: number, rotate = false): Promise<string | undefined> {
  const tokens = await store.listTokens();
  const active = tokens.filter((t) => t.role === 'admin' && t.revokedAtMs === null && (t.expiresAtMs === null || t.expiresAtMs > nowMs));
  if (active.length > 0 && !rotate) return undefined;
  const token = generateToken();
  await store.transaction(async (tx) => {
    if (rotate) for (const t of active) await tx.revokeToken(t.id, nowMs);
    await tx.createToken({ id: randomId('tok-admin-'), tokenSha256Hex: sha256Hex(token), role: 'admin', tenant: null, agentId: null, label: 'admin (created at start)' }, nowMs);
  });
  return token;
}

export async function startService(o: ServiceOptions = {}): Promise<Service> {
  const clock = o.clock ?? systemClock;
  const ownStore = !o.store;
  let store: Store;
  if (o.store) store = o.store;
  else {
    const dbPath = o.dbPath ?? DEFAULTS.dbPath;
    if (dbPath !== ':memory:') mkdirSync(dirname(resolve(dbPath)), { recursive: true });
    store = openSqliteStore(dbPath, o.synchronous ? { synchronous: o.synchronous } : {});
  }
  const cleanup: Array<() => Promise<void> | void> = [];
  try {
    const tickMs = o.tickMs ?? DEFAULTS.tickMs;
    const stepSeconds = o.stepSeconds ?? DEFAULTS.stepSeconds;
    const now = clock.nowMs();

    // The embedded fleet: seed an empty store, else rebuild the simulated world from the store.
    let fleet: SimulatedFleet | undefined;
    if (o.fleet !== false) {
      const f = o.fleet ?? { hosts: DEFAULTS.hosts, instances: DEFAULTS.instances, seed: DEFAULTS.seed };
      fleet = new SimulatedFleet({ ...f, ...(o.overcommit && o.overcommit !== 'none' ? { overcommit: true } : {}) });
      const [hosts, instances] = await Promise.all([store.listHosts(), store.listInstances(ALL_TENANTS)]);
      if (hosts.length === 0 && instances.length === 0) {
        const seed = fleet.seed();
        await store.transaction(async (tx) => {
          for (const h of seed.hosts) await tx.upsertHost(h, now);
          for (const i of seed.instances) await tx.upsertInstance(ALL_TENANTS, i, now);
        });
        fleet.adopt(seed.hosts, seed.instances);
      } else {
        fleet.adopt(hosts, instances);
      }
    }

    const adminToken = await ensureAdminToken(store, now, o.rotateAdminToken ?? false);

    const policy = o.policy ?? DEFAULTS.policy;
    const profileConfig = defaultProfile({ policy, scenario: 'fleet', overcommit: o.overcommit ?? 'none', ...(o.policyArgs !== undefined ? { policyArgs: o.policyArgs } : {}) });
    const profile = compileProfile(profileConfig, createRegistry(), { stepSeconds });
    const runner = new PolicyRunner(profile);
    const events = new EventBus();
    const metrics = new ServerMetrics();
    const onError = o.onError ?? ((err: unknown, where: string) => process.stderr.write(`prescient: ${where}: ${describeError(err)}\n`));

    // The fleet's telemetry is persisted like an agent's (group commit), off the tick's critical path.
    const telemetry = new TelemetryWriter(store);
    const persisting = new Set<Promise<unknown>>();
    const persist = o.persistFleetTelemetry ?? true;
    const driver = o.driver ?? (fleet ? fleet.driver : new AcceptingDriver());
    const canEvict = driver === fleet?.driver || driver instanceof AcceptingDriver;
    const marketOptions = o.markets === false ? undefined : (o.markets ?? {});
    const markets = marketOptions
      ? createMarketRuntime({
          stepMs: Math.round(stepSeconds * 1000),
          registry: metrics.registry,
          credits: { ...(marketOptions.credits ?? {}), preemption: { allowEvict: canEvict, ...(marketOptions.credits?.preemption ?? {}) } },
          ...(marketOptions.extra ? { extra: marketOptions.extra } : {}),
          ...(marketOptions.flushEveryTicks !== undefined ? { flushEveryTicks: marketOptions.flushEveryTicks } : {}),
          ...(marketOptions.nettedKinds ? { nettedKinds: marketOptions.nettedKinds } : {}),
          store,
          clock,
          auction: o.auction ?? (canEvict ? {} : false),
          negotiation: o.negotiationMs === 0 ? false : { intervalMs: o.negotiationMs ?? DEFAULT_NEGOTIATION_MS, onError },
        })
      : undefined;
    const loop = new ControlLoop({
      store,
      driver,
      ...(markets ? { markets } : {}),
      runner,
      clock,
      rng: seededRng(o.seed ?? DEFAULTS.seed),
      events,
      metrics,
      tickMs,
      stepSeconds,
      ...(o.forecast ? { forecast: o.forecast } : {}),
      onError,
      ...(fleet
        ? {
            beforeTick: (tick: number, nowMs: number) => {
              const batches: TelemetryBatch[] = fleet.telemetry(tick, nowMs);
              for (const b of batches) {
                loop.ingest(b);
                let samples = 0;
                for (const p of b.profiles) samples += p.samples.length;
                metrics.telemetrySamples.inc({ result: 'simulated' }, samples);
                if (persist) {
                  const p = telemetry.append(b, nowMs).catch((err) => onError(err, 'fleet telemetry'));
                  persisting.add(p);
                  void p.finally(() => persisting.delete(p));
                }
              }
            },
          }
        : {}),
    });
    bindAuction(markets, { upsertInstance: (r) => loop.upsertInstance(r), ...(fleet ? { world: fleet } : {}), wallPerMarketMs: tickMs / (stepSeconds * 1000) });
    const negotiation = negotiationOf(markets);
    negotiation?.bind(loop);
    await loop.load();

    const app = await buildApp({
      store,
      loop,
      events,
      metrics,
      clock,
      ...(fleet ? { fleet } : {}),
      ...(o.webRoot ? { webRoot: o.webRoot } : {}),
      ...(o.limits ? { limits: o.limits } : {}),
      ...(o.logger !== undefined ? { logger: o.logger } : {}),
      loopPolicy: { profile: profile.name, policy },
      telemetry,
    });
    cleanup.push(() => app.close());
    const address = await app.listen({ port: o.port ?? DEFAULTS.port, host: o.host ?? DEFAULTS.host });
    const port = (app.server.address() as { port: number }).port;
    const host = o.host ?? DEFAULTS.host;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    void address;

    // Raw samples are kept a while; roll-ups a week; dedupe records a day.
    const retain = o.retainSamplesMs ?? 3_600_000;
    const prune = setInterval(() => {
      const t = clock.nowMs();
      store.pruneTelemetry({ samplesBeforeMs: t - retain, rollupsBeforeMs: t - 7 * 86_400_000, batchesBeforeMs: t - 86_400_000 }).catch((err) => onError(err, 'prune'));
    }, 60_000);
    prune.unref();

    if (!o.manualTicks) {
      loop.start();
      negotiation?.start();
    }

    let closed = false;
    return {
      url,
      port,
      ...(adminToken ? { adminToken } : {}),
      app,
      loop,
      store,
      events,
      metrics,
      ...(fleet ? { fleet } : {}),
      telemetry,
      async close() {
        if (closed) return;
        closed = true;
        clearInterval(prune);
        await negotiation?.stop();
        await loop.stop();
        await app.close();
        await Promise.all(persisting);
        await telemetry.flush();
        if (ownStore) await store.close();
      },
    };
  } catch (err) {
    for (const c of cleanup.reverse()) await Promise.resolve(c()).catch(() => undefined);
    if (ownStore) await store.close().catch(() => undefined);
    throw err;
  }
}
