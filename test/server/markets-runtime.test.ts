// The market runtime hook in the control loop: a component's ledger moves reach the store's ledger
// in the tick's commit (with asset and group), its state is restored after a restart, its actions
// join the plan (merged with the policy's resizes, capped), a failed commit is retried, an API
// operation is written at once or reversed in memory when the write fails.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resize, type Plan } from '../../src/core/plan.js';
import { seededRng } from '../../src/core/rng.js';
import { ALL_TENANTS, LEDGER_ASSETS, StoreError, type Store } from '../../src/core/store.js';
import { createRegistry } from '../../src/policy/builtin.js';
import { PolicyRunner } from '../../src/policy/framework/decide.js';
import { compileProfile } from '../../src/policy/framework/profile.js';
import { defaultProfile } from '../../src/policy/profiles.js';
import { SYSTEM } from '../../src/policy/markets/ledger.js';
import { ManualClock } from '../../src/server/clock.js';
import { ControlLoop } from '../../src/server/control-loop.js';
import { EventBus } from '../../src/server/events.js';
import { MarketRuntime, mergePlan } from '../../src/server/markets/runtime.js';
import type { MarketComponent, MarketRestoreContext, MarketTickContext, MarketTickOutput } from '../../src/server/markets/types.js';
import { SimulatedFleet } from '../../src/server/sim-fleet.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';

const T0 = 1_800_000_000_000;

/** A toy market: every tick, each running instance earns 1 milli-credit per model second; state = ticks seen. */
class Toy implements MarketComponent {
  readonly name = 'toy';
  ticks = 0;
  restoredFrom: unknown;
  clockAtRestore = -1;
  restore(saved: unknown, ctx: MarketRestoreContext): void {
    this.restoredFrom = saved;
    this.clockAtRestore = ctx.nowMs;
    this.ticks = (saved as { ticks?: number } | undefined)?.ticks ?? 0;
  }
  tick(ctx: MarketTickContext, out: MarketTickOutput): void {
    this.ticks++;
    for (const m of ctx.instances.values()) {
      if (m.state.hostId === null) continue;
      ctx.ledger.transfer('credit', SYSTEM.CREDIT_ISSUER, `credits:${m.state.id}`, ctx.stepMs / 1000, 'toy-earn', ctx.nowMs, ['toy'], m.state.id);
    }
    if (this.ticks === 3) out.event('market', { toy: true });
  }
  snapshot(): unknown {
    return { ticks: this.ticks };
  }
}

async function world(store: Store, clock: ManualClock, toy: Toy, seed = true) {
  const fleet = new SimulatedFleet({ hosts: 2, instances: 4, seed: 3 });
  const s = fleet.seed();
  if (seed) {
    await store.transaction(async (tx) => {
      for (const h of s.hosts) await tx.upsertHost(h, T0);
      for (const i of s.instances) await tx.upsertInstance(ALL_TENANTS, i, T0);
    });
  }
  fleet.adopt(await store.listHosts(), await store.listInstances(ALL_TENANTS));
  const runner = new PolicyRunner(compileProfile(defaultProfile({ policy: 'vpa', scenario: 'fleet' }), createRegistry(), { stepSeconds: 300 }));
  const markets = new MarketRuntime({ components: [toy], stepMs: 300_000 });
  const events = new EventBus();
  const loop: ControlLoop = new ControlLoop({
    store,
    driver: fleet.driver,
    runner,
    clock,
    rng: seededRng(1),
    events,
    markets,
    beforeTick: (tick, nowMs) => {
      for (const b of fleet.telemetry(tick, nowMs)) loop.ingest(b);
    },
  });
  await loop.load();
  return { loop, markets, fleet, events };
}

async function storeTotals(store: Store): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const a of LEDGER_ASSETS) out[a] = 0;
  for (const b of await store.listBalances(ALL_TENANTS)) out[b.asset]! += b.balance;
  return out;
}

test('a component moves units each tick: rows reach the store in the commit, with asset and group; a restart continues the books and the state', async () => {
  const store = openSqliteStore(':memory:');
  const clock = new ManualClock(T0);
  try {
    const toy = new Toy();
    const a = await world(store, clock, toy);
    assert.equal(toy.restoredFrom, undefined);
    for (let k = 0; k < 5; k++) {
      const r = await a.loop.tick();
      assert.ok(r.committed);
      clock.advance(1000);
    }
    assert.equal(a.markets.nowMs, 5 * 300_000, 'market clock advances one step per tick');
    // the store holds what the in-memory ledger holds
    const stored = await store.listBalances(ALL_TENANTS, { asset: 'credit' });
    const mem = a.markets.ledger.accounts('credit');
    assert.deepEqual(stored.map((b) => [b.account, b.balance]), mem);
    assert.ok(stored.some((b) => b.account.startsWith('credits:') && b.balance > 0));
    const rows = await store.listLedger(ALL_TENANTS, SYSTEM.CREDIT_ISSUER, { limit: 5 });
    assert.ok(rows.length > 0 && rows.every((r) => r.asset === 'credit' && r.delta < 0 && r.group !== null && r.reason.startsWith('toy-earn')));
    assert.deepEqual(await storeTotals(store), Object.fromEntries(LEDGER_ASSETS.map((x) => [x, 0])), 'every asset sums to 0');
    await a.loop.stop();

    // restart on the same store: balances, component state and clock continue
    const toy2 = new Toy();
    const b = await world(store, clock, toy2, false);
    assert.deepEqual(toy2.restoredFrom, { ticks: 5 });
    assert.equal(toy2.clockAtRestore, 5 * 300_000);
    assert.deepEqual(b.markets.ledger.accounts('credit'), mem, 'balances restored from the store');
    assert.equal(b.markets.ledger.balance('system:restore', 'credit'), 0);
    await b.loop.tick();
    assert.equal(b.markets.nowMs, 6 * 300_000);
    assert.equal(toy2.ticks, 6);
    assert.deepEqual(await storeTotals(store), Object.fromEntries(LEDGER_ASSETS.map((x) => [x, 0])));
    await b.loop.stop();
  } finally {
    await store.close();
  }
});

test('a failed commit keeps the market rows and writes them with the next commit', async () => {
  const base = openSqliteStore(':memory:');
  const clock = new ManualClock(T0);
  const fault = failingTransactions(base, 'disk on fire');
  const store = fault.store;
  try {
    const toy = new Toy();
    const a = await world(store, clock, toy);
    await a.loop.tick();
    fault.failing = true;
    const r1 = await a.loop.tick();
    const r2 = await a.loop.tick();
    assert.equal(r1.committed, false);
    assert.equal(r2.committed, false);
    fault.failing = false;
    const r3 = await a.loop.tick();
    assert.ok(r3.committed);
    const stored = await base.listBalances(ALL_TENANTS, { asset: 'credit' });
    assert.deepEqual(stored.map((x) => [x.account, x.balance]), a.markets.ledger.accounts('credit'), 'nothing lost, nothing doubled');
    const st = await base.getMarketState('market:toy');
    assert.deepEqual(st?.state, { ticks: 4 });
    await a.loop.stop();
  } finally {
    await base.close();
  }
});

test('operate: an API operation is written at once; when the write fails its moves are reversed in memory', async () => {
  const base = openSqliteStore(':memory:');
  const clock = new ManualClock(T0);
  const fault = failingTransactions(base, 'store down');
  const store = fault.store;
  try {
    const toy = new Toy();
    const a = await world(store, clock, toy);
    await a.loop.tick();
    await a.loop.tick();
    const id = [...a.loop.instanceIds()].find((i) => a.markets.ledger.balance(`credits:${i}`, 'credit') > 0)!;
    const before = a.markets.ledger.balance(`credits:${id}`, 'credit');
    const got = await a.markets.operate((ledger, nowMs) => {
      const r = ledger.transfer('credit', `credits:${id}`, SYSTEM.BONDED, 100, 'test-op', nowMs, ['op'], id);
      return { result: r.ok, commit: r.ok };
    });
    assert.equal(got, true);
    assert.equal(await base.balance(ALL_TENANTS, `credits:${id}`, 'credit'), before - 100, 'written at once');
    fault.failing = true;
    await assert.rejects(
      a.markets.operate((ledger, nowMs) => {
        const r = ledger.transfer('credit', `credits:${id}`, SYSTEM.BONDED, 50, 'test-op', nowMs, ['op'], id);
        return { result: r.ok, commit: r.ok };
      }),
      /store down/,
    );
    assert.equal(a.markets.ledger.balance(`credits:${id}`, 'credit'), before - 100, 'reversed in memory');
    fault.failing = false;
    await a.loop.tick();
    const stored = await base.listBalances(ALL_TENANTS, { asset: 'credit' });
    assert.deepEqual(stored.map((x) => [x.account, x.balance]), a.markets.ledger.accounts('credit'));
    await a.loop.stop();
  } finally {
    await base.close();
  }
});

test('mergePlan: a market resize replaces the policy resize of the same instance; caps lower it or add one; NaN memory is filled', () => {
  const instances = new Map<string, any>([
    ['a', { state: { id: 'a', allocation: { cpu: 1000, memory: 512 } } }],
    ['b', { state: { id: 'b', allocation: { cpu: 800, memory: 256 } } }],
    ['c', { state: { id: 'c', allocation: { cpu: 300, memory: 128 } } }],
  ]);
  const plan: Plan = { nowS: 0, actions: [resize('a', 1200, 600, ['policy'])] };
  const out = mergePlan(plan, [{ action: resize('b', 500, NaN, ['market-b']) }], new Map([['a', { cpu: 700, reasons: ['cap-a'] }], ['c', { cpu: 400, reasons: ['cap-c'] }], ['b', { cpu: 450, reasons: ['cap-b'] }]]), instances);
  assert.deepEqual(
    out.plan.actions.map((a) => (a.kind === 'resize' ? [a.instance, a.cpu, a.memory, a.reasons.join('+')] : a.kind)),
    [
      ['a', 700, 600, 'policy+cap-a'],
      ['b', 450, 256, 'market-b+cap-b'],
    ],
    'c is under its cap: no action',
  );
  assert.equal(plan.actions.length, 1, 'the policy plan is not changed');
  const merged = mergePlan({ nowS: 0, actions: [resize('a', 1200, 600, ['policy'])] }, [{ action: resize('a', 900, NaN, ['lift']) }], new Map(), instances);
  assert.deepEqual(merged.plan.actions, [resize('a', 900, 600, ['policy', 'lift'])]);
});

test('the embedded fleet applies a preempt action: the instance leaves its host and the simulated world (no more telemetry); undo puts it back', async () => {
  const { preempt } = await import('../../src/core/plan.js');
  const fleet = new SimulatedFleet({ hosts: 1, instances: 2, seed: 3 });
  const s = fleet.seed();
  fleet.adopt(s.hosts.map((h) => ({ ...h, active: true })), s.instances.map((i) => ({ ...i, hostId: s.hosts[0]!.id, state: 'running' as const })));
  const id = s.instances[0]!.id;
  const undo = fleet.driver.apply(preempt(id, ['test']));
  assert.equal(fleet.worldInstance(id), undefined);
  assert.ok(!fleet.telemetry(0, T0).some((b) => b.profiles.some((p) => p.instanceId === id)), 'no telemetry for a stopped instance');
  // its allocation no longer counts on the host: the host can be powered off once the other leaves too
  undo();
  undo();
  assert.equal(fleet.worldInstance(id)!.hostId, s.hosts[0]!.id, 'undo restores it (idempotent)');
  assert.throws(() => fleet.driver.apply(preempt('nope', ['test'])), /no instance "nope"/);
});

/** `base` whose transactions throw a backend StoreError(message) while `failing` is set. */
function failingTransactions(base: Store, message: string): { store: Store; failing: boolean } {
  const fault = { store: base, failing: false };
  fault.store = new Proxy(base, {
    get(target, prop, recv) {
      if (prop === 'transaction') {
        return async (fn: (tx: Store) => Promise<unknown>) => {
          if (fault.failing) throw new StoreError('backend', message);
          return target.transaction(fn);
        };
      }
      const v = Reflect.get(target, prop, recv);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  }) as Store;
  return fault;
}
