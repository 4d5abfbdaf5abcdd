// A seeded run of the market runtime (credits and spot auction, as `prescient start` builds them)
// through a small stand-in for the control loop, digested tick by tick: the recorded trace that
// markets-equivalence.test.ts compares with (test/server/fixtures/markets-equivalence.json).
//
// The stand-in gives the runtime what the loop gives it, from a seeded generator only (no forecast
// engine, no policy, no simulated workload, so the trace depends on the markets and the store
// alone): 14 hosts (some overcommitted, one powered off for a while), 240 instances (every third
// burstable, modes alternating), usage each tick (sometimes no sample), forecasts remade every few
// ticks, a policy plan with a few resizes and migrations, a plan that fails now and then (the
// hooks' onFailed), the plan adopted as the loop adopts it, the runtime's writes committed to an
// SQLite store each tick. Between ticks, as the API does: deposits, bids (interruptible and not,
// with expiry, without funds, too big), bonds, new and deleted instances, label changes, stops,
// host capacity changes, a cancelled bid, and a restart (a new runtime restored from the store).
//
// Each tick is digested per part (sha256 of its JSON, 16 hex digits): the merged plan, the round's
// audit entries and events, the runtime ledger's balances, every instance's multiplier and credits
// view, the auction's summary, bids and spot instances, the store's balances and market states,
// and the instances (host, allocation, lifecycle).
import { createHash } from 'node:crypto';
import type { Action, Plan } from '../../src/core/plan.js';
import { migrate, resize } from '../../src/core/plan.js';
import type { ApplyResult } from '../../src/core/ports.js';
import { seededRng, type Rng } from '../../src/core/rng.js';
import { vec } from '../../src/core/resources.js';
import { ALL_TENANTS, type InstanceRecord, type Store } from '../../src/core/store.js';
import type { ProbForecast } from '../../src/forecast/types.js';
import { ASSETS, SYSTEM, account } from '../../src/policy/markets/ledger.js';
import { ManualClock } from '../../src/server/clock.js';
import type { ManagedHost, ManagedInstance } from '../../src/server/control-loop.js';
import type { LatestForecast } from '../../src/server/forecasters.js';
import { AUCTION_COMPONENT, bindAuction, type AuctionComponent } from '../../src/server/markets/auction-component.js';
import { CREDIT_CLASS_LABEL, CREDIT_MODE_LABEL } from '../../src/server/markets/credit-labels.js';
import { CREDITS_COMPONENT, type CreditsMarket } from '../../src/server/markets/credits-market.js';
import { createMarketRuntime } from '../../src/server/markets/index.js';
import type { MarketRuntime } from '../../src/server/markets/runtime.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';

export const SCENARIO_TICKS = 120;
const T0 = 1_800_000_000_000;
const TICK_MS = 1000;
const STEP_MS = 300_000;
const LEVELS = [0.05, 0.1, 0.5, 0.9, 0.95];
const CLASSES = ['t3.nano', 't3.micro', 't3.small', 't3.medium'];

export interface TickDigest {
  tick: number;
  plan: string;
  audit: string;
  events: string;
  ledger: string;
  multipliers: string;
  credits: string;
  auction: string;
  store: string;
  instances: string;
  /** What the tick exercised (in the digest of `instances` too). */
  counts: Record<string, number>;
}

const digest = (x: unknown): string => createHash('sha256').update(JSON.stringify(x)).digest('hex').slice(0, 16);

function forecast(rng: Rng, base: number): ProbForecast {
  const H = 12;
  const mean = new Float64Array(H);
  const quantiles = LEVELS.map(() => new Float64Array(H));
  let level = base * (0.6 + 0.8 * rng.next());
  for (let h = 0; h < H; h++) {
    level = Math.max(0, level * (0.9 + 0.2 * rng.next()));
    const spread = level * (0.05 + 0.3 * rng.next());
    mean[h] = level;
    LEVELS.forEach((l, k) => (quantiles[k]![h] = Math.max(0, level + spread * (l - 0.5) * 3)));
  }
  return { mean, quantiles, levels: LEVELS, confidence: rng.next(), model: 'eq' };
}

interface World {
  rng: Rng;
  clock: ManualClock;
  store: Store;
  runtime: MarketRuntime;
  instances: Map<string, ManagedInstance>;
  hosts: Map<string, ManagedHost>;
  latest: Map<string, LatestForecast>;
  /** Per instance: the mean CPU it tends to use (millicores). */
  base: Map<string, number>;
  /** Spot instances admitted by the last applied plan: join the model at the next tick. */
  arriving: InstanceRecord[];
  nextRow: number;
}

function addInstance(w: World, r: { id: string; tenant: string; hostId: string | null; cpu: number; memory: number; priority?: ManagedInstance['priority']; labels?: Record<string, string> }, base: number): ManagedInstance {
  const m = {
    state: { id: r.id, hostId: r.hostId, units: { cpu: 'millicores', memory: 'MiB' }, capacity: { cpu: r.cpu, memory: r.memory }, allocation: { cpu: r.cpu, memory: r.memory }, lastUsage: { cpu: NaN, memory: NaN }, samples: 0 },
    tenant: r.tenant,
    priority: r.priority ?? 'normal',
    request: { cpuMillicores: r.cpu, memoryMiB: r.memory },
    allocationVector: { cpuMillicores: r.cpu, memoryMiB: r.memory },
    lifecycle: r.hostId === null ? 'pending' : 'running',
    labels: { ...(r.labels ?? {}) },
    row: w.nextRow++,
    lastSampleMs: NaN,
    acc: { tick: -1, cpuSum: 0, cpuN: 0, memMax: NaN, lastMs: NaN },
    violation: {},
  } as unknown as ManagedInstance;
  w.instances.set(r.id, m);
  w.base.set(r.id, base);
  return m;
}

function newRuntime(store: Store, clock: ManualClock, w: () => World): MarketRuntime {
  const rt = createMarketRuntime({ stepMs: STEP_MS, store, clock, negotiation: false, auction: { auction: { minRuntimeMs: 0, noticeMs: 900_000 } } });
  rt.bind({ store, exclusive: (fn) => fn(), wallNow: () => clock.nowMs() });
  bindAuction(rt, {
    upsertInstance: (rec) => w().arriving.push(rec),
    world: { addInstance: () => {}, removeInstance: () => {} },
    wallPerMarketMs: TICK_MS / STEP_MS,
  });
  return rt;
}

/**
 * Runs the scenario; returns one digest per tick. `changedHints`: each tick also says which
 * instances got a new forecast (`latestForecastChanged`, as the loop does), which lets components
 * keep forecasts; the decisions must be the same with or without it.
 */
export async function runMarketsScenario(o: { ticks?: number; changedHints?: boolean } = {}): Promise<TickDigest[]> {
  const ticks = o.ticks ?? SCENARIO_TICKS;
  const rng = seededRng(20261122);
  for (let k = 0; k < 32; k++) rng.next(); // past the generator's first draws
  const clock = new ManualClock(T0);
  const store = openSqliteStore(':memory:');
  let world!: World;
  const runtime = newRuntime(store, clock, () => world);
  world = { rng, clock, store, runtime, instances: new Map(), hosts: new Map(), latest: new Map(), base: new Map(), arriving: [], nextRow: 0 };
  const w = world;
  // hosts: 12 of 16 cores, two of 8 (short), memory plenty
  for (let h = 0; h < 14; h++) {
    const cpu = h < 2 ? 8000 : 16_000;
    const rec = { id: `h${String(h).padStart(2, '0')}`, capacity: vec({ cpuMillicores: cpu, memoryMiB: 65_536, networkKiBps: 100_000 }), active: true };
    await store.upsertHost(rec, T0);
    w.hosts.set(rec.id, { state: { id: rec.id, capacity: { cpu, memory: 65_536 }, on: true }, record: rec, reported: { cpu: NaN, memory: NaN } } as unknown as ManagedHost);
  }
  const hostIds = [...w.hosts.keys()];
  for (let k = 0; k < 240; k++) {
    const id = `i${String(k).padStart(3, '0')}`;
    const labels: Record<string, string> = {};
    if (k % 3 === 0) {
      labels[CREDIT_CLASS_LABEL] = CLASSES[(k / 3) % CLASSES.length]!;
      labels[CREDIT_MODE_LABEL] = (k / 3) % 2 === 0 ? 'standard' : 'unlimited';
    }
    const cpu = 500 + 250 * rng.int(0, 6);
    const hostId = hostIds[k % hostIds.length]!;
    const tenant = k % 2 === 0 ? 'demo-a' : 'demo-b';
    const priority = k % 17 === 0 ? 'critical' : 'normal';
    await store.upsertInstance(ALL_TENANTS, { id, tenant, hostId, priority, request: vec({ cpuMillicores: cpu, memoryMiB: 2048 }), allocation: vec({ cpuMillicores: cpu, memoryMiB: 2048 }), state: 'running', labels }, T0);
    addInstance(w, { id, tenant, hostId, cpu, memory: 2048, priority, labels }, cpu * (0.2 + 0.9 * rng.next()));
  }
  await runtime.restore(store, w.instances, clock.nowMs());

  const out: TickDigest[] = [];
  const bids: string[] = [];
  let bidSeq = 0;
  const operateTransfer = (rt: MarketRuntime, tenant: string, credits: number) =>
    rt.operate((ledger, nowMs) => {
      const r = ledger.transfer('money', SYSTEM.MONEY_ISSUER, account.tenant(tenant), Math.round(credits * 1e6), 'deposit', nowMs, ['deposit'], tenant);
      return { result: r.ok, commit: r.ok };
    });
  const submitBid = async (rt: MarketRuntime, id: string, tenant: string, o: { price: number; cpu: [number, number]; tolerance?: 'none' | 'medium'; penalty?: { feeCredits?: number; priorityReduction?: number }; expiresAtMs?: number; priority?: 'normal' | 'high' }) => {
    const profile = await store.putProfile(
      ALL_TENANTS,
      {
        id: `prof-${id}`,
        tenant,
        priority: o.priority ?? 'normal',
        payload: { priority: o.priority ?? 'normal', demand: { cpuMillicores: { average: o.cpu[0], peak: o.cpu[1] }, memoryMiB: { average: 512, peak: 1024 } }, interruptibility: { tolerance: o.tolerance ?? 'medium', maxPerDay: 3, maxDurationSeconds: 60, ...(o.penalty ? { penalty: o.penalty } : {}) } },
      },
      clock.nowMs(),
    );
    const rec = await store.createBid(
      ALL_TENANTS,
      { id, tenant, profileId: profile.id, instanceId: null, priceMicrocredits: Math.round(o.price * 1e6), priority: o.priority ?? 'normal', payload: { price: o.price, ...(o.expiresAtMs !== undefined ? { expiresAtMs: o.expiresAtMs } : {}) } },
      clock.nowMs() + ++bidSeq,
    );
    rt.component<AuctionComponent>(AUCTION_COMPONENT)!.bidSubmitted(rec, profile);
    bids.push(id);
  };
  const burstable = () => [...w.instances.keys()].filter((id) => w.instances.get(id)!.labels[CREDIT_CLASS_LABEL] !== undefined && w.instances.get(id)!.state.hostId !== null);
  let rt = runtime;
  let failures = 0;
  for (let k = 0; k < ticks; k++) {
    const nowMs = clock.nowMs();
    // ---- between ticks (the API, the operator)
    for (const rec of w.arriving.splice(0)) {
      const m = addInstance(w, { id: rec.id, tenant: rec.tenant, hostId: rec.hostId, cpu: rec.allocation.cpuMillicores, memory: rec.allocation.memoryMiB, priority: rec.priority, labels: rec.labels }, rec.allocation.cpuMillicores * 0.5);
      rt.instanceUpserted(m);
    }
    if (k === 2) for (const [t, c] of [['demo-a', 800], ['demo-b', 800], ['thrift', 0.01]] as const) await operateTransfer(rt, t, c);
    if (k === 3) {
      await submitBid(rt, 'bid-a1', 'demo-a', { price: 2, cpu: [400, 900] });
      await submitBid(rt, 'bid-a2', 'demo-a', { price: 0.5, cpu: [300, 600], expiresAtMs: nowMs + 3000 });
      await submitBid(rt, 'bid-b1', 'demo-b', { price: 3, cpu: [800, 1600], tolerance: 'none', penalty: { feeCredits: 2, priorityReduction: 1 } });
      await submitBid(rt, 'bid-t1', 'thrift', { price: 5, cpu: [200, 400] });
      await submitBid(rt, 'bid-huge', 'demo-b', { price: 1, cpu: [60_000, 90_000] });
    }
    if (k === 14 || k === 41) {
      const credits = rt.component<CreditsMarket>(CREDITS_COMPONENT)!;
      for (const id of burstable().slice(k === 14 ? 0 : 8, k === 14 ? 8 : 16)) {
        await rt.operate((_l, now) => {
          const b = credits.bond(id, 1 + (id.charCodeAt(3) % 2), now);
          return { result: b.ok, commit: b.ok };
        });
      }
    }
    if (k === 18) {
      for (let j = 0; j < 6; j++) {
        const labels = { [CREDIT_CLASS_LABEL]: j % 2 === 0 ? 't3.nano' : 't3.micro', [CREDIT_MODE_LABEL]: j < 4 ? 'standard' : 'unlimited' };
        const m = addInstance(w, { id: `own-${j}`, tenant: 'demo-a', hostId: hostIds[2 + j]!, cpu: 1500, memory: 1024, labels }, 1300);
        rt.instanceUpserted(m);
      }
    }
    if (k === 30) {
      for (const id of [burstable()[2]!, 'own-5', 'i007']) {
        rt.instanceRemoved(id, 'deleted');
        w.instances.delete(id);
        w.latest.delete(id);
      }
    }
    if (k === 33) {
      for (const [id, cls, mode] of [['own-1', 't3.small', 'standard'], ['own-3', 't3.micro', 'unlimited'], ['i010', 't3.micro', 'standard'], ['i012', '', '']] as const) {
        const m = w.instances.get(id);
        if (!m) continue;
        if (cls === '') {
          delete m.labels[CREDIT_CLASS_LABEL];
          delete m.labels[CREDIT_MODE_LABEL];
        } else m.labels = { ...m.labels, [CREDIT_CLASS_LABEL]: cls, [CREDIT_MODE_LABEL]: mode };
        rt.instanceUpserted(m);
      }
    }
    if (k === 36 || k === 70) {
      for (const id of k === 36 ? ['h02', 'h03'] : ['h04', 'h05']) {
        const h = w.hosts.get(id)!;
        const cpu = Math.round(h.state.capacity.cpu * 0.55);
        (h.state as { capacity: { cpu: number; memory: number } }).capacity = { cpu, memory: h.state.capacity.memory };
        h.record = { ...h.record, capacity: { ...h.record.capacity, cpuMillicores: cpu } };
      }
    }
    if (k === 46 || k === 58) (w.hosts.get('h13')!.state as { on: boolean }).on = k === 58;
    if (k === 44) {
      await submitBid(rt, 'bid-a3', 'demo-a', { price: 40, cpu: [2000, 3500], priority: 'high' });
      await submitBid(rt, 'bid-b2', 'demo-b', { price: 25, cpu: [1500, 2500] });
      await submitBid(rt, 'bid-b3', 'demo-b', { price: 0.2, cpu: [100, 300] });
    }
    if (k === 50) {
      const a = rt.component<AuctionComponent>(AUCTION_COMPONENT)!;
      if (a.bidStatus('bid-b3').kind === 'open') {
        await store.setBidState(ALL_TENANTS, 'bid-b3', 'cancelled', nowMs);
        a.cancelled('bid-b3', 'demo-b', ['bid-cancelled']);
      }
    }
    if (k === 52 || k === 56) {
      // a stop (off its host), then back as pending (the stand-in places it on its old host)
      const m = w.instances.get('i021')!;
      if (k === 52) {
        rt.instanceRemoved('i021', 'stopped');
        (m.state as { hostId: string | null }).hostId = null;
        m.lifecycle = 'stopped';
      } else {
        (m.state as { hostId: string | null }).hostId = 'h09';
        m.lifecycle = 'running';
        rt.instanceUpserted(m);
      }
    }
    if (k === 60) {
      // a restart: everything pending written (as loop.stop()), then a new runtime restored from the store
      const pending = rt.takeWrites(true);
      if (pending) await store.transaction((tx) => rt.writeInto(tx, pending, clock.nowMs()));
      rt = newRuntime(store, clock, () => world);
      w.runtime = rt;
      await rt.restore(store, w.instances, clock.nowMs());
    }
    if (k === 64) await submitBid(rt, 'bid-a4', 'demo-a', { price: 60, cpu: [3000, 6000], tolerance: 'none', penalty: { feeCredits: 1 } });

    // ---- the tick's inputs: usage, forecasts (remade every 6 ticks, staggered), the policy's plan
    const ids = [...w.instances.keys()];
    const changed: string[] = [];
    for (const [id, m] of w.instances) {
      const base = w.base.get(id)!;
      const burst = id.startsWith('own-') ? (k < 46 ? 1 : 0.02) : rng.next() < 0.1 ? 2.5 : 0.6 + 0.8 * rng.next();
      (m.state as { lastUsage: { cpu: number; memory: number } }).lastUsage = rng.next() < 0.05 ? { cpu: NaN, memory: NaN } : { cpu: base * burst, memory: 300 + rng.int(0, 1000) };
      const row = (m.row + k) % 6;
      if (row === 0 && m.state.hostId !== null) changed.push(id);
      if (row === 0 && m.state.hostId !== null) w.latest.set(id, { tick: k, madeAtMs: nowMs, stepSeconds: 300, cpu: forecast(rng, base), ...(rng.next() < 0.5 ? { memory: forecast(rng, 800) } : {}) });
    }
    const actions: Action[] = [];
    for (let j = 0; j < 3; j++) {
      const id = ids[rng.int(0, ids.length - 1)]!;
      const m = w.instances.get(id)!;
      if (m.state.hostId === null) continue;
      if (rng.next() < 0.75) actions.push(resize(id, 250 * rng.int(2, 10), m.state.allocation.memory, ['policy']));
      else actions.push(migrate(id, m.state.hostId, hostIds[rng.int(2, hostIds.length - 2)]!, ['policy']));
    }
    const forecasts = new Map([...w.latest].filter(([, f]) => rng.next() < 0.5).map(([id, f]) => [id, { ...(f.cpu ? { cpu: f.cpu } : {}) }]));
    const plan: Plan = { actions } as Plan;
    const round = rt.tick({ tick: k, loopNowS: nowMs / 1000, wallMs: nowMs, rng, instances: w.instances, hosts: w.hosts, forecasts, latestForecast: (id) => w.latest.get(id), ...(o.changedHints ? { latestForecastChanged: changed } : {}), plan });

    // ---- apply: fails now and then (the plan rolls back), else adopted as the loop adopts it
    const fail = round.plan.actions.length > 0 && (k === 25 || k === 75 || (k > 5 && rng.next() < 0.04));
    let result: ApplyResult;
    if (fail) {
      failures++;
      result = { ok: false, applied: 0, failed: { index: 0, action: round.plan.actions[0]!, error: new Error('the driver refused') }, rollbackErrors: [] };
    } else {
      result = { ok: true, applied: round.plan.actions.length, rollbackErrors: [] };
      for (const a of round.plan.actions) {
        const m = w.instances.get('instance' in a ? a.instance : '');
        if (!m) continue;
        if (a.kind === 'resize') (m.state as { allocation: { cpu: number; memory: number } }).allocation = { cpu: a.cpu, memory: a.memory };
        else if (a.kind === 'migrate') {
          (m.state as { hostId: string | null }).hostId = a.to;
          if (m.lifecycle === 'pending') m.lifecycle = 'running';
        } else if (a.kind === 'preempt') {
          rt.instanceRemoved(a.instance, 'preempted');
          w.instances.delete(a.instance);
          w.latest.delete(a.instance);
        }
      }
    }
    rt.afterApply(round, result, (e) => (e instanceof Error ? e.message : String(e)));

    // ---- commit
    const writes = rt.takeWrites();
    if (writes) await store.transaction((tx) => rt.writeInto(tx, writes, nowMs));
    clock.advance(TICK_MS);

    // ---- what it did
    const credits = rt.component<CreditsMarket>(CREDITS_COMPONENT)!;
    const auction = rt.component<AuctionComponent>(AUCTION_COMPONENT)!;
    const planView = round.plan.actions.map((a) => JSON.stringify(a));
    const audit = round.audit.map((e) => ({ ...e }));
    const events = round.events;
    const ledger = rt.ledger;
    const sorted = [...w.instances.keys()].sort();
    const mults = sorted.map((id) => {
      const m = credits.multiplierOf(id);
      return [id, m.value, m.base, m.bondUnits, m.factor, m.rawFactor, m.relativeChange, m.reasons];
    });
    const creditViews = credits.book
      .ids()
      .sort()
      .map((id) => [id, credits.credits(id)]);
    const auctionView = { summary: auction.summary(), bids: bids.map((b) => [b, auction.bidInfo(b) ?? null, auction.bidStatus(b)]), running: auction.runningSpot() };
    const balances = await store.listBalances(ALL_TENANTS);
    const states = await Promise.all(['market:credits', 'market:auction', 'market:runtime'].map((key) => store.getMarketState(key)));
    const inst = sorted.map((id) => {
      const m = w.instances.get(id)!;
      return [id, m.state.hostId, m.state.allocation.cpu, m.state.allocation.memory, m.lifecycle];
    });
    const ev = (type: string) => events.filter((e) => e.type === type).length;
    const counts = {
      actions: round.plan.actions.length,
      marketActions: round.plan.actions.length - actions.length,
      audit: audit.length,
      events: events.length,
      throttled: events.filter((e) => e.type === 'credits' && e.data.change === 'throttled').length,
      restored: events.filter((e) => e.type === 'credits' && e.data.change === 'restored').length,
      preempted: ev('preempted'),
      notices: ev('preemption-notice'),
      bidEvents: ev('bid'),
      spot: auction.runningSpot().length,
      instances: sorted.length,
      failed: fail ? 1 : 0,
    };
    out.push({
      tick: k,
      plan: digest(planView),
      audit: digest(audit),
      events: digest(events),
      ledger: digest(ASSETS.map((a) => ledger.accounts(a))),
      multipliers: digest(mults),
      credits: digest(creditViews),
      auction: digest(auctionView),
      store: digest({ balances: balances.map((b) => [b.account, b.asset, b.balance]), states: states.map((s) => s?.state ?? null) }),
      instances: digest({ inst, counts }),
      counts,
    });
  }
  void failures;
  await store.close();
  return out;
}
