// Burstable credits, bonding and predictive preemption in the live control loop (ManualClock):
// accrual follows the EC2 arithmetic tick by tick, standard mode throttles and the cap lifts,
// bonding raises the multiplier, preemption picks the lowest multiplier (throttle, then evict),
// delete/stop settle the books, every asset sums to 0 in the store, and a restart continues.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ALL_TENANTS } from '../../src/core/store.js';
import { account, SYSTEM } from '../../src/policy/markets/ledger.js';
import { marketWorld, ZERO_TOTALS } from './markets-helpers.js';

const H = [{ id: 'h1', cpu: 16_000 }];

test('accrual follows the EC2 arithmetic each tick, exact to the milli-credit with the remainder carried (7 s steps)', async () => {
  // t3.micro: 2 vCPUs, baseline 10 % = 200 millicores, 12 credits per hour.
  const w = await marketWorld({ hosts: H, instances: [{ id: 'm1', cls: 't3.micro', mode: 'standard' }, { id: 'n1', cls: 't3.nano' }], stepSeconds: 7 });
  try {
    for (let n = 1; n <= 40; n++) {
      await w.tick({ m1: 123, n1: 0 });
      // earned - used per tick = (200 - 123) millicores x 7,000 ms; 1 milli-credit = 60,000 millicore-ms
      assert.equal(w.credits.book.balance('m1'), Math.floor((n * 77 * 7000) / 60_000), `m1 after ${n} ticks`);
      // idle t3.nano: 6 credits per hour = 6,000 milli-credits per 3,600 s
      assert.equal(w.credits.book.balance('n1'), Math.floor((n * 7 * 6000) / 3600), `n1 after ${n} ticks`);
    }
    // the store holds the same balances (each tick's rows committed), with asset 'credit'
    assert.equal(await w.store.balance(ALL_TENANTS, 'credits:m1', 'credit'), w.credits.book.balance('m1'));
    assert.deepEqual(await w.storeTotals(), ZERO_TOTALS);
    const c = await w.inject({ method: 'GET', url: '/v1/instances/m1/credits', token: w.tenantA });
    assert.equal(c.statusCode, 200, c.body);
    assert.equal(c.json.credits.class.name, 't3.micro');
    assert.equal(c.json.credits.class.baselineMillicores, 200);
    assert.equal(c.json.credits.mode, 'standard');
    assert.equal(c.json.credits.balance.millicredits, w.credits.book.balance('m1'));
    // the last model hour: 3600 / 7 -> 515 steps kept, 40 seen: earned 40 x 7 s x 200 m, used 40 x 7 s x 123 m
    assert.equal(c.json.credits.recent.steps, 40);
    assert.ok(Math.abs(c.json.credits.recent.earnedCredits - (40 * 7 * 0.2) / 60) < 1e-6);
    assert.ok(Math.abs(c.json.credits.recent.spentCredits - (40 * 7 * 0.123) / 60) < 1e-6);
    assert.equal(c.json.credits.throttle, null);
    // the metrics count them
    const m = await w.inject({ method: 'GET', url: '/metrics', token: null });
    const earned = Number(/^prescient_credits_earned_total (\S+)$/m.exec(m.body)?.[1]);
    assert.ok(Math.abs(earned - 2 * (40 * 7 * 0.2) / 60 + (40 * 7 * 0.2) / 60 - (40 * 7 * 0.1) / 60) < 1e-6, `earned ${earned}`);
  } finally {
    await w.close();
  }
});

test('standard mode: an empty balance throttles (a resize capping CPU, with the book\'s reasons); the cap lifts when credits are back', async () => {
  const w = await marketWorld({ hosts: H, instances: [{ id: 's1', cls: 't3.micro', mode: 'standard', cpu: 2000 }, { id: 'u1', cls: 't3.micro', mode: 'unlimited', cpu: 2000 }], stepSeconds: 60 });
  try {
    const loop = w.svc.loop;
    await w.tick({ s1: 1500, u1: 1500 });
    assert.equal(loop.instance('s1')!.state.allocation.cpu, 200, 'throttled to the granted 200 millicores (baseline: no launch credits)');
    assert.equal(loop.instance('u1')!.state.allocation.cpu, 2000, 'unlimited mode is never capped');
    assert.ok(w.credits.book.surplus('u1') > 0, 'unlimited spends surplus credits');
    const audit = await w.store.listAudit(ALL_TENANTS, { instanceId: 's1' });
    const r = audit.find((e) => e.kind === 'resize' && e.reasons.includes('credit-throttle'));
    assert.ok(r, 'an audit entry for the throttle');
    assert.equal(r!.result, 'applied');
    assert.ok(r!.reasons.includes('throttled-to-baseline') && r!.reasons.includes('grantedMillicores=200') && r!.reasons.includes('demandMillicores=1500'), r!.reasons.join(','));
    assert.ok(w.events.some((e) => e.type === 'credits' && (e.data as any).instance === 's1' && (e.data as any).change === 'throttled' && e.tenant === 'demo-a'));
    const c = await w.inject({ method: 'GET', url: '/v1/instances/s1/credits', token: w.tenantA });
    assert.equal(c.json.credits.throttle.capMillicores, 200);
    assert.equal(c.json.credits.throttle.cause, 'credits');
    // still bursting: stays capped (the static policy's resize back to 2000 is lowered to the cap)
    await w.tick({ s1: 1500, u1: 1500 });
    assert.equal(loop.instance('s1')!.state.allocation.cpu, 200);
    // idle: earns 200 milli-credits per 60 s tick; lifted at one step of full burst = (2000 - 200) x 60 s = 1,800
    let lifted = -1;
    for (let k = 1; k <= 12; k++) {
      await w.tick({ s1: 0, u1: 0 });
      if (loop.instance('s1')!.state.allocation.cpu === 2000) {
        lifted = k;
        break;
      }
      assert.equal(loop.instance('s1')!.state.allocation.cpu, 200);
    }
    assert.equal(lifted, 9, 'lifted when the balance reached 1,800 milli-credits (9 idle ticks)');
    assert.equal(w.credits.book.balance('s1'), 1800);
    assert.ok(w.events.some((e) => e.type === 'credits' && (e.data as any).instance === 's1' && (e.data as any).change === 'restored'));
    const metrics = await w.inject({ method: 'GET', url: '/metrics', token: null });
    assert.match(metrics.body, /^prescient_instances_throttled\{cause="credits"\} 0$/m);
    assert.deepEqual(await w.storeTotals(), ZERO_TOTALS);
  } finally {
    await w.close();
  }
});

test('bonding: POST /v1/instances/:id/bond (owner or admin) turns credits into units with a 1 % tax, journaled to the store; the multiplier rises at once; 409/400/404/403', async () => {
  // one tick = one model hour: an idle t3.small earns 24 credits per tick
  const w = await marketWorld({ hosts: H, instances: [{ id: 'b1', cls: 't3.small' }, { id: 'p1' }, { id: 'x1', tenant: 'demo-b', cls: 't3.small' }], stepSeconds: 3600 });
  try {
    for (let k = 0; k < 5; k++) await w.tick({ b1: 0, p1: 100, x1: 0 });
    assert.equal(w.credits.book.balance('b1'), 120_000);
    const before = (await w.inject({ method: 'GET', url: '/v1/instances/b1/multiplier', token: w.tenantA })).json.multiplier;
    assert.equal(before.bondUnits, 0);
    assert.equal(before.base, 1);

    const b = await w.inject({ method: 'POST', url: '/v1/instances/b1/bond', token: w.tenantA, payload: { units: 1 } });
    assert.equal(b.statusCode, 200, b.body);
    assert.equal(b.json.units, 1);
    assert.equal(b.json.bondedCredits, 100);
    assert.equal(b.json.taxCredits, 1);
    assert.equal(b.json.bondUnits, 1);
    assert.deepEqual(b.json.balance, { credits: 19, millicredits: 19_000 });
    assert.equal(b.json.multiplier.base, 1.5);
    assert.equal(b.json.multiplier.factor, before.factor, 'the smoothed factor is unchanged: the bond counts at once');
    assert.ok(Math.abs(b.json.multiplier.value - Math.min(20, Math.max(0.5, 1.5 * before.factor))) < 1e-12);
    // journaled to the store at once (no tick in between)
    assert.equal(await w.store.balance(ALL_TENANTS, 'credits:b1', 'credit'), 19_000);
    assert.equal(await w.store.balance(ALL_TENANTS, 'bonds:b1', 'bond'), 1);
    assert.equal(await w.store.balance(ALL_TENANTS, SYSTEM.BONDING_TAX, 'credit'), 1000);
    assert.equal(await w.store.balance(ALL_TENANTS, SYSTEM.BONDED, 'credit'), 100_000);
    const rows = await w.store.listLedger(ALL_TENANTS, 'bonds:b1');
    assert.equal(rows.length, 1);
    assert.ok(rows[0]!.group !== null && rows[0]!.reason.startsWith('bond'));
    const groupRows = (await w.store.listLedger(ALL_TENANTS, SYSTEM.BONDING_TAX)).filter((r) => r.group === rows[0]!.group);
    assert.equal(groupRows.length, 1, 'the tax is in the same transaction group');
    const audit = await w.store.listAudit(ALL_TENANTS, { instanceId: 'b1' });
    assert.ok(audit.some((e) => e.kind === 'bond' && e.actor.startsWith('token:') && e.reasons.includes('credits-bonded')));
    assert.ok(w.events.some((e) => e.type === 'bond' && e.tenant === 'demo-a'));
    assert.deepEqual(await w.storeTotals(), ZERO_TOTALS);

    // the multiplier endpoint and the status show the bond; the next tick keeps it
    const after = await w.inject({ method: 'GET', url: '/v1/instances/b1/multiplier', token: w.tenantA });
    assert.equal(after.json.multiplier.bondUnits, 1);
    await w.tick({ b1: 0, p1: 100, x1: 0 });
    const s = await w.inject({ method: 'GET', url: '/get_instance_status?instance_id=b1', token: w.tenantA });
    assert.equal(s.json.preemptionMultiplier.base, 1.5);

    // refusals
    const poor = await w.inject({ method: 'POST', url: '/v1/instances/b1/bond', token: w.tenantA, payload: { units: 5 } });
    assert.equal(poor.statusCode, 409);
    assert.equal(poor.json.error.field, 'units');
    assert.match(poor.json.error.message, /insufficient credits: bonding 5 unit\(s\) costs 505 credits/);
    assert.equal(await w.store.balance(ALL_TENANTS, 'bonds:b1', 'bond'), 1, 'a refusal writes nothing');
    const plain = await w.inject({ method: 'POST', url: '/v1/instances/p1/bond', token: w.tenantA, payload: { units: 1 } });
    assert.equal(plain.statusCode, 409);
    assert.equal(plain.json.error.field, 'params.id');
    assert.match(plain.json.error.message, /no credit class/);
    for (const payload of [{ units: 0 }, { units: 1.5 }, {}, { units: 1, extra: true }]) {
      const bad = await w.inject({ method: 'POST', url: '/v1/instances/b1/bond', token: w.tenantA, payload });
      assert.equal(bad.statusCode, 400, JSON.stringify(payload));
      assert.ok(bad.json.error.field === 'units' || bad.json.error.field === 'extra' || bad.json.error.field === 'body', bad.body);
    }
    const other = await w.inject({ method: 'POST', url: '/v1/instances/x1/bond', token: w.tenantA, payload: { units: 1 } });
    assert.equal(other.statusCode, 404, 'another tenant\'s instance is absent');
    assert.equal(other.json.error.field, 'params.id');
    assert.equal((await w.inject({ method: 'POST', url: '/v1/instances/x1/bond', token: w.agent, payload: { units: 1 } })).statusCode, 403);
    assert.equal((await w.inject({ method: 'POST', url: '/v1/instances/x1/bond', token: null, payload: { units: 1 } })).statusCode, 401);
    const admin = await w.inject({ method: 'POST', url: '/v1/instances/x1/bond', payload: { units: 1 } });
    assert.equal(admin.statusCode, 200, 'an admin may bond for any tenant');
    assert.equal((await w.inject({ method: 'GET', url: '/v1/instances/x1/credits', token: w.tenantA })).statusCode, 404);
    assert.equal((await w.inject({ method: 'GET', url: '/v1/instances/x1/credits', token: w.tenantB })).json.credits.bondUnits, 1);
    assert.equal((await w.inject({ method: 'GET', url: '/v1/instances/nope/credits' })).json.error.field, 'params.id');
  } finally {
    await w.close();
  }
});

test('POST /v1/instances: credit labels are checked (400 naming the label); a valid one makes a burstable instance', async () => {
  const w = await marketWorld({ hosts: H, instances: [] });
  try {
    const post = (labels: Record<string, string>) => w.inject({ method: 'POST', url: '/v1/instances', token: w.tenantA, payload: { id: `i-${Object.values(labels).join('-').replace(/[^a-z0-9]/g, '')}`, request: { cpuMillicores: 1000, memoryMiB: 512 }, labels } });
    const badClass = await post({ 'prescient.io/credit-class': 't9.huge' });
    assert.equal(badClass.statusCode, 400);
    assert.equal(badClass.json.error.field, 'labels.prescient.io/credit-class');
    assert.match(badClass.json.error.message, /unknown instance class "t9.huge"; valid: t3.nano/);
    const badMode = await post({ 'prescient.io/credit-class': 't3.micro', 'prescient.io/credit-mode': 'turbo' });
    assert.equal(badMode.statusCode, 400);
    assert.equal(badMode.json.error.field, 'labels.prescient.io/credit-mode');
    const modeOnly = await post({ 'prescient.io/credit-mode': 'standard' });
    assert.equal(modeOnly.statusCode, 400);
    assert.equal(modeOnly.json.error.field, 'labels.prescient.io/credit-class');
    assert.equal((await w.store.listInstances(ALL_TENANTS)).length, 0, 'nothing was created');
    const ok = await post({ 'prescient.io/credit-class': 't3.large', 'prescient.io/credit-mode': 'standard' });
    assert.equal(ok.statusCode, 201, ok.body);
    await w.tick({});
    assert.ok(w.credits.has(ok.json.instance.id));
    assert.equal(w.credits.book.state(ok.json.instance.id).mode, 'standard');
  } finally {
    await w.close();
  }
});

test('preemption: a host short of CPU throttles the lowest multipliers first, then evicts; critical instances are never victims', async () => {
  // one 3,000 m host overcommitted with four 1,000 m instances; a bonds 0, b 1 unit, c 2 units, d is critical
  const inst = ['a', 'b', 'c', 'd'].map((id) => ({ id, cls: 't3.small', cpu: 1000, host: 'h1', priority: (id === 'd' ? 'critical' : 'normal') as 'critical' | 'normal' }));
  // overcommit: the policy lets allocations exceed the host (without it, it scales them down to fit and no host is ever short)
  const w = await marketWorld({ hosts: [{ id: 'h1', cpu: 3000 }], instances: inst, stepSeconds: 3600, service: { overcommit: 'nsigma' } });
  try {
    const loop = w.svc.loop;
    for (let k = 0; k < 11; k++) await w.tick({ a: 0, b: 0, c: 0, d: 0 });
    for (const [id, units] of [['b', 1], ['c', 2]] as const) {
      const r = await w.inject({ method: 'POST', url: `/v1/instances/${id}/bond`, payload: { units } });
      assert.equal(r.statusCode, 200, r.body);
    }
    const mult = (id: string) => w.credits.multiplierOf(id).value;
    assert.ok(mult('a') < mult('b') && mult('b') < mult('c'), `${mult('a')} < ${mult('b')} < ${mult('c')}`);
    // demand 900 each: 3,600 > 3,000, short 600: a is throttled to its baseline 400 (reclaims 500), then b by 100
    await w.tick({ a: 900, b: 900, c: 900, d: 900 });
    assert.equal(loop.instance('a')!.state.allocation.cpu, 400);
    assert.equal(loop.instance('b')!.state.allocation.cpu, 800);
    assert.equal(loop.instance('c')!.state.allocation.cpu, 1000);
    assert.equal(loop.instance('d')!.state.allocation.cpu, 1000);
    const pre = w.events.filter((e) => e.type === 'preempted').map((e) => [(e.data as any).instance, (e.data as any).action]);
    assert.deepEqual(pre, [['a', 'throttle'], ['b', 'throttle']]);
    const audit = await w.store.listAudit(ALL_TENANTS, { instanceId: 'a' });
    const t = audit.find((e) => e.kind === 'resize' && e.reasons.includes('preemption-throttle'))!;
    assert.ok(t.reasons.includes('host-cpu-short') && t.reasons.includes('lowest-multiplier'), t.reasons.join(','));

    // the host shrinks to 1,500 m (operator): throttling everyone reclaims too little, the lowest multipliers are evicted
    const up = await w.inject({ method: 'POST', url: '/v1/hosts', payload: { id: 'h1', capacity: { cpuMillicores: 1500, memoryMiB: 65536 } } });
    assert.equal(up.statusCode, 200, up.body);
    w.events.length = 0;
    await w.tick({ a: 400, b: 800, c: 900, d: 900 });
    const ev = w.events.filter((e) => e.type === 'preempted').map((e) => [(e.data as any).instance, (e.data as any).action]);
    assert.ok(ev.some(([id, a]) => id === 'a' && a === 'evict'), JSON.stringify(ev));
    assert.ok(!ev.some(([id]) => id === 'd'), 'critical: never a victim');
    assert.ok(!loop.hasInstance('a'), 'evicted instances leave the loop');
    const stored = await w.store.getInstance(ALL_TENANTS, 'a');
    assert.equal(stored!.state, 'preempted');
    assert.equal(stored!.hostId, null);
    const ea = (await w.store.listAudit(ALL_TENANTS, { instanceId: 'a' })).find((e) => e.kind === 'preempt')!;
    assert.equal(ea.result, 'applied');
    assert.ok(ea.reasons.includes('evict') && ea.reasons.includes('preemption-evict'));
    assert.equal(w.credits.book.state('a').running, false, 'its credits are stopped');
    assert.ok(w.events.some((e) => e.type === 'preempted' && e.tenant === 'demo-a'));
    const m = await w.inject({ method: 'GET', url: '/metrics', token: null });
    assert.match(m.body, /^prescient_preemptions_total\{action="evict"\} [1-9]/m);
    assert.deepEqual(await w.storeTotals(), ZERO_TOTALS);
  } finally {
    await w.close();
  }
});

test('eviction with a driver that cannot stop instances: not planned by default; when forced, the refused plan rolls back and evictions pause', async () => {
  const { DriverError } = await import('../../src/core/ports.js');
  class NoStop {
    readonly name = 'no-stop';
    apply(a: import('../../src/core/plan.js').Action) {
      if (a.kind === 'preempt') throw new DriverError('this driver cannot stop an instance', a);
      return () => {};
    }
  }
  const three = ['a', 'b', 'c'].map((id) => ({ id, cpu: 1000, host: 'h1' }));
  // 2,700 m of demand on a 500 m host: throttling all three to 250 m reclaims 1,950 of the 2,200 short
  const w = await marketWorld({ hosts: [{ id: 'h1', cpu: 500 }], instances: three, service: { driver: new NoStop() } });
  try {
    const r = await w.tick({ a: 900, b: 900, c: 900 });
    assert.ok(r.applied, 'the plan applies: no eviction is planned for a driver that cannot do it');
    const acts = w.events.filter((e) => e.type === 'preempted').map((e) => (e.data as any).action);
    assert.deepEqual(acts, ['throttle', 'throttle', 'throttle']);
    assert.ok(['a', 'b', 'c'].every((id) => w.svc.loop.instance(id)!.state.allocation.cpu <= 250), 'capped at 250 m or below (the policy also scales allocations to the host)');
  } finally {
    await w.close();
  }
  const f = await marketWorld({ hosts: [{ id: 'h1', cpu: 500 }], instances: three, service: { driver: new NoStop(), markets: { credits: { preemption: { allowEvict: true } } } } });
  try {
    const r1 = await f.tick({ a: 900, b: 900, c: 900 });
    assert.equal(r1.applied, false, 'the driver refused the eviction: the whole plan rolled back');
    assert.match(r1.failure!.error, /cannot stop an instance/);
    assert.ok(f.events.some((e) => e.type === 'market' && (e.data as any).change === 'eviction-refused-by-driver'));
    const r2 = await f.tick({ a: 900, b: 900, c: 900 });
    assert.ok(r2.applied, 'evictions pause after a refusal');
    assert.ok(['a', 'b', 'c'].every((id) => f.svc.loop.hasInstance(id)));
  } finally {
    await f.close();
  }
});

test('delete and stop settle the books: unlimited surplus is charged in money, accrued credits expire on delete', async () => {
  const w = await marketWorld({ hosts: H, instances: [{ id: 'u1', cls: 't3.micro', mode: 'unlimited' }, { id: 'u2', cls: 't3.micro', mode: 'unlimited' }], stepSeconds: 60 });
  try {
    for (let k = 0; k < 3; k++) await w.tick({ u1: 2000, u2: 2000 });
    const surplus = w.credits.book.surplus('u1');
    assert.ok(surplus > 0);
    const charge = w.credits.book.surplusChargeMicros(surplus);
    const d = await w.inject({ method: 'DELETE', url: '/v1/instances/u1', token: w.tenantA });
    assert.equal(d.statusCode, 200);
    assert.ok(!w.credits.has('u1'), 'terminated');
    // stop u2 (an operator or agent marks it stopped): surplus charged, the instance stays in the book, stopped
    const rec = (await w.store.getInstance(ALL_TENANTS, 'u2'))!;
    const stopped = await w.store.upsertInstance(ALL_TENANTS, { ...rec, state: 'stopped', hostId: null }, w.clock.nowMs());
    w.svc.loop.upsertInstance(stopped);
    const s2 = w.credits.book.surplus('u2');
    await w.tick({});
    assert.equal(w.credits.book.state('u2').running, false);
    assert.equal(w.credits.book.surplus('u2'), 0);
    const total = charge + w.credits.book.surplusChargeMicros(s2);
    assert.equal(await w.store.balance(ALL_TENANTS, account.invoice('demo-a'), 'money'), -total, 'billed to the tenant');
    assert.equal(await w.store.balance(ALL_TENANTS, SYSTEM.SURPLUS_CHARGES, 'money'), total);
    assert.equal(await w.store.balance(ALL_TENANTS, account.surplus('u1'), 'credit'), 0);
    assert.deepEqual(await w.storeTotals(), ZERO_TOTALS);
  } finally {
    await w.close();
  }
});

test('restart on the same database: balances, book state, multipliers and the market clock continue exactly', async () => {
  let w = await marketWorld({ hosts: H, instances: [{ id: 'a', cls: 't3.small', mode: 'standard' }, { id: 'b', cls: 't3.micro', mode: 'unlimited' }, { id: 'c' }], stepSeconds: 1800 });
  try {
    const demand = (k: number) => ({ a: 50 + ((k * 37) % 200), b: 300 + ((k * 53) % 900), c: 50 + ((k * 11) % 200) });
    for (let k = 0; k < 30; k++) await w.tick(demand(k));
    const bonded = await w.inject({ method: 'POST', url: '/v1/instances/a/bond', payload: { units: 1 } });
    assert.equal(bonded.statusCode, 200, bonded.body);
    const before = {
      credit: w.svc.loop.markets!.ledger.accounts('credit'),
      money: w.svc.loop.markets!.ledger.accounts('money'),
      carry: w.credits.book.exportState('a').carryMcms,
      mult: ['a', 'b', 'c'].map((id) => w.credits.multiplierOf(id)),
      nowMs: w.svc.loop.markets!.nowMs,
    };
    w = await w.restart();
    assert.deepEqual(w.svc.loop.markets!.ledger.accounts('credit'), before.credit, 'balances from the store');
    assert.deepEqual(w.svc.loop.markets!.ledger.accounts('money'), before.money);
    assert.equal(w.credits.book.exportState('a').carryMcms, before.carry, 'the sub-milli-credit carry too');
    assert.equal(w.svc.loop.markets!.nowMs, before.nowMs);
    for (const [k, id] of ['a', 'b', 'c'].entries()) {
      assert.equal(w.credits.multiplierOf(id).factor, before.mult[k]!.factor, `${id}: smoothed factor restored`);
      assert.equal(w.credits.multiplierOf(id).value, before.mult[k]!.value, `${id}: multiplier restored`);
    }
    for (let k = 30; k < 36; k++) await w.tick(demand(k));
    assert.equal(w.svc.loop.markets!.nowMs, before.nowMs + 6 * 1_800_000);
    assert.deepEqual(await w.storeTotals(), ZERO_TOTALS);
    assert.deepEqual(await w.storeBalances('credit'), w.svc.loop.markets!.ledger.accounts('credit'));
    // a twin that never restarted, fed the same demand, holds exactly the same books
    const twin = await marketWorld({ hosts: H, instances: [{ id: 'a', cls: 't3.small', mode: 'standard' }, { id: 'b', cls: 't3.micro', mode: 'unlimited' }, { id: 'c' }], stepSeconds: 1800 });
    try {
      for (let k = 0; k < 30; k++) await twin.tick(demand(k));
      assert.equal((await twin.inject({ method: 'POST', url: '/v1/instances/a/bond', payload: { units: 1 } })).statusCode, 200);
      for (let k = 30; k < 36; k++) await twin.tick(demand(k));
      for (const asset of ['credit', 'money', 'bond'] as const) assert.deepEqual(w.svc.loop.markets!.ledger.accounts(asset), twin.svc.loop.markets!.ledger.accounts(asset), asset);
      assert.equal(w.credits.book.exportState('b').carryMcms, twin.credits.book.exportState('b').carryMcms);
    } finally {
      await twin.close();
    }
  } finally {
    await w.close();
  }
});

test('property: after any sequence of ticks, bonds, stops and deletes every asset sums to 0 in the store and the store equals the ledger', async () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('tick' as const), demand: fc.array(fc.integer({ min: 0, max: 2500 }), { minLength: 4, maxLength: 4 }) }),
    fc.record({ kind: fc.constant('bond' as const), who: fc.integer({ min: 0, max: 3 }), units: fc.integer({ min: 1, max: 2 }) }),
    fc.record({ kind: fc.constant('stop' as const), who: fc.integer({ min: 0, max: 3 }) }),
    fc.record({ kind: fc.constant('delete' as const), who: fc.integer({ min: 0, max: 3 }) }),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 3, maxLength: 14 }), async (ops) => {
      const ids = ['p0', 'p1', 'p2', 'p3'];
      const w = await marketWorld({
        hosts: [{ id: 'h1', cpu: 4000 }],
        instances: [
          { id: 'p0', cls: 't3.small', mode: 'standard', cpu: 2000 },
          { id: 'p1', cls: 't3.micro', mode: 'unlimited', cpu: 2000 },
          { id: 'p2', cls: 't3.nano', mode: 'unlimited', cpu: 1000 },
          { id: 'p3', cpu: 1000, priority: 'low' },
        ],
        stepSeconds: 3600,
      });
      try {
        const gone = new Set<string>();
        for (const o of ops) {
          if (o.kind === 'tick') {
            const d: Record<string, number> = {};
            ids.forEach((id, k) => {
              if (!gone.has(id)) d[id] = o.demand[k]!;
            });
            await w.tick(d);
          } else if (o.kind === 'bond') {
            const id = ids[o.who]!;
            const r = await w.inject({ method: 'POST', url: `/v1/instances/${id}/bond`, payload: { units: o.units } });
            assert.ok([200, 404, 409].includes(r.statusCode), r.body);
          } else {
            const id = ids[o.who]!;
            if (gone.has(id)) continue;
            gone.add(id);
            if (o.kind === 'delete') await w.inject({ method: 'DELETE', url: `/v1/instances/${id}` });
            else {
              const rec = (await w.store.getInstance(ALL_TENANTS, id))!;
              w.svc.loop.upsertInstance(await w.store.upsertInstance(ALL_TENANTS, { ...rec, state: 'stopped', hostId: null }, w.clock.nowMs()));
            }
          }
        }
        await w.tick({});
        assert.deepEqual(await w.storeTotals(), ZERO_TOTALS);
        const ledger = w.svc.loop.markets!.ledger;
        for (const asset of ['credit', 'money', 'bond'] as const) assert.deepEqual(await w.storeBalances(asset), ledger.accounts(asset), asset);
        // bonding tax is exactly 1 % (rounded up per bond) of what was bonded
        const bonded = ledger.balance(SYSTEM.BONDED, 'credit');
        assert.equal(ledger.balance(SYSTEM.BONDING_TAX, 'credit'), bonded / 100);
      } finally {
        await w.close();
      }
    }),
    { numRuns: 12 },
  );
});

test('routine accrual is written once per window, netted per account; anything else, or a stop, writes at once', async () => {
  let w = await marketWorld({ hosts: H, instances: [{ id: 'm1', cls: 't3.micro', mode: 'standard' }, { id: 'u1', cls: 't3.micro', mode: 'unlimited' }], stepSeconds: 60, service: { markets: { flushEveryTicks: 5 } } });
  try {
    for (let k = 0; k < 3; k++) await w.tick({ m1: 50, u1: 100 });
    assert.equal(await w.store.balance(ALL_TENANTS, 'credits:m1', 'credit'), 0, 'not yet written');
    for (let k = 0; k < 2; k++) await w.tick({ m1: 50, u1: 100 });
    assert.equal(await w.store.balance(ALL_TENANTS, 'credits:m1', 'credit'), 5 * 150, 'written at the end of the window: 5 x (200 - 50) x 60 s / 60,000');
    const rows = await w.store.listLedger(ALL_TENANTS, 'credits:m1');
    assert.equal(rows.length, 1, 'one netted row for the window');
    assert.match(rows[0]!.reason, /^credit-accrual \(net of 10 entries\)$/);
    assert.deepEqual(await w.storeBalances('credit'), w.svc.loop.markets!.ledger.accounts('credit'));
    // a non-routine entry (the surplus charged on a delete) is written with the next commit, with the window so far
    await w.tick({ m1: 50, u1: 2000 });
    assert.equal((await w.store.listLedger(ALL_TENANTS, 'credits:m1')).length, 1);
    await w.inject({ method: 'DELETE', url: '/v1/instances/u1' });
    await w.tick({ m1: 50 });
    assert.deepEqual(await w.storeBalances('credit'), w.svc.loop.markets!.ledger.accounts('credit'));
    assert.ok((await w.store.balance(ALL_TENANTS, SYSTEM.SURPLUS_CHARGES, 'money')) > 0);
    // a clean stop mid-window writes it; the restart continues from there
    await w.tick({ m1: 50 });
    const mem = w.svc.loop.markets!.ledger.accounts('credit');
    w = await w.restart();
    assert.deepEqual(w.svc.loop.markets!.ledger.accounts('credit'), mem);
    assert.deepEqual(await w.storeTotals(), ZERO_TOTALS);
  } finally {
    await w.close();
  }
});

test('an instance deleted while the service was down: its book is terminated at the first tick (surplus charged, credits expired)', async () => {
  let w = await marketWorld({ hosts: H, instances: [{ id: 'u1', cls: 't3.micro', mode: 'unlimited' }, { id: 'm1', cls: 't3.micro' }], stepSeconds: 60 });
  try {
    for (let k = 0; k < 3; k++) await w.tick({ u1: 2000, m1: 0 });
    const surplus = w.credits.book.surplus('u1');
    assert.ok(surplus > 0);
    await w.store.deleteInstance(ALL_TENANTS, 'u1'); // behind the loop's back, as if while it was down
    w = await w.restart();
    assert.ok(w.credits.has('u1'), 'restored from the saved state');
    await w.tick({ m1: 0 });
    assert.ok(!w.credits.has('u1'), 'terminated');
    assert.equal(await w.store.balance(ALL_TENANTS, SYSTEM.SURPLUS_CHARGES, 'money'), w.credits.book.surplusChargeMicros(surplus));
    assert.deepEqual(await w.storeTotals(), ZERO_TOTALS);
  } finally {
    await w.close();
  }
});
