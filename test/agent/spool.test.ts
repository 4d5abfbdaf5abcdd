// The durable spool: sequences, atomic files, recovery after a crash, the size bound dropping the
// oldest, corrupt files set aside, and the lock.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { batchFileName, Spool } from '../../src/agent/spool.js';
import type { TelemetryBatch } from '../../src/core/telemetry.js';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'prescient-spool-'));
}

const batch = (sequence: number, n = 1): TelemetryBatch => ({
  agentId: 'a1',
  sequence,
  sentAtMs: 1_700_000_000_000,
  profiles: [{ instanceId: 'vm-1', intervalMs: 1000, samples: Array.from({ length: n }, (_, i) => ({ timestampMs: 1_700_000_000_000 + i * 1000, values: { cpuMillicores: i } })) }],
});
const size = (seq: number, n = 1) => Buffer.byteLength(JSON.stringify(batch(seq, n)));

test('sequences start at firstSequence, continue across a reopen, and pending batches come back in order', async () => {
  const dir = tmp();
  try {
    const logs: string[] = [];
    const s = await Spool.open({ dir, maxBytes: 1e9, log: (l) => logs.push(l), firstSequence: 500 });
    assert.equal(s.nextSequence, 500);
    for (let i = 0; i < 3; i++) assert.deepEqual(await s.append(batch), { sequence: 500 + i, dropped: 0 });
    await s.remove(501);
    assert.deepEqual(s.pending(), [500, 502]);
    await s.close();
    assert.deepEqual(readdirSync(dir).sort(), [batchFileName(500), batchFileName(502), 'state.json']);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')), { nextSequence: 503 });

    const again = await Spool.open({ dir, maxBytes: 1e9, log: (l) => logs.push(l), firstSequence: 9999 });
    assert.deepEqual(again.pending(), [500, 502]);
    assert.equal(again.nextSequence, 503, 'the persisted sequence wins over firstSequence');
    assert.deepEqual(await again.read(502), batch(502));
    assert.equal(await again.read(501), undefined);
    assert.ok(logs.some((l) => /resuming with 2 unsent batches/.test(l)));
    await again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('after a crash: an interrupted temp file is removed, and a state behind the batch files is corrected', async () => {
  const dir = tmp();
  try {
    const s = await Spool.open({ dir, maxBytes: 1e9, log: () => {}, firstSequence: 0 });
    for (let i = 0; i < 3; i++) await s.append(batch);
    await s.close();
    // crash between writing batch 3 and the state; and a half-written temp of batch 4
    writeFileSync(join(dir, batchFileName(3)), JSON.stringify(batch(3)));
    writeFileSync(join(dir, `.${batchFileName(4)}.123.abcd.tmp`), '{"agentId":"a1","seq');
    writeFileSync(join(dir, 'state.json'), JSON.stringify({ nextSequence: 3 }));
    writeFileSync(join(dir, 'lock'), '999999999\n'); // its agent is long dead
    const r = await Spool.open({ dir, maxBytes: 1e9, log: () => {}, firstSequence: 0 });
    assert.deepEqual(r.pending(), [0, 1, 2, 3]);
    assert.equal(r.nextSequence, 4);
    assert.ok(!readdirSync(dir).some((n) => n.endsWith('.tmp')));
    await r.close();

    rmSync(join(dir, 'state.json'));
    const r2 = await Spool.open({ dir, maxBytes: 1e9, log: () => {}, firstSequence: 0 });
    assert.equal(r2.nextSequence, 4, 'state lost: recovered from the batch files');
    await r2.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the bound drops the OLDEST batches, counts them and says how many; the new batch is always kept', async () => {
  const dir = tmp();
  try {
    const logs: string[] = [];
    const s = await Spool.open({ dir, maxBytes: 3 * size(10), log: (l) => logs.push(l), firstSequence: 10 });
    for (let i = 0; i < 3; i++) assert.equal((await s.append(batch)).dropped, 0);
    assert.deepEqual(await s.append(batch), { sequence: 13, dropped: 1 });
    assert.deepEqual(await s.append((q) => batch(q, 2)), { sequence: 14, dropped: 2 }, 'a bigger batch pushes out two');
    assert.deepEqual(s.pending(), [13, 14]);
    assert.equal(s.stats().droppedTotal, 3);
    assert.ok(s.stats().bytes <= 3 * size(10));
    assert.match(logs.at(-1)!, /dropped the 2 oldest batches \(sequences 11\.\.12\); 3 dropped since start/);
    assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith('batch-')).sort(), [batchFileName(13), batchFileName(14)]);
    // a batch larger than the whole bound is kept (alone)
    assert.deepEqual(await s.append((q) => batch(q, 50)), { sequence: 15, dropped: 2 });
    assert.deepEqual(s.pending(), [15]);
    await s.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the batch in flight is never dropped over the bound (it may already be at the server); the next oldest goes', async () => {
  const dir = tmp();
  try {
    const s = await Spool.open({ dir, maxBytes: 3 * size(10), log: () => {}, firstSequence: 10 });
    for (let i = 0; i < 3; i++) await s.append(batch);
    s.markSending(10);
    assert.deepEqual(await s.append(batch), { sequence: 13, dropped: 1 });
    assert.deepEqual(s.pending(), [10, 12, 13]);
    s.markSending(undefined);
    await s.remove(10);
    assert.deepEqual(await s.append(batch), { sequence: 14, dropped: 0 });
    await s.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('property: under any mix of appends and acknowledgements, nothing is lost within the bound and only the oldest are dropped', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.oneof(fc.integer({ min: 1, max: 4 }), fc.constant(0)), { maxLength: 30 }), fc.integer({ min: 1, max: 6 }), async (ops, boundBatches) => {
      const dir = tmp();
      try {
        const maxBytes = boundBatches * size(1000) + 10;
        const s = await Spool.open({ dir, maxBytes, log: () => {}, firstSequence: 1000 });
        const model: Array<[number, number]> = []; // [sequence, bytes] pending
        for (const op of ops) {
          if (op === 0) {
            // the server acknowledged the oldest
            const seq = s.oldest();
            assert.equal(seq, model[0]?.[0]);
            if (seq !== undefined) {
              await s.remove(seq);
              model.shift();
            }
            continue;
          }
          const r = await s.append((q) => batch(q, op));
          const sz = size(r.sequence, op);
          let dropped = 0;
          while (model.length > 0 && model.reduce((a, [, b]) => a + b, 0) + sz > maxBytes) {
            model.shift();
            dropped++;
          }
          model.push([r.sequence, sz]);
          assert.equal(r.dropped, dropped);
        }
        assert.deepEqual(s.pending(), model.map(([q]) => q));
        await s.close();
        const reopened = await Spool.open({ dir, maxBytes, log: () => {}, firstSequence: 0 });
        assert.deepEqual(reopened.pending(), model.map(([q]) => q), 'what is pending survives a reopen');
        for (const [q] of model) assert.equal((await reopened.read(q))?.sequence, q);
        await reopened.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }),
    { numRuns: 25 },
  );
});

test('a corrupt batch file is set aside, not sent and not fatal', async () => {
  const dir = tmp();
  try {
    const logs: string[] = [];
    const s = await Spool.open({ dir, maxBytes: 1e9, log: (l) => logs.push(l), firstSequence: 0 });
    await s.append(batch);
    await s.append(batch);
    writeFileSync(join(dir, batchFileName(0)), '{"agentId": "a1", "sequence": 0, "profiles": "nope"}');
    assert.equal(await s.read(0), undefined);
    assert.deepEqual(s.pending(), [1]);
    assert.ok(existsSync(join(dir, `${batchFileName(0)}.corrupt`)));
    assert.match(logs.join('\n'), /batch-0000000000000000\.json is not a valid batch/);
    await s.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('one spool, one agent: a second open is refused while the first holds the lock', async () => {
  const dir = tmp();
  const other = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    const s = await Spool.open({ dir, maxBytes: 1e9, log: () => {}, firstSequence: 0 });
    await assert.rejects(Spool.open({ dir, maxBytes: 1e9, log: () => {}, firstSequence: 0 }), /already open in this process/);
    await s.close();
    writeFileSync(join(dir, 'lock'), `${other.pid}\n`);
    await assert.rejects(Spool.open({ dir, maxBytes: 1e9, log: () => {}, firstSequence: 0 }), new RegExp(`in use by another agent \\(pid ${other.pid}\\)`));
  } finally {
    other.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
