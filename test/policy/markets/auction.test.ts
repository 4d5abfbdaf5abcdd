import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ValidationError } from '../../../src/core/errors.js';
import { NOTICE_PRESETS, SpotMarket, type AuctionOptions, type Bid, type SpotHost } from '../../../src/policy/markets/auction.js';
import { flatForecast, normalQuantile, normalTail } from '../../../src/policy/markets/dist.js';
import { account, Ledger, SYSTEM } from '../../../src/policy/markets/ledger.js';

const LEVELS = [0.5, 0.9, 0.99];
/** A flat profile with median m and 0.9 / 0.99 quantiles m x 1.2 / 1.4. */
const prof = (m: number) => flatForecast(m, LEVELS, [m, m * 1.2, m * 1.4]);

function bid(id: string, o: Partial<Bid> & { cpu?: number; mem?: number } = {}): Bid {
  const cpu = o.cpu ?? 20;
  const mem = o.mem ?? 10;
  return {
    id,
    tenant: o.tenant ?? `t-${id}`,
    priceMicrosPerHour: o.priceMicrosPerHour ?? 100_000,
    priority: o.priority ?? 0,
    profile: o.profile ?? { cpu: prof(cpu), memory: prof(mem) },
    request: o.request ?? { cpu: cpu * 1.5, memory: mem * 1.5, network: 0 },
    memoryIntensity: o.memoryIntensity ?? 0,
    interruptible: o.interruptible ?? true,
    ...(o.penalty ? { penalty: o.penalty } : {}),
    ...(o.noticeMs !== undefined ? { noticeMs: o.noticeMs } : {}),
    ...(o.minRuntimeMs !== undefined ? { minRuntimeMs: o.minRuntimeMs } : {}),
    ...(o.expiresAtMs !== undefined ? { expiresAtMs: o.expiresAtMs } : {}),
  };
}

const host = (id: string, cpu = 100, memory = 100): SpotHost => ({ id, capacity: { cpu, memory, network: 0 } });

function market(hosts: SpotHost[], o: AuctionOptions = {}, tenants: string[] = []): SpotMarket {
  const m = new SpotMarket(hosts, new Ledger(), { minRuntimeMs: 0, ...o });
  for (const t of tenants) m.deposit(t, 1_000_000_000, 0);
  return m;
}

test('the score is price x w_price + priority x w_priority - interference x w_interference, and bids are admitted best first', () => {
  const m = market([host('h1', 100)], {}, ['t-a', 't-b', 't-c']);
  const r = m.round(0, { bids: [bid('a', { cpu: 40, priceMicrosPerHour: 100_000 }), bid('b', { cpu: 40, priceMicrosPerHour: 100_000, priority: 1 }), bid('c', { cpu: 40, priceMicrosPerHour: 250_000 })] });
  // capacity 100 at the 0.9 quantile: two bids of 40 x 1.2 = 48 fit, the third waits
  assert.deepEqual(r.admitted.map((a) => a.bidId), ['c', 'b']);
  const c = r.admitted[0]!;
  assert.ok(Math.abs(c.score - (2.5 - 2 * c.interference)) < 1e-12);
  assert.ok(c.reasons.includes('admitted'));
  assert.equal(r.pending[0]!.bidId, 'a');
  assert.ok(r.pending[0]!.reasons.includes('predicted-cpu-over-capacity=1'), r.pending[0]!.reasons.join(' '));
});

test('interference steers a bid away from a host near its capacity and from memory-intensive neighbours', () => {
  const m = market([host('busy', 100), host('calm', 100)], {}, ['t-x', 't-y', 't-z', 't-w']);
  m.round(0, { bids: [bid('x', { cpu: 70 })] });
  assert.equal(m.hostOf('x'), 'busy', 'first host wins a tie');
  m.round(1, { bids: [bid('y', { cpu: 10 })] });
  assert.equal(m.hostOf('y'), 'calm', 'P(cpu > capacity) is higher next to x');
  const busy = m.interference('busy', undefined);
  assert.ok(busy.pExceed.cpu > m.interference('calm').pExceed.cpu);
  // memory bandwidth: with equal CPU load on both hosts, a memory-hungry bid avoids the host whose
  // memory-intensive work would exceed its budget (50 % of the CPU capacity)
  const mb = market([host('h1'), host('h2')], {}, ['t-p', 't-q', 't-r']);
  mb.round(0, { bids: [bid('p', { cpu: 40, memoryIntensity: 1 })] });
  mb.round(1, { bids: [bid('q', { cpu: 40, memoryIntensity: 0 })] });
  assert.deepEqual([mb.hostOf('p'), mb.hostOf('q')], ['h1', 'h2']);
  const r = mb.round(2, { bids: [bid('r', { cpu: 30, memoryIntensity: 1 })] });
  assert.equal(r.admitted[0]!.hostId, 'h2');
  assert.ok(r.admitted[0]!.reasons.includes('thrash=0'));
  assert.equal(mb.interference('h1').thrash, 0, 'p alone stays within the budget (40 of 50)');
});

test('price-only admission ranks by price and counts requested sizes; it never displaces', () => {
  const m = market([host('h1', 100)], { scoring: 'price-only' }, ['t-a', 't-b', 't-c']);
  const r = m.round(0, { bids: [bid('a', { cpu: 30, priceMicrosPerHour: 300_000 }), bid('b', { cpu: 30, priceMicrosPerHour: 200_000, priority: 9 }), bid('c', { cpu: 10, priceMicrosPerHour: 100_000 })] });
  // requests are 1.5 x: 45 + 45 fit, then 15 does not
  assert.deepEqual(r.admitted.map((a) => a.bidId), ['a', 'b']);
  const r2 = m.round(1, { bids: [bid('d', { cpu: 10, priceMicrosPerHour: 9_000_000 })] });
  assert.equal(r2.admitted.length, 0);
  assert.equal(r2.notices.length + r2.penalties.length, 0);
});

test('an interruptible instance is displaced by a better bid with notice (120 s preset; 30 s configurable), and the bid waits for the room', () => {
  for (const notice of [NOTICE_PRESETS.aws, NOTICE_PRESETS.gcp]) {
    const m = market([host('h1', 100)], { noticeMs: notice }, ['t-low', 't-high']);
    m.round(0, { bids: [bid('low', { cpu: 70, priceMicrosPerHour: 50_000 })] });
    const r = m.round(1000, { bids: [bid('high', { cpu: 60, priceMicrosPerHour: 900_000 })] });
    assert.deepEqual(r.notices.map((n) => [n.id, n.stopAtMs]), [['low', 1000 + notice]]);
    assert.ok(r.notices[0]!.reasons.includes('displaced-by'));
    assert.ok(r.pending[0]!.reasons.includes('interruption-notice'));
    const mid = m.round(1000 + notice - 1);
    assert.equal(mid.stopped.length, 0, 'still within its notice');
    assert.ok(m.isNoticed('low'));
    const end = m.round(1000 + notice);
    assert.deepEqual(end.stopped.map((s) => [s.id, s.reasons[0]]), [['low', 'notice-expired-stopped']]);
    assert.deepEqual(end.admitted.map((a) => a.bidId), ['high']);
  }
});

test('an uninterruptible instance is only preempted by paying its penalty: fee to its tenant and a priority reduction to the payer, in one ledger transaction', () => {
  const m = market([host('h1', 100)], {}, ['t-u', 't-rich']);
  m.round(0, { bids: [bid('u', { cpu: 70, priceMicrosPerHour: 50_000, interruptible: false, penalty: { feeMicros: 20_000, priorityReductionMilli: 500 } })] });
  const moneyBefore = m.ledger.balance(account.tenant('t-u'), 'money');
  const r = m.round(10, { bids: [bid('big', { cpu: 60, priceMicrosPerHour: 900_000, tenant: 't-rich' })] });
  assert.deepEqual(r.penalties.map((p) => [p.id, p.feeMicros, p.priorityReductionMilli, p.payer]), [['u', 20_000, 500, 't-rich']]);
  assert.deepEqual(r.admitted.map((a) => a.bidId), ['big'], 'admitted in the same round: no notice for uninterruptible');
  assert.equal(m.ledger.balance(account.tenant('t-u'), 'money'), moneyBefore + 20_000);
  assert.equal(m.ledger.balance(SYSTEM.PRIORITY_PENALTIES, 'priority'), 500);
  assert.equal(m.standing('t-rich'), -0.5);
  const entry = m.ledger.journal.find((e) => e.kind === 'preemption-penalty')!;
  assert.equal(entry.moves.length, 2);
  assert.ok(entry.reasons.includes('uninterruptible-penalty-paid'));
});

test('a penalty the displacing tenant cannot pay blocks the preemption; minimum runtime protects a new instance', () => {
  const m = market([host('h1', 100)], {}, ['t-u']);
  m.round(0, { bids: [bid('u', { cpu: 70, priceMicrosPerHour: 50_000, interruptible: false, penalty: { feeMicros: 20_000, priorityReductionMilli: 0 } })] });
  m.deposit('t-poor', 1000, 0);
  const r = m.round(10, { bids: [bid('big', { cpu: 60, priceMicrosPerHour: 900_000, tenant: 't-poor' })] });
  assert.equal(r.penalties.length, 0);
  assert.ok(r.pending.some((p) => p.reasons.includes('cannot-afford-penalty')));
  assert.deepEqual(m.running(), ['u']);
  const g = market([host('h1', 100)], { minRuntimeMs: 600_000 }, ['t-low', 't-high']);
  g.round(0, { bids: [bid('low', { cpu: 70, priceMicrosPerHour: 50_000 })] });
  assert.equal(g.round(599_999, { bids: [bid('high', { cpu: 60, priceMicrosPerHour: 900_000 })] }).notices.length, 0);
  assert.equal(g.round(600_000).notices.length, 1);
});

test('instances with consistently low utilisation become preemption candidates, with the reason', () => {
  const m = market([host('h1', 100)], {}, ['t-a']);
  m.round(0, { bids: [bid('a', { cpu: 20 })] });
  const obs = new Map([['a', { cpu: 1 }]]);
  assert.equal(m.round(1, { observed: obs }).candidates.length, 0);
  m.round(2, { observed: obs });
  const r = m.round(3, { observed: obs });
  assert.deepEqual(r.candidates.map((c) => c.id), ['a']);
  assert.deepEqual(r.candidates[0]!.reasons.slice(0, 2), ['preemption-candidate', 'consistently-low-utilisation']);
  assert.equal(m.round(4, { observed: new Map([['a', { cpu: 25 }]]) }).candidates.length, 0);
});

test('billing is exact to the micro-unit over uneven rounds, and bids expire', () => {
  const m = market([host('h1')], {}, ['t-a']);
  m.round(0, { bids: [bid('a', { priceMicrosPerHour: 1000 }), bid('late', { cpu: 95, expiresAtMs: 5 })] });
  let billed = 0;
  for (const t of [1, 7, 1_000, 333_333, 1_800_000]) billed += m.round(t).billedMicros;
  assert.equal(billed, 500);
  assert.equal(m.ledger.balance(SYSTEM.MARKET_REVENUE, 'money'), 500);
  assert.equal(m.pending().length, 0);
});

test('bad bids are rejected with every problem and its path', () => {
  const m = market([host('h1')]);
  try {
    m.round(0, { bids: [bid('a', { priceMicrosPerHour: -1 }), bid('b', { interruptible: false, memoryIntensity: 2 })] });
    assert.fail('expected ValidationError');
  } catch (e) {
    assert.ok(e instanceof ValidationError);
    assert.deepEqual(e.issues.map((i) => i.path), ['bids[0].priceMicrosPerHour', 'bids[1].memoryIntensity', 'bids[1].penalty']);
  }
});

test('property: money and priority are conserved, no tenant goes negative, and admitted quantiles never exceed a host', () => {
  const bidArb = fc.record({
    cpu: fc.integer({ min: 1, max: 60 }),
    mem: fc.integer({ min: 1, max: 60 }),
    price: fc.integer({ min: 0, max: 1_000_000 }),
    prio: fc.integer({ min: 0, max: 3 }),
    intr: fc.boolean(),
    fee: fc.integer({ min: 0, max: 50_000 }),
    red: fc.integer({ min: 1, max: 2000 }),
    tenant: fc.constantFrom('a', 'b', 'c'),
    mi: fc.double({ min: 0, max: 1, noNaN: true }),
  });
  fc.assert(
    fc.property(fc.array(fc.array(bidArb, { maxLength: 4 }), { minLength: 1, maxLength: 12 }), fc.boolean(), (rounds, priceOnly) => {
      const m = new SpotMarket([host('h1'), host('h2')], new Ledger(), { minRuntimeMs: 0, noticeMs: 2000, ...(priceOnly ? { scoring: 'price-only' } : {}) });
      for (const t of ['a', 'b', 'c']) m.deposit(t, 200_000, 0);
      let n = 0;
      let fees = 0;
      let reductions = 0;
      rounds.forEach((bs, k) => {
        const r = m.round(k * 1000, {
          bids: bs.map((b) => bid(`b${n++}`, { cpu: b.cpu, mem: b.mem, priceMicrosPerHour: b.price, priority: b.prio, interruptible: b.intr, penalty: { feeMicros: b.fee, priorityReductionMilli: b.red }, tenant: b.tenant, memoryIntensity: b.mi })),
        });
        for (const p of r.penalties) {
          fees += p.feeMicros!;
          reductions += p.priorityReductionMilli!;
        }
        assert.equal(m.ledger.total('money'), 0);
        assert.equal(m.ledger.total('priority'), 0);
        for (const t of ['a', 'b', 'c']) assert.ok(m.ledger.balance(account.tenant(t), 'money') >= 0);
        for (const h of ['h1', 'h2']) {
          const load = m.predictedLoad(h);
          if (!priceOnly) assert.ok(load.cpu <= 100 + 1e-9 && load.memory <= 100 + 1e-9, JSON.stringify(load));
        }
      });
      assert.equal(m.ledger.balance(SYSTEM.PRIORITY_PENALTIES, 'priority'), reductions);
      const feeEntries = m.ledger.journal.filter((e) => e.kind === 'preemption-penalty').flatMap((e) => e.moves.filter((x) => x.asset === 'money'));
      assert.equal(feeEntries.reduce((s, x) => s + x.amount, 0), fees);
    }),
    { numRuns: 100 },
  );
});

test('network contention counts: P(network > capacity) from the co-located forecasts enters the interference', () => {
  const hosts: SpotHost[] = [{ id: 'n1', capacity: { cpu: 100, memory: 100, network: 1000 } }];
  const m = market(hosts, {}, ['t-a']);
  const r = m.round(0, { bids: [bid('a', { cpu: 10, profile: { cpu: prof(10), memory: prof(10), network: prof(800) } })] });
  // median 800, sigma = (q0.99 - median) / z0.99 = 320 / 2.326
  const p = normalTail((1000 - 800) / (320 / normalQuantile(0.99)));
  const it = m.interference('n1');
  assert.ok(Math.abs(it.pExceed.network - p) < 1e-9, `${it.pExceed.network} vs ${p}`);
  assert.ok(Math.abs(it.total - (0.5 * p + it.pExceed.cpu + it.pExceed.memory + 0.5 * it.thrash)) < 1e-12);
  assert.ok(r.admitted[0]!.reasons.includes(`pNetwork=${Number(p.toPrecision(4))}`), r.admitted[0]!.reasons.join(' '));
});

test('persistently high interference makes candidates and gives the lowest-value interruptible one notice', () => {
  const m = market([host('h1', 100)], { highInterference: { threshold: 0.3, rounds: 2 } }, ['t-a', 't-b']);
  m.round(0, { bids: [bid('a', { cpu: 40, priceMicrosPerHour: 200_000 }), bid('b', { cpu: 40, priceMicrosPerHour: 50_000 })] });
  // runtime forecasts now say both will need 60: the host is predicted to be over capacity
  const hot = new Map([
    ['a', { cpu: prof(60), memory: prof(10) }],
    ['b', { cpu: prof(60), memory: prof(10) }],
  ]);
  const r1 = m.round(1000, { forecasts: hot });
  assert.equal(r1.candidates.length, 0, 'one round is not yet "consistently"');
  const r2 = m.round(2000, { forecasts: hot });
  assert.deepEqual(r2.candidates.map((c) => c.id).sort(), ['a', 'b']);
  assert.ok(r2.candidates[0]!.reasons.includes('consistently-high-interference'));
  assert.deepEqual(r2.notices.map((n) => n.id), ['b'], 'the cheaper one');
  assert.ok(r2.notices[0]!.reasons.includes('consistently-high-interference'));
});

test('host sums after rounds with runtime forecasts are bit for bit a from-scratch rebuild (hosts without a change are not rebuilt)', () => {
  // After every round with forecasts, each host's sums must equal those of a market built from
  // nothing with the same instances in the same order on each host and their current demands
  // (what rebuilding every host did before hosts without a change were skipped).
  type D = { cpu: ReturnType<typeof prof>; memory: ReturnType<typeof prof> };
  const op = fc.oneof(
    fc.record({ k: fc.constant('forecast' as const), who: fc.array(fc.nat(29), { maxLength: 8 }), cpu: fc.double({ min: 0, max: 60, noNaN: true }) }),
    fc.record({ k: fc.constant('move' as const), who: fc.nat(29), to: fc.nat(4) }),
    fc.record({ k: fc.constant('remove' as const), who: fc.nat(29) }),
    fc.record({ k: fc.constant('bid' as const), cpu: fc.double({ min: 1, max: 40, noNaN: true }) }),
  );
  const hosts = [0, 1, 2, 3, 4].map((k) => host(`h${k}`, 200, 200));
  let rebuiltRounds = 0;
  fc.assert(
    fc.property(fc.array(op, { minLength: 1, maxLength: 25 }), (ops) => {
      const A = market(hosts, {}, ['spot']);
      const bids = new Map<string, Bid>();
      const demand = new Map<string, D>();
      for (let i = 0; i < 30; i++) {
        const b = { ...bid(`r${i}`, { priceMicrosPerHour: 0, cpu: 3 + ((i * 7) % 11) * 0.37, mem: 2 + (i % 5) * 0.91 }), minRuntimeMs: Infinity };
        A.adopt({ bid: b, hostId: `h${i % 5}`, startedAtMs: 0, billedToMs: 0, billCarry: 0, notice: null });
        bids.set(b.id, b);
        demand.set(b.id, b.profile as D);
      }
      let now = 0;
      let n = 0;
      for (const o of ops) {
        now += 60_000;
        const forecasts = new Map<string, D>();
        let newBid: Bid | undefined;
        if (o.k === 'forecast') {
          for (const w of o.who) {
            const id = `r${w}`;
            if (!A.isRunning(id)) continue;
            const d = { cpu: prof(o.cpu + w * 0.013), memory: demand.get(id)!.memory };
            demand.set(id, d);
            forecasts.set(id, d);
          }
        } else if (o.k === 'move') {
          if (A.isRunning(`r${o.who}`)) A.move(`r${o.who}`, `h${o.to}`);
        } else if (o.k === 'remove') A.remove(`r${o.who}`);
        else {
          newBid = bid(`b${n++}`, { tenant: 'spot', cpu: o.cpu });
          bids.set(newBid.id, newBid);
          demand.set(newBid.id, newBid.profile as D);
        }
        A.round(now, { ...(newBid ? { bids: [newBid] } : {}), ...(forecasts.size > 0 ? { forecasts } : {}) });
        if (forecasts.size === 0) continue;
        rebuiltRounds++;
        const C = market(hosts, {}, ['spot']);
        for (const h of hosts) for (const id of A.instancesOn(h.id)) C.adopt({ bid: { ...bids.get(id)!, profile: demand.get(id)! }, hostId: h.id, startedAtMs: 0, billedToMs: 0, billCarry: 0, notice: null });
        for (const h of hosts) {
          assert.deepEqual(A.predictedLoad(h.id), C.predictedLoad(h.id), `predicted load of ${h.id}`);
          assert.deepEqual(A.interference(h.id), C.interference(h.id), `interference of ${h.id}`);
        }
      }
    }),
    { numRuns: 60 },
  );
  assert.ok(rebuiltRounds > 20, `only ${rebuiltRounds} rounds with forecasts were checked`);
});
