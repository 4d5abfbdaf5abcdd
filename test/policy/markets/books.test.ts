// Item "books": one ledger shared by every market; any interleaving of their operations keeps
// credits, money, resource units, bonding units and priority exactly conserved (totals zero with
// the named system accounts), each tax or penalty account holds exactly what was charged, guarded
// accounts never go negative, and host allocations never exceed capacity.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SpotMarket } from '../../../src/policy/markets/auction.js';
import { CreditBook } from '../../../src/policy/markets/credits.js';
import { flatForecast } from '../../../src/policy/markets/dist.js';
import { account, ASSETS, defaultNegativeAllowed, Ledger, SYSTEM } from '../../../src/policy/markets/ledger.js';
import { HostNegotiator } from '../../../src/policy/markets/negotiation.js';

const op = fc.oneof(
  fc.record({ k: fc.constant('accrue' as const), who: fc.integer({ min: 0, max: 2 }), stepMs: fc.integer({ min: 1, max: 3_600_000 }), demand: fc.integer({ min: 0, max: 2000 }) }),
  fc.record({ k: fc.constant('bond' as const), who: fc.integer({ min: 0, max: 2 }), units: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ k: fc.constant('stop' as const), who: fc.integer({ min: 0, max: 2 }) }),
  fc.record({ k: fc.constant('mode' as const), who: fc.integer({ min: 0, max: 2 }), unlimited: fc.boolean() }),
  fc.record({ k: fc.constant('negotiate' as const), needs: fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 3, maxLength: 3 }) }),
  fc.record({ k: fc.constant('bid' as const), cpu: fc.integer({ min: 1, max: 70 }), price: fc.integer({ min: 0, max: 500_000 }), intr: fc.boolean(), fee: fc.integer({ min: 0, max: 40_000 }), tenant: fc.constantFrom('a', 'b') }),
);

test('property: every interleaving of market operations on one ledger keeps exact books', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
      const ledger = new Ledger();
      const book = new CreditBook(ledger);
      const ids = ['c0', 'c1', 'c2'];
      ids.forEach((id, i) => book.launch(id, { tenant: i === 0 ? 'a' : 'b', className: i === 2 ? 't3.2xlarge' : 't3.micro', mode: i === 1 ? 'unlimited' : 'standard' }, 0));
      const neg = new HostNegotiator('h', { cpuMillicores: 6000, memoryMiB: 6000 }, ledger);
      ['n0', 'n1', 'n2'].forEach((id) => neg.join(id, { cpuMillicores: 1500, memoryMiB: 1000 }, 0));
      const spot = new SpotMarket([{ id: 's1', capacity: { cpu: 100, memory: 100, network: 0 } }], ledger, { minRuntimeMs: 0, noticeMs: 1000 });
      spot.deposit('a', 100_000, 0);
      spot.deposit('b', 100_000, 0);
      let t = 0;
      let tax = 0;
      let bonded = 0;
      let fees = 0;
      let nb = 0;
      for (const o of ops) {
        t += 1000;
        switch (o.k) {
          case 'accrue':
            t += o.stepMs;
            book.accrue(ids[o.who]!, t, o.stepMs, o.demand);
            break;
          case 'bond': {
            const r = book.bond(ids[o.who]!, o.units, t);
            if (r.ok) {
              tax += r.taxMillicredits;
              bonded += r.bondedMillicredits;
            }
            break;
          }
          case 'stop':
            book.stop(ids[o.who]!, t);
            book.start(ids[o.who]!, t + 1);
            break;
          case 'mode':
            book.setMode(ids[o.who]!, o.unlimited ? 'unlimited' : 'standard', t);
            break;
          case 'negotiate':
            neg.round(t, o.needs.map((n, i) => ({ id: `n${i}`, sla: 'silver' as const, criticality: i, usageCpuMillicores: n, usageMemoryMiB: n / 2, needCpuMillicores: n, needMemoryMiB: n / 2 })));
            break;
          case 'bid': {
            const p = (m: number) => flatForecast(m, [0.5, 0.9], [m, m * 1.2]);
            const r = spot.round(t, { bids: [{ id: `b${nb++}`, tenant: o.tenant, priceMicrosPerHour: o.price, priority: 0, profile: { cpu: p(o.cpu), memory: p(5) }, request: { cpu: o.cpu, memory: 5, network: 0 }, memoryIntensity: 0, interruptible: o.intr, penalty: { feeMicros: o.fee, priorityReductionMilli: 100 } }] });
            for (const x of r.penalties) fees += x.feeMicros!;
            break;
          }
        }
        for (const a of ASSETS) assert.equal(ledger.total(a), 0, `${a} not conserved`);
        for (const a of ASSETS) for (const [acc, v] of ledger.accounts(a)) if (!defaultNegativeAllowed(acc)) assert.ok(v >= 0, `${acc} holds ${v} ${a}`);
        assert.equal(ledger.balance(SYSTEM.BONDING_TAX, 'credit'), tax);
        assert.equal(ledger.balance(SYSTEM.BONDED, 'credit'), bonded);
        for (const r of ['cpu', 'memory'] as const) {
          const allocated = ['n0', 'n1', 'n2'].reduce((s, id) => s + ledger.balance(account.alloc(id), r), 0);
          assert.ok(allocated <= 6000);
          assert.equal(allocated + ledger.balance(account.host('h'), r), 6000);
        }
        const received = ['a', 'b'].reduce((s, tn) => s + ledger.balance(account.tenant(tn), 'money'), 0);
        // tenants' money = deposits - what the market billed (fees move between tenants)
        assert.equal(received, 200_000 - ledger.balance(SYSTEM.MARKET_REVENUE, 'money'));
      }
      const paid = ledger.journal.filter((e) => e.kind === 'preemption-penalty').reduce((s, e) => s + e.moves.filter((m) => m.asset === 'money').reduce((x, m) => x + m.amount, 0), 0);
      assert.equal(paid, fees);
      const replay = Ledger.replay(ledger.journal);
      for (const a of ASSETS) for (const [acc, v] of ledger.accounts(a)) assert.equal(replay.balance(acc, a), v);
    }),
    { numRuns: 150 },
  );
});
