// kill -9 of the running service during a write load, then a restart on the same database:
// every write the API acknowledged is there, and the audit log is consistent with the state it
// describes (gap-free, and each instance's latest applied move and resize match the stored
// instance: allocations and audit entries commit in one transaction).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ALL_TENANTS } from '../../src/core/store.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { repoRoot, startCommand } from './start-command.js';

async function start(db: string, extra: string[] = []): Promise<{ child: ChildProcess; url: string; token?: string }> {
  const child = spawn(process.execPath, [...startCommand().args, '--port', '0', '--db', db, '--tick-ms', '50', '--hosts', '4', '--instances', '16', ...extra], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  const t0 = Date.now();
  while (Date.now() - t0 < 15_000) {
    const url = /dashboard and API: (http:\/\/[^\s/]+)\//.exec(out)?.[1];
    if (url && out.includes('Ctrl-C stops')) {
      const token = /admin token: +(psk_\S+)/.exec(out)?.[1];
      return { child, url, ...(token ? { token } : {}) };
    }
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 30));
  }
  child.kill('SIGKILL');
  throw new Error(`service did not start: ${out}\n${err}`);
}

test('kill -9 during a write load, then restart: no acknowledged write is lost, the audit log stays consistent', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'prescient-crash-'));
  const db = join(dir, 'p.db');
  let child: ChildProcess | undefined;
  try {
    const s1 = await start(db);
    child = s1.child;
    const admin = s1.token!;
    const tok = await fetch(`${s1.url}/v1/tokens`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ role: 'tenant', tenant: 'demo-a' }) });
    const tenant = ((await tok.json()) as { token: string }).token;
    const acked: string[] = [];
    let stop = false;
    let n = 0;
    // 6 writers: workload profiles (one row each) acknowledged with 201.
    const writers = Array.from({ length: 6 }, async (_, w) => {
      while (!stop) {
        const id = `prof-${w}-${n++}`;
        try {
          const r = await fetch(`${s1.url}/submit_workload_profile`, {
            method: 'POST',
            headers: { authorization: `Bearer ${tenant}`, 'content-type': 'application/json' },
            body: JSON.stringify({ id, priority: 'normal', demand: { cpuMillicores: { average: 1, peak: 2 }, memoryMiB: { average: 1, peak: 2 } }, interruptibility: { tolerance: 'high', maxPerDay: 1, maxDurationSeconds: 1 } }),
          });
          if (r.status === 201) acked.push(id);
          await r.arrayBuffer();
        } catch {
          // the connection died with the process
        }
      }
    });
    // Let the load and the control loop (a tick every 50 ms) run, then kill -9 mid-stream.
    await new Promise((r) => setTimeout(r, 1500));
    child.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
    stop = true;
    await Promise.all(writers);
    assert.ok(acked.length > 20, `a write load ran (${acked.length} acknowledged)`);
    t.diagnostic(`${acked.length} acknowledged writes before kill -9`);

    // Restart on the same file: it opens, serves, and its loop carries on.
    const s2 = await start(db);
    child = s2.child;
    assert.equal(s2.token, undefined, 'the admin token is not re-created');
    const h = await fetch(`${s2.url}/healthz`);
    assert.equal(h.status, 200);
    const list = await fetch(`${s2.url}/v1/profiles`, { headers: { authorization: `Bearer ${tenant}` } });
    const ids = new Set(((await list.json()) as { profiles: Array<{ id: string }> }).profiles.map((p) => p.id));
    const lost = acked.filter((id) => !ids.has(id));
    assert.deepEqual(lost, [], 'every acknowledged write survived');
    child.kill('SIGTERM');
    await new Promise((r) => child!.once('exit', r));
    child = undefined;

    // The audit log against the state it describes.
    const store = openSqliteStore(db);
    try {
      const audit = await store.listAudit(ALL_TENANTS, { limit: 1_000_000 });
      assert.ok(audit.length > 0);
      audit.forEach((e, i) => assert.equal(e.seq, i + 1, 'gap-free'));
      const instances = await store.listInstances(ALL_TENANTS);
      for (const inst of instances) {
        const mine = audit.filter((e) => e.instanceId === inst.id && e.result === 'applied');
        const lastMove = mine.filter((e) => e.kind === 'migrate').pop();
        if (lastMove) assert.equal(inst.hostId, (lastMove.action as { to: string }).to, `${inst.id}: host = its last applied move`);
        const lastResize = mine.filter((e) => e.kind === 'resize').pop();
        if (lastResize) {
          const a = lastResize.action as { cpu: number; memory: number };
          if (Number.isFinite(a.cpu)) assert.equal(inst.allocation.cpuMillicores, a.cpu, `${inst.id}: allocation = its last applied resize`);
        }
      }
      const hosts = await store.listHosts();
      for (const host of hosts) {
        const last = audit.filter((e) => e.kind === 'power' && e.hostId === host.id && e.result === 'applied').pop();
        if (last) assert.equal(host.active, (last.action as { on: boolean }).on, `${host.id}: power = its last applied power action`);
      }
    } finally {
      await store.close();
    }
  } finally {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
