// Telemetry ingestion speed of the SQLite store: 100,000 samples (10 metrics each, 100 instances)
// appended in batches, for several batch sizes and both synchronous levels.
// Usage: npx tsx src/store/sqlite/bench-telemetry.ts [samples]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
} finally {
  rmSync(dir, { recursive: true, force: true });
}
