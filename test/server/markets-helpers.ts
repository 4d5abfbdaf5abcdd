// A control plane for the market tests: no simulated fleet, the 'static' rightsizer (allocation =
// request, so every resize in a plan comes from the markets or restores the request), hosts and
// instances seeded in the store already placed, telemetry fed by the test each tick, a manual clock.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Priority } from '../../src/core/model.js';
import { vec } from '../../src/core/resources.js';
import { ALL_TENANTS, LEDGER_ASSETS, type Store } from '../../src/core/store.js';
import { ManualClock } from '../../src/server/clock.js';
import { CREDITS_COMPONENT, type CreditsMarket } from '../../src/server/markets/credits-market.js';
import { CREDIT_CLASS_LABEL, CREDIT_MODE_LABEL } from '../../src/server/markets/credit-labels.js';
import type { ServiceOptions } from '../../src/server/service.js';
import type { ServerEvent } from '../../src/server/events.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { startTestService, type TestService } from './helpers.js';

export const T0 = 1_800_000_000_000;

export interface SeedInstance {
  id: string;
  tenant?: string;
  host?: string | null;
  cpu?: number;
  priority?: Priority;
  cls?: string;
  mode?: 'standard' | 'unlimited';
  labels?: Record<string, string>;
}

export interface MarketWorld extends TestService {
  clock: ManualClock;
  store: Store;
  events: ServerEvent[];
  credits: CreditsMarket;
  /** One tick with these CPU demands (millicores; absent: no sample), then the clock moves one tick. */
  tick(demand: Record<string, number>): Promise<Awaited<ReturnType<TestService['svc']['loop']['tick']>>>;
  /** Every asset's sum over the store's balances. */
  storeTotals(): Promise<Record<string, number>>;
  /** The store's balances of one asset as [account, balance], sorted. */
  storeBalances(asset: string): Promise<Array<[string, number]>>;
  restart(): Promise<MarketWorld>;
}

export async function seedStore(store: Store, hosts: Array<{ id: string; cpu: number }>, instances: SeedInstance[]): Promise<void> {
  await store.transaction(async (tx) => {
    for (const h of hosts) await tx.upsertHost({ id: h.id, capacity: vec({ cpuMillicores: h.cpu, memoryMiB: 64 * 1024 }), active: true }, T0);
    for (const i of instances) {
      const request = vec({ cpuMillicores: i.cpu ?? 2000, memoryMiB: 1024 });
      const labels: Record<string, string> = { ...(i.labels ?? {}) };
      if (i.cls) labels[CREDIT_CLASS_LABEL] = i.cls;
      if (i.mode) labels[CREDIT_MODE_LABEL] = i.mode;
      const host = i.host === undefined ? (hosts[0]?.id ?? null) : i.host;
      await tx.upsertInstance(ALL_TENANTS, { id: i.id, tenant: i.tenant ?? 'demo-a', hostId: host, priority: i.priority ?? 'normal', request, allocation: { ...request }, state: host ? 'running' : 'pending', labels }, T0);
    }
  });
}

/**
 * A world on `dbPath` (a temp file by default, so restart() can reopen it). `stepSeconds` is the
 * model time of one tick.
 */
export async function marketWorld(o: { hosts: Array<{ id: string; cpu: number }>; instances: SeedInstance[]; stepSeconds?: number; service?: ServiceOptions; dbPath?: string; clock?: ManualClock; seeded?: boolean; cleanupDir?: string }): Promise<MarketWorld> {
  let dir: string | undefined = o.cleanupDir;
  let dbPath = o.dbPath;
  if (!dbPath) {
    dir = mkdtempSync(join(tmpdir(), 'prescient-markets-'));
    dbPath = join(dir, 'p.db');
  }
  const store = openSqliteStore(dbPath);
  if (!o.seeded) await seedStore(store, o.hosts, o.instances);
  const clock = o.clock ?? new ManualClock(T0);
  const stepSeconds = o.stepSeconds ?? 60;
  // every tick's entries written at once (flushEveryTicks 1), unless the test says otherwise
  const markets = o.service?.markets === false ? false : { flushEveryTicks: 1, ...(o.service?.markets ?? {}) };
  const t = await startTestService({ store, fleet: false, policy: 'static', stepSeconds, clock, ...(o.service ?? {}), markets });
  const events: ServerEvent[] = [];
  t.svc.events.subscribe((e) => events.push(e));
  let seq = 0;
  const world: MarketWorld = {
    ...t,
    clock,
    store,
    events,
    credits: t.svc.loop.markets!.component<CreditsMarket>(CREDITS_COMPONENT)!,
    async tick(demand) {
      const now = clock.nowMs();
      const profiles = Object.entries(demand).map(([instanceId, cpu]) => ({ instanceId, intervalMs: 1000, samples: [{ timestampMs: now, values: { cpuMillicores: cpu, memoryMiB: 256 } }] }));
      if (profiles.length > 0) t.svc.loop.ingest({ agentId: 'test', sequence: ++seq, sentAtMs: now, profiles });
      const r = await t.svc.loop.tick();
      clock.advance(t.svc.loop.tickMs);
      return r;
    },
    storeTotals: () => storeTotals(store),
    async storeBalances(asset) {
      return (await store.listBalances(ALL_TENANTS, { asset: asset as never })).map((b) => [b.account, b.balance] as [string, number]);
    },
    async restart() {
      await t.close();
      await store.close();
      return marketWorld({ ...o, service: { ...(o.service ?? {}), rotateAdminToken: true }, dbPath: dbPath!, clock, seeded: true, ...(dir ? { cleanupDir: dir } : {}) });
    },
    async close() {
      await t.close();
      await store.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
  return world;
}

/** Every asset's sum over a store's balances (each is 0 when the books balance). */
export async function storeTotals(store: Store): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const a of LEDGER_ASSETS) out[a] = 0;
  for (const b of await store.listBalances(ALL_TENANTS)) out[b.asset]! += b.balance;
  return out;
}

export const ZERO_TOTALS = Object.fromEntries(LEDGER_ASSETS.map((a) => [a, 0]));
