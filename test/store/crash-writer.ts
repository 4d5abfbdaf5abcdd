// Child process of crash.test.ts: writes to a store in a loop and prints each write's id on
// stdout only after its commit returned (stdout to a pipe is synchronous on Linux), until it is
// killed. Usage: node --import tsx test/store/crash-writer.ts <db path> <round>
import { ALL_TENANTS, type Store } from '../../src/core/store.js';
import { vec } from '../../src/core/resources.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';

const [path, round] = process.argv.slice(2);
if (!path || !round) throw new Error('usage: crash-writer.ts <db path> <round>');
const store: Store = openSqliteStore(path);
const ack = (line: string): void => void process.stdout.write(`${line}\n`);

await store.upsertHost({ id: 'h1', capacity: vec({ cpuMillicores: 1e9, memoryMiB: 1e9 }), active: true }, Date.now());
ack('ready');
for (let i = 0; ; i++) {
  const id = `r${round}-${i}`;
  const now = Date.now();
  // A tick-like commit: an instance, its audit entry and a ledger transfer, atomically. The
  // transaction spans event-loop turns, so the kill can land while it is open.
  await store.transaction(async (tx) => {
    await tx.upsertInstance(ALL_TENANTS, {
      id,
      tenant: 'crash',
      hostId: 'h1',
      priority: 'normal',
      request: vec({ cpuMillicores: i }),
      allocation: vec({ cpuMillicores: i }),
      state: 'running',
    }, now);
    await new Promise((r) => setImmediate(r));
    await tx.appendAudit([{ atMs: now, actor: 'crash-writer', action: { kind: 'create', id }, reasons: ['load'], result: 'applied', instanceId: id, tenant: 'crash' }]);
    await tx.transferCredits({ from: 'pool', to: 'sink', amount: 1, reason: 'tick', ref: id }, now, { allowNegative: true });
  });
  ack(`tx ${id}`);
  // Telemetry outside any transaction (one batch = one implicit transaction).
  const r = await store.appendTelemetry(
    { agentId: `agent-${round}`, sequence: i, sentAtMs: now, profiles: [{ instanceId: id, intervalMs: 1000, samples: [{ timestampMs: 1000 * i, values: { cpuMillicores: i } }] }] },
    now,
  );
  if (r.samplesStored !== 1) throw new Error(`batch ${i}: stored ${r.samplesStored}`);
  ack(`tel ${id}`);
}
