import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seededRng } from '../../src/core/rng.js';
import { runBacktest, parseLevels } from '../../src/cli/commands/backtest.js';

const BIN = join(process.cwd(), 'bin', 'prescient');

function planetlabFixture(dir: string, files: number, length: number): void {
  mkdirSync(dir, { recursive: true });
  const r = seededRng(1);
  for (let f = 0; f < files; f++) {
    const lines = Array.from({ length }, (_, t) => String(Math.max(0, Math.round(30 + 10 * Math.sin(t / 10) + 5 * r.normal()))));
    writeFileSync(join(dir, `vm${f}`), lines.join('\n') + '\n');
  }
}

test('backtest writes the exact CSV contract: header, one row per series, origin and step', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'prescient-bt-'));
  try {
    planetlabFixture(join(dir, 'trace'), 3, 100);
    const out = join(dir, 'out.csv');
    const report = await runBacktest({
      trace: join(dir, 'trace'), format: 'planetlab', resource: 'cpu', horizon: '5', every: '7', warmup: '40',
      quantiles: '0.5,0.9,0.95,0.99', out, baselines: true, progress: false, jobs: '1',
    });
    const lines = readFileSync(out, 'utf8').trimEnd().split('\n');
    assert.equal(lines[0], 'series,origin,step,mean,q0.5,q0.9,q0.95,q0.99');
    // origins 39, 46, ..., 95 (o + 1 <= 99): 9 origins x 5 steps x 3 series
    assert.equal(lines.length - 1, 9 * 5 * 3);
    const first = lines[1]!.split(',');
    assert.deepEqual(first.slice(0, 3), ['vm0', '39', '1']);
    const last = lines[lines.length - 1]!.split(',');
    assert.deepEqual(last.slice(0, 3), ['vm2', '95', '5']);
    for (const l of lines.slice(1)) {
      const [, , , mean, ...qs] = l.split(',').map(Number);
      assert.ok(Number.isFinite(mean) && qs.every((q, i) => Number.isFinite(q) && (i === 0 || q >= qs[i - 1]!)));
    }
    assert.equal(report.series, 3);
    assert.ok(report.vpa && report.seasonalNaive);
    // points that exist: steps past the end of the series are not scored
    assert.equal(report.points, report.vpa.count);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('quantile columns are named as typed', () => {
  assert.deepEqual(parseLevels('0.5,0.90, 0.975'), { levels: [0.5, 0.9, 0.975], names: ['0.5', '0.90', '0.975'] });
  assert.throws(() => parseLevels('0.5,1.2'), /--quantiles: "1.2" is not a level in \(0, 1\)/);
  assert.throws(() => parseLevels('0.5,0.5'), /repeated/);
});

test('worker threads give byte-identical output to one thread', () => {
  const dir = mkdtempSync(join(tmpdir(), 'prescient-bt-'));
  try {
    planetlabFixture(join(dir, 'trace'), 9, 80);
    const args = ['backtest', '--trace', join(dir, 'trace'), '--format', 'planetlab', '--warmup', '30', '--no-progress'];
    execFileSync(BIN, [...args, '--out', join(dir, 'a.csv'), '--jobs', '1']);
    execFileSync(BIN, [...args, '--out', join(dir, 'b.csv'), '--jobs', '3']);
    assert.equal(readFileSync(join(dir, 'a.csv'), 'utf8'), readFileSync(join(dir, 'b.csv'), 'utf8'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad arguments exit non-zero with a message naming the problem', () => {
  const run = (...a: string[]) => spawnSync(BIN, ['backtest', ...a], { encoding: 'utf8' });
  let r = run('--trace', '.', '--format', 'nope', '--out', '/tmp/x.csv');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /unknown trace format "nope"/);
  r = run('--trace', '.', '--format', 'planetlab', '--resource', 'memory', '--out', '/tmp/x.csv');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /has no resource "memory"/);
  r = run('--trace', '/nonexistent/dir', '--format', 'planetlab', '--out', '/tmp/x.csv');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /nonexistent/);
  r = run('--format', 'planetlab');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--trace/);
  r = spawnSync(BIN, ['backtest', '--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0);
  assert.match(r.stdout, /--quantiles/);
});
