// The live spot auction in the control loop, with a ManualClock: a bid is admitted and becomes a
// running instance placed through the driver; billing is exactly price x time; a higher-value bid
// displaces an interruptible instance after its notice; displacing an uninterruptible one books
// its penalty with the stop; a failed plan undoes the round; a restart continues the books.
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { DriverError, type Driver } from '../../src/core/ports.js';
import { vec } from '../../src/core/resources.js';
import { seededRng } from '../../src/core/rng.js';
import { ALL_TENANTS, type BidRecord, type ProfileRecord, type Store } from '../../src/core/store.js';
import { createRegistry } from '../../src/policy/builtin.js';
import { PolicyRunner } from '../../src/policy/framework/decide.js';
import { compileProfile } from '../../src/policy/framework/profile.js';
import { defaultProfile } from '../../src/policy/profiles.js';
import { SYSTEM } from '../../src/policy/markets/ledger.js';
import { ManualClock } from '../../src/server/clock.js';
import { ControlLoop } from '../../src/server/control-loop.js';
import { EventBus, type ServerEvent } from '../../src/server/events.js';
import { AuctionComponent } from '../../src/server/markets/auction-component.js';
import { MarketRuntime } from '../../src/server/markets/runtime.js';
import type { AuctionOptions } from '../../src/policy/markets/auction.js';
import { FaultyDriver, SimulatedFleet } from '../../src/server/sim-fleet.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { storeTotals, ZERO_TOTALS } from './markets-helpers.js';

const T0 = 1_800_000_000_000;
const STEP_MS = 300_000;
/** Loops a test started: stopped after it even when an assertion failed (before its store closes). */
const started: ControlLoop[] = [];
afterEach(async () => {
  for (const l of started.splice(0)) await l.stop().catch(() => undefined);
});

interface World {
  store: Store;
  clock: ManualClock;
  loop: ControlLoop;
  auction: AuctionComponent;
  fleet: SimulatedFleet;
  seen: ServerEvent[];
  tick(): Promise<void>;
}

async function world(store: Store, clock: ManualClock, o: { seed?: boolean; auction?: AuctionOptions; driver?: (d: Driver) => Driver } = {}): Promise<World> {
  if (o.seed !== false) {
    await store.upsertHost({ id: 'h1', capacity: vec({ cpuMillicores: 4000, memoryMiB: 8192, networkKiBps: 100_000 }), active: true }, T0);
    // a regular instance keeps the host on (the fleet policy powers empty hosts off); the auction counts it as load
    const r = vec({ cpuMillicores: 500, memoryMiB: 1024 });
    await store.upsertInstance(ALL_TENANTS, { id: 'resident', tenant: 'ops', hostId: 'h1', priority: 'normal', request: r, allocation: r, state: 'running' }, T0);
    for (const [t, credits] of [['acme', 1000], ['beta', 1000], ['victim', 10]] as const) {
      await store.transferCredits({ from: SYSTEM.MONEY_ISSUER, to: `tenant:${t}`, asset: 'money', amount: credits * 1e6, reason: 'deposit' }, T0, { allowNegative: ['system:'] });
    }
  }
  const fleet = new SimulatedFleet({ hosts: 1, instances: 0, seed: 1 });
  fleet.adopt(await store.listHosts(), await store.listInstances(ALL_TENANTS));
  const runner = new PolicyRunner(compileProfile(defaultProfile({ policy: 'vpa', scenario: 'rightsizing' }), createRegistry(), { stepSeconds: 300 }));
  const auction = new AuctionComponent({ store, auction: { minRuntimeMs: 0, ...o.auction } });
  const markets = new MarketRuntime({ components: [auction], stepMs: STEP_MS });
  const events = new EventBus();
  const seen: ServerEvent[] = [];
  events.subscribe((e) => seen.push(e));
  const driver = o.driver ? o.driver(fleet.driver) : fleet.driver;
  const loop: ControlLoop = new ControlLoop({ store, driver, runner, clock, rng: seededRng(1), events, markets, stepSeconds: 300, onError: () => {} });
  auction.bind({ upsertInstance: (r) => loop.upsertInstance(r), world: fleet, wallPerMarketMs: 1000 / STEP_MS });
  started.push(loop);
  await loop.load();
  return {
    store,
    clock,
    loop,
    auction,
    fleet,
    seen,
    async tick() {
      const r = await loop.tick();
      assert.ok(r.committed, r.commitError);
      clock.advance(1000);
    },
  };
}

let bidSeq = 0;
/** A profile and a bid stored as the API does, then handed to the auction. */
async function bid(w: World, o: { id: string; tenant: string; price: number; cpu: [number, number]; tolerance?: 'none' | 'medium'; penalty?: { feeCredits?: number; priorityReduction?: number }; expiresAtMs?: number; priority?: 'normal' | 'high' }) {
  const profile: ProfileRecord = await w.store.putProfile(
    ALL_TENANTS,
    {
      id: `prof-${o.id}`,
      tenant: o.tenant,
      priority: o.priority ?? 'normal',
      payload: {
        priority: o.priority ?? 'normal',
        demand: { cpuMillicores: { average: o.cpu[0], peak: o.cpu[1] }, memoryMiB: { average: 512, peak: 1024 } },
        interruptibility: { tolerance: o.tolerance ?? 'medium', maxPerDay: 3, maxDurationSeconds: 60, ...(o.penalty ? { penalty: o.penalty } : {}) },
      },
    },
    w.clock.nowMs(),
  );
  const rec: BidRecord = await w.store.createBid(
    ALL_TENANTS,
    { id: o.id, tenant: o.tenant, profileId: profile.id, instanceId: null, priceMicrocredits: Math.round(o.price * 1e6), priority: o.priority ?? 'normal', payload: { price: o.price, ...(o.expiresAtMs !== undefined ? { expiresAtMs: o.expiresAtMs } : {}) } },
    w.clock.nowMs() + ++bidSeq,
  );
  w.auction.bidSubmitted(rec, profile);
  return rec;
}


test('a bid is admitted and becomes a running instance placed through the driver; billing is exactly price x time', async () => {
  const store = openSqliteStore(':memory:');
  const clock = new ManualClock(T0);
  try {
    const w = await world(store, clock);
    await bid(w, { id: 'spot-1', tenant: 'acme', price: 1.5, cpu: [1000, 1500] });
    await w.tick();
    const inst = await store.getInstance(ALL_TENANTS, 'spot-1');
    assert.ok(inst, 'the instance is in the store');
    assert.equal(inst.state, 'running');
    assert.equal(inst.hostId, 'h1');
    assert.equal(inst.tenant, 'acme');
    assert.equal(inst.labels['prescient.io/market'], 'spot');
    assert.equal(w.fleet.worldInstance('spot-1')?.hostId, 'h1', 'the driver placed it');
    // allocation = the profile's q0.9 (average + 1.2816 x (peak - average) / 2.326), rounded up
    assert.equal(inst.allocation.cpuMillicores, Math.ceil(1000 + (1.2815515655446004 * 500) / 2.3263478740408408));
    assert.equal((await store.getBid(ALL_TENANTS, 'spot-1'))!.state, 'accepted');
    const info = w.auction.bidInfo('spot-1')!;
    assert.equal(info.status, 'accepted');
    assert.equal(info.instanceId, 'spot-1');
    assert.ok(Number.isFinite(info.score!));
    const audit = await store.listAudit(ALL_TENANTS, { limit: 1000 });
    const admit = audit.find((e) => e.kind === 'spot-admit');
    assert.ok(admit && admit.reasons.includes('admitted') && admit.tenant === 'acme' && admit.hostId === 'h1', JSON.stringify(admit));
    assert.ok(audit.some((e) => e.kind === 'migrate' && e.instanceId === 'spot-1' && e.result === 'applied'), 'the placement went through the plan');
    assert.ok(w.seen.some((e) => e.type === 'bid' && (e.data as { state: string }).state === 'accepted' && e.tenant === 'acme'));

    // the loop's model has it from the next tick; billing runs every round for the time elapsed
    for (let k = 0; k < 13; k++) await w.tick();
    assert.equal(w.loop.instance('spot-1')?.state.hostId, 'h1');
    // billed from the admission round to the 14th round: 13 steps of 300 s at 1.5 credits/hour
    const expected = Math.floor((1_500_000 * 13 * STEP_MS) / 3_600_000);
    assert.equal(expected, 1_625_000);
    assert.equal(await store.balance(ALL_TENANTS, SYSTEM.MARKET_REVENUE, 'money'), expected);
    assert.equal(await store.balance(ALL_TENANTS, 'tenant:acme', 'money'), 1000e6 - expected);
    assert.equal(w.auction.summary()!.revenueTotalMicrocredits, expected);
    assert.deepEqual(await storeTotals(store), ZERO_TOTALS, 'every asset sums to 0 in the store');
    await w.loop.stop();
  } finally {
    await store.close();
  }
});

test('a higher-value bid displaces an interruptible instance after its notice; the owner gets a preemption-notice event with the deadline', async () => {
  const store = openSqliteStore(':memory:');
  const clock = new ManualClock(T0);
  try {
    const w = await world(store, clock, { auction: { noticeMs: 30_000 } });
    await bid(w, { id: 'cheap', tenant: 'acme', price: 0.5, cpu: [2500, 3000] });
    await w.tick();
    assert.equal((await store.getInstance(ALL_TENANTS, 'cheap'))?.state, 'running');
    await w.tick();
    await bid(w, { id: 'rich', tenant: 'beta', price: 5, cpu: [2500, 3000] });
    await w.tick();
    // the round gave notice and the bid waits for the room
    const notice = w.seen.find((e) => e.type === 'preemption-notice');
    assert.ok(notice, 'a preemption-notice event');
    assert.equal(notice.tenant, 'acme', 'to the owner only');
    const d = notice.data as { instanceId: string; noticeMs: number; deadlineMarketMs: number; deadlineTick: number; reasons: string[] };
    assert.equal(d.instanceId, 'cheap');
    assert.equal(d.noticeMs, 30_000);
    assert.equal(d.deadlineMarketMs, 3 * STEP_MS + 30_000);
    assert.ok(d.reasons.includes('displaced-by') && d.reasons.includes('bid=rich'), d.reasons.join(' '));
    assert.equal((await store.getInstance(ALL_TENANTS, 'cheap'))?.state, 'running', 'still running during its notice');
    assert.equal(w.auction.bidInfo('rich')!.status, 'waiting');
    assert.ok(w.auction.bidInfo('rich')!.reasons.includes('interruption-notice'), w.auction.bidInfo('rich')!.reasons.join(' '));
    // the next round: the notice ran out: stopped through the plan, and the bid takes the room
    await w.tick();
    assert.equal((await store.getInstance(ALL_TENANTS, 'cheap'))?.state, 'preempted');
    assert.equal(w.fleet.worldInstance('cheap'), undefined, 'the driver stopped it');
    assert.equal((await store.getInstance(ALL_TENANTS, 'rich'))?.hostId, 'h1');
    const audit = await store.listAudit(ALL_TENANTS, { limit: 1000 });
    assert.ok(audit.some((e) => e.kind === 'spot-notice' && e.instanceId === 'cheap'));
    const stop = audit.find((e) => e.kind === 'preempt' && e.instanceId === 'cheap');
    assert.ok(stop && stop.result === 'applied' && stop.reasons.includes('notice-expired-stopped'), JSON.stringify(stop));
    assert.ok(w.seen.some((e) => e.type === 'preempted' && e.tenant === 'acme'));
    // billed up to the stop: 3 rounds after its admission at 0.5 credits/hour, plus rich's first step... none yet
    assert.equal(await store.balance(ALL_TENANTS, 'tenant:acme', 'money'), 1000e6 - Math.floor((500_000 * 3 * STEP_MS) / 3_600_000));
    assert.deepEqual(await storeTotals(store), ZERO_TOTALS);
    await w.loop.stop();
  } finally {
    await store.close();
  }
});

test('displacing an uninterruptible instance books its penalty (fee to its tenant, priority reduction) in the commit that stops it', async () => {
  const store = openSqliteStore(':memory:');
  const clock = new ManualClock(T0);
  try {
    const w = await world(store, clock);
    await bid(w, { id: 'steady', tenant: 'victim', price: 0.5, cpu: [2500, 3000], tolerance: 'none', penalty: { feeCredits: 2, priorityReduction: 0.5 } });
    await w.tick();
    await w.tick();
    const victimBefore = await store.balance(ALL_TENANTS, 'tenant:victim', 'money');
    await bid(w, { id: 'urgent', tenant: 'beta', price: 10, cpu: [2500, 3000] });
    await w.tick();
    const steady = (await store.getInstance(ALL_TENANTS, 'steady'))!;
    assert.equal(steady.state, 'preempted', 'stopped at once, no notice');
    assert.equal((await store.getInstance(ALL_TENANTS, 'urgent'))?.hostId, 'h1', 'admitted in the same round');
    // the fee moved beta -> victim, the priority reduction beta -> system:priority-penalties
    const victimAfter = await store.balance(ALL_TENANTS, 'tenant:victim', 'money');
    // its second step, billed before the stop (exact with the carried remainder of the first)
    const billedSteady = Math.floor((500_000 * 2 * STEP_MS) / 3_600_000) - Math.floor((500_000 * STEP_MS) / 3_600_000);
    assert.equal(victimAfter - victimBefore, 2_000_000 - billedSteady);
    assert.equal(await store.balance(ALL_TENANTS, 'priority:beta', 'priority'), -500);
    assert.equal(await store.balance(ALL_TENANTS, SYSTEM.PRIORITY_PENALTIES, 'priority'), 500);
    const rows = await store.listLedger(ALL_TENANTS, 'priority:beta', { asset: 'priority' });
    assert.equal(rows.length, 1);
    const group = await store.listLedger(ALL_TENANTS, 'tenant:victim', { asset: 'money' });
    const fee = group.find((r) => r.delta === 2_000_000)!;
    assert.equal(fee.group, rows[0]!.group, 'fee and priority reduction are one transaction');
    assert.match(fee.reason, /^preemption-penalty: uninterruptible-penalty-paid/);
    assert.equal(fee.atMs, steady.updatedAtMs, 'written by the commit that stored the stop');
    const audit = await store.listAudit(ALL_TENANTS, { limit: 1000 });
    const pen = audit.find((e) => e.kind === 'spot-penalty')!;
    assert.deepEqual([pen.instanceId, (pen.action as { payer: string }).payer, (pen.action as { feeMicrocredits: number }).feeMicrocredits], ['steady', 'beta', 2_000_000]);
    assert.ok(w.seen.some((e) => e.type === 'preempted' && e.tenant === 'victim'));
    assert.equal(w.auction.summary()!.penalties.length, 1);
    assert.deepEqual(await storeTotals(store), ZERO_TOTALS);
    await w.loop.stop();
  } finally {
    await store.close();
  }
});

test('a plan the driver refuses undoes the whole round: no instance, the bid stays open, the billing is reversed; the next round succeeds', async () => {
  const store = openSqliteStore(':memory:');
  const clock = new ManualClock(T0);
  try {
    let fail = false;
    const w = await world(store, clock, { driver: (d) => new FaultyDriver(d, (a) => (fail && a.kind === 'migrate' ? new DriverError('host refuses', a) : undefined)) });
    await bid(w, { id: 'first', tenant: 'acme', price: 3, cpu: [500, 800] });
    await w.tick();
    await w.tick();
    const revenue = await store.balance(ALL_TENANTS, SYSTEM.MARKET_REVENUE, 'money');
    assert.equal(revenue, Math.floor((3e6 * STEP_MS) / 3.6e6));
    await bid(w, { id: 'second', tenant: 'acme', price: 3, cpu: [500, 800] });
    fail = true;
    await w.tick();
    assert.equal(await store.getInstance(ALL_TENANTS, 'second'), undefined);
    assert.equal((await store.getBid(ALL_TENANTS, 'second'))!.state, 'open');
    assert.equal(await store.balance(ALL_TENANTS, SYSTEM.MARKET_REVENUE, 'money'), revenue, "the round's billing was reversed");
    const audit = await store.listAudit(ALL_TENANTS, { limit: 1000 });
    assert.ok(audit.some((e) => e.kind === 'auction-round' && e.result === 'rolled_back' && /host refuses/.test(e.error ?? '')));
    assert.ok(!audit.some((e) => e.kind === 'spot-admit' && e.instanceId === 'second'));
    assert.match(w.auction.summary()!.rolledBack ?? '', /host refuses/);
    fail = false;
    await w.tick();
    assert.equal((await store.getInstance(ALL_TENANTS, 'second'))?.hostId, 'h1');
    // first was billed for 2 steps in all (the reversed step is billed again)
    assert.equal(await store.balance(ALL_TENANTS, SYSTEM.MARKET_REVENUE, 'money'), Math.floor((3e6 * 3 * STEP_MS) / 3.6e6));
    assert.deepEqual(await storeTotals(store), ZERO_TOTALS);
    await w.loop.stop();
  } finally {
    await store.close();
  }
});

test('bids wait with a reason: held without funds, no capacity, expired; a bid naming an existing instance is rejected', async () => {
  const store = openSqliteStore(':memory:');
  const clock = new ManualClock(T0);
  try {
    const w = await world(store, clock);
    await bid(w, { id: 'poor', tenant: 'nobody', price: 1, cpu: [100, 200] });
    await bid(w, { id: 'huge', tenant: 'acme', price: 1, cpu: [9000, 9500], expiresAtMs: 2 * STEP_MS });
    await bid(w, { id: 'small', tenant: 'acme', price: 1, cpu: [100, 200] });
    await store.upsertInstance(ALL_TENANTS, { id: 'old-vm', tenant: 'acme', hostId: null, priority: 'normal', request: vec({ cpuMillicores: 100, memoryMiB: 100 }), allocation: vec({ cpuMillicores: 100, memoryMiB: 100 }), state: 'stopped' }, T0);
    await store.createBid(ALL_TENANTS, { id: 'for-existing', tenant: 'acme', profileId: 'prof-small', instanceId: 'old-vm', priceMicrocredits: 1, priority: 'normal', payload: {} }, T0);
    await w.tick();
    const poor = w.auction.bidInfo('poor')!;
    assert.equal(poor.status, 'held');
    assert.equal(poor.reasons[0], 'insufficient-funds');
    const huge = w.auction.bidInfo('huge')!;
    assert.equal(huge.status, 'waiting');
    assert.ok(huge.reasons.includes('no-predicted-capacity'), huge.reasons.join(' '));
    assert.ok(Number.isFinite(huge.score!) && Number.isFinite(huge.interference!) && huge.hostId === 'h1');
    await w.auction.settled();
    await w.tick(); // the store refresh brings 'for-existing' in
    await w.tick();
    assert.equal((await store.getBid(ALL_TENANTS, 'huge'))!.state, 'expired');
    assert.equal(w.auction.bidInfo('huge')!.status, 'expired');
    assert.equal((await store.getBid(ALL_TENANTS, 'small'))!.state, 'accepted');
    assert.equal((await store.getBid(ALL_TENANTS, 'for-existing'))!.state, 'rejected');
    assert.equal(w.auction.bidInfo('for-existing')!.reasons[0], 'bid-for-existing-instance');
    // the audit log says why a bid waited (once per reason, not every round)
    const audit = await store.listAudit(ALL_TENANTS, { limit: 1000 });
    assert.equal(audit.filter((e) => e.kind === 'bid-pending' && (e.action as { bid: string }).bid === 'poor').length, 1);
    assert.ok(audit.some((e) => e.kind === 'bid-expired' && e.tenant === 'acme'));
    await w.loop.stop();
  } finally {
    await store.close();
  }
});

test('restart continuity: running spot instances, notices and pending bids come back; billing stays exact across the restart', async () => {
  const store = openSqliteStore(':memory:');
  const clock = new ManualClock(T0);
  try {
    const a = await world(store, clock, { auction: { noticeMs: 450_000 } });
    await bid(a, { id: 'cheap', tenant: 'acme', price: 0.7, cpu: [2500, 3000] });
    await a.tick();
    await a.tick();
    await bid(a, { id: 'rich', tenant: 'beta', price: 5, cpu: [2500, 3000] });
    await a.tick(); // notice of 450 s: it runs out two rounds later
    assert.ok(a.seen.some((e) => e.type === 'preemption-notice'));
    await a.loop.stop();

    const b = await world(store, clock, { seed: false, auction: { noticeMs: 450_000 } });
    await b.tick(); // 300 s into the notice
    assert.equal((await store.getInstance(ALL_TENANTS, 'cheap'))?.state, 'running');
    assert.equal(b.auction.bidInfo('rich')?.status, 'waiting', 'the waiting bid came back');
    await b.tick(); // 600 s > 450 s: stopped, and rich admitted
    assert.equal((await store.getInstance(ALL_TENANTS, 'cheap'))?.state, 'preempted');
    assert.equal((await store.getInstance(ALL_TENANTS, 'rich'))?.hostId, 'h1');
    // cheap ran from its admission (round 1) to its stop (round 5): 4 steps
    assert.equal(await store.balance(ALL_TENANTS, 'tenant:acme', 'money'), 1000e6 - Math.floor((700_000 * 4 * STEP_MS) / 3_600_000));
    assert.deepEqual(await storeTotals(store), ZERO_TOTALS);
    await b.loop.stop();
  } finally {
    await store.close();
  }
});
