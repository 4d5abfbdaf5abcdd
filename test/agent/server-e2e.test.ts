// The agent against the real control plane (src/server on a SQLite file): buffering across a
// server restart delivers every sample exactly once and in order into the store, and an agent
// reporting an instance its token is not registered for is refused (403) and not retried.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Agent } from '../../src/agent/agent.js';
import { HostCollector } from '../../src/agent/collectors.js';
import { seededRng } from '../../src/core/rng.js';
import type { StoredSample } from '../../src/core/store.js';
import { startService, type Service } from '../../src/server/service.js';
import { CountingCollector, isContiguous, waitFor } from './helpers.js';

async function start(dbPath: string, port = 0): Promise<Service> {
  return startService({ dbPath, port, manualTicks: true, fleet: { hosts: 2, instances: 4, seed: 7 }, persistFleetTelemetry: false, onError: () => {} });
}

async function agentToken(svc: Service, admin: string, agentId: string, instanceIds: string[]): Promise<string> {
  const r = await fetch(`${svc.url}/v1/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({ role: 'agent', agentId, instanceIds }),
  });
  assert.equal(r.status, 201, await r.clone().text());
  return ((await r.json()) as { token: string }).token;
}

async function samplesOf(svc: Service, agentId: string): Promise<StoredSample[]> {
  const page = await svc.store.readTelemetrySince(0, 1_000_000);
  return page.samples.filter((s) => s.agentId === agentId);
}

test('real server: buffering across a restart of the control plane, every sample stored exactly once, in order', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'prescient-agent-e2e-'));
  let svc: Service | undefined;
  let agent: Agent | undefined;
  try {
    svc = await start(join(dir, 'cp.db'));
    const port = svc.port;
    const token = await agentToken(svc, svc.adminToken!, 'agent-e2e', ['syn-0000', 'syn-0002']);
    const logs: string[] = [];
    agent = new Agent({
      serverUrl: svc.url,
      token,
      agentId: 'agent-e2e',
      targets: [
        { instanceId: 'syn-0000', collector: new CountingCollector() },
        { instanceId: 'syn-0002', collector: new HostCollector({ metrics: new Set(['cpu', 'memory']), log: () => {} }) },
      ],
      intervalMs: 20,
      batchMs: 100,
      spoolDir: join(dir, 'spool'),
      spoolMaxBytes: 16 * 1048576,
      rng: seededRng(3),
      backoff: { initialMs: 20, maxMs: 100 },
      log: (l) => logs.push(l),
    });
    await agent.start();
    await waitFor('2 batches stored', () => agent!.stats().sender.stored >= 2, 10_000);
    await svc.close();
    svc = undefined;
    await waitFor('batches spooled while the server is down', () => agent!.stats().spool.batches >= 3 && agent!.stats().sender.retries >= 2, 10_000);
    svc = await start(join(dir, 'cp.db'), port); // same file, same port: the token is still valid
    assert.equal(svc.adminToken, undefined, 'the restarted server kept its state');
    await waitFor('the spool to drain', () => agent!.stats().spool.batches === 0 && agent!.stats().sender.failingAttempts === 0, 10_000);
    const stats = await agent.stop();
    agent = undefined;
    assert.equal(stats.sender.rejected, 0, logs.join('\n'));

    const stored = await samplesOf(svc, 'agent-e2e');
    const counting = stored.filter((s) => s.instanceId === 'syn-0000').map((s) => s.custom?.['n'] ?? NaN);
    assert.equal(stored.length, stats.samplesSpooled, 'every spooled sample is in the store');
    assert.equal(counting[0], 2, 'from the first reported sample');
    assert.ok(isContiguous(counting), `each sample once, in order: ${counting}`);
    const host = stored.filter((s) => s.instanceId === 'syn-0002');
    assert.ok(host.length > 0 && host.every((s) => s.values['memoryMiB']! > 0 && s.values['cpuMillicores']! >= 0));
    assert.ok(logs.some((l) => /server reachable again/.test(l)));
  } finally {
    if (agent) await agent.stop(0);
    if (svc) await svc.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('real server: an agent reporting an instance it is not registered for is refused, told why, and not retried', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'prescient-agent-e2e-'));
  const svc = await start(join(dir, 'cp.db'));
  try {
    const token = await agentToken(svc, svc.adminToken!, 'agent-spoof', ['syn-0000']);
    const logs: string[] = [];
    const agent = new Agent({
      serverUrl: svc.url,
      token,
      agentId: 'agent-spoof',
      targets: [{ instanceId: 'syn-0001', collector: new CountingCollector() }],
      intervalMs: 20,
      batchMs: 60,
      spoolDir: join(dir, 'spool'),
      spoolMaxBytes: 1048576,
      rng: seededRng(4),
      log: (l) => logs.push(l),
    });
    await agent.start();
    await waitFor('two refusals', () => agent.stats().sender.rejected >= 2, 10_000);
    const stats = await agent.stop();
    assert.equal(stats.sender.retries, 0, 'a 403 is not retried');
    assert.equal(stats.sender.stored, 0);
    assert.equal((await samplesOf(svc, 'agent-spoof')).length, 0, 'nothing stored');
    assert.ok(logs.some((l) => /\(HTTP 403\): .*not registered for instance "syn-0001"; dropped, not retried/.test(l)), logs.join('\n'));
  } finally {
    await svc.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
