// The fast round (HostNegotiator) against the straightforward one (ReferenceNegotiator, one ledger
// transaction per transfer): same transfers (kind, resource, loan id, lender, borrower, amount,
// reasons), same stats and unmet requests, same allocations, loans and exported state, on random
// rounds with members joining and leaving, and on the bench's seeded 1,000-instance scenario.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { seededRng } from '../../../src/core/rng.js';
import { ASSETS, Ledger } from '../../../src/policy/markets/ledger.js';
import { HostNegotiator, SLA_CLASSES, waterFill, type AgentStatement, type NegotiationOptions, type RoundResult, type SlaClass } from '../../../src/policy/markets/negotiation.js';
import { ReferenceNegotiator, referenceWaterFill } from '../../../src/policy/markets/negotiation-reference.js';

/** A round's decisions as plain data (reasons included). */
function decisions(r: RoundResult) {
  return {
    transfers: r.transfers.map((t) => [t.kind, t.resource, t.loanId, t.lender, t.borrower, t.amount, [...t.reasons]]),
    stats: r.stats,
    unmet: r.unmet.map((u) => [u.id, u.resource, u.missingUnits, [...u.reasons]]),
  };
}

function sameState(fast: HostNegotiator, ref: ReferenceNegotiator, ids: readonly string[], where: string): void {
  for (const id of ids) assert.deepEqual(fast.allocation(id), ref.allocation(id), `${where}: allocation of ${id}`);
  assert.deepEqual(fast.loans(), ref.loans(), `${where}: loans`);
  assert.deepEqual(fast.exportState(), ref.exportState(), `${where}: exported state`);
  assert.deepEqual(fast.memberIds(), ref.memberIds(), `${where}: members`);
  assert.deepEqual(fast.unallocated(), ref.unallocated(), `${where}: unallocated`);
  for (const a of ASSETS) assert.deepEqual(fast.ledger.accounts(a), ref.ledger.accounts(a), `${where}: ${a} balances`);
}

const statement = fc.record({
  cpu: fc.oneof(fc.integer({ min: 0, max: 4000 }), fc.double({ min: 0, max: 4000, noNaN: true })),
  mem: fc.oneof(fc.integer({ min: 0, max: 4000 }), fc.double({ min: 0, max: 4000, noNaN: true })),
  usageShare: fc.constantFrom(0, 0.5, 1, 1.2),
  sla: fc.constantFrom<SlaClass>('gold', 'silver', 'bronze', 'best-effort'),
  crit: fc.constantFrom(0, 1, 2, 0.5),
  present: fc.integer({ min: 0, max: 9 }),
});
const step = fc.record({
  statements: fc.array(statement, { minLength: 8, maxLength: 8 }),
  leave: fc.option(fc.integer({ min: 0, max: 7 }), { freq: 4 }),
});
const options = fc.record(
  {
    cpuUnitMillicores: fc.constantFrom(100, 250),
    memoryUnitMiB: fc.constantFrom(100, 64),
    ageing: fc.constantFrom(0, 0.5, 2),
    lendMarginUnits: fc.constantFrom(0, 1),
    releaseSlackUnits: fc.constantFrom(0, 1, 3),
    maxAgeRounds: fc.constantFrom(0, 3, 1000),
  },
  { requiredKeys: [] },
);

test('property: the fast round decides exactly as the reference round (transfers, reasons, stats, unmet, allocations, loans)', () => {
  const seen = { loan: 0, recall: 0, release: 0, unmet: 0, fair: 0, ageing: 0 };
  fc.assert(
    fc.property(options, fc.array(step, { minLength: 1, maxLength: 30 }), fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 8, maxLength: 8 }), (opts: NegotiationOptions, steps, ents) => {
      const cap = { cpuMillicores: 16_000, memoryMiB: 16_000 };
      const fast = new HostNegotiator('h', cap, new Ledger(), opts);
      const ref = new ReferenceNegotiator('h', cap, new Ledger(), opts);
      const ids = ents.map((_, i) => `i${i}`);
      const joinAll = (nowMs: number) => {
        for (let i = 0; i < ids.length; i++) {
          if (fast.isMember(ids[i]!)) continue;
          const e = { cpuMillicores: ents[i]!, memoryMiB: 2 * ents[i]! };
          const a = fast.join(ids[i]!, e, nowMs);
          const b = ref.join(ids[i]!, e, nowMs);
          assert.equal(a.ok, b.ok);
        }
      };
      joinAll(0);
      steps.forEach((s, k) => {
        const nowMs = (k + 1) * 100;
        // a statement per member, most of the time (missing ones keep their loans and weight)
        const list: AgentStatement[] = [];
        s.statements.forEach((x, i) => {
          if (!fast.isMember(ids[i]!) || x.present === 0) return;
          list.push({ id: ids[i]!, sla: x.sla, criticality: x.crit, usageCpuMillicores: x.cpu * x.usageShare, usageMemoryMiB: x.mem * x.usageShare, needCpuMillicores: x.cpu, needMemoryMiB: x.mem });
        });
        const a = fast.round(nowMs, list);
        const b = ref.round(nowMs, list);
        assert.deepEqual(decisions(a), decisions(b), `round ${k}`);
        for (const t of a.transfers) {
          seen[t.kind]++;
          if (t.reasons.includes('max-min-fair-share')) seen.fair++;
          if (t.reasons.includes('ageing')) seen.ageing++;
        }
        seen.unmet += a.unmet.length;
        sameState(fast, ref, ids.filter((id) => fast.isMember(id)), `after round ${k}`);
        if (s.leave !== null && fast.isMember(ids[s.leave]!)) {
          const la = fast.leave(ids[s.leave]!, nowMs + 1);
          const lb = ref.leave(ids[s.leave]!, nowMs + 1);
          assert.deepEqual(la, lb, `leave after round ${k}`);
          if (k % 3 === 0) joinAll(nowMs + 2);
        }
        // the state survives a restart: a fresh negotiator restored from the export decides the same
        if (k === Math.floor(steps.length / 2)) {
          const st = fast.exportState();
          const fresh = new HostNegotiator('h', cap, new Ledger(), opts, nowMs);
          const fresh2 = new ReferenceNegotiator('h', cap, new Ledger(), opts, nowMs);
          for (const id of fast.memberIds()) {
            fresh.join(id, fast.entitlement(id), nowMs);
            fresh2.join(id, ref.entitlement(id), nowMs);
          }
          assert.deepEqual(fresh.restoreState(st, nowMs), fresh2.restoreState(st, nowMs));
          sameState(fresh, fresh2, fast.memberIds(), 'restored');
          const still = list.filter((x) => fresh.isMember(x.id));
          assert.deepEqual(decisions(fresh.round(nowMs + 50, still)), decisions(fresh2.round(nowMs + 50, still)), 'restored round');
        }
      });
    }),
    { numRuns: 150 },
  );
  // the random rounds exercise every path: loans (fair shares, ageing), recalls, releases, unmet requests
  for (const [k, v] of Object.entries(seen)) assert.ok(v > 20, `${k}: ${v} (${JSON.stringify(seen)})`);
});

test('property: water-filling gives exactly the reference grants', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ req: fc.integer({ min: 0, max: 60 }), w: fc.oneof(fc.constantFrom(1, 2, 4, 8, 3.5, 12, 1.5), fc.double({ min: 0.25, max: 600, noNaN: true })) }), { minLength: 1, maxLength: 200 }),
      fc.integer({ min: 0, max: 3000 }),
      (rs, pool) => {
        const req = Int32Array.from(rs.map((r) => r.req));
        const w = Float64Array.from(rs.map((r) => r.w));
        const a = new Int32Array(rs.length);
        const b = new Int32Array(rs.length);
        waterFill(req, w, pool, a);
        referenceWaterFill(req, w, pool, b);
        assert.deepEqual([...a], [...b]);
      },
    ),
    { numRuns: 500 },
  );
});

test("the bench's contested and slack scenarios (1,000 instances, seeded): the same decisions, round after round", () => {
  for (const kind of ['contested', 'slack'] as const) {
    const N = 1000;
    const rounds = 40;
    const rng = seededRng(42);
    const level = Array.from({ length: N }, () => rng.next());
    const over = kind === 'contested' ? 2.2 : 1;
    const cap = { cpuMillicores: 2000 * N, memoryMiB: 4096 * N };
    const fast = new HostNegotiator('bench-host', cap, new Ledger({ keepJournal: false }));
    const ref = new ReferenceNegotiator('bench-host', cap, new Ledger({ keepJournal: false }));
    const ids = Array.from({ length: N }, (_, i) => `vm-${i}`);
    for (const id of ids) {
      fast.join(id, { cpuMillicores: 2000, memoryMiB: 4096 }, 0);
      ref.join(id, { cpuMillicores: 2000, memoryMiB: 4096 }, 0);
    }
    const st: AgentStatement[] = ids.map((id, i) => ({ id, sla: SLA_CLASSES[i % 4]!, criticality: i % 3, usageCpuMillicores: 0, usageMemoryMiB: 0, needCpuMillicores: 0, needMemoryMiB: 0 }));
    let transfers = 0;
    for (let k = 0; k < rounds; k++) {
      for (let i = 0; i < N; i++) {
        const s = st[i]!;
        s.usageCpuMillicores = Math.max(0, 2000 * over * (level[i]! + 0.3 * rng.normal()));
        s.usageMemoryMiB = Math.max(0, 4096 * over * (level[i]! + 0.2 * rng.normal()));
        s.needCpuMillicores = s.usageCpuMillicores * 1.1;
        s.needMemoryMiB = s.usageMemoryMiB * 1.05;
      }
      const a = fast.round(k * 100, st);
      const b = ref.round(k * 100, st);
      assert.deepEqual(decisions(a), decisions(b), `${kind} round ${k}`);
      transfers += a.transfers.length;
    }
    sameState(fast, ref, ids, kind);
    assert.ok(transfers > rounds * (kind === 'contested' ? 2000 : 300), `${kind}: ${transfers} transfers (the scenario must exercise loans, recalls and releases)`);
  }
});
