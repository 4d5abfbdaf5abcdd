// Placement at fleet scale: the free-capacity index visits exactly the hosts a scan would keep,
// and decisions with the index and the one-empty-host-per-capacity shortcut are the same plans
// (and the same simulation) as a full scan of every host.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { seededRng } from '../../../src/core/rng.js';
import { compileProfile, createRegistry, defaultProfile, PolicyRunner } from '../../../src/policy/index.js';
import { FreeCapacityIndex, ScoreBoundIndex } from '../../../src/policy/framework/host-index.js';
import { MostAllocated } from '../../../src/policy/plugins/most-allocated/most-allocated.js';
import type { HostState, InstanceState, Snapshot } from '../../../src/policy/framework/types.js';
import { simulateCohort } from '../../../src/sim/engine.js';
import { series } from '../../sim/helpers.js';

test('FreeCapacityIndex visits, in order, exactly the positions whose two keys reach the minimums', () => {
  const key = fc.oneof(fc.double({ min: -50, max: 50, noNaN: true }), fc.constantFrom(-Infinity, Infinity, NaN));
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 40 }),
      fc.array(fc.tuple(fc.nat(), key, key, fc.boolean()), { maxLength: 80 }),
      fc.array(fc.tuple(fc.double({ min: -60, max: 60, noNaN: true }), fc.double({ min: -60, max: 60, noNaN: true })), { minLength: 1, maxLength: 6 }),
      (n, updates, queries) => {
        const index = new FreeCapacityIndex(n);
        const cpu = new Array<number>(n).fill(-Infinity);
        const mem = new Array<number>(n).fill(-Infinity);
        for (const [p0, c, m, clear] of updates) {
          if (n === 0) break;
          const p = p0 % n;
          if (clear) {
            index.clear(p);
            cpu[p] = -Infinity;
            mem[p] = -Infinity;
          } else {
            index.set(p, c, m);
            cpu[p] = Number.isNaN(c) ? Infinity : c;
            mem[p] = Number.isNaN(m) ? Infinity : m;
          }
        }
        for (const [qc, qm] of queries) {
          const seen: number[] = [];
          index.forEachAtLeast(qc, qm, (p) => void seen.push(p));
          const expected = cpu.map((_, p) => p).filter((p) => cpu[p]! > -Infinity && cpu[p]! >= qc && mem[p]! >= qm);
          assert.deepEqual(seen, expected);
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('ScoreBoundIndex visits every candidate a bound cannot rule out, and only candidates', () => {
  const key = fc.oneof(fc.double({ min: -50, max: 50, noNaN: true }), fc.constantFrom(-Infinity, Infinity, NaN));
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 40 }),
      fc.array(fc.tuple(fc.nat(), key, key, fc.boolean()), { maxLength: 80 }),
      fc.tuple(fc.double({ min: -60, max: 60, noNaN: true }), fc.double({ min: -60, max: 60, noNaN: true })),
      fc.double({ min: -200, max: 200, noNaN: true }),
      (n, updates, [qc, qm], best) => {
        // slots in a shuffled order; lo keys = up keys - 1 (the index only needs lo <= up)
        const order = Array.from({ length: n }, (_, p) => p).sort((a, b) => ((a * 7919) % 13) - ((b * 7919) % 13) || a - b);
        const up: Array<[number, number]> = Array.from({ length: n }, () => [-Infinity, -Infinity]);
        const index = new ScoreBoundIndex(order, n, (p, out) => out.set([-Infinity, -Infinity, Infinity, Infinity]));
        for (const [p0, c, m, clear] of updates) {
          if (n === 0) break;
          const p = p0 % n;
          if (clear) {
            index.clear(p);
            up[p] = [-Infinity, -Infinity];
          } else {
            index.set(p, c, m, c - 1, m - 1);
            up[p] = [Number.isNaN(c) ? Infinity : c, Number.isNaN(m) ? Infinity : m];
          }
        }
        // a bound monotone in the free amounts: -(loCpu + loMemory), NaN-free
        const bound = (lc: number, lm: number): number => -(Number.isNaN(lc) ? -Infinity : lc) - (Number.isNaN(lm) ? -Infinity : lm);
        const seen: number[] = [];
        index.search(qc, qm, bound, () => best, (p) => void seen.push(p));
        const candidates = up.map((_, p) => p).filter((p) => up[p]![0] > -Infinity && up[p]![0] >= qc && up[p]![1] >= qm);
        for (const p of seen) assert.ok(candidates.includes(p), `visited ${p}, not a candidate`);
        for (const p of candidates) {
          const [c, m] = up[p]!;
          if (bound(c - 1, m - 1) >= best) assert.ok(seen.includes(p), `skipped ${p} whose bound ${bound(c - 1, m - 1)} reaches ${best}`);
        }
        assert.equal(new Set(seen).size, seen.length, 'each host at most once');
      },
    ),
    { numRuns: 300 },
  );
});

test('most-allocated: scoreBound is never below the score of a host with at least that much free', () => {
  const scorer = new MostAllocated();
  fc.assert(
    fc.property(
      fc.record({ cpu: fc.double({ min: 0.5, max: 1e6, noNaN: true }), memory: fc.oneof(fc.double({ min: 1, max: 1e7, noNaN: true }), fc.constant(Infinity)) }),
      fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })),
      fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })),
      fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.constant(NaN))),
      (capacity, [uc, um], [sc, sm], [ac, am]) => {
        // the host's sums: used share (uc, um) of a finite capacity; minFree: a share (sc, sm) of its free
        const capM = Number.isFinite(capacity.memory) ? capacity.memory : 1e6;
        const sums = { cpu: capacity.cpu * uc, memory: capM * um };
        const alloc = { cpu: capacity.cpu * ac, memory: capM * am };
        const free = { cpu: capacity.cpu - sums.cpu, memory: capacity.memory - sums.memory };
        const minFree = { cpu: free.cpu * sc, memory: Number.isFinite(free.memory) ? free.memory * sm : 1e9 };
        const host: HostState = { id: 'h', capacity, on: true };
        const fleet = { allocationOf: () => alloc, allocatedOn: () => sums } as unknown as Parameters<MostAllocated['score']>[2];
        const inst = { id: 'i' } as InstanceState;
        const score = scorer.score(inst, host, fleet);
        assert.ok(scorer.scoreBound(inst, capacity, minFree, fleet) >= score);
        assert.ok(scorer.scoreBound(inst, capacity, { cpu: -Infinity, memory: -Infinity }, fleet) >= score);
      },
    ),
    { numRuns: 500 },
  );
});

/** A random fleet: hosts of a few capacities, some on; instances placed on on-hosts or pending. */
const fleetSnapshot = fc
  .record({
    hosts: fc.array(fc.record({ kind: fc.integer({ min: 0, max: 2 }), on: fc.boolean() }), { minLength: 1, maxLength: 30 }),
    instances: fc.array(fc.record({ cpu: fc.double({ min: 0.05, max: 6, noNaN: true }), mem: fc.double({ min: 50, max: 9000, noNaN: true }), host: fc.nat(), placed: fc.boolean() }), {
      maxLength: 60,
    }),
  })
  .map(({ hosts, instances }): Snapshot => {
    const caps = [
      { cpu: 8, memory: 16384 },
      { cpu: 16, memory: 32768 },
      { cpu: 8, memory: 8192 },
    ];
    const hs: HostState[] = hosts.map((h, k) => ({ id: `h${String(k).padStart(2, '0')}`, capacity: caps[h.kind]!, on: h.on }));
    const onHosts = hs.filter((h) => h.on);
    const is: InstanceState[] = instances.map((x, k) => {
      const host = x.placed && onHosts.length > 0 ? onHosts[x.host % onHosts.length]!.id : null;
      return {
        id: `i${k}`,
        hostId: host,
        units: { cpu: 'cores', memory: 'MiB' },
        capacity: { cpu: x.cpu, memory: x.mem },
        allocation: { cpu: x.cpu, memory: x.mem },
        lastUsage: { cpu: x.cpu / 2, memory: x.mem / 2 },
        samples: 10,
      };
    });
    return { nowS: 3000, stepSeconds: 300, instances: is, hosts: hs };
  });

function runner(overcommit: 'none' | 'nsigma', maxRejections: number): PolicyRunner {
  const r = new PolicyRunner(compileProfile(defaultProfile({ policy: 'static', scenario: 'fleet', overcommit }), createRegistry(), { stepSeconds: 300 }));
  r.maxRejections = maxRejections;
  return r;
}

test('decide: the index and the empty-host shortcut give the plan a full scan gives', () => {
  fc.assert(
    fc.property(fleetSnapshot, fc.constantFrom('none' as const, 'nsigma' as const), (snap, overcommit) => {
      // maxRejections 0: shortcuts from the first placement; Infinity: every host scanned, always
      const fast = runner(overcommit, 0).decide(snap, new Map(), snap.nowS, seededRng(1));
      const full = runner(overcommit, Infinity).decide(snap, new Map(), snap.nowS, seededRng(1));
      assert.deepEqual(fast, full);
    }),
    { numRuns: 300 },
  );
});

test('simulation: a fleet run with the placement shortcuts equals one without', () => {
  const r = seededRng(3);
  const input = Array.from({ length: 40 }, (_, j) => {
    const base = 0.2 + 3 * r.next();
    const mem = 200 + 4000 * r.next();
    return series(
      `vm${String(j).padStart(2, '0')}`,
      Array.from({ length: 200 }, (_, i) => Math.max(0, base * (1 + 0.5 * Math.sin((i + j) / 15)) + 0.3 * r.normal())),
      Array.from({ length: 200 }, (_, i) => mem * (1 + 0.2 * Math.sin(i / 40))),
      { capacity: { cpu: 4, memory: 8192 } },
    );
  });
  const hosts = Array.from({ length: 16 }, (_, h) => ({ id: `host-${String(h).padStart(2, '0')}`, capacity: { cpu: 16, memory: 32768 } }));
  const out = [0, Infinity].map((maxRejections) => {
    const runnerX = new PolicyRunner(compileProfile(defaultProfile({ policy: 'vpa', scenario: 'fleet' }), createRegistry(), { stepSeconds: 300 }));
    runnerX.maxRejections = maxRejections;
    const rows: string[] = [];
    const res = simulateCohort(input, { runner: runnerX, rng: seededRng(1), stepSeconds: 300, hosts, onAllocation: (i, k, c, m) => void rows.push(`${i},${k},${c},${m}`) });
    return { rows, fleet: res.fleet!.toJSON(), hostsOn: res.fleet!.hostsOn };
  });
  assert.ok(out[0]!.fleet.migrations > 0, 'the run migrates (placement is exercised)');
  assert.deepEqual(out[0], out[1]);
});
