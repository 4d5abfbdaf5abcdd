// The control loop with a virtual clock: ticks apply plans and write audit entries with reasons;
// a driver that fails mid-plan triggers the rollback and a recorded failure with its cause; an
// overrun is reported; a failed commit is retried; forecasts are committed with the allocations.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DriverError, type Driver } from '../../src/core/ports.js';
import type { Action } from '../../src/core/plan.js';
import { seededRng } from '../../src/core/rng.js';
import { ALL_TENANTS, type Store } from '../../src/core/store.js';
import { createRegistry } from '../../src/policy/builtin.js';
import { PolicyRunner } from '../../src/policy/framework/decide.js';
import { compileProfile } from '../../src/policy/framework/profile.js';
import { defaultProfile } from '../../src/policy/profiles.js';
import { ManualClock } from '../../src/server/clock.js';
import { ControlLoop, type ControlLoopOptions } from '../../src/server/control-loop.js';
import { EventBus, type ServerEvent } from '../../src/server/events.js';
import { ServerMetrics } from '../../src/server/metrics.js';
import { FaultyDriver, SimulatedFleet } from '../../src/server/sim-fleet.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';

const T0 = 1_800_000_000_000;

async function setup(o: { driver?: (fleet: SimulatedFleet, clock: ManualClock) => Driver; store?: (s: Store) => Store; tickMs?: number } = {}) {
  const store = openSqliteStore(':memory:');
  const clock = new ManualClock(T0);
  const fleet = new SimulatedFleet({ hosts: 3, instances: 8, seed: 11 });
  const seed = fleet.seed();
  await store.transaction(async (tx) => {
    for (const h of seed.hosts) await tx.upsertHost(h, T0);
    for (const i of seed.instances) await tx.upsertInstance(ALL_TENANTS, i, T0);
  });
  fleet.adopt(seed.hosts, seed.instances);
  const runner = new PolicyRunner(compileProfile(defaultProfile({ policy: 'vpa', scenario: 'fleet' }), createRegistry(), { stepSeconds: 300 }));
  const events = new EventBus();
  const seen: ServerEvent[] = [];
  events.subscribe((e) => seen.push(e));
  const metrics = new ServerMetrics(false);
  const loopStore = o.store ? o.store(store) : store;
  const opts: ControlLoopOptions = {
    store: loopStore,
    driver: o.driver ? o.driver(fleet, clock) : fleet.driver,
    runner,
    clock,
    rng: seededRng(1),
    events,
    metrics,
    tickMs: o.tickMs ?? 1000,
    beforeTick: (tick, nowMs) => {
      for (const b of fleet.telemetry(tick, nowMs)) loop.ingest(b);
    },
  };
  const loop = new ControlLoop(opts);
  await loop.load();
  const next = async () => {
    const r = await loop.tick();
    clock.advance(1000);
    return r;
  };
  return { store, clock, fleet, loop, events, seen, metrics, next };
}

test('ticks apply plans: every instance is placed, the store matches the model, audit entries carry reasons', async () => {
  const { store, loop, fleet, seen, next } = await setup();
  try {
    const r0 = await next();
    assert.equal(r0.tick, 0);
    assert.ok(r0.applied && r0.committed && !r0.overrun);
    assert.ok(r0.actions > 0);
    assert.equal(r0.samplesIngested, 8);
    for (let i = 0; i < 4; i++) assert.ok((await next()).applied);
    const stored = await store.listInstances(ALL_TENANTS);
    assert.equal(stored.length, 8);
    for (const s of stored) {
      const m = loop.instance(s.id)!;
      assert.notEqual(s.hostId, null, `${s.id} placed`);
      assert.equal(s.state, 'running');
      assert.equal(s.hostId, m.state.hostId);
      assert.equal(s.allocation.cpuMillicores, m.state.allocation.cpu, 'committed allocation = the model');
      assert.equal(fleet.worldInstance(s.id)!.hostId, s.hostId, 'the world = the model');
      assert.equal(fleet.worldInstance(s.id)!.allocation.cpu, m.state.allocation.cpu);
    }
    const hosts = await store.listHosts();
    assert.ok(hosts.some((h) => h.active), 'hosts powered on through the plan');
    for (const h of hosts) assert.equal(h.active, loop.host(h.id)!.state.on);
    const audit = await store.listAudit(ALL_TENANTS, { limit: 10_000 });
    assert.equal(audit.length, loop.totals.actionsApplied);
    assert.ok(audit.every((e) => e.result === 'applied' && e.reasons.length > 0 && e.actor === 'control-loop'));
    assert.ok(audit.some((e) => e.kind === 'migrate' && e.reasons.includes('placed')));
    assert.ok(audit.some((e) => e.kind === 'resize'));
    // Audit seq is gap-free and in tick order.
    audit.forEach((e, i) => assert.equal(e.seq, i + 1));
    // Forecasts are committed with the tick.
    const f = await store.listForecasts(ALL_TENANTS, 'syn-0003');
    assert.deepEqual(f.map((x) => x.resource).sort(), ['cpu', 'memory']);
    assert.equal(f[0]!.forecast.mean.length, 12);
    assert.ok(seen.some((e) => e.type === 'actions'));
    assert.equal(seen.filter((e) => e.type === 'tick').length, 5);
  } finally {
    await loop.stop();
    await store.close();
  }
});

test('a driver failing mid-plan: the plan is rolled back, the failure is recorded with its cause, nothing half-done', async () => {
  let armed = false;
  let seenInPlan = 0;
  const { store, loop, fleet, seen, metrics, next } = await setup({
    driver: (f) =>
      new FaultyDriver(f.driver, (a: Action) => {
        if (!armed) return undefined;
        seenInPlan++;
        if (seenInPlan === 2) return new DriverError(`hypervisor refused ${a.kind}`, a, { cause: new Error('EIO: disk unavailable') });
        return undefined;
      }),
  });
  try {
    await next();
    await next();
    const state = async () =>
      JSON.stringify({
        store: (await store.listInstances(ALL_TENANTS)).map((i) => [i.id, i.hostId, i.allocation, i.state]),
        hosts: (await store.listHosts()).map((h) => [h.id, h.active]),
        world: (await store.listInstances(ALL_TENANTS)).map((i) => [fleet.worldInstance(i.id)!.hostId, fleet.worldInstance(i.id)!.allocation]),
        model: loop.instanceIds().map((id) => [loop.instance(id)!.state.hostId, loop.instance(id)!.state.allocation]),
      });
    const seqBefore = await store.lastAuditSeq();
    // Run ticks until one has a plan of at least 2 actions.
    armed = true;
    let r;
    let beforeFailing = '';
    for (let k = 0; k < 30; k++) {
      seenInPlan = 0;
      beforeFailing = await state();
      r = await next();
      if (r.actions >= 2) break;
    }
    assert.ok(r && r.actions >= 2, 'a plan with 2+ actions happened');
    assert.equal(r.applied, false);
    assert.equal(r.failure!.index, 1);
    assert.match(r.failure!.error, /hypervisor refused/);
    assert.match(r.failure!.error, /EIO: disk unavailable/, 'the cause is kept');
    assert.ok(r.committed, 'the failure itself is committed');
    // The world (the first action was undone), the store and the model are as before the tick.
    assert.equal(await state(), beforeFailing);
    const entries = await store.listAudit(ALL_TENANTS, { afterSeq: seqBefore, limit: 10_000 });
    const failedTick = entries.filter((e) => (e.action as { tick?: number }).tick === r!.tick);
    assert.equal(failedTick.length, r.actions, 'every action of the failed plan is in the audit log');
    assert.equal(failedTick[0]!.result, 'rolled_back');
    assert.match(failedTick[0]!.error!, /rolled back: action 1 of the plan failed: .*hypervisor refused/);
    assert.equal(failedTick[1]!.result, 'failed');
    assert.match(failedTick[1]!.error!, /E_DRIVER: hypervisor refused .*caused by: EIO: disk unavailable/);
    assert.ok(failedTick.slice(2).every((e) => e.result === 'skipped'));
    assert.ok(failedTick.every((e) => e.reasons.length > 0), 'reasons are kept for failed actions too');
    const ev = seen.find((e) => e.type === 'plan-failed');
    assert.ok(ev, 'a plan-failed event is published');
    assert.equal((ev!.data as { failedIndex: number }).failedIndex, 1);
    assert.equal(loop.totals.planFailures, 1);
    assert.match(await metrics.registry.metrics(), /prescient_plan_failures_total 1/);
    // Disarmed, the next tick applies again.
    armed = false;
    assert.ok((await next()).applied);
  } finally {
    await loop.stop();
    await store.close();
  }
});

test('an overrunning tick is reported (event, metric, report), not skipped', async () => {
  let slow = false;
  const { loop, store, seen, metrics, next } = await setup({
    tickMs: 500,
    driver: (f, clock) => ({
      name: 'slow',
      apply: async (a: Action) => {
        if (slow) clock.advance(400);
        return f.driver.apply(a);
      },
    }),
  });
  try {
    const r0 = await next();
    assert.equal(r0.overrun, false);
    slow = true;
    let r;
    for (let k = 0; k < 20; k++) {
      r = await next();
      if (r.actions >= 2) break;
    }
    assert.ok(r && r.actions >= 2);
    assert.equal(r.overrun, true);
    assert.ok(r.durationMs >= 800);
    const ev = seen.filter((e) => e.type === 'overrun');
    assert.equal(ev.length, 1);
    assert.equal((ev[0]!.data as { tick: number }).tick, r.tick);
    assert.match(await metrics.registry.metrics(), /prescient_tick_overruns_total 1/);
    assert.equal(loop.totals.overruns, 1);
    assert.ok(r.applied && r.committed, 'the slow tick still did its work');
  } finally {
    await loop.stop();
    await store.close();
  }
});

test('a failed commit is reported and retried with the next tick: no audit entry is lost', async () => {
  let failNext = false;
  const { loop, store, seen, next } = await setup({
    store: (s) =>
      new Proxy(s, {
        get(target, prop, recv) {
          if (prop === 'transaction') {
            return async (fn: (tx: Store) => unknown) => {
              if (failNext) {
                failNext = false;
                throw new Error('database is locked');
              }
              return target.transaction(fn as never);
            };
          }
          const v = Reflect.get(target, prop, recv);
          return typeof v === 'function' ? v.bind(target) : v;
        },
      }),
  });
  try {
    failNext = true;
    const r0 = await next();
    assert.equal(r0.committed, false);
    assert.match(r0.commitError!, /database is locked/);
    assert.ok(seen.some((e) => e.type === 'commit-failed'));
    assert.equal(await store.lastAuditSeq(), 0, 'nothing half-written');
    const r1 = await next();
    assert.ok(r1.committed);
    assert.equal(await store.lastAuditSeq(), r0.actions + r1.actions, 'the first tick\'s entries were written with the second');
    const placed = (await store.listInstances(ALL_TENANTS)).filter((i) => i.hostId !== null);
    assert.equal(placed.length, 8);
  } finally {
    await loop.stop();
    await store.close();
  }
});

test('live scheduling: start() ticks on its own at the interval; stop() waits for the tick in progress', async () => {
  const store = openSqliteStore(':memory:');
  const fleet = new SimulatedFleet({ hosts: 2, instances: 4, seed: 3 });
  const seed = fleet.seed();
  await store.transaction(async (tx) => {
    for (const h of seed.hosts) await tx.upsertHost(h, Date.now());
    for (const i of seed.instances) await tx.upsertInstance(ALL_TENANTS, i, Date.now());
  });
  fleet.adopt(seed.hosts, seed.instances);
  const { systemClock } = await import('../../src/server/clock.js');
  const loop = new ControlLoop({
    store,
    driver: fleet.driver,
    runner: new PolicyRunner(compileProfile(defaultProfile({ policy: 'vpa', scenario: 'fleet' }), createRegistry(), { stepSeconds: 300 })),
    clock: systemClock,
    rng: seededRng(1),
    events: new EventBus(),
    tickMs: 25,
  });
  try {
    loop.start();
    await new Promise((r) => setTimeout(r, 300));
    await loop.stop();
    const ticks = loop.totals.ticks;
    assert.ok(ticks >= 5 && ticks <= 14, `about 300/25 ticks, got ${ticks}`);
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(loop.totals.ticks, ticks, 'no tick after stop()');
  } finally {
    await store.close();
  }
});
