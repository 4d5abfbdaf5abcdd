// Durability: a writer process is killed with SIGKILL in the middle of a write load, twice (the
// second run reopens the same file and carries on). After each kill the store reopens, and every
// write the writer acknowledged (printed after its commit returned) is there, each transaction is
// all-or-nothing, and the audit log's sequence is gap-free.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ALL_TENANTS } from '../../src/core/store.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';

const writer = fileURLToPath(new URL('./crash-writer.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'prescient-crash-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the writer until it has acknowledged `minAcks` writes (after 'ready'), then SIGKILLs it. */
function runAndKill(path: string, round: number, minAcks: number): Promise<{ tx: string[]; tel: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', writer, path, String(round)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const tx: string[] = [];
    const tel: string[] = [];
    let buf = '';
    let stderr = '';
    let killed = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`writer made too little progress (${tx.length} acks); stderr: ${stderr}`));
    }, 20_000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buf += chunk;
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) {
        if (l.startsWith('tx ')) tx.push(l.slice(3));
        else if (l.startsWith('tel ')) tel.push(l.slice(4));
      }
      if (!killed && tx.length >= minAcks) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      // Lines already in the pipe when the kill landed were acknowledged before it.
      for (const l of buf.split('\n')) if (l.startsWith('tx ')) tx.push(l.slice(3));
      if (signal !== 'SIGKILL') reject(new Error(`writer exited by itself (code ${code}): ${stderr}`));
      else resolve({ tx, tel });
    });
  });
}

test('kill -9 during a write load loses no acknowledged write; transactions stay whole; the audit log stays gap-free', { timeout: 60_000 }, async (t) => {
  const path = join(dir, 'crash.db');
  const acked: string[] = [];
  const ackedTel: string[] = [];
  for (const round of [1, 2]) {
    const { tx, tel } = await runAndKill(path, round, 300);
    assert.ok(tx.length >= 300, `round ${round}: ${tx.length} acknowledged writes`);
    acked.push(...tx);
    ackedTel.push(...tel);

    const s = openSqliteStore(path);
    try {
      assert.deepEqual(await s.integrityCheck(), [], 'SQLite integrity, foreign keys and ledger balances');
      const instances = new Set((await s.listInstances(ALL_TENANTS)).map((i) => i.id));
      for (const id of acked) assert.ok(instances.has(id), `acknowledged write ${id} is missing after kill -9`);
      const audit = await s.listAudit(ALL_TENANTS, { limit: 1_000_000 });
      assert.deepEqual(
        audit.map((e) => e.seq),
        audit.map((_, i) => i + 1),
        'audit seq gap-free',
      );
      // All-or-nothing: every committed transaction left its instance, its audit entry and its
      // two ledger entries; nothing else is there (per run, at most one write committed but not yet
      // acknowledged when the kill landed).
      assert.deepEqual(audit.map((e) => e.instanceId).sort(), [...instances].sort());
      assert.ok(instances.size >= acked.length && instances.size <= acked.length + round, `${instances.size} committed vs ${acked.length} acknowledged`);
      t.diagnostic(`round ${round}: ${acked.length} acknowledged, ${instances.size} committed, ${audit.length} audit entries`);
      assert.equal(await s.balance(ALL_TENANTS, 'sink'), instances.size);
      assert.equal(await s.balance(ALL_TENANTS, 'pool'), -instances.size);
      assert.equal((await s.listLedger(ALL_TENANTS, 'sink', { limit: 1_000_000 })).length, instances.size);
      for (const id of ackedTel) {
        const samples = await s.querySamples(ALL_TENANTS, id, { fromMs: 0, toMs: Number.MAX_SAFE_INTEGER });
        assert.equal(samples.length, 1, `acknowledged telemetry of ${id} is missing`);
      }
    } finally {
      await s.close();
    }
  }
});
