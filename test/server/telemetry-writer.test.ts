// Group commit of telemetry, and the fleet driver's agreement with the simulator's driver.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Action } from '../../src/core/plan.js';
import { StoreError, type Store } from '../../src/core/store.js';
import type { TelemetryBatch } from '../../src/core/telemetry.js';
import type { HostState, InstanceState } from '../../src/policy/framework/types.js';
import { FleetDriver } from '../../src/server/sim-fleet.js';
import { TelemetryWriter } from '../../src/server/telemetry-writer.js';
import { SimDriver } from '../../src/sim/sim-driver.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';

const batch = (agentId: string, sequence: number, t = sequence): TelemetryBatch => ({
  agentId,
  sequence,
  sentAtMs: 1,
  profiles: [{ instanceId: 'i-1', intervalMs: 1000, samples: [{ timestampMs: 1_000 + t, values: { cpuMillicores: 5 } }] }],
});

test('batches posted together share one transaction; each gets its own result; duplicates are detected', async () => {
  const store = openSqliteStore(':memory:');
  try {
    const w = new TelemetryWriter(store);
    const results = await Promise.all([w.append(batch('a', 1), 10), w.append(batch('b', 1, 10), 10), w.append(batch('a', 2), 10), w.append(batch('a', 1), 10)]);
    assert.deepEqual(
      results.map((r) => [r.duplicate, r.samplesStored]),
      [
        [false, 1],
        [false, 1],
        [false, 1],
        [true, 0],
      ],
    );
    assert.equal(w.stats.transactions, 1, 'one commit for four batches');
    const page = await store.readTelemetrySince(0, 100);
    assert.equal(page.samples.length, 3);
  } finally {
    await store.close();
  }
});

test('a batch the store refuses fails alone; the others of its group are written', async () => {
  const store = openSqliteStore(':memory:');
  try {
    // A store whose appendTelemetry refuses agent "bad" (inside or outside a transaction).
    const refusing = (s: Store): Store =>
      new Proxy(s, {
        get(target, prop, recv) {
          if (prop === 'appendTelemetry') {
            return async (b: TelemetryBatch, at: number) => {
              if (b.agentId === 'bad') throw new StoreError('invalid', 'refused');
              return target.appendTelemetry(b, at);
            };
          }
          if (prop === 'transaction') return (fn: (tx: Store) => unknown) => target.transaction((tx) => fn(refusing(tx)) as never);
          const v = Reflect.get(target, prop, recv);
          return typeof v === 'function' ? v.bind(target) : v;
        },
      });
    const w = new TelemetryWriter(refusing(store));
    const settled = await Promise.allSettled([w.append(batch('ok', 1), 1), w.append(batch('bad', 1, 2), 1), w.append(batch('ok', 2, 3), 1)]);
    assert.deepEqual(
      settled.map((s) => s.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    assert.equal((await store.readTelemetrySince(0, 100)).samples.length, 2);
  } finally {
    await store.close();
  }
});

test('FleetDriver accepts and refuses exactly what SimDriver does, and undo restores the same state', () => {
  const action = fc.oneof(
    fc.record({ kind: fc.constant('resize' as const), instance: fc.constantFrom('a', 'b', 'c', 'zz'), cpu: fc.oneof(fc.integer({ min: -1, max: 12 }), fc.constant(NaN)), memory: fc.integer({ min: 0, max: 12 }), reasons: fc.constant(['t']) }),
    fc.record({ kind: fc.constant('migrate' as const), instance: fc.constantFrom('a', 'b', 'c'), from: fc.constantFrom('', 'h1', 'h2', 'h3'), to: fc.constantFrom('h1', 'h2', 'h3', 'hx'), reasons: fc.constant(['t']) }),
    fc.record({ kind: fc.constant('power' as const), host: fc.constantFrom('h1', 'h2', 'h3'), on: fc.boolean(), reasons: fc.constant(['t']) }),
  );
  fc.assert(
    fc.property(fc.array(action, { maxLength: 25 }), fc.boolean(), (actions, overcommit) => {
      const world = () => {
        const instances = new Map<string, InstanceState>();
        for (const [id, host, cpu] of [['a', 'h1', 4], ['b', 'h1', 3], ['c', null, 2]] as const) {
          instances.set(id, { id, hostId: host, units: { cpu: 'millicores', memory: 'MiB' }, capacity: { cpu: 8, memory: 8 }, allocation: { cpu, memory: 2 }, lastUsage: { cpu: NaN, memory: NaN }, samples: 0 });
        }
        const hosts = new Map<string, HostState>([
          ['h1', { id: 'h1', capacity: { cpu: 10, memory: 10 }, on: true }],
          ['h2', { id: 'h2', capacity: { cpu: 6, memory: 6 }, on: false }],
          ['h3', { id: 'h3', capacity: { cpu: 10, memory: 4 }, on: true }],
        ]);
        return { instances, hosts };
      };
      const A = world();
      const B = world();
      const sim = new SimDriver(A.instances, A.hosts, overcommit);
      const fleet = new FleetDriver(B.instances, B.hosts, overcommit);
      const undosA: Array<() => void> = [];
      const undosB: Array<() => void> = [];
      const state = (w: ReturnType<typeof world>) => JSON.stringify([[...w.instances.values()].map((i) => [i.hostId, i.allocation]), [...w.hosts.values()].map((h) => h.on)]);
      for (const a of actions as Action[]) {
        let okA = true;
        let okB = true;
        try {
          undosA.push(sim.apply(a));
        } catch {
          okA = false;
        }
        try {
          undosB.push(fleet.apply(a));
        } catch {
          okB = false;
        }
        assert.equal(okB, okA, `same verdict for ${JSON.stringify(a)}`);
        assert.equal(state(B), state(A));
      }
      for (let k = undosA.length - 1; k >= 0; k--) {
        undosA[k]!();
        undosB[k]!();
        undosB[k]!(); // idempotent
        assert.equal(state(B), state(A));
      }
      assert.equal(state(B), state(world()));
    }),
    { numRuns: 300, seed: 99 },
  );
});
