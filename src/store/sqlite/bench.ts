// Speed of the SQLite store on a temp file:
// 1. telemetry ingestion: 100,000 samples (7 metrics + 1 custom each, 100 instances) appended in
//    batches, for several batch sizes and both synchronous levels;
// 2. a control-loop commit at scale: list 10,000 instances, then in one transaction patch all
//    10,000 allocations with 100 audit entries, and store 10,000 forecasts (60 steps, 3 quantiles);
// 3. a market tick on the ledger: 40,000 entries (credits and cpu for 10,000 instances) and the
//    market state in one transaction, then listBalances (one tenant, all, one prefix) as the
//    ledger grows.
// Usage: npx tsx src/store/sqlite/bench.ts [samples]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vec } from '../../core/resources.js';
import { ALL_TENANTS, tenantScope } from '../../core/store.js';
import type { TelemetryBatch } from '../../core/telemetry.js';
import { openSqliteStore } from './sqlite-store.js';

const total = Number(process.argv[2] ?? 100_000);
const instances = 100;
const dir = mkdtempSync(join(tmpdir(), 'prescient-bench-'));

function makeBatches(samplesPerBatch: number): TelemetryBatch[] {
  const batches: TelemetryBatch[] = [];
  const perInstance = Math.max(1, Math.floor(samplesPerBatch / instances));
  const instancesPerBatch = Math.min(instances, samplesPerBatch);
  let t = 0;
  let made = 0;
  while (made < total) {
    const profiles = [];
    for (let k = 0; k < instancesPerBatch && made < total; k++) {
      const samples = [];
      for (let j = 0; j < perInstance && made < total; j++, made++)
        samples.push({
          timestampMs: 1_700_000_000_000 + (t + j) * 1000,
          values: { cpuMillicores: 100 + (made % 900), memoryMiB: 2048 + (made % 77), diskReadKiBps: 5, diskWriteKiBps: 7, networkRxKiBps: 11, networkTxKiBps: 13, cpuPressurePct: 1.5 },
          custom: { rps: made % 50 },
        });
      profiles.push({ instanceId: `vm-${(batches.length * instancesPerBatch + k) % instances}`, intervalMs: 1000, samples });
    }
    t += perInstance;
    batches.push({ agentId: 'bench', sequence: batches.length, sentAtMs: 0, profiles });
  }
  return batches;
}

try {
  for (const synchronous of ['FULL', 'NORMAL'] as const) {
    for (const size of [100, 1000, 10_000]) {
      const batches = makeBatches(size);
      const store = openSqliteStore(join(dir, `${synchronous}-${size}.db`), { synchronous });
      const lat: number[] = [];
      const t0 = performance.now();
      let stored = 0;
      for (const b of batches) {
        const s = performance.now();
        stored += (await store.appendTelemetry(b, 0)).samplesStored;
        lat.push(performance.now() - s);
      }
      const s = (performance.now() - t0) / 1000;
      lat.sort((a, b) => a - b);
      const p99 = lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.99))]!;
      console.log(
        `synchronous=${synchronous.padEnd(6)} batch=${String(size).padStart(6)}: ${stored} samples in ${s.toFixed(2)} s = ${Math.round(stored / s).toLocaleString('en')} samples/s; per batch p50 ${lat[lat.length >> 1]!.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms`,
      );
      await store.close();
    }
  }
  const s = openSqliteStore(join(dir, 'fleet.db'));
  await s.transaction(async (tx) => {
    for (let h = 0; h < 1000; h++) await tx.upsertHost({ id: `h${h}`, capacity: vec({ cpuMillicores: 32000, memoryMiB: 65536 }), active: true }, 1);
    for (let i = 0; i < 10_000; i++)
      await tx.upsertInstance(
        ALL_TENANTS,
        { id: `i${i}`, tenant: `t${i % 10}`, hostId: `h${i % 1000}`, priority: 'normal', request: vec({ cpuMillicores: 1000 }), allocation: vec({ cpuMillicores: 1000 }), state: 'running' },
        1,
      );
  });
  const h = 60;
  const mean = new Float64Array(h).fill(1);
  for (let round = 0; round < 3; round++) {
    let t = performance.now();
    const all = await s.listInstances(ALL_TENANTS);
    const tList = performance.now() - t;
    t = performance.now();
    await s.transaction(async (tx) => {
      await tx.updateInstances(ALL_TENANTS, all.map((i) => ({ id: i.id, allocation: vec({ cpuMillicores: 900 + round }) })), 2);
      await tx.appendAudit(all.slice(0, 100).map((i) => ({ atMs: 2, actor: 'bench', action: { kind: 'resize', instance: i.id }, reasons: ['bench'], result: 'applied' as const })));
    });
    const tUpdate = performance.now() - t;
    t = performance.now();
    await s.putForecasts(all.map((i) => ({ instanceId: i.id, resource: 'cpu', madeAtMs: 3, stepSeconds: 60, forecast: { mean, quantiles: [mean, mean, mean], levels: [0.1, 0.5, 0.9], confidence: 0.5, model: 'bench' } })));
    const tForecasts = performance.now() - t;
    console.log(`fleet round ${round + 1}: list 10k instances ${tList.toFixed(1)} ms; patch 10k allocations + 100 audit entries (one transaction) ${tUpdate.toFixed(1)} ms; 10k forecasts ${tForecasts.toFixed(1)} ms`);
  }
  // A market tick on the ledger: per instance a CPU-credit accrual and a CPU allocation change
  // (two double entries, 4 ledger entries, one group each) = 40,000 entries, and the market state
  // (one JSON value per instance), in one transaction. Then the balances the API reads: one
  // tenant's (1,000 instances), every balance, and one prefix. The ledger grows every round; the
  // balance reads should not (they come from the balance cache, not from summing the ledger).
  const allowNegative = ['system:', 'host:'];
  for (let round = 0; round < 5; round++) {
    let t = performance.now();
    await s.transaction(async (tx) => {
      const entries = [];
      for (let i = 0; i < 10_000; i++) {
        const g = `tick:${round}/i${i}`;
        entries.push(
          { account: `credits:i${i}`, asset: 'credit' as const, delta: 120, reason: 'accrual', group: `${g}/credit` },
          { account: 'system:credit-issuer', asset: 'credit' as const, delta: -120, reason: 'accrual', group: `${g}/credit` },
          { account: `alloc:i${i}`, asset: 'cpu' as const, delta: 10, reason: 'allocate', ref: `i${i}`, group: `${g}/cpu` },
          { account: `host:h${i % 1000}`, asset: 'cpu' as const, delta: -10, reason: 'allocate', ref: `i${i}`, group: `${g}/cpu` },
        );
      }
      await tx.appendLedger(entries, 10 + round, { allowNegative });
      await tx.putMarketState('credits', { round, instances: Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`i${i}`, { class: 't3.micro', mode: 'standard', carry: i / 7 }])) }, 10 + round);
    });
    const tTick = performance.now() - t;
    t = performance.now();
    const tenant = await s.listBalances(tenantScope('t3'));
    const tTenant = performance.now() - t;
    t = performance.now();
    const every = await s.listBalances(ALL_TENANTS);
    const tAll = performance.now() - t;
    t = performance.now();
    const hosts = await s.listBalances(ALL_TENANTS, { prefix: 'host:', asset: 'cpu' });
    const tPrefix = performance.now() - t;
    console.log(
      `ledger round ${round + 1} (${(40_000 * (round + 1)).toLocaleString('en')} entries stored): tick of 40k entries + market state (one transaction) ${tTick.toFixed(1)} ms; ` +
        `listBalances one tenant (${tenant.length}) ${tTenant.toFixed(1)} ms, all (${every.length}) ${tAll.toFixed(1)} ms, prefix host: (${hosts.length}) ${tPrefix.toFixed(1)} ms`,
    );
  }
  await s.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
