// ONE conformance suite for every Store backend (the hono `common.case.test.ts` habit): a backend's
// test file calls `runStoreConformance('sqlite', () => openItFresh(), { fc })` and gets the same
// tests as every other backend: CRUD, tenant isolation, telemetry dedupe, roll-up correctness,
// the six-asset ledger (conservation per asset, refusals that change nothing, account visibility),
// market state, transaction rollback, and an append-only gap-free audit log.
//
// fast-check is a dev dependency, and code under src/ may import only runtime dependencies, so
// the caller passes the fast-check module in (`import fc from 'fast-check'`).
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type fcModule from 'fast-check';
import { vec, type ResourceVector } from '../core/resources.js';
import {
  ALL_TENANTS,
  GLOBAL_POLICY,
  isStoreError,
  LEDGER_ASSETS,
  tenantScope,
  type AuditInput,
  type ForecastData,
  type InstanceInput,
  type Store,
  type StoreErrorReason,
} from '../core/store.js';
import type { TelemetryBatch, TelemetrySample } from '../core/telemetry.js';
import type { ProbForecast } from '../forecast/types.js';
import { hashToken } from './token-hash.js';

type FC = typeof fcModule;

export interface ConformanceOptions {
  /** The fast-check module. */
  fc: FC;
  /** Runs per property (default 40). */
  numRuns?: number;
}

// A ProbForecast must be storable as is.
const probForecastIsStorable = (p: ProbForecast): ForecastData => p;
void probForecastIsStorable;

const A = tenantScope('tenant-a');
const B = tenantScope('tenant-b');
const V = (cpuMillicores: number, memoryMiB: number): ResourceVector => vec({ cpuMillicores, memoryMiB });

function instance(id: string, tenant: string, hostId: string | null, cpu = 1000): InstanceInput {
  return { id, tenant, hostId, priority: 'normal', request: V(cpu, 1024), allocation: V(cpu, 1024), state: hostId ? 'running' : 'pending' };
}

async function rejects(p: Promise<unknown>, reason: StoreErrorReason, message?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isStoreError(e), `expected a StoreError, got ${String(e)}`);
    assert.equal(e.reason, reason, `expected reason ${reason}, got ${e.reason}: ${e.message}`);
    if (message) assert.match(e.message, message);
    return true;
  });
}

function batch(agentId: string, sequence: number, instanceId: string, samples: TelemetrySample[], intervalMs = 1000): TelemetryBatch {
  return { agentId, sequence, sentAtMs: 0, profiles: [{ instanceId, intervalMs, samples }] };
}

function forecast(h: number, base: number): ForecastData {
  const mean = new Float64Array(h).map((_, i) => base + i / 3);
  return {
    mean,
    quantiles: [mean.map((x) => x - 1), mean.map((x) => x + Math.PI)],
    levels: [0.1, 0.9],
    confidence: 0.75,
    model: 'ensemble(ses,holt)',
    anomaly: { z: 1.25, flagged: false },
  };
}

const entry = (n: number, extra: Partial<AuditInput> = {}): AuditInput => ({
  atMs: 1000 + n,
  actor: 'control-loop',
  action: { kind: 'resize', instance: `i-${n}`, cpu: n, memory: 2 * n, reasons: ['peak-predicted'] },
  reasons: ['peak-predicted', `n=${n}`],
  result: 'applied',
  ...extra,
});

/** Registers the suite under `describe(label)`. `create` returns a new, empty store each call. */
export function runStoreConformance(label: string, create: () => Promise<Store>, options: ConformanceOptions): void {
  const { fc } = options;
  const numRuns = options.numRuns ?? 40;
  const opened: Store[] = [];
  const fresh = async (): Promise<Store> => {
    const s = await create();
    opened.push(s);
    return s;
  };

  describe(`Store conformance: ${label}`, () => {
    after(async () => {
      for (const s of opened) await s.close().catch(() => undefined);
    });

    test('hosts: create, read, update (version increases), list, delete; a host with instances cannot be deleted', async () => {
      const s = await fresh();
      assert.equal(await s.getHost('h1'), undefined);
      const h = await s.upsertHost({ id: 'h1', capacity: V(8000, 16384), active: true, labels: { rack: 'r1' } }, 10);
      assert.deepEqual(h, { id: 'h1', capacity: V(8000, 16384), active: true, labels: { rack: 'r1' }, createdAtMs: 10, updatedAtMs: 10, version: 1 });
      const h2 = await s.upsertHost({ id: 'h1', capacity: V(4000, 8192), active: false }, 20);
      assert.deepEqual([h2.capacity, h2.active, h2.createdAtMs, h2.updatedAtMs, h2.version], [V(4000, 8192), false, 10, 20, 2]);
      await s.upsertHost({ id: 'h0', capacity: V(1, 1), active: true }, 20);
      assert.deepEqual((await s.listHosts()).map((x) => x.id), ['h0', 'h1']);
      await s.upsertInstance(A, instance('i1', 'tenant-a', 'h1'), 30);
      await rejects(s.deleteHost('h1'), 'conflict', /h1.*instance/);
      await rejects(s.upsertHost({ id: 'h2', capacity: V(-1, 0), active: true }, 1), 'invalid', /capacity\.cpuMillicores/);
      assert.equal(await s.deleteHost('h0'), true);
      assert.equal(await s.deleteHost('h0'), false);
      assert.deepEqual((await s.listHosts()).map((x) => x.id), ['h1']);
    });

    test('instances: create, read, list with filters, patch several at once (all or none), delete', async () => {
      const s = await fresh();
      await s.upsertHost({ id: 'h1', capacity: V(8000, 16384), active: true }, 1);
      await s.upsertHost({ id: 'h2', capacity: V(8000, 16384), active: true }, 1);
      await rejects(s.upsertInstance(A, instance('i0', 'tenant-a', 'nope'), 2), 'not_found', /hostId/);
      const created = await s.upsertInstance(A, { ...instance('i1', 'tenant-a', 'h1'), labels: { app: 'web' } }, 2);
      assert.deepEqual(created, {
        ...instance('i1', 'tenant-a', 'h1'),
        labels: { app: 'web' },
        createdAtMs: 2,
        updatedAtMs: 2,
        version: 1,
      });
      await s.upsertInstance(A, instance('i2', 'tenant-a', 'h2'), 2);
      await s.upsertInstance(A, instance('i3', 'tenant-a', null), 2);
      assert.deepEqual(await s.getInstance(A, 'i1'), created);
      assert.deepEqual((await s.listInstances(ALL_TENANTS)).map((i) => i.id), ['i1', 'i2', 'i3']);
      assert.deepEqual((await s.listInstances(ALL_TENANTS, { hostId: 'h2' })).map((i) => i.id), ['i2']);
      assert.deepEqual((await s.listInstances(ALL_TENANTS, { hostId: null })).map((i) => i.id), ['i3']);
      assert.deepEqual((await s.listInstances(ALL_TENANTS, { state: 'pending' })).map((i) => i.id), ['i3']);

      const updated = await s.updateInstances(
        ALL_TENANTS,
        [
          { id: 'i1', allocation: V(500, 512) },
          { id: 'i3', hostId: 'h1', state: 'running' },
        ],
        5,
      );
      assert.deepEqual(
        updated.map((i) => [i.id, i.allocation.cpuMillicores, i.hostId, i.state, i.version, i.updatedAtMs]),
        [
          ['i1', 500, 'h1', 'running', 2, 5],
          ['i3', 1000, 'h1', 'running', 2, 5],
        ],
      );
      assert.deepEqual(await s.getInstance(A, 'i1'), updated[0]);
      // One bad patch: nothing applied.
      await rejects(
        s.updateInstances(
          ALL_TENANTS,
          [
            { id: 'i1', allocation: V(100, 100) },
            { id: 'ghost', allocation: V(1, 1) },
          ],
          6,
        ),
        'not_found',
        /ghost/,
      );
      await rejects(s.updateInstances(ALL_TENANTS, [{ id: 'i1', allocation: V(100, 100) }, { id: 'i2', hostId: 'h9' }], 6), 'not_found', /h9/);
      await rejects(s.updateInstances(ALL_TENANTS, [{ id: 'i1', allocation: V(NaN, 1) }], 6), 'invalid', /allocation\.cpuMillicores/);
      assert.equal((await s.getInstance(A, 'i1'))!.allocation.cpuMillicores, 500);
      assert.equal((await s.getInstance(A, 'i2'))!.hostId, 'h2');

      assert.equal(await s.deleteInstance(A, 'i2'), true);
      assert.equal(await s.deleteInstance(A, 'i2'), false);
      assert.equal(await s.getInstance(ALL_TENANTS, 'i2'), undefined);
      assert.equal(await s.deleteHost('h2'), true);
    });

    test('tenant isolation: a tenant scope sees and changes only its own rows', async () => {
      const s = await fresh();
      await s.upsertHost({ id: 'h1', capacity: V(8000, 16384), active: true }, 1);
      await s.upsertInstance(A, instance('a1', 'tenant-a', 'h1'), 1);
      await s.upsertInstance(B, instance('b1', 'tenant-b', 'h1'), 1);
      // Instances
      assert.deepEqual((await s.listInstances(A)).map((i) => i.id), ['a1']);
      assert.deepEqual((await s.listInstances(B)).map((i) => i.id), ['b1']);
      assert.equal(await s.getInstance(B, 'a1'), undefined);
      assert.equal((await s.getInstance(ALL_TENANTS, 'a1'))!.tenant, 'tenant-a');
      await rejects(s.updateInstances(B, [{ id: 'a1', allocation: V(1, 1) }], 2), 'not_found');
      assert.equal(await s.deleteInstance(B, 'a1'), false);
      await rejects(s.upsertInstance(B, instance('x', 'tenant-a', null), 2), 'forbidden');
      await rejects(s.upsertInstance(B, instance('a1', 'tenant-b', null), 2), 'conflict');
      assert.equal((await s.getInstance(A, 'a1'))!.allocation.cpuMillicores, 1000);
      // Telemetry and forecasts
      await s.appendTelemetry(batch('ag', 0, 'a1', [{ timestampMs: 1000, values: { cpuMillicores: 5 } }]), 2);
      assert.equal((await s.querySamples(A, 'a1', { fromMs: 0, toMs: 1e6 })).length, 1);
      assert.deepEqual(await s.querySamples(B, 'a1', { fromMs: 0, toMs: 1e6 }), []);
      assert.deepEqual(await s.queryRollups(B, 'a1', { fromMs: 0, toMs: 1e6 }), []);
      await s.putForecasts([{ instanceId: 'a1', resource: 'cpu', madeAtMs: 2, stepSeconds: 60, forecast: forecast(3, 1) }]);
      assert.ok(await s.getForecast(A, 'a1', 'cpu'));
      assert.equal(await s.getForecast(B, 'a1', 'cpu'), undefined);
      assert.deepEqual(await s.listForecasts(B, 'a1'), []);
      // Policies
      await s.putPolicy(A, { kind: 'instance', instanceId: 'a1' }, { aggressiveness: 0.5 }, 3);
      await rejects(s.putPolicy(B, { kind: 'instance', instanceId: 'a1' }, {}, 3), 'not_found');
      await rejects(s.putPolicy(B, GLOBAL_POLICY, {}, 3), 'forbidden');
      assert.equal(await s.getPolicy(B, { kind: 'instance', instanceId: 'a1' }), undefined);
      assert.equal(await s.deletePolicy(B, { kind: 'instance', instanceId: 'a1' }), false);
      assert.deepEqual(await s.listPolicies(B), []);
      assert.equal((await s.listPolicies(A)).length, 1);
      // Profiles, bids, reservations
      await s.putProfile(A, { id: 'pa', tenant: 'tenant-a', priority: 'high', instanceId: 'a1', payload: { cpu: 1 } }, 4);
      await rejects(s.putProfile(B, { id: 'pb', tenant: 'tenant-b', priority: 'high', instanceId: 'a1', payload: {} }, 4), 'not_found', /instanceId/);
      await rejects(s.putProfile(B, { id: 'pa', tenant: 'tenant-b', priority: 'low', payload: {} }, 4), 'conflict');
      await rejects(s.putProfile(B, { id: 'pz', tenant: 'tenant-a', priority: 'low', payload: {} }, 4), 'forbidden');
      assert.equal(await s.getProfile(B, 'pa'), undefined);
      assert.deepEqual(await s.listProfiles(B), []);
      await s.createBid(A, { id: 'bid-a', tenant: 'tenant-a', profileId: 'pa', priceMicrocredits: 5, priority: 'high', payload: {} }, 5);
      await s.putProfile(B, { id: 'pb', tenant: 'tenant-b', priority: 'low', payload: {} }, 5);
      await rejects(s.createBid(B, { id: 'bid-b', tenant: 'tenant-b', profileId: 'pa', priceMicrocredits: 5, priority: 'low', payload: {} }, 5), 'not_found', /profileId/);
      assert.equal(await s.getBid(B, 'bid-a'), undefined);
      assert.deepEqual(await s.listBids(B), []);
      await rejects(s.setBidState(B, 'bid-a', 'cancelled', 6), 'not_found');
      assert.equal((await s.getBid(A, 'bid-a'))!.state, 'open');
      await s.createReservation(A, { id: 'r-a', tenant: 'tenant-a', hostId: 'h1', instanceId: 'a1', resources: V(1, 1), startMs: 0, endMs: 10 }, 6);
      await rejects(s.createReservation(B, { id: 'r-b', tenant: 'tenant-b', hostId: 'h1', instanceId: 'a1', resources: V(1, 1), startMs: 0, endMs: 10 }, 6), 'not_found');
      assert.equal(await s.getReservation(B, 'r-a'), undefined);
      assert.deepEqual(await s.listReservations(B), []);
      await rejects(s.releaseReservation(B, 'r-a', 7), 'not_found');
      // Ledger
      await s.appendLedger([{ account: 'tenant-a', delta: 100, reason: 'grant' }], 7);
      assert.equal(await s.balance(A, 'tenant-a'), 100);
      await rejects(s.balance(B, 'tenant-a'), 'forbidden');
      await rejects(s.listLedger(B, 'tenant-a'), 'forbidden');
      await rejects(s.balance(A, 'system'), 'forbidden');
      // Audit
      await s.appendAudit([entry(1, { instanceId: 'a1', tenant: 'tenant-a' }), entry(2, { instanceId: 'b1', tenant: 'tenant-b' }), entry(3)]);
      assert.deepEqual((await s.listAudit(A)).map((e) => e.instanceId), ['a1']);
      assert.deepEqual((await s.listAudit(B)).map((e) => e.instanceId), ['b1']);
      assert.equal((await s.listAudit(ALL_TENANTS)).length, 3);
    });

    test('telemetry: a resent batch (same agent and sequence) is acknowledged and stored once', async () => {
      const s = await fresh();
      const b = batch('agent-1', 7, 'i1', [
        { timestampMs: 60_000, values: { cpuMillicores: 100, memoryMiB: 50 } },
        { timestampMs: 61_000, values: { cpuMillicores: 300 }, custom: { rps: 12 } },
      ]);
      assert.deepEqual(await s.appendTelemetry(b, 1), { duplicate: false, samplesStored: 2, samplesSkipped: 0 });
      assert.deepEqual(await s.appendTelemetry(b, 2), { duplicate: true, samplesStored: 0, samplesSkipped: 0 });
      // Another agent may use the same sequence number.
      assert.equal((await s.appendTelemetry(batch('agent-2', 7, 'i2', [{ timestampMs: 60_000, values: { cpuMillicores: 1 } }]), 3)).duplicate, false);
      // The same sample in a new batch is skipped, and not counted twice in the roll-ups.
      const again = await s.appendTelemetry(
        batch('agent-1', 8, 'i1', [
          { timestampMs: 61_000, values: { cpuMillicores: 999 } },
          { timestampMs: 62_000, values: { cpuMillicores: 200 } },
        ]),
        4,
      );
      assert.deepEqual(again, { duplicate: false, samplesStored: 1, samplesSkipped: 1 });
      const samples = await s.querySamples(ALL_TENANTS, 'i1', { fromMs: 0, toMs: 1e9 });
      assert.deepEqual(
        samples.map((x) => [x.timestampMs, x.values, x.custom, x.agentId, x.intervalMs]),
        [
          [60_000, { cpuMillicores: 100, memoryMiB: 50 }, undefined, 'agent-1', 1000],
          [61_000, { cpuMillicores: 300 }, { rps: 12 }, 'agent-1', 1000],
          [62_000, { cpuMillicores: 200 }, undefined, 'agent-1', 1000],
        ],
      );
      const latest = await s.querySamples(ALL_TENANTS, 'i1', { fromMs: 0, toMs: 1e9, order: 'desc', limit: 1 });
      assert.deepEqual(latest.map((x) => x.timestampMs), [62_000]);
      const cpu = await s.queryRollups(ALL_TENANTS, 'i1', { fromMs: 0, toMs: 1e9, metrics: ['cpuMillicores'] });
      assert.deepEqual(cpu, [{ instanceId: 'i1', minuteStartMs: 60_000, metric: 'cpuMillicores', count: 3, mean: 200, max: 300, min: 100 }]);
      const custom = await s.queryRollups(ALL_TENANTS, 'i1', { fromMs: 0, toMs: 1e9, metrics: ['custom.rps'] });
      assert.deepEqual(custom.map((r) => [r.count, r.mean]), [[1, 12]]);

      // Cursor paging sees every stored sample once, in ingestion order.
      const seen: string[] = [];
      let cursor = 0;
      for (;;) {
        const page = await s.readTelemetrySince(cursor, 2);
        if (page.samples.length === 0) {
          assert.equal(page.nextCursor, cursor);
          break;
        }
        assert.ok(page.nextCursor > cursor);
        cursor = page.nextCursor;
        seen.push(...page.samples.map((x) => `${x.instanceId}@${x.timestampMs}`));
      }
      assert.deepEqual(seen, ['i1@60000', 'i1@61000', 'i2@60000', 'i1@62000']);

      // Pruning old raw samples keeps the cursor increasing.
      const pruned = await s.pruneTelemetry({ samplesBeforeMs: 61_500 });
      assert.equal(pruned.samples, 3);
      await s.appendTelemetry(batch('agent-1', 9, 'i1', [{ timestampMs: 63_000, values: { cpuMillicores: 1 } }]), 5);
      const next = await s.readTelemetrySince(cursor, 10);
      assert.deepEqual(next.samples.map((x) => x.timestampMs), [63_000]);
    });

    test('telemetry: a bad batch changes nothing', async () => {
      const s = await fresh();
      const bad = batch('agent-1', 0, 'i1', [
        { timestampMs: 1000, values: { cpuMillicores: 1 } },
        { timestampMs: 2000, values: { cpuMillicores: NaN } },
      ]);
      await rejects(s.appendTelemetry(bad, 1), 'invalid', /samples\[1\]\.values\.cpuMillicores/);
      assert.deepEqual(await s.querySamples(ALL_TENANTS, 'i1', { fromMs: 0, toMs: 1e9 }), []);
      // The sequence was not consumed: the corrected batch is accepted.
      const good = batch('agent-1', 0, 'i1', [{ timestampMs: 1000, values: { cpuMillicores: 1 } }]);
      assert.equal((await s.appendTelemetry(good, 2)).samplesStored, 1);
    });

    test('property: roll-ups equal a brute-force count/mean/max/min of the distinct samples stored', async () => {
      const s = await fresh();
      let run = 0;
      const sampleArb = fc.record({
        inst: fc.integer({ min: 0, max: 2 }),
        // Coarse timestamps, so the same (instance, timestamp) comes up again across batches.
        tsMs: fc.integer({ min: 0, max: 240 }).map((k) => k * 1250),
        cpu: fc.double({ min: 0, max: 1e6, noNaN: true, noDefaultInfinity: true }),
        mem: fc.option(fc.double({ min: 0, max: 1e6, noNaN: true, noDefaultInfinity: true }), { nil: undefined }),
        custom: fc.option(fc.integer({ min: -5, max: 5 }), { nil: undefined }),
      });
      await fc.assert(
        fc.asyncProperty(fc.array(sampleArb, { minLength: 1, maxLength: 120 }), fc.integer({ min: 1, max: 40 }), fc.boolean(), async (raw, chunk, resend) => {
          run++;
          const ids = [0, 1, 2].map((k) => `rollup-${run}-${k}`);
          const agent = `agent-${run}`;
          // Brute force: the first sample of each (instance, timestamp) wins.
          const kept = new Map<string, { inst: string; tsMs: number; values: Record<string, number> }>();
          const batches: TelemetryBatch[] = [];
          for (let i = 0; i < raw.length; i += chunk) {
            const part = raw.slice(i, i + chunk);
            const byInst = new Map<string, TelemetrySample[]>();
            for (const r of part) {
              const inst = ids[r.inst]!;
              const values: Record<string, number> = { cpuMillicores: r.cpu };
              if (r.mem !== undefined) values.memoryMiB = r.mem;
              const sample: TelemetrySample = { timestampMs: r.tsMs, values };
              if (r.custom !== undefined) sample.custom = { q: r.custom };
              const key = `${inst}@${r.tsMs}`;
              if (!kept.has(key)) kept.set(key, { inst, tsMs: r.tsMs, values: { ...values, ...(r.custom !== undefined ? { 'custom.q': r.custom } : {}) } });
              if (!byInst.has(inst)) byInst.set(inst, []);
              byInst.get(inst)!.push(sample);
            }
            batches.push({
              agentId: agent,
              sequence: batches.length,
              sentAtMs: 0,
              profiles: [...byInst].map(([instanceId, samples]) => ({ instanceId, intervalMs: 1000, samples })),
            });
          }
          let stored = 0;
          for (const b of batches) stored += (await s.appendTelemetry(b, 1)).samplesStored;
          if (resend) for (const b of batches) assert.equal((await s.appendTelemetry(b, 2)).duplicate, true);
          assert.equal(stored, kept.size);

          const expected = new Map<string, { count: number; sum: number; max: number; min: number }>();
          for (const k of kept.values()) {
            const minute = Math.floor(k.tsMs / 60_000) * 60_000;
            for (const [metric, v] of Object.entries(k.values)) {
              const key = `${k.inst}|${minute}|${metric}`;
              const e = expected.get(key);
              if (e) {
                e.count++;
                e.sum += v;
                e.max = Math.max(e.max, v);
                e.min = Math.min(e.min, v);
              } else expected.set(key, { count: 1, sum: v, max: v, min: v });
            }
          }
          const got = new Map<string, { count: number; mean: number; max: number; min: number }>();
          for (const inst of ids) for (const r of await s.queryRollups(ALL_TENANTS, inst, { fromMs: 0, toMs: 1e9 })) got.set(`${inst}|${r.minuteStartMs}|${r.metric}`, r);
          assert.deepEqual([...got.keys()].sort(), [...expected.keys()].sort());
          for (const [key, e] of expected) {
            const g = got.get(key)!;
            assert.equal(g.count, e.count, key);
            assert.equal(g.max, e.max, key);
            assert.equal(g.min, e.min, key);
            const mean = e.sum / e.count;
            assert.ok(Math.abs(g.mean - mean) <= 1e-9 * Math.max(1, Math.abs(mean)), `${key}: mean ${g.mean} != ${mean}`);
          }
          // Raw samples: what was kept, in time order.
          for (const inst of ids) {
            const want = [...kept.values()].filter((k) => k.inst === inst).map((k) => k.tsMs).sort((a, b) => a - b);
            assert.deepEqual((await s.querySamples(ALL_TENANTS, inst, { fromMs: 0, toMs: 1e9 })).map((x) => x.timestampMs), want);
          }
        }),
        { numRuns },
      );
    });

    test('ledger: balances per asset, refusals that change nothing, append-only entries with gap-free seq', async () => {
      const s = await fresh();
      assert.equal(await s.balance(ALL_TENANTS, 'nobody'), 0);
      const minted = await s.appendLedger([{ account: 'tenant-a', delta: 1_000_000, reason: 'grant', ref: 'welcome' }], 10);
      assert.deepEqual(minted, [{ seq: 1, account: 'tenant-a', asset: 'money', delta: 1_000_000, reason: 'grant', ref: 'welcome', group: null, atMs: 10 }]);
      const t = await s.transferCredits({ from: 'tenant-a', to: 'market', amount: 250_000, reason: 'bid', ref: 'bid-1' }, 11);
      assert.deepEqual(
        t.map((e) => [e.seq, e.account, e.asset, e.delta, e.ref]),
        [
          [2, 'tenant-a', 'money', -250_000, 'bid-1'],
          [3, 'market', 'money', 250_000, 'bid-1'],
        ],
      );
      assert.ok(t[0]!.group !== null && t[0]!.group === t[1]!.group, 'the two entries of a transfer share a group');
      await rejects(s.transferCredits({ from: 'tenant-a', to: 'market', amount: 750_001, reason: 'bid' }, 12), 'insufficient_funds', /tenant-a/);
      await rejects(s.appendLedger([{ account: 'x', delta: 1.5, reason: 'r' }], 12), 'invalid', /entries\[0\].*delta/);
      await rejects(s.transferCredits({ from: 'a', to: 'a', amount: 1, reason: 'r' }, 12), 'invalid');
      await rejects(s.transferCredits({ from: 'a', to: 'b', amount: 0, reason: 'r' }, 12), 'invalid', /amount/);
      assert.equal(await s.balance(ALL_TENANTS, 'tenant-a'), 750_000);
      assert.equal(await s.balance(ALL_TENANTS, 'market', 'money'), 250_000);
      const overdraft = await s.appendLedger([{ account: 'penalties', delta: -5, reason: 'fee' }], 13, { allowNegative: true });
      assert.equal(overdraft[0]!.seq, 4, 'refused appends consumed no seq');
      assert.equal(await s.balance(ALL_TENANTS, 'penalties'), -5);
      assert.deepEqual((await s.listLedger(ALL_TENANTS, 'tenant-a')).map((e) => e.seq), [1, 2]);
      assert.deepEqual((await s.listLedger(ALL_TENANTS, 'tenant-a', { afterSeq: 1 })).map((e) => e.seq), [2]);
      assert.deepEqual(await s.appendLedger([], 14), [], 'an empty append is a no-op');
      const api = s as unknown as Record<string, unknown>;
      for (const name of ['updateLedger', 'deleteLedger', 'deleteLedgerEntry', 'updateAudit', 'deleteAudit', 'deleteAuditEntry', 'deleteMarketState'])
        assert.equal(api[name], undefined, `a Store must not offer ${name}`);
    });

    test('ledger: six assets, each balance per (account, asset); groups; allowNegative by prefix; errors name the entry and field', async () => {
      const s = await fresh();
      const tick = await s.appendLedger(
        [
          { account: 'credits:i1', asset: 'credit', delta: 1200, reason: 'accrual', group: 'tick:1/j:1' },
          { account: 'system:credit-issuer', asset: 'credit', delta: -1200, reason: 'accrual', group: 'tick:1/j:1' },
          { account: 'alloc:i1', asset: 'cpu', delta: 500, reason: 'allocate', ref: 'i1', group: 'tick:1/j:2' },
          { account: 'host:h1', asset: 'cpu', delta: 7500, reason: 'capacity', group: 'tick:1/j:2' },
          { account: 'system:capacity', asset: 'cpu', delta: -8000, reason: 'capacity', group: 'tick:1/j:2' },
          { account: 'alloc:i1', asset: 'memory', delta: 1024, reason: 'allocate' },
          { account: 'system:capacity', asset: 'memory', delta: -1024, reason: 'allocate' },
          { account: 'bonds:i1', asset: 'bond', delta: 3, reason: 'bond' },
          { account: 'system:bond-issuer', asset: 'bond', delta: -3, reason: 'bond' },
          { account: 'priority:tenant-a', asset: 'priority', delta: -250, reason: 'penalty' },
          { account: 'system:priority-penalties', asset: 'priority', delta: 250, reason: 'penalty' },
          { account: 'tenant:tenant-a', delta: 10_000_000, reason: 'deposit' },
          { account: 'system:money-issuer', asset: 'money', delta: -10_000_000, reason: 'deposit' },
        ],
        100,
        { allowNegative: ['system:', 'priority:'] },
      );
      assert.deepEqual(tick.map((e) => e.seq), Array.from({ length: 13 }, (_, i) => i + 1));
      assert.deepEqual(tick.slice(0, 3).map((e) => [e.asset, e.group]), [
        ['credit', 'tick:1/j:1'],
        ['credit', 'tick:1/j:1'],
        ['cpu', 'tick:1/j:2'],
      ]);
      assert.equal(tick[11]!.asset, 'money', 'asset defaults to money');
      assert.equal(tick[5]!.group, null);
      // Balances are per (account, asset): alloc:i1 has cpu and memory, no money.
      assert.equal(await s.balance(ALL_TENANTS, 'alloc:i1', 'cpu'), 500);
      assert.equal(await s.balance(ALL_TENANTS, 'alloc:i1', 'memory'), 1024);
      assert.equal(await s.balance(ALL_TENANTS, 'alloc:i1'), 0);
      assert.equal(await s.balance(ALL_TENANTS, 'priority:tenant-a', 'priority'), -250);
      assert.deepEqual((await s.listLedger(ALL_TENANTS, 'alloc:i1', { asset: 'memory' })).map((e) => [e.seq, e.delta]), [[6, 1024]]);
      assert.deepEqual((await s.listLedger(ALL_TENANTS, 'alloc:i1')).map((e) => e.asset), ['cpu', 'memory']);
      // Every asset sums to zero over all accounts (the market books double entry).
      const all = await s.listBalances(ALL_TENANTS);
      for (const asset of LEDGER_ASSETS)
        assert.equal(
          all.filter((b) => b.asset === asset).reduce((sum, b) => sum + b.balance, 0),
          0,
          asset,
        );
      // Sorted by account then asset; zero balances are not listed; filters.
      const sorted = [...all].sort((a, b) => (a.account < b.account ? -1 : a.account > b.account ? 1 : a.asset < b.asset ? -1 : a.asset > b.asset ? 1 : 0));
      assert.deepEqual(all, sorted);
      assert.deepEqual(
        (await s.listBalances(ALL_TENANTS, { asset: 'cpu' })).map((b) => [b.account, b.balance]),
        [
          ['alloc:i1', 500],
          ['host:h1', 7500],
          ['system:capacity', -8000],
        ],
      );
      assert.deepEqual(await s.listBalances(ALL_TENANTS, { prefix: 'alloc:' }), [
        { account: 'alloc:i1', asset: 'cpu', balance: 500 },
        { account: 'alloc:i1', asset: 'memory', balance: 1024 },
      ]);
      assert.deepEqual(await s.listBalances(ALL_TENANTS, { prefix: 'system:capacity', asset: 'memory' }), [{ account: 'system:capacity', asset: 'memory', balance: -1024 }]);
      assert.deepEqual(await s.listBalances(ALL_TENANTS, { prefix: 'zzz' }), []);
      await s.transferCredits({ from: 'bonds:i1', to: 'system:bonded', asset: 'bond', amount: 3, reason: 'spend', group: 'tick:2/j:1' }, 101);
      assert.equal((await s.listBalances(ALL_TENANTS, { prefix: 'bonds:' })).length, 0, 'a balance back at zero is not listed');
      assert.deepEqual((await s.listLedger(ALL_TENANTS, 'bonds:i1')).map((e) => [e.delta, e.group]), [
        [3, null],
        [-3, 'tick:2/j:1'],
      ]);

      const before = await s.listBalances(ALL_TENANTS);
      // Per (account, asset): money does not cover a credit debit.
      await rejects(s.appendLedger([{ account: 'tenant:tenant-a', asset: 'credit', delta: -1, reason: 'r' }], 102), 'insufficient_funds', /entries\[0\].*tenant:tenant-a.*credit/);
      // Prefixes allow only their accounts; the whole append is refused for one bad account.
      await rejects(
        s.appendLedger(
          [
            { account: 'system:x', asset: 'cpu', delta: -10, reason: 'r' },
            { account: 'host:h1', asset: 'cpu', delta: -7501, reason: 'r' },
          ],
          102,
          { allowNegative: ['system:'] },
        ),
        'insufficient_funds',
        /entries\[1\].*host:h1.*cpu.*7500/,
      );
      // Checked on the net of the append: a debit covered by a credit in the same append passes.
      await s.appendLedger(
        [
          { account: 'credits:i2', asset: 'credit', delta: -100, reason: 'spend' },
          { account: 'credits:i2', asset: 'credit', delta: 100, reason: 'earn' },
        ],
        102,
      );
      // Bad input: the entry index and field are named.
      await rejects(s.appendLedger([{ account: 'a', delta: 1, reason: 'r' }, { account: 'a', asset: 'gold' as never, delta: 1, reason: 'r' }], 102), 'invalid', /entries\[1\]: asset: must be one of money, credit/);
      await rejects(s.appendLedger([{ account: 'a', delta: 1, reason: 'r' }, { account: 'a', delta: 2 ** 53, reason: 'r' }], 102), 'invalid', /entries\[1\]: delta: must be a safe integer/);
      await rejects(s.appendLedger([{ account: 'a', delta: Number.NaN, reason: 'r' }], 102), 'invalid', /entries\[0\]: delta/);
      await rejects(s.appendLedger([{ account: 'a', deltaMicrocredits: 5, reason: 'r' } as never], 102), 'invalid', /entries\[0\]: delta/);
      await rejects(s.appendLedger([{ account: '', delta: 1, reason: 'r' }], 102), 'invalid', /entries\[0\]: account/);
      await rejects(s.appendLedger([{ account: 'a', delta: 1, reason: 7 as never }], 102), 'invalid', /entries\[0\]: reason/);
      await rejects(s.appendLedger([{ account: 'a', delta: 1, reason: 'r', group: 5 as never }], 102), 'invalid', /entries\[0\]: group/);
      await rejects(
        s.appendLedger(
          [
            { account: 'big', delta: Number.MAX_SAFE_INTEGER, reason: 'r' },
            { account: 'big', delta: 1, reason: 'r' },
          ],
          102,
        ),
        'invalid',
        /entries\[1\].*big.*delta.*safe integer range/,
      );
      await rejects(s.appendLedger([{ account: 'a', delta: -1, reason: 'r' }], 102, { allowNegative: 'system:' as never }), 'invalid', /allowNegative/);
      await rejects(s.appendLedger([{ account: 'a', delta: -1, reason: 'r' }], 102, { allowNegative: [''] }), 'invalid', /allowNegative\[0\]/);
      await rejects(s.transferCredits({ from: 'a', to: 'b', asset: 'gold' as never, amount: 1, reason: 'r' }, 102), 'invalid', /asset/);
      await rejects(s.balance(ALL_TENANTS, 'a', 'gold' as never), 'invalid', /asset/);
      await rejects(s.listBalances(ALL_TENANTS, { asset: 'gold' as never }), 'invalid', /asset/);
      assert.deepEqual(await s.listBalances(ALL_TENANTS), before, 'refused appends changed nothing');
      assert.equal((await s.appendLedger([{ account: 'a', delta: 1, reason: 'r' }], 103))[0]!.seq, 18, 'refused appends consumed no seq');
    });

    test('ledger: a tenant reads its own accounts and those of its instances; anything else is forbidden, and not listed', async () => {
      const s = await fresh();
      await s.upsertInstance(A, instance('a1', 'tenant-a', null), 1);
      await s.upsertInstance(B, instance('b1', 'tenant-b', null), 1);
      const mine = ['tenant-a', 'tenant:tenant-a', 'invoice:tenant-a', 'priority:tenant-a', 'credits:a1', 'surplus:a1', 'bonds:a1', 'alloc:a1'];
      const theirs = ['tenant-b', 'tenant:tenant-b', 'invoice:tenant-b', 'credits:b1', 'alloc:b1', 'credits:ghost', 'system:money-issuer', 'host:h1', 'market', 'tenant:tenant-ab'];
      await s.appendLedger(
        [...mine, ...theirs].flatMap((account, i) => [
          { account, delta: i + 1, reason: 'seed' },
          { account, asset: 'credit' as const, delta: 10 * (i + 1), reason: 'seed' },
        ]),
        2,
      );
      for (const account of mine) {
        assert.ok((await s.balance(A, account)) > 0, account);
        assert.equal((await s.listLedger(A, account, { asset: 'credit' })).length, 1, account);
      }
      for (const account of theirs) {
        await rejects(s.balance(A, account), 'forbidden', /tenant-a/);
        await rejects(s.balance(A, account, 'credit'), 'forbidden');
        await rejects(s.listLedger(A, account), 'forbidden');
      }
      const listed = await s.listBalances(A);
      assert.deepEqual([...new Set(listed.map((b) => b.account))], [...mine].sort());
      assert.equal(listed.length, mine.length * 2);
      assert.deepEqual(
        (await s.listBalances(A, { asset: 'credit', prefix: 'credits:' })).map((b) => [b.account, b.balance]),
        [['credits:a1', 50]],
      );
      assert.deepEqual((await s.listBalances(B, { prefix: 'alloc:' })).map((b) => b.account), ['alloc:b1', 'alloc:b1']);
      assert.equal((await s.listBalances(ALL_TENANTS)).length, (mine.length + theirs.length) * 2);
      // The accounts of an instance follow its owner: deleted, they are the all-tenants scope's only.
      await s.deleteInstance(A, 'a1');
      await rejects(s.balance(A, 'credits:a1'), 'forbidden');
      assert.ok(!(await s.listBalances(A)).some((b) => b.account.endsWith(':a1')));
      assert.equal(await s.balance(ALL_TENANTS, 'credits:a1', 'credit'), 50);
    });

    test('market state: JSON round-trip, replaced whole, not there until written', async () => {
      const s = await fresh();
      assert.equal(await s.getMarketState('credits'), undefined);
      const state = { classes: { i1: 't3.micro', i2: 't3.large' }, modes: ['standard', 'unlimited'], carry: [0.25, -1e-9, 12345678.5], loans: [], nested: { a: { b: { c: null } } }, ok: true };
      await s.putMarketState('credits', state, 10);
      assert.deepEqual(await s.getMarketState('credits'), { state, updatedAtMs: 10 });
      await s.putMarketState('credits', { classes: {} }, 20);
      assert.deepEqual(await s.getMarketState('credits'), { state: { classes: {} }, updatedAtMs: 20 }, 'replaced whole, not merged');
      await s.putMarketState('spot', [1, 'two', { three: 3 }], 21);
      await s.putMarketState('multiplier', 1.5, 22);
      await s.putMarketState('empty', null, 23);
      assert.deepEqual((await s.getMarketState('spot'))!.state, [1, 'two', { three: 3 }]);
      assert.equal((await s.getMarketState('multiplier'))!.state, 1.5);
      assert.deepEqual(await s.getMarketState('empty'), { state: null, updatedAtMs: 23 });
      await rejects(s.putMarketState('', {}, 1), 'invalid', /key/);
      await rejects(s.putMarketState('k', undefined, 1), 'invalid', /state/);
      await rejects(s.putMarketState('k', { big: 1n }, 1), 'invalid', /state/);
      await rejects(s.putMarketState('k', {}, -1), 'invalid', /nowMs/);
      assert.equal(await s.getMarketState('k'), undefined);
    });

    test('market state and ledger commit together in a transaction; a throw leaves neither', async () => {
      const s = await fresh();
      await s.appendLedger([{ account: 'system:issuer', asset: 'credit', delta: -5, reason: 'seed' }, { account: 'credits:i1', asset: 'credit', delta: 5, reason: 'seed' }], 1, { allowNegative: ['system:'] });
      await s.putMarketState('credits', { tick: 0 }, 1);
      const snapshot = async () => ({ balances: await s.listBalances(ALL_TENANTS), state: await s.getMarketState('credits'), spot: await s.getMarketState('spot') });
      const before = await snapshot();
      const tick = async (tx: Store, n: number): Promise<void> => {
        await tx.appendLedger(
          [
            { account: 'system:issuer', asset: 'credit', delta: -n, reason: 'accrual', group: `tick:${n}` },
            { account: 'credits:i1', asset: 'credit', delta: n, reason: 'accrual', group: `tick:${n}` },
          ],
          10 + n,
          { allowNegative: ['system:'] },
        );
        await tx.putMarketState('credits', { tick: n }, 10 + n);
        await tx.putMarketState('spot', { running: [n] }, 10 + n);
      };
      await assert.rejects(
        s.transaction(async (tx) => {
          await tick(tx, 2);
          throw new Error('crash after the writes');
        }),
        /crash after the writes/,
      );
      assert.deepEqual(await snapshot(), before);
      // A refused append later in the transaction rolls back the state written before it.
      await rejects(
        s.transaction(async (tx) => {
          await tick(tx, 3);
          await tx.appendLedger([{ account: 'credits:i1', asset: 'credit', delta: -1000, reason: 'spend' }], 14);
        }),
        'insufficient_funds',
      );
      assert.deepEqual(await snapshot(), before);
      // A nested failure rolls back its own part only.
      await s.transaction(async (tx) => {
        await tick(tx, 4);
        await assert.rejects(
          tx.transaction(async (inner) => {
            await tick(inner, 5);
            throw new Error('inner');
          }),
        );
      });
      assert.deepEqual(await s.getMarketState('credits'), { state: { tick: 4 }, updatedAtMs: 14 });
      assert.deepEqual(await s.getMarketState('spot'), { state: { running: [4] }, updatedAtMs: 14 });
      assert.equal(await s.balance(ALL_TENANTS, 'credits:i1', 'credit'), 9);
      assert.deepEqual((await s.listLedger(ALL_TENANTS, 'credits:i1')).map((e) => [e.seq, e.group]), [
        [2, null],
        [4, 'tick:4'],
      ]);
    });

    test('property: accepted appends keep each asset total equal to the deltas appended, guarded accounts never negative; a refused append changes nothing', async () => {
      const s = await fresh();
      let run = 0;
      let nextSeq = 1;
      // Accounts 0-1 are guarded (never below zero); 2-3 match the allowed prefixes when passed.
      const names = ['tenant:t', 'credits:i', 'system:issuer', 'invoice:t'];
      const prefixes = ['system:', 'invoice:'];
      const entryArb = fc.record({
        acct: fc.integer({ min: 0, max: 3 }),
        asset: fc.constantFrom(...LEDGER_ASSETS),
        delta: fc.oneof(fc.integer({ min: -1000, max: 1000 }), fc.integer({ min: -1e12, max: 1e12 })),
      });
      const appendArb = fc.record({ entries: fc.array(entryArb, { minLength: 1, maxLength: 5 }), allow: fc.constantFrom('none', 'prefixes', 'all'), inTx: fc.boolean() });
      await fc.assert(
        fc.asyncProperty(fc.array(appendArb, { minLength: 1, maxLength: 25 }), async (appends) => {
          run++;
          const acct = (k: number): string => `${names[k]}-${run}`;
          const model = new Map<string, number>(); // `${account}|${asset}` -> balance
          const appended = new Map<string, number>(); // asset -> sum of accepted deltas
          const excused = new Set<string>(); // guarded balances an allowNegative: true append took below zero
          const key = (k: number, asset: string): string => `${acct(k)}|${asset}`;
          const ours = async () => (await s.listBalances(ALL_TENANTS)).filter((b) => b.account.endsWith(`-${run}`));
          for (const a of appends) {
            const options = a.allow === 'none' ? undefined : { allowNegative: a.allow === 'all' ? true : prefixes };
            const input = a.entries.map((e) => ({ account: acct(e.acct), asset: e.asset, delta: e.delta, reason: 'p', group: `g${run}` }));
            // What the store must decide, from the model.
            const next = new Map<string, number>();
            for (const e of a.entries) {
              const k = key(e.acct, e.asset);
              next.set(k, (next.get(k) ?? model.get(k) ?? 0) + e.delta);
            }
            let accept = true;
            for (const [k, v] of next) {
              const account = k.slice(0, k.indexOf('|'));
              const mayGoNegative = a.allow === 'all' || (a.allow === 'prefixes' && prefixes.some((p) => account.startsWith(p)));
              if (v < 0 && v < (model.get(k) ?? 0) && !mayGoNegative) accept = false;
            }
            const before = await ours();
            const p = a.inTx ? s.transaction((tx) => tx.appendLedger(input, run, options)) : s.appendLedger(input, run, options);
            if (accept) {
              const got = await p;
              assert.deepEqual(got.map((e) => e.seq), input.map((_, i) => nextSeq + i), 'seq is gap-free');
              nextSeq += input.length;
              for (const [k, v] of next) {
                model.set(k, v);
                if (v < 0 && a.allow === 'all') excused.add(k);
              }
              for (const e of a.entries) appended.set(e.asset, (appended.get(e.asset) ?? 0) + e.delta);
            } else {
              const outcome = await p.then(
                (got) => got,
                (e: unknown) => e,
              );
              if (Array.isArray(outcome)) {
                nextSeq = outcome[outcome.length - 1]!.seq + 1; // keeps the seq check of shrunk runs meaningful
                assert.fail(`accepted an append that takes a guarded balance below zero: ${JSON.stringify(a)}`);
              }
              assert.ok(isStoreError(outcome, 'insufficient_funds'), `expected insufficient_funds, got ${String(outcome)}`);
              assert.deepEqual(await ours(), before, 'a refused append changed a balance');
            }
          }
          const balances = await ours();
          for (const asset of LEDGER_ASSETS)
            assert.equal(
              balances.filter((b) => b.asset === asset).reduce((sum, b) => sum + b.balance, 0),
              appended.get(asset) ?? 0,
              `sum of ${asset} balances != sum of its accepted deltas`,
            );
          for (const b of balances) {
            assert.equal(b.balance, model.get(`${b.account}|${b.asset}`), `${b.account} ${b.asset}`);
            if ((b.account.startsWith('tenant:') || b.account.startsWith('credits:')) && !excused.has(`${b.account}|${b.asset}`))
              assert.ok(b.balance >= 0, `guarded ${b.account} ${b.asset} went negative: ${b.balance}`);
          }
          for (let k = 0; k < names.length; k++)
            for (const asset of LEDGER_ASSETS) {
              const entries = await s.listLedger(ALL_TENANTS, acct(k), { asset, limit: 1_000_000 });
              assert.equal(
                entries.reduce((sum, e) => sum + e.delta, 0),
                await s.balance(ALL_TENANTS, acct(k), asset),
                `balance of ${acct(k)} ${asset} != sum of its entries`,
              );
            }
        }),
        { numRuns },
      );
    });

    test('transaction: commits everything together; a thrown error leaves nothing half-applied', async () => {
      const s = await fresh();
      await s.upsertHost({ id: 'h1', capacity: V(8000, 16384), active: true }, 1);
      await s.upsertInstance(A, instance('i1', 'tenant-a', 'h1'), 1);
      await s.appendLedger([{ account: 'tenant-a', delta: 100, reason: 'grant' }], 1);
      await s.appendAudit([entry(1)]);

      const tick = async (tx: Store, n: number): Promise<void> => {
        await tx.updateInstances(ALL_TENANTS, [{ id: 'i1', allocation: V(n, 1024) }], 10 + n);
        await tx.appendAudit([entry(n, { instanceId: 'i1', tenant: 'tenant-a' })]);
        await tx.putForecasts([{ instanceId: 'i1', resource: 'cpu', madeAtMs: 10 + n, stepSeconds: 60, forecast: forecast(4, n) }]);
        await tx.transferCredits({ from: 'tenant-a', to: 'market', amount: 10, reason: 'tick' }, 10 + n);
        await tx.upsertInstance(A, instance(`new-${n}`, 'tenant-a', 'h1'), 10 + n);
        await tx.appendTelemetry(batch('ag', n, 'i1', [{ timestampMs: n * 1000, values: { cpuMillicores: n } }]), 10 + n);
        await tx.putPolicy(ALL_TENANTS, GLOBAL_POLICY, { n }, 10 + n);
      };
      const snapshot = async () => ({
        instances: await s.listInstances(ALL_TENANTS),
        audit: await s.listAudit(ALL_TENANTS),
        forecasts: await s.listForecasts(ALL_TENANTS, 'i1'),
        ledger: [await s.balance(ALL_TENANTS, 'tenant-a'), await s.balance(ALL_TENANTS, 'market')],
        samples: await s.querySamples(ALL_TENANTS, 'i1', { fromMs: 0, toMs: 1e9 }),
        policy: await s.getPolicy(ALL_TENANTS, GLOBAL_POLICY),
      });
      const before = await snapshot();
      const boom = new Error('driver failed mid-plan');
      await assert.rejects(
        s.transaction(async (tx) => {
          await tick(tx, 2);
          throw boom;
        }),
        (e) => e === boom,
      );
      assert.deepEqual(await snapshot(), before);
      // A store error thrown by a later step rolls back the earlier ones too.
      await rejects(
        s.transaction(async (tx) => {
          await tick(tx, 3);
          await tx.transferCredits({ from: 'tenant-a', to: 'market', amount: 1_000_000, reason: 'too much' }, 20);
        }),
        'insufficient_funds',
      );
      assert.deepEqual(await snapshot(), before);
      // Nested transaction: the inner failure rolls back the inner part only.
      const result = await s.transaction(async (tx) => {
        await tick(tx, 4);
        await assert.rejects(
          tx.transaction(async (inner) => {
            await inner.appendAudit([entry(99)]);
            throw new Error('inner');
          }),
        );
        return 'done';
      });
      assert.equal(result, 'done');
      const after1 = await snapshot();
      assert.equal(after1.instances.find((i) => i.id === 'i1')!.allocation.cpuMillicores, 4);
      assert.deepEqual(after1.audit.map((e) => e.seq), [1, 2], 'the rolled-back audit entries left no gap');
      assert.deepEqual(after1.ledger, [90, 10]);
      assert.equal(after1.samples.length, 1);
      assert.deepEqual(after1.policy!.settings, { n: 4 });
      assert.deepEqual(Array.from(after1.forecasts[0]!.forecast.mean), Array.from(forecast(4, 4).mean));
      assert.ok(after1.instances.some((i) => i.id === 'new-4') && !after1.instances.some((i) => i.id === 'new-2' || i.id === 'new-3'));
      // The batch sequences of rolled-back transactions were not consumed.
      assert.equal((await s.appendTelemetry(batch('ag', 2, 'i1', [{ timestampMs: 2000, values: { cpuMillicores: 2 } }]), 30)).duplicate, false);
    });

    test('transaction: calls from outside wait for it and are not part of it; the outer store inside fails with reason usage', async () => {
      const s = await fresh();
      await s.upsertHost({ id: 'h1', capacity: V(1, 1), active: true }, 1);
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const order: string[] = [];
      const txDone = s
        .transaction(async (tx) => {
          await tx.appendAudit([entry(1)]);
          order.push('tx-wrote');
          await gate;
          await rejects(s.lastAuditSeq(), 'usage');
          throw new Error('abort');
        })
        .catch((e: Error) => order.push(`tx-${e.message}`));
      await new Promise((r) => setImmediate(r));
      const outside = s.appendAudit([entry(2)]).then((e) => {
        order.push('outside-wrote');
        return e;
      });
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(order, ['tx-wrote'], 'the outside write must wait for the transaction');
      release();
      await txDone;
      const written = await outside;
      assert.deepEqual(order, ['tx-wrote', 'tx-abort', 'outside-wrote']);
      assert.equal(written[0]!.seq, 1);
      assert.deepEqual((await s.listAudit(ALL_TENANTS)).map((e) => e.action), [entry(2).action]);
      // Two transactions started together run one after the other.
      const seen: number[] = [];
      await Promise.all(
        [1, 2, 3].map((n) =>
          s.transaction(async (tx) => {
            const last = await tx.lastAuditSeq();
            await new Promise((r) => setImmediate(r));
            await tx.appendAudit([entry(n)]);
            seen.push(last);
          }),
        ),
      );
      assert.deepEqual(seen, [1, 2, 3]);
      // A tx used after its transaction ended is refused.
      let leaked!: Store;
      await s.transaction((tx) => {
        leaked = tx;
      });
      await rejects(leaked.lastAuditSeq(), 'usage');
    });

    test('property: the audit log is append-only with gap-free seq, whatever is rolled back', async () => {
      const s = await fresh();
      const committed: AuditInput[] = [];
      let n = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.record({ size: fc.integer({ min: 1, max: 5 }), fail: fc.boolean(), inTx: fc.boolean() }), { minLength: 1, maxLength: 8 }),
          async (steps) => {
            for (const st of steps) {
              const entries = Array.from({ length: st.size }, () => entry(++n, { result: n % 3 === 0 ? 'failed' : 'applied', error: n % 3 === 0 ? `boom ${n}` : null }));
              if (st.inTx || st.fail) {
                const p = s.transaction(async (tx) => {
                  await tx.appendAudit(entries);
                  if (st.fail) throw new Error('rollback');
                });
                if (st.fail) await assert.rejects(p);
                else {
                  await p;
                  committed.push(...entries);
                }
              } else {
                const got = await s.appendAudit(entries);
                assert.deepEqual(
                  got.map((e) => e.seq),
                  entries.map((_, i) => committed.length + i + 1),
                );
                committed.push(...entries);
              }
            }
            const log = await s.listAudit(ALL_TENANTS, { limit: 1_000_000 });
            assert.equal(await s.lastAuditSeq(), committed.length);
            assert.deepEqual(
              log.map((e) => e.seq),
              committed.map((_, i) => i + 1),
            );
            assert.deepEqual(
              log.map((e) => [e.atMs, e.action, e.reasons, e.result, e.error, e.kind]),
              committed.map((e) => [e.atMs, e.action, e.reasons, e.result, e.error ?? null, 'resize']),
            );
            const from = Math.max(0, committed.length - 2);
            const tail = await s.listAudit(ALL_TENANTS, { afterSeq: from });
            assert.deepEqual(
              tail.map((e) => e.seq),
              committed.slice(from).map((_, i) => from + i + 1),
            );
            const newest = await s.listAudit(ALL_TENANTS, { order: 'desc', limit: 1 });
            assert.equal(newest[0]?.seq ?? 0, committed.length);
          },
        ),
        { numRuns: Math.min(numRuns, 25) },
      );
    });

    test('forecasts: the latest per instance and resource, arrays exact; removed with the instance', async () => {
      const s = await fresh();
      await s.upsertInstance(A, instance('i1', 'tenant-a', null), 1);
      await rejects(s.putForecasts([{ instanceId: 'ghost', resource: 'cpu', madeAtMs: 1, stepSeconds: 60, forecast: forecast(2, 0) }]), 'not_found', /ghost/);
      const f1 = forecast(5, 0.1);
      f1.mean[2] = NaN;
      await s.putForecasts([
        { instanceId: 'i1', resource: 'cpu', madeAtMs: 100, stepSeconds: 60, forecast: f1 },
        { instanceId: 'i1', resource: 'memory', madeAtMs: 100, stepSeconds: 60, forecast: { ...forecast(1, 7), anomaly: undefined } },
      ]);
      const got = (await s.getForecast(A, 'i1', 'cpu'))!;
      assert.equal(got.madeAtMs, 100);
      assert.ok(got.forecast.mean instanceof Float64Array);
      assert.deepEqual(Array.from(got.forecast.mean), Array.from(f1.mean));
      assert.deepEqual(got.forecast.quantiles.map((q) => Array.from(q)), f1.quantiles.map((q) => Array.from(q)));
      assert.deepEqual([got.forecast.levels, got.forecast.confidence, got.forecast.model, got.forecast.anomaly], [[0.1, 0.9], 0.75, 'ensemble(ses,holt)', { z: 1.25, flagged: false }]);
      assert.equal((await s.getForecast(A, 'i1', 'memory'))!.forecast.anomaly, undefined);
      await s.putForecasts([{ instanceId: 'i1', resource: 'cpu', madeAtMs: 200, stepSeconds: 30, forecast: forecast(3, 9) }]);
      const latest = await s.listForecasts(A, 'i1');
      assert.deepEqual(latest.map((f) => [f.resource, f.madeAtMs, f.forecast.mean.length]), [
        ['cpu', 200, 3],
        ['memory', 100, 1],
      ]);
      await rejects(s.putForecasts([{ instanceId: 'i1', resource: 'cpu', madeAtMs: 1, stepSeconds: 60, forecast: { ...forecast(2, 0), levels: [0.5] } }]), 'invalid');
      assert.equal(await s.deleteInstance(A, 'i1'), true);
      await s.upsertInstance(A, instance('i1', 'tenant-a', null), 2);
      assert.deepEqual(await s.listForecasts(A, 'i1'), []);
    });

    test('policies: global and per instance, versioned; removed with the instance', async () => {
      const s = await fresh();
      assert.equal(await s.getPolicy(ALL_TENANTS, GLOBAL_POLICY), undefined);
      const g = await s.putPolicy(ALL_TENANTS, GLOBAL_POLICY, { aggressiveness: 0.3, maxMigrationsPerHour: 4 }, 5);
      assert.deepEqual(g, { target: { kind: 'global' }, settings: { aggressiveness: 0.3, maxMigrationsPerHour: 4 }, updatedAtMs: 5, version: 1 });
      assert.equal((await s.putPolicy(ALL_TENANTS, GLOBAL_POLICY, { aggressiveness: 0.4 }, 6)).version, 2);
      assert.deepEqual((await s.getPolicy(A, GLOBAL_POLICY))!.settings, { aggressiveness: 0.4 }, 'a tenant may read the global policy');
      await rejects(s.putPolicy(ALL_TENANTS, { kind: 'instance', instanceId: 'nope' }, {}, 7), 'not_found');
      await s.upsertInstance(A, instance('i1', 'tenant-a', null), 7);
      await s.putPolicy(A, { kind: 'instance', instanceId: 'i1' }, { degradationThreshold: 0.9 }, 8);
      assert.deepEqual((await s.listPolicies(A)).map((p) => p.target), [{ kind: 'global' }, { kind: 'instance', instanceId: 'i1' }]);
      await rejects(s.putPolicy(ALL_TENANTS, GLOBAL_POLICY, { tooBig: 1n }, 9), 'invalid', /settings/);
      await s.deleteInstance(A, 'i1');
      assert.deepEqual((await s.listPolicies(ALL_TENANTS)).map((p) => p.target.kind), ['global']);
      assert.equal(await s.deletePolicy(ALL_TENANTS, GLOBAL_POLICY), true);
      assert.equal(await s.getPolicy(ALL_TENANTS, GLOBAL_POLICY), undefined);
    });

    test('agents and tokens: only hashes are stored; revoked, expired and orphaned tokens do not authenticate', async () => {
      const s = await fresh();
      await rejects(s.createToken({ id: 't0', tokenSha256Hex: 'pst_plaintext-token', role: 'admin', tenant: null, agentId: null }, 1), 'invalid', /sha256/);
      const adminHash = hashToken('admin-secret');
      const admin = await s.createToken({ id: 't-admin', tokenSha256Hex: adminHash, role: 'admin', tenant: null, agentId: null, label: 'bootstrap' }, 1);
      assert.equal(admin.tokenSha256Hex, adminHash);
      assert.ok(!JSON.stringify(await s.listTokens()).includes('admin-secret'));
      assert.deepEqual(await s.authenticate(adminHash, 2), { tokenId: 't-admin', role: 'admin', tenant: null, agentId: null, instanceIds: [] });
      assert.equal(await s.authenticate(hashToken('wrong'), 2), undefined);
      await rejects(s.createToken({ id: 't-dup', tokenSha256Hex: adminHash, role: 'admin', tenant: null, agentId: null }, 1), 'conflict');
      await rejects(s.createToken({ id: 't1', tokenSha256Hex: hashToken('x'), role: 'tenant', tenant: null, agentId: null }, 1), 'invalid', /tenant/);
      await rejects(s.createToken({ id: 't1', tokenSha256Hex: hashToken('x'), role: 'agent', tenant: null, agentId: 'ghost' }, 1), 'not_found', /ghost/);

      const tenantHash = hashToken('tenant-secret');
      await s.createToken({ id: 't-a', tokenSha256Hex: tenantHash, role: 'tenant', tenant: 'tenant-a', agentId: null, expiresAtMs: 100 }, 1);
      assert.equal((await s.authenticate(tenantHash, 99))!.tenant, 'tenant-a');
      assert.equal(await s.authenticate(tenantHash, 100), undefined, 'expired at expiresAtMs');

      const agent = await s.upsertAgent({ id: 'agent-1', tenant: 'tenant-a', instanceIds: ['i2', 'i1', 'i1'] }, 3);
      assert.deepEqual(agent.instanceIds, ['i1', 'i2']);
      const agentHash = hashToken('agent-secret');
      await s.createToken({ id: 't-ag', tokenSha256Hex: agentHash, role: 'agent', tenant: 'tenant-a', agentId: 'agent-1' }, 3);
      assert.deepEqual(await s.authenticate(agentHash, 4), { tokenId: 't-ag', role: 'agent', tenant: 'tenant-a', agentId: 'agent-1', instanceIds: ['i1', 'i2'] });
      await s.upsertAgent({ id: 'agent-1', tenant: 'tenant-a', instanceIds: ['i3'] }, 5);
      assert.deepEqual((await s.authenticate(agentHash, 6))!.instanceIds, ['i3']);
      assert.deepEqual((await s.listAgents()).map((a) => a.id), ['agent-1']);

      assert.equal(await s.revokeToken('t-admin', 7), true);
      assert.equal(await s.revokeToken('t-nope', 7), false);
      assert.equal(await s.authenticate(adminHash, 8), undefined);
      assert.equal((await s.listTokens()).find((t) => t.id === 't-admin')!.revokedAtMs, 7);

      assert.equal(await s.deleteAgent('agent-1', 9), true);
      assert.equal(await s.getAgent('agent-1'), undefined);
      assert.equal(await s.authenticate(agentHash, 10), undefined);
      assert.equal((await s.listTokens()).find((t) => t.id === 't-ag')!.revokedAtMs, 9);
    });

    test('market: profiles, bids and reservations keep their JSON payload and typed fields', async () => {
      const s = await fresh();
      await s.upsertHost({ id: 'h1', capacity: V(8000, 16384), active: true }, 1);
      await s.upsertInstance(A, instance('i1', 'tenant-a', 'h1'), 1);
      const payload = { demand: { cpu: { avg: 500, peak: 2000 } }, bursts: [{ p: 0.1, durationS: 5 }], interruptible: { tolerance: 'minutes' } };
      const p = await s.putProfile(A, { id: 'p1', tenant: 'tenant-a', priority: 'high', instanceId: 'i1', payload }, 2);
      assert.deepEqual(p, { id: 'p1', tenant: 'tenant-a', priority: 'high', instanceId: 'i1', payload, createdAtMs: 2, updatedAtMs: 2 });
      const p2 = await s.putProfile(A, { id: 'p1', tenant: 'tenant-a', priority: 'low', payload: { v: 2 } }, 3);
      assert.deepEqual([p2.priority, p2.instanceId, p2.payload, p2.createdAtMs, p2.updatedAtMs], ['low', null, { v: 2 }, 2, 3]);
      const bid = await s.createBid(A, { id: 'b1', tenant: 'tenant-a', profileId: 'p1', instanceId: 'i1', priceMicrocredits: 1_500_000, priority: 'high', payload: { note: 'x' } }, 4);
      assert.deepEqual([bid.state, bid.priceMicrocredits, bid.instanceId], ['open', 1_500_000, 'i1']);
      await rejects(s.createBid(A, { id: 'b1', tenant: 'tenant-a', profileId: 'p1', priceMicrocredits: 1, priority: 'low', payload: {} }, 4), 'conflict');
      await rejects(s.createBid(A, { id: 'b2', tenant: 'tenant-a', profileId: 'p1', priceMicrocredits: -1, priority: 'low', payload: {} }, 4), 'invalid', /priceMicrocredits/);
      assert.equal((await s.setBidState(A, 'b1', 'accepted', 5)).state, 'accepted');
      assert.deepEqual((await s.listBids(A, { state: 'accepted' })).map((b) => b.id), ['b1']);
      assert.deepEqual(await s.listBids(A, { state: 'open' }), []);
      assert.deepEqual((await s.listBids(ALL_TENANTS, { profileId: 'p1' })).map((b) => b.id), ['b1']);

      const r = await s.createReservation(A, { id: 'r1', tenant: 'tenant-a', hostId: 'h1', instanceId: 'i1', bidId: 'b1', resources: V(500, 256), startMs: 100, endMs: 200 }, 6);
      assert.deepEqual([r.state, r.resources, r.bidId], ['active', V(500, 256), 'b1']);
      await rejects(s.createReservation(A, { id: 'r2', tenant: 'tenant-a', hostId: 'h1', resources: V(1, 1), startMs: 200, endMs: 100 }, 6), 'invalid', /endMs/);
      await rejects(s.createReservation(A, { id: 'r2', tenant: 'tenant-a', hostId: 'h9', resources: V(1, 1), startMs: 1, endMs: 2 }, 6), 'not_found', /h9/);
      assert.deepEqual((await s.listReservations(ALL_TENANTS, { hostId: 'h1', activeAtMs: 150 })).map((x) => x.id), ['r1']);
      assert.deepEqual(await s.listReservations(ALL_TENANTS, { activeAtMs: 200 }), []);
      const released = await s.releaseReservation(A, 'r1', 7);
      assert.deepEqual([released.state, released.updatedAtMs], ['released', 7]);
      assert.deepEqual((await s.listReservations(A, { state: 'released' })).map((x) => x.id), ['r1']);
    });

    test('schema version is reported', async () => {
      const s = await fresh();
      assert.ok((await s.schemaVersion()) >= 1);
    });
  });
}
