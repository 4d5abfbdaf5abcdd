// The agent loop against a local stand-in server: delivery in order with the bearer token,
// buffering across a server restart (every batch exactly once, in order), the spool bound
// dropping the oldest, 4xx not retried, and an agent restart resuming from the spool.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, type AgentOptions } from '../../src/agent/agent.js';
import { backoffDelayMs, serverMessage } from '../../src/agent/sender.js';
import { seededRng } from '../../src/core/rng.js';
import { telemetryBatchSchema } from '../../src/core/telemetry.js';
import { counters, CountingCollector, FakeTelemetryServer, isContiguous, waitFor } from './helpers.js';

const FAST_BACKOFF = { initialMs: 20, maxMs: 80 };

function agentOptions(server: FakeTelemetryServer, spoolDir: string, over: Partial<AgentOptions> = {}): AgentOptions & { logs: string[] } {
  const logs: string[] = [];
  return {
    serverUrl: server.url,
    token: 'agent-token-1',
    agentId: 'agent-1',
    targets: [{ instanceId: 'vm-1', collector: new CountingCollector() }],
    intervalMs: 10,
    batchMs: 50,
    spoolDir,
    spoolMaxBytes: 16 * 1048576,
    rng: seededRng(7),
    backoff: FAST_BACKOFF,
    requestTimeoutMs: 2000,
    log: (l) => logs.push(l),
    logs,
    ...over,
  };
}

async function withEnv(fn: (server: FakeTelemetryServer, spoolDir: string) => Promise<void>): Promise<void> {
  const server = new FakeTelemetryServer();
  const spoolDir = join(mkdtempSync(join(tmpdir(), 'prescient-agent-')), 'spool');
  try {
    await fn(server, spoolDir);
  } finally {
    await server.stop();
    rmSync(join(spoolDir, '..'), { recursive: true, force: true });
  }
}

test('backoff: exponential with equal jitter, capped, reproducible from the seed', () => {
  const o = { initialMs: 100, maxMs: 1000 };
  const a = [0, 1, 2, 3, 4, 5].map((k) => backoffDelayMs(k, seededRng(1), o));
  const b = [0, 1, 2, 3, 4, 5].map((k) => backoffDelayMs(k, seededRng(1), o));
  assert.deepEqual(a, b);
  const caps = [100, 200, 400, 800, 1000, 1000];
  a.forEach((d, k) => assert.ok(d >= caps[k]! / 2 && d <= caps[k]!, `attempt ${k}: ${d}`));
  assert.notEqual(backoffDelayMs(3, seededRng(1), o), backoffDelayMs(3, seededRng(2), o), 'different agents spread out');
  assert.equal(serverMessage('{"error":{"message":"profiles[0].instanceId: not registered"}}'), 'profiles[0].instanceId: not registered');
  assert.equal(serverMessage('plain text'), 'plain text');
});

test('batches arrive in sequence order with the bearer token, each a valid batch of rolling windows', async () => {
  await withEnv(async (server, spoolDir) => {
    await server.start();
    const second = new CountingCollector('second');
    const o = agentOptions(server, spoolDir, {
      targets: [
        { instanceId: 'vm-1', collector: new CountingCollector() },
        { instanceId: 'vm-2', collector: second },
      ],
    });
    const agent = new Agent(o);
    await agent.start();
    await waitFor('3 batches', () => server.stored.length >= 3);
    const stats = await agent.stop();
    assert.equal(stats.spool.batches, 0, 'spool empty after a clean stop');
    const seqs = server.stored.map((b) => b.sequence);
    assert.ok(isContiguous(seqs), `sequences ${seqs}`);
    for (const b of server.stored) assert.ok(telemetryBatchSchema.safeParse(b).success);
    assert.ok(server.arrivals.every((a) => a.authorization === 'Bearer agent-token-1'));
    const first = server.stored[0]!;
    assert.equal(first.agentId, 'agent-1');
    assert.deepEqual(first.profiles.map((p) => p.instanceId), ['vm-1', 'vm-2']);
    assert.equal(first.profiles[0]!.intervalMs, 10);
    // the first reading only primes: counters start at 2, and none is lost or repeated
    const n = counters(server.stored, 'vm-1');
    assert.equal(n[0], 2);
    assert.ok(isContiguous(n), `samples ${n}`);
    assert.equal(stats.samplesSpooled, n.length + counters(server.stored, 'vm-2').length);
    const ts = server.stored.flatMap((b) => b.profiles[0]!.samples.map((s) => s.timestampMs));
    assert.ok(ts.every((t, i) => i === 0 || t >= ts[i - 1]!), 'timestamps never go back');
    assert.ok(Math.abs(ts.at(-1)! - Date.now()) < 5000, 'timestamps from the wall clock');
  });
});

test('buffering across a server restart: every batch arrives exactly once, in order', async () => {
  await withEnv(async (server, spoolDir) => {
    await server.start();
    const o = agentOptions(server, spoolDir);
    const agent = new Agent(o);
    await agent.start();
    await waitFor('2 batches before the outage', () => server.stored.length >= 2);
    await server.stop();
    await waitFor('batches spooled during the outage', () => agent.stats().spool.batches >= 4);
    await waitFor('a few failed retries', () => agent.stats().sender.retries >= 3);
    await server.start(); // same port
    await waitFor('the spool to drain', () => agent.stats().spool.batches === 0 && agent.stats().sender.failingAttempts === 0);
    const stats = await agent.stop();
    const seqs = server.stored.map((b) => b.sequence);
    assert.ok(isContiguous(seqs), `sequences in order, no gap: ${seqs}`);
    assert.equal(seqs.length, stats.batchesSpooled, 'every batch stored');
    const n = counters(server.stored, 'vm-1');
    assert.ok(isContiguous(n) && n.length === stats.samplesSpooled, 'every sample exactly once');
    const resent = server.arrivals.length - server.stored.length;
    assert.ok(resent <= 1, `at most the one in flight at the crash is resent (server dedupes): ${resent}`);
    assert.ok(o.logs.some((l) => /sending batch \d+ failed \(ECONNREFUSED\)/.test(l)), o.logs.join('\n'));
    assert.ok(o.logs.some((l) => /server reachable again after \d+ failed attempts/.test(l)));
  });
});

test('4xx: the batch is dropped with the server\'s message and not retried; 401 and 5xx are retried', async () => {
  await withEnv(async (server, spoolDir) => {
    await server.start();
    let calls = 0;
    let rejectedSeq = -1;
    server.respond = (b) => {
      calls++;
      if (calls === 1) return { status: 500, body: '{"message":"database is locked"}' };
      if (calls === 2) return { status: 401, body: '{"message":"bad token"}' };
      if (calls === 3) {
        rejectedSeq = b.sequence;
        return { status: 400, body: '{"message":"profiles[0].instanceId: vm-1 is not registered for this agent"}' };
      }
      return undefined;
    };
    const o = agentOptions(server, spoolDir);
    const agent = new Agent(o);
    await agent.start();
    await waitFor('batches after the rejected one', () => server.stored.length >= 2);
    const stats = await agent.stop();
    const tries = server.arrivals.filter((a) => a.batch.sequence === rejectedSeq).length;
    assert.equal(tries, 3, 'the first batch: 500, 401 (both retried), then 400 once');
    assert.equal(stats.sender.rejected, 1);
    assert.equal(stats.sender.retries, 2);
    assert.ok(!server.stored.some((b) => b.sequence === rejectedSeq));
    assert.equal(server.stored[0]!.sequence, rejectedSeq + 1, 'the next batch goes on');
    assert.ok(o.logs.some((l) => l.includes(`server rejected batch ${rejectedSeq} (HTTP 400): profiles[0].instanceId: vm-1 is not registered for this agent; dropped, not retried`)), o.logs.join('\n'));
    assert.ok(o.logs.some((l) => /HTTP 401 \(check --token\): bad token/.test(l)));
  });
});

test('spool bound: during a long outage the oldest batches are dropped and counted; the newest all arrive in order', async () => {
  await withEnv(async (server, spoolDir) => {
    await server.start();
    await server.stop(); // a port nothing listens on
    // each batch is ~5 samples of ~100 bytes: a 2 KiB bound holds about four
    const o = agentOptions(server, spoolDir, { spoolMaxBytes: 2048 });
    const agent = new Agent(o);
    await agent.start();
    await waitFor('drops', () => agent.stats().spool.droppedTotal >= 3);
    await server.start();
    await waitFor('the spool to drain', () => agent.stats().spool.batches === 0 && server.stored.length > 0);
    const stats = await agent.stop();
    const seqs = server.stored.map((b) => b.sequence);
    // In order and never twice. (Not necessarily contiguous: sampling goes on while the spool
    // drains, and a batch still queued when the bound is hit again is dropped as the oldest.)
    assert.ok(seqs.every((q, i) => i === 0 || q > seqs[i - 1]!), `arrived in order, none twice: ${seqs}`);
    assert.equal(seqs.length + stats.spool.droppedTotal, stats.batchesSpooled, 'each batch either arrived or was counted as dropped');
    const first = seqs[0]! - stats.spool.droppedTotal;
    assert.ok(first >= 0 && seqs[0]! > first, 'the dropped ones are the oldest');
    assert.ok(o.logs.some((l) => /over its bound of 0\.00 MiB: dropped the \d+ oldest batches/.test(l)), o.logs.join('\n'));
  });
});

test('agent restart: a new agent on the same spool sends what the old one left, then continues the sequence', async () => {
  await withEnv(async (server, spoolDir) => {
    await server.start();
    await server.stop();
    const collector = new CountingCollector();
    const a = new Agent(agentOptions(server, spoolDir, { targets: [{ instanceId: 'vm-1', collector }] }));
    await a.start();
    await waitFor('3 spooled batches', () => a.stats().spool.batches >= 3);
    const left = await a.stop(0);
    assert.ok(left.spool.batches >= 3 && server.stored.length === 0);

    await server.start();
    const o = agentOptions(server, spoolDir, { targets: [{ instanceId: 'vm-1', collector }] });
    const b = new Agent(o);
    await b.start();
    await waitFor('old and new batches', () => server.stored.length >= left.spool.batches + 2);
    const after = await b.stop();
    const seqs = server.stored.map((x) => x.sequence);
    assert.ok(isContiguous(seqs), `one sequence across both runs: ${seqs}`);
    assert.equal(seqs.length, left.batchesSpooled + after.batchesSpooled);
    assert.ok(o.logs.some((l) => new RegExp(`resuming with ${left.spool.batches} unsent batches`).test(l)));
    // the counter kept going across the restart; the new agent's first reading only primed
    const n = counters(server.stored, 'vm-1');
    assert.equal(n.length, left.samplesSpooled + after.samplesSpooled);
    assert.ok(isContiguous(n.slice(0, left.samplesSpooled)) && isContiguous(n.slice(left.samplesSpooled)));
  });
});

test('a slow target makes ticks overrun: reported and skipped, never bunched up', async () => {
  await withEnv(async (server, spoolDir) => {
    await server.start();
    const slow = new CountingCollector('slow');
    const orig = slow.collect.bind(slow);
    slow.collect = async () => {
      await sleep(35);
      return orig();
    };
    const o = agentOptions(server, spoolDir, { targets: [{ instanceId: 'vm-1', collector: slow }], intervalMs: 10, batchMs: 100 });
    const agent = new Agent(o);
    await agent.start();
    await sleep(300);
    const stats = await agent.stop();
    assert.ok(stats.overruns > 0, 'overruns counted');
    assert.ok(o.logs.some((l) => /sampling overran its 10 ms interval: \d+ sample\(s\) skipped/.test(l)));
    const ts = server.stored.flatMap((b) => b.profiles[0]!.samples.map((s) => s.timestampMs));
    assert.ok(ts.every((t, i) => i === 0 || t - ts[i - 1]! >= 30), `samples spaced by the slow reads: ${ts.map((t) => t - ts[0]!)}`);
  });
});
