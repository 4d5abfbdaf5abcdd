// `prescient agent`: option checking, and the real binary sampling this host: killed with -9
// while the server is down, restarted, it sends everything it had spooled, exactly once and in
// order, then stops cleanly on SIGTERM.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseAgentConfig, TOKEN_ENV } from '../../src/agent/config.js';
import { ValidationError } from '../../src/core/errors.js';
import { FakeTelemetryServer, isContiguous, waitFor } from './helpers.js';

const BIN = join(process.cwd(), 'bin', 'prescient');

test('options: defaults, targets as NAME=instanceId, token from the environment', () => {
  const c = parseAgentConfig({ server: 'http://127.0.0.1:9000/', hostId: 'host-1', cgroup: ['machine.slice/vm-a=vm-a', 'b=vm-b'], pid: ['42=web'] }, { [TOKEN_ENV]: 'tok' });
  assert.equal(c.serverUrl, 'http://127.0.0.1:9000');
  assert.equal(c.token, 'tok');
  assert.equal(c.agentId, 'host-1');
  assert.deepEqual(c.targets, [
    { kind: 'host', instanceId: 'host-1' },
    { kind: 'cgroup', name: 'machine.slice/vm-a', instanceId: 'vm-a' },
    { kind: 'cgroup', name: 'b', instanceId: 'vm-b' },
    { kind: 'pid', pid: 42, instanceId: 'web' },
  ]);
  assert.equal(c.intervalMs, 1000);
  assert.equal(c.batchMs, 5000);
  assert.equal(c.spoolDir, '.prescient/agent-spool');
  assert.equal(c.spoolMaxBytes, 64 * 1048576);
  assert.deepEqual(c.metrics, ['cpu', 'memory', 'pressure', 'disk', 'network']);
  const d = parseAgentConfig({ server: 'https://cp.example', token: 't', agentId: 'a1', metrics: 'cpu,memory' });
  assert.deepEqual(d.targets, [{ kind: 'host', instanceId: 'a1' }], 'no target given: the host, under the agent id');
  assert.deepEqual(d.metrics, ['cpu', 'memory']);
  assert.equal(parseAgentConfig({ server: 'http://x', token: 't', intervalMs: '10000' }).batchMs, 10000, 'a batch holds at least one interval by default');
});

test('options: every problem is reported at once, by option name', () => {
  try {
    parseAgentConfig({ server: 'ftp://x', intervalMs: '5', batchMs: 'soon', metrics: 'cpu,gpu', cgroup: ['novalue', 'x=bad id!'], pid: ['abc=p', '7=vm-1'], hostId: 'vm-1', spoolMaxMb: '0' });
    assert.fail('accepted');
  } catch (err) {
    assert.ok(err instanceof ValidationError);
    const paths = err.issues.map((i) => i.path);
    for (const p of ['--server', '--token', '--interval-ms', '--batch-ms', '--metrics', '--cgroup[0]', '--cgroup[1]', '--pid[0]', 'targets', '--spool-max-mb']) {
      assert.ok(paths.includes(p), `${p} reported: ${err.message}`);
    }
    assert.match(err.message, /--interval-ms: must be an integer from 10 to 3600000, got "5"/);
    assert.match(err.message, /instance id "vm-1" is given to two targets/);
  }
});

function runAgentBin(args: string[]): { child: ChildProcess; stderr: () => string; exited: Promise<number | null> } {
  let err = '';
  const child = spawn(process.execPath, [BIN, 'agent', ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, [TOKEN_ENV]: 'cli-token' } });
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, stderr: () => err, exited };
}

const batchFiles = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith('batch-')) : []);

test('the binary: kill -9 during an outage loses nothing; after a restart everything arrives once, in order; SIGTERM stops it cleanly', async (t) => {
  if (!existsSync(join(process.cwd(), 'dist', 'cli', 'commands', 'agent.js'))) return t.skip('dist/ not built (npm test builds it)');
  const root = mkdtempSync(join(tmpdir(), 'prescient-agent-cli-'));
  const spool = join(root, 'spool');
  const server = new FakeTelemetryServer();
  const children: ChildProcess[] = [];
  try {
    await server.start();
    await server.stop(); // down: its port refuses connections
    const args = ['--server', server.url, '--host-id', 'host-1', '--interval-ms', '50', '--batch-ms', '150', '--spool', spool];
    const first = runAgentBin(args);
    children.push(first.child);
    await waitFor('3 spooled batches', () => batchFiles(spool).length >= 3, 10_000);
    first.child.kill('SIGKILL');
    await first.exited;
    const left = batchFiles(spool).length;
    assert.ok(left >= 3, `spooled before the kill: ${left}`);
    assert.match(first.stderr(), /sending batch \d+ failed \(ECONNREFUSED\)/);

    await server.start();
    const second = runAgentBin(args);
    children.push(second.child);
    await waitFor('the old batches and new ones', () => server.stored.length >= left + 3, 10_000);
    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0, second.stderr());
    assert.match(second.stderr(), new RegExp(`resuming with ${left} unsent batches`));
    assert.match(second.stderr(), /SIGTERM: stopping/);
    assert.match(second.stderr(), /stopped: .* 0 still spooled, 0 dropped/);

    const seqs = server.stored.map((b) => b.sequence);
    assert.ok(isContiguous(seqs), `one sequence across the kill: ${seqs}`);
    assert.equal(server.arrivals.length, server.stored.length, 'nothing sent twice');
    assert.deepEqual(batchFiles(spool), [], 'spool empty');
    assert.ok(server.arrivals.every((a) => a.authorization === 'Bearer cli-token'));
    const samples = server.stored.flatMap((b) => b.profiles.filter((p) => p.instanceId === 'host-1').flatMap((p) => p.samples));
    const ts = samples.map((s) => s.timestampMs);
    assert.ok(ts.every((x, i) => i === 0 || x > ts[i - 1]!), 'sample timestamps strictly increase across both runs');
    const last = samples.at(-1)!.values;
    for (const k of ['cpuMillicores', 'memoryMiB', 'diskReadKiBps', 'networkRxKiBps'] as const) assert.ok(typeof last[k] === 'number', `${k} reported: ${JSON.stringify(last)}`);
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await server.stop();
    rmSync(root, { recursive: true, force: true });
  }
});

test('the binary: a cgroup that does not exist is an error naming it', (t) => {
  if (!existsSync(join(process.cwd(), 'dist', 'cli', 'commands', 'agent.js'))) return t.skip('dist/ not built (npm test builds it)');
  const root = mkdtempSync(join(tmpdir(), 'prescient-agent-cli-'));
  try {
    const r = spawnSync(process.execPath, [BIN, 'agent', '--server', 'http://127.0.0.1:1', '--token', 't', '--cgroup', 'no-such-cgroup-xyz=vm-1', '--spool', join(root, 's')], { encoding: 'utf8' });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--cgroup no-such-cgroup-xyz=vm-1: no cgroup "no-such-cgroup-xyz" under \/sys\/fs\/cgroup/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
