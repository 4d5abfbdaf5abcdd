// Live borrow/lend in the control loop, with a ManualClock: rounds on their own schedule move loans
// in one store transaction each, the next tick applies the allocations through the driver, a loan
// reverts when the lender needs it back; allocations always sum to the entitlements and never exceed
// the host (property over random statements); the store's books stay balanced; a restart continues.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { vec } from '../../src/core/resources.js';
import { seededRng } from '../../src/core/rng.js';
import { ALL_TENANTS, type Store } from '../../src/core/store.js';
import { createRegistry } from '../../src/policy/builtin.js';
import { PolicyRunner } from '../../src/policy/framework/decide.js';
import { compileProfile } from '../../src/policy/framework/profile.js';
import { defaultProfile } from '../../src/policy/profiles.js';
import { ManualClock } from '../../src/server/clock.js';
import { ControlLoop } from '../../src/server/control-loop.js';
import { EventBus } from '../../src/server/events.js';
import { NegotiationComponent, negotiationStateKey } from '../../src/server/markets/negotiation-component.js';
import { MarketRuntime } from '../../src/server/markets/runtime.js';
import { SimulatedFleet } from '../../src/server/sim-fleet.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { storeTotals, ZERO_TOTALS } from './markets-helpers.js';

const T0 = 1_800_000_000_000;
const CAP = { cpuMillicores: 6000, memoryMiB: 8192 };

interface World {
  store: Store;
  clock: ManualClock;
  loop: ControlLoop;
  neg: NegotiationComponent;
  fleet: SimulatedFleet;
  tick(): Promise<void>;
}

async function world(store: Store, clock: ManualClock, o: { members?: Array<[string, number, number, Record<string, string>?]>; seed?: boolean } = {}): Promise<World> {
  if (o.seed !== false) {
    await store.upsertHost({ id: 'h1', capacity: vec({ ...CAP, networkKiBps: 100_000 }), active: true }, T0);
    const members = o.members ?? [
      ['a', 2000, 2048],
      ['b', 1000, 1024],
    ];
    for (const [id, cpu, mem, labels] of members) {
      const r = vec({ cpuMillicores: cpu, memoryMiB: mem });
      await store.upsertInstance(ALL_TENANTS, { id, tenant: id === 'z' ? 'other' : 'acme', hostId: 'h1', priority: 'normal', request: r, allocation: r, state: 'running', ...(labels ? { labels } : {}) }, T0);
    }
  }
  const fleet = new SimulatedFleet({ hosts: 1, instances: 0, seed: 1 });
  fleet.adopt(await store.listHosts(), await store.listInstances(ALL_TENANTS));
  const runner = new PolicyRunner(compileProfile(defaultProfile({ policy: 'vpa', scenario: 'rightsizing' }), createRegistry(), { stepSeconds: 300 }));
  const neg = new NegotiationComponent({ store, clock, intervalMs: 100 });
  const markets = new MarketRuntime({ components: [neg], stepMs: 300_000 });
  const loop: ControlLoop = new ControlLoop({ store, driver: fleet.driver, runner, clock, rng: seededRng(1), events: new EventBus(), markets, stepSeconds: 300, onError: () => {} });
  neg.bind(loop);
  await loop.load();
  return {
    store,
    clock,
    loop,
    neg,
    fleet,
    async tick() {
      const r = await loop.tick();
      assert.ok(r.committed && r.applied, r.commitError ?? JSON.stringify(r.failure));
    },
  };
}


async function storedAlloc(store: Store, id: string) {
  return { cpuMillicores: await store.balance(ALL_TENANTS, `alloc:${id}`, 'cpu'), memoryMiB: await store.balance(ALL_TENANTS, `alloc:${id}`, 'memory') };
}

test('a loan moves in a round (one store transaction), the next tick resizes through the driver, and it reverts when the lender needs it back', async () => {
  const store = openSqliteStore(':memory:');
  const clock = new ManualClock(T0);
  const w = await world(store, clock);
  try {
    await w.tick();
    // no round is due before the clock says so; the first one loads the state and issues the host's capacity
    const r0 = await w.neg.runDue();
    assert.ok(r0 && r0.written && r0.transfers === 0);
    assert.equal(await w.neg.runDue(), undefined, 'the next round is due 100 ms later');
    assert.deepEqual(await storedAlloc(store, 'a'), { cpuMillicores: 2000, memoryMiB: 2048 }, 'entitlements are in the store');
    assert.equal(await store.balance(ALL_TENANTS, 'host:h1', 'cpu'), CAP.cpuMillicores - 3000);
    // a states it needs little, b a lot
    w.neg.setStatement('a', { cpu: { need: 500 } }, 60_000, clock.nowMs());
    w.neg.setStatement('b', { cpu: { need: 1950 } }, 60_000, clock.nowMs());
    clock.advance(100);
    const r1 = (await w.neg.runDue())!;
    assert.equal(r1.transfers, 1);
    assert.ok(r1.written);
    assert.equal(r1.rows, 2, 'one transfer: two rows');
    assert.deepEqual(await storedAlloc(store, 'a'), { cpuMillicores: 1000, memoryMiB: 2048 });
    assert.deepEqual(await storedAlloc(store, 'b'), { cpuMillicores: 2000, memoryMiB: 1024 });
    const rows = await store.listLedger(ALL_TENANTS, 'alloc:b', { asset: 'cpu' });
    const loanRow = rows.at(-1)!;
    assert.equal(loanRow.delta, 1000);
    assert.equal(loanRow.reason, 'negotiation: loan=1', "the round's moves, netted per account");
    const view = w.neg.hostView('h1', () => true, clock.nowMs())!;
    assert.deepEqual(view.loans.map((l) => [l.lender, l.borrower, l.amount, l.resource]), [['a', 'b', 1000, 'cpu']]);
    assert.equal(view.lastRound!.transfers.loan, 1);
    assert.ok(view.lastRound!.jain > 0 && view.lastRound!.jain <= 1);
    assert.deepEqual((await store.getMarketState(negotiationStateKey('h1')))!.state && ((await store.getMarketState(negotiationStateKey('h1')))!.state as { loans: unknown[] }).loans.length, 1);
    // the driver still has the old allocations: the next tick applies the net change
    assert.equal(w.fleet.worldInstance('b')!.allocation.cpu, 1000);
    await w.tick();
    assert.equal(w.fleet.worldInstance('a')!.allocation.cpu, 1000);
    assert.equal(w.fleet.worldInstance('b')!.allocation.cpu, 2000);
    assert.equal((await store.getInstance(ALL_TENANTS, 'b'))!.allocation.cpuMillicores, 2000);
    const audit = await store.listAudit(ALL_TENANTS, { limit: 100 });
    assert.ok(audit.some((e) => e.kind === 'resize' && e.instanceId === 'b' && e.reasons.includes('negotiated-allocation')));
    // a's need rises: it recalls what it needs (0.1-vCPU grains), b keeps the rest
    w.neg.setStatement('a', { cpu: { need: 1750 } }, 60_000, clock.nowMs());
    clock.advance(100);
    const r2 = (await w.neg.runDue())!;
    assert.equal(r2.transfers, 1);
    assert.deepEqual(w.neg.hostView('h1', () => true, clock.nowMs())!.loans.map((l) => l.amount), [200]);
    assert.equal((await storedAlloc(store, 'a')).cpuMillicores, 1800);
    assert.equal((await store.listLedger(ALL_TENANTS, 'alloc:a', { asset: 'cpu' })).at(-1)!.reason, 'negotiation: loan-revert=1');
    await w.tick();
    assert.equal(w.fleet.worldInstance('a')!.allocation.cpu, 1800);
    assert.equal(w.fleet.worldInstance('b')!.allocation.cpu, 1200);
    assert.deepEqual(await storeTotals(store), ZERO_TOTALS);
  } finally {
    await w.neg.stop();
    await w.loop.stop();
    await store.close();
  }
});

test("a round's many transfers: the store rows net them per account and their reason counts the transfers per kind", async () => {
  const store = openSqliteStore(':memory:');
  const clock = new ManualClock(T0);
  const w = await world(store, clock, { members: [['a', 3000, 4096], ['b', 1000, 1024], ['c', 1000, 1024]] });
  try {
    await w.tick();
    await w.neg.runDue();
    w.neg.setStatement('a', { cpu: { need: 500 }, memory: { need: 1000 } }, 60_000, clock.nowMs());
    for (const id of ['b', 'c']) w.neg.setStatement(id, { cpu: { need: 1500 }, memory: { need: 1500 } }, 60_000, clock.nowMs());
    clock.advance(100);
    const r = (await w.neg.runDue())!;
    assert.equal(r.transfers, 4, 'a lends cpu and memory to b and to c');
    assert.equal(r.rows, 6, 'netted: a, b and c, cpu and memory');
    for (const id of ['a', 'b', 'c']) {
      for (const asset of ['cpu', 'memory'] as const) assert.equal((await store.listLedger(ALL_TENANTS, `alloc:${id}`, { asset })).at(-1)!.reason, 'negotiation: loan=4');
    }
    assert.deepEqual(await storedAlloc(store, 'b'), { cpuMillicores: 1500, memoryMiB: 1524 });
    assert.deepEqual(await storedAlloc(store, 'a'), { cpuMillicores: 2000, memoryMiB: 4096 - 1000 });
    assert.deepEqual(await storeTotals(store), ZERO_TOTALS);
  } finally {
    await w.neg.stop();
    await w.loop.stop();
    await store.close();
  }
});

test('a round whose write fails is written with the next one; an instance without measurements lends nothing; tenant view hides other tenants', async () => {
  const store = openSqliteStore(':memory:');
  const clock = new ManualClock(T0);
  let failNext = false;
  const flaky: Store = new Proxy(store, {
    get(target, prop, recv) {
      if (prop === 'transaction' && failNext) {
        failNext = false;
        return async () => {
          throw new Error('disk full');
        };
      }
      const v = Reflect.get(target, prop, recv);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  const w = await world(flaky, clock, { members: [['a', 2000, 2048], ['b', 1000, 1024], ['z', 1000, 1024, { 'prescient.io/sla-class': 'gold' }]] });
  try {
    await w.tick();
    await w.neg.round();
    w.neg.setStatement('b', { cpu: { need: 1500 } }, 60_000, clock.nowMs());
    w.neg.setStatement('z', { cpu: { need: 1500 } }, 60_000, clock.nowMs());
    // nobody knows anything about a (no sample, no forecast, no statement): it keeps its entitlement
    const quiet = await w.neg.round();
    assert.equal(quiet.transfers, 0);
    w.neg.setStatement('a', { cpu: { offer: 600 } }, 60_000, clock.nowMs());
    failNext = true;
    const r = await w.neg.round();
    assert.equal(r.transfers, 2);
    assert.equal(r.written, false);
    assert.match(r.writeError!, /disk full/);
    assert.equal((await storedAlloc(store, 'a')).cpuMillicores, 2000, 'nothing written');
    const r2 = await w.neg.round();
    assert.ok(r2.written);
    assert.equal((await storedAlloc(store, 'a')).cpuMillicores, 1400, 'written with the next round');
    // gold z got the larger share of a's 6 units (weight 8 vs bronze 2)
    assert.ok((await storedAlloc(store, 'z')).cpuMillicores > (await storedAlloc(store, 'b')).cpuMillicores);
    const view = w.neg.hostView('h1', (id) => id !== 'z', clock.nowMs())!;
    assert.deepEqual(view.members.map((m) => m.instanceId), ['a', 'b']);
    assert.ok(view.loans.every((l) => l.borrower !== 'z'));
    assert.ok(view.loans.some((l) => l.borrower === null), "a's loan to z shows no counterpart");
    assert.equal(view.members.find((m) => m.instanceId === 'a')!.lastStatement!.sources!.cpu, 'offer');
    assert.deepEqual(await storeTotals(store), ZERO_TOTALS);
  } finally {
    await w.neg.stop();
    await w.loop.stop();
    await store.close();
  }
});

test('restart continuity: loans and allocations come back from the store without any correcting entry', async () => {
  const store = openSqliteStore(':memory:');
  const clock = new ManualClock(T0);
  const a = await world(store, clock);
  await a.tick();
  await a.neg.round();
  a.neg.setStatement('a', { cpu: { need: 500 } }, 60_000, clock.nowMs());
  a.neg.setStatement('b', { cpu: { need: 1950 } }, 60_000, clock.nowMs());
  await a.neg.round();
  const before = a.neg.hostView('h1', () => true, clock.nowMs())!;
  await a.neg.stop();
  await a.loop.stop();
  const rowsBefore = (await store.listLedger(ALL_TENANTS, 'system:capacity', { asset: 'cpu' })).length + (await store.listLedger(ALL_TENANTS, 'alloc:a', { asset: 'cpu' })).length;
  const b = await world(store, clock, { seed: false });
  try {
    await b.neg.init();
    const after = b.neg.hostView('h1', () => true, clock.nowMs())!;
    assert.deepEqual(after.loans, before.loans);
    assert.deepEqual(after.members.map((m) => [m.instanceId, m.entitlement, m.allocation]), before.members.map((m) => [m.instanceId, m.entitlement, m.allocation]));
    const r = await b.neg.round();
    assert.equal(r.transfers, 0, 'the explicit statements came back too (until they expire): nothing moves');
    const rowsAfter = (await store.listLedger(ALL_TENANTS, 'system:capacity', { asset: 'cpu' })).length + (await store.listLedger(ALL_TENANTS, 'alloc:a', { asset: 'cpu' })).length;
    assert.equal(rowsAfter, rowsBefore, 'no resync rows: the books and the state agreed');
    clock.advance(61_000);
    const later = await b.neg.round();
    assert.equal(later.transfers, 1, 'expired: with nothing known about it, a takes its entitlement back');
    assert.deepEqual(await storeTotals(store), ZERO_TOTALS);
  } finally {
    await b.neg.stop();
    await b.loop.stop();
    await store.close();
  }
});

test('property: over random statements, allocations sum to the entitlements, stay within the host, match the store, and every asset sums to 0', async () => {
  const statement = fc.record({ need: fc.option(fc.integer({ min: 0, max: 4000 }), { nil: undefined }), offer: fc.option(fc.integer({ min: 0, max: 1500 }), { nil: undefined }) });
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.integer({ min: 100, max: 1500 }), fc.integer({ min: 100, max: 2000 }), fc.constantFrom('gold', 'silver', 'bronze', 'best-effort')), { minLength: 2, maxLength: 5 }),
      fc.array(fc.array(fc.tuple(statement, statement), { minLength: 5, maxLength: 5 }), { minLength: 1, maxLength: 4 }),
      async (members, rounds) => {
        const store = openSqliteStore(':memory:');
        const clock = new ManualClock(T0);
        const ids = members.map((_, k) => `i${k}`);
        const w = await world(store, clock, { members: members.map(([cpu, mem, sla], k) => [ids[k]!, cpu, mem, { 'prescient.io/sla-class': sla }]) });
        try {
          await w.tick();
          for (const [k, round] of rounds.entries()) {
            ids.forEach((id, i) => {
              const [c, m] = round[i % round.length]!;
              const cpu = { ...(c.need !== undefined ? { need: c.need } : {}), ...(c.offer !== undefined ? { offer: Math.min(c.offer, members[i]![0]) } : {}) };
              const mem = { ...(m.need !== undefined ? { need: m.need } : {}), ...(m.offer !== undefined ? { offer: Math.min(m.offer, members[i]![1]) } : {}) };
              w.neg.setStatement(id, { cpu, memory: mem }, 60_000, clock.nowMs());
            });
            await w.neg.round();
            if (k % 2 === 1) await w.tick();
            const view = w.neg.hostView('h1', () => true, clock.nowMs())!;
            let sc = 0;
            let sm = 0;
            let ec = 0;
            let em = 0;
            for (const m of view.members) {
              assert.ok(m.allocation.cpuMillicores >= 0 && m.allocation.memoryMiB >= 0);
              sc += m.allocation.cpuMillicores;
              sm += m.allocation.memoryMiB;
              ec += m.entitlement.cpuMillicores;
              em += m.entitlement.memoryMiB;
              assert.deepEqual(await storedAlloc(store, m.instanceId), m.allocation, 'the store holds what the negotiator holds');
            }
            assert.equal(sc, ec);
            assert.equal(sm, em);
            assert.ok(sc <= CAP.cpuMillicores && sm <= CAP.memoryMiB);
            assert.equal(sc + view.unallocated.cpuMillicores, CAP.cpuMillicores);
            assert.deepEqual(await storeTotals(store), ZERO_TOTALS);
            clock.advance(100);
          }
          // applied through the driver: the world's allocations are the negotiated ones
          await w.tick();
          for (const m of w.neg.hostView('h1', () => true, clock.nowMs())!.members) assert.deepEqual(w.fleet.worldInstance(m.instanceId)!.allocation, { cpu: m.allocation.cpuMillicores, memory: m.allocation.memoryMiB });
        } finally {
          await w.neg.stop();
          await w.loop.stop();
          await store.close();
        }
      },
    ),
    { numRuns: 25, seed: 5 },
  );
});
