// Placement at fleet scale: the free-capacity index visits exactly the hosts a scan would keep,
// and decisions with the index and the one-empty-host-per-capacity shortcut are the same plans
// (and the same simulation) as a full scan of every host.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { seededRng } from '../../../src/core/rng.js';
import { compileProfile, createRegistry, defaultProfile, PolicyRunner } from '../../../src/policy/index.js';
import { FreeCapacityIndex } from '../../../src/policy/framework/host-index.js';
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
