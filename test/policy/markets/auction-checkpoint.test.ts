// SpotMarket.checkpointRunning: the running instances of a moment, taken without an object per
// instance, give back exactly what exportRunning returned then (the live auction's undo point).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SpotMarket, type Bid } from '../../../src/policy/markets/auction.js';
import { flatForecast } from '../../../src/policy/markets/dist.js';
import { Ledger } from '../../../src/policy/markets/ledger.js';

const prof = (m: number) => flatForecast(m, [0.5, 0.9], [m, m * 1.2]);
const bid = (id: string, cpu: number, price: number, interruptible: boolean): Bid => ({
  id,
  tenant: `t${id.length % 3}`,
  priceMicrosPerHour: price,
  priority: 1,
  profile: { cpu: prof(cpu), memory: prof(100) },
  request: { cpu: cpu * 1.5, memory: 150, network: 0 },
  memoryIntensity: 0,
  interruptible,
  ...(interruptible ? {} : { penalty: { feeMicros: 1000, priorityReductionMilli: 0 } }),
});

test('checkpointRunning().exportRunning() is exportRunning() of that moment, whatever happens after', () => {
  fc.assert(
    fc.property(fc.array(fc.record({ cpu: fc.integer({ min: 5, max: 60 }), price: fc.integer({ min: 0, max: 900_000 }), interruptible: fc.boolean() }), { minLength: 1, maxLength: 25 }), fc.integer({ min: 1, max: 6 }), (bids, rounds) => {
      const m = new SpotMarket([{ id: 'h1', capacity: { cpu: 100, memory: 1000, network: 0 } }, { id: 'h2', capacity: { cpu: 80, memory: 1000, network: 0 } }], new Ledger(), { minRuntimeMs: 0, noticeMs: 300_000 });
      for (const t of ['t0', 't1', 't2']) m.deposit(t, 1e9, 0);
      const all = bids.map((b, k) => bid(`b${k}`, b.cpu, b.price, b.interruptible));
      for (let r = 0; r < rounds; r++) {
        m.round(r * 300_000, { bids: all.filter((_, k) => k % rounds === r) });
        const want = m.exportRunning();
        const cp = m.checkpointRunning();
        assert.equal(cp.size, want.length);
        m.round(r * 300_000 + 150_000); // billing, notices, stops: the market moves on
        assert.deepEqual(cp.exportRunning(), want);
        assert.deepEqual([...cp.tenants()], want.map((x) => [x.bid.id, x.bid.tenant]));
      }
    }),
    { numRuns: 60 },
  );
});
