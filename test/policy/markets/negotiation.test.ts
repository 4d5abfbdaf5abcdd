import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ValidationError } from '../../../src/core/errors.js';
import { account, Ledger } from '../../../src/policy/markets/ledger.js';
import { compileNegotiationOptions, HostNegotiator, jainIndex, waterFill, type AgentStatement, type SlaClass } from '../../../src/policy/markets/negotiation.js';

function st(id: string, needCpu: number, o: Partial<AgentStatement> = {}): AgentStatement {
  return { id, sla: 'silver', criticality: 0, usageCpuMillicores: needCpu, usageMemoryMiB: 0, needCpuMillicores: needCpu, needMemoryMiB: 0, ...o };
}

function host(members: Array<[string, number]>, cap = 10_000): HostNegotiator {
  const h = new HostNegotiator('h1', { cpuMillicores: cap, memoryMiB: 10_000 }, new Ledger());
  for (const [id, cpu] of members) assert.ok(h.join(id, { cpuMillicores: cpu, memoryMiB: 1000 }, 0).ok);
  return h;
}

test("a lender with slack lends whole 0.1-vCPU units to a neighbour in need; a round's loans are one atomic ledger entry", () => {
  const h = host([['a', 2000], ['b', 1000]]);
  const r = h.round(100, [st('a', 500), st('b', 1950)]);
  assert.deepEqual(r.transfers.map((t) => [t.kind, t.lender, t.borrower, t.amount]), [['loan', 'a', 'b', 1000]]);
  assert.deepEqual(h.allocation('a'), { cpuMillicores: 1000, memoryMiB: 1000 });
  assert.deepEqual(h.allocation('b'), { cpuMillicores: 2000, memoryMiB: 1000 });
  const e = h.ledger.journal.at(-1)!;
  assert.equal(e.kind, 'loan');
  assert.equal(e.ref, 'h1');
  assert.deepEqual(e.moves, [{ asset: 'cpu', from: account.alloc('a'), to: account.alloc('b'), amount: 1000 }]);
  assert.equal(r.stats.cpu.offeredUnits, 15);
  assert.equal(r.stats.cpu.requestedUnits, 10);
});

test('a loan reverts when the lender needs it back, and a borrower returns what it no longer needs', () => {
  const h = host([['a', 2000], ['b', 1000]]);
  h.round(100, [st('a', 500), st('b', 2000)]);
  const r = h.round(200, [st('a', 1750), st('b', 2000)]);
  assert.deepEqual(r.transfers.map((t) => [t.kind, t.amount]), [['recall', 800]]);
  assert.ok(r.transfers[0]!.reasons.includes('recalled-by-lender'));
  assert.equal(h.allocation('a').cpuMillicores, 1800);
  assert.equal(h.allocation('b').cpuMillicores, 1200);
  assert.equal(r.stats.cpu.unmet, 1, 'b still wants 800 more and nobody can lend');
  const r2 = h.round(300, [st('a', 1750), st('b', 900)]);
  assert.deepEqual(r2.transfers.map((t) => [t.kind, t.amount]), [['release', 200]]);
  assert.equal(h.loans().length, 0);
  assert.equal(h.allocation('b').cpuMillicores, 1000);
});

test('a short pool is split by weighted max-min fairness: SLA class and criticality weigh, small requests are met in full', () => {
  const h = host([['lender', 3000], ['gold', 500], ['bronze', 500], ['small', 500]]);
  // pool: lender offers 20 units; requests: gold 15, bronze 15, small 2 (weights 8, 2, 4)
  const r = h.round(100, [st('lender', 1000), st('gold', 2000, { sla: 'gold' }), st('bronze', 2000, { sla: 'bronze' }), st('small', 700)]);
  const got = (id: string) => h.allocation(id).cpuMillicores - 500;
  assert.equal(got('small'), 200);
  // the other 18 units split 4:1 by weight (14.4 : 3.6 in whole units)
  assert.deepEqual([got('gold'), got('bronze')], [1400, 400]);
  assert.equal(r.unmet.length, 2);
  const crit = host([['lender', 2000], ['x', 0], ['y', 0]]);
  crit.round(0, [st('lender', 1000), st('x', 1000, { criticality: 1 }), st('y', 1000)]);
  assert.deepEqual([crit.allocation('x').cpuMillicores, crit.allocation('y').cpuMillicores], [700, 300]);
});

test('ageing: even a one-unit pool reaches a best-effort instance while a gold one keeps asking', () => {
  // the lender frees one more unit every round; gold (weight 8) and best-effort (1) both want plenty
  const h = host([['lender', 5000], ['gold', 0], ['be', 0]]);
  let beGot = 0;
  let won: string[] = [];
  for (let k = 1; k <= 40 && beGot === 0; k++) {
    const r = h.round(k * 100, [st('lender', 5000 - 100 * k), st('gold', 5000, { sla: 'gold' }), st('be', 5000, { sla: 'best-effort' })]);
    if (h.allocation('be').cpuMillicores > 0) {
      beGot = k;
      won = r.transfers.find((t) => t.borrower === 'be')!.reasons;
    }
  }
  // best-effort's weight 1 + 0.5 x (rounds starved) passes gold's 8 after 15 starved rounds
  assert.equal(beGot, 16);
  assert.ok(won.includes('ageing') && won.includes('starvedRounds=15'), won.join(' '));
  // the round's loan is in the ledger: one 'loan' entry for the host
  const last = h.ledger.journal.at(-1)!;
  assert.deepEqual([last.kind, last.ref, last.moves.map((m) => [m.from, m.to, m.amount])], ['loan', 'h1', [[account.alloc('lender'), account.alloc('be'), 100]]]);
});

test('bad options and statements are reported with their paths', () => {
  assert.throws(() => compileNegotiationOptions({ cpuUnitMillicores: 0, slaWeights: { gold: -1 } }), (e: unknown) => e instanceof ValidationError && e.issues.map((i) => i.path).join() === 'negotiation.cpuUnitMillicores,negotiation.slaWeights.gold');
  const h = host([['a', 100]]);
  assert.throws(() => h.round(0, [st('zz', 1)]), /"zz" is not on host h1/);
  assert.throws(() => h.round(0, [st('a', 1, { sla: 'platinum' as SlaClass })]), /unknown SLA class "platinum"/);
  assert.throws(() => h.round(0, [st('a', 1), st('a', 2)]), /two statements for "a" in one round/);
});

test('leaving reverts every loan and returns the entitlement to the host', () => {
  const h = host([['a', 2000], ['b', 1000]], 3000);
  h.round(0, [st('a', 0), st('b', 3000)]);
  assert.equal(h.unallocated().cpuMillicores, 0);
  assert.equal(h.join('c', { cpuMillicores: 100, memoryMiB: 0 }, 1).ok, false, 'no capacity left: refused as a value');
  const t = h.leave('a', 2);
  assert.deepEqual(t.map((x) => [x.kind, x.amount]), [['recall', 2000]]);
  assert.equal(h.unallocated().cpuMillicores, 2000);
  assert.equal(h.allocation('b').cpuMillicores, 1000);
});

test("Jain's index: 1 for equal shares, 1/n when one instance gets everything", () => {
  assert.equal(jainIndex([0.5, 0.5, 0.5]), 1);
  assert.equal(jainIndex([1, 0, 0, 0]), 0.25);
  assert.ok(Math.abs(jainIndex([1, 0.5]) - 0.9) < 1e-12);
});

test('property: water-filling grants min(pool, requests) in total, never above a request, and is max-min fair up to one unit', () => {
  fc.assert(
    fc.property(fc.array(fc.record({ req: fc.integer({ min: 0, max: 50 }), w: fc.constantFrom(1, 2, 4, 8, 3.5) }), { minLength: 1, maxLength: 30 }), fc.integer({ min: 0, max: 400 }), (rs, pool) => {
      const req = rs.map((r) => r.req);
      const w = rs.map((r) => r.w);
      const g = new Array<number>(rs.length).fill(0);
      waterFill(req, w, pool, g);
      const total = req.reduce((a, b) => a + b, 0);
      assert.equal(g.reduce((a, b) => a + b, 0), Math.min(pool, total));
      for (let i = 0; i < rs.length; i++) {
        assert.ok(g[i]! >= 0 && g[i]! <= req[i]!);
        if (g[i]! < req[i]!) for (let j = 0; j < rs.length; j++) assert.ok((g[j]! - 1) / w[j]! <= g[i]! / w[i]! + 1e-9, `i=${i} j=${j} ${JSON.stringify({ g, req, w, pool })}`);
      }
    }),
    { numRuns: 300 },
  );
});

test('property: over random rounds allocations always sum to the entitlements, never exceed capacity, never go negative, and match own - lent + borrowed', () => {
  const statement = fc.record({ cpu: fc.integer({ min: 0, max: 4000 }), mem: fc.integer({ min: 0, max: 4000 }), sla: fc.constantFrom<SlaClass>('gold', 'silver', 'bronze', 'best-effort'), crit: fc.integer({ min: 0, max: 3 }) });
  fc.assert(
    fc.property(fc.array(fc.array(statement, { minLength: 5, maxLength: 5 }), { minLength: 1, maxLength: 25 }), (rounds) => {
      const ledger = new Ledger();
      const h = new HostNegotiator('h', { cpuMillicores: 8000, memoryMiB: 8000 }, ledger);
      const ids = ['a', 'b', 'c', 'd', 'e'];
      for (const id of ids) h.join(id, { cpuMillicores: 1500, memoryMiB: 1500 }, 0);
      rounds.forEach((ss, k) => {
        const r = h.round(k * 100, ss.map((s, i) => ({ id: ids[i]!, sla: s.sla, criticality: s.crit, usageCpuMillicores: s.cpu / 2, usageMemoryMiB: s.mem / 2, needCpuMillicores: s.cpu, needMemoryMiB: s.mem })));
        for (const res of ['cpu', 'memory'] as const) {
          let sum = 0;
          for (const id of ids) {
            const a = ledger.balance(account.alloc(id), res);
            assert.ok(a >= 0);
            sum += a;
            const lent = h.loans().filter((l) => l.resource === res && l.lender === id).reduce((s, l) => s + l.amount, 0);
            const borrowed = h.loans().filter((l) => l.resource === res && l.borrower === id).reduce((s, l) => s + l.amount, 0);
            assert.equal(a, 1500 - lent + borrowed);
            assert.ok(lent === 0 || borrowed === 0, 'nobody lends and borrows the same resource at once');
          }
          assert.equal(sum, 7500);
          assert.equal(sum + ledger.balance(account.host('h'), res), 8000);
          assert.ok(r.stats[res].grantedUnits <= r.stats[res].offeredUnits);
          assert.equal(ledger.total(res), 0);
        }
      });
    }),
    { numRuns: 100 },
  );
});
