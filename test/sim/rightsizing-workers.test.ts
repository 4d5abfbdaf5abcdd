// Rightsizing on worker threads: allocations.csv is byte-identical to one thread, summary.json
// equal but for the wall time, and a bad file is reported as one thread reports it. Runs the
// compiled CLI (bin/prescient: workers are compiled JavaScript; `npm test` builds first).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { seededRng } from '../../src/core/rng.js';
import { runSimulation } from '../../src/sim/run.js';

const BIN = join(process.cwd(), 'bin', 'prescient');
const BUILT = existsSync(join(process.cwd(), 'dist', 'sim', 'rightsizing-worker.js'));

const HEADER = 'Timestamp [ms];\tCPU cores;\tCPU capacity provisioned [MHZ];\tCPU usage [MHZ];\tCPU usage [%];\tMemory capacity provisioned [KB];\tMemory usage [KB];\tDisk read throughput [KB/s];\tDisk write throughput [KB/s];\tNetwork received throughput [KB/s];\tNetwork transmitted throughput [KB/s]';

/** Bitbrains files of different lengths and steps (the first file's step compiles the profile). */
function bitbrainsFixture(dir: string, files: number): void {
  mkdirSync(dir, { recursive: true });
  const r = seededRng(7);
  for (let f = 0; f < files; f++) {
    const step = f % 3 === 0 ? 240 : 300;
    const length = 330 + 37 * f;
    const lines = [HEADER];
    for (let t = 0; t < length; t++) {
      const cpuMHz = Math.max(0, 1000 + 600 * Math.sin(t / (20 + f)) + 200 * r.normal());
      const memKB = Math.max(0, 2e6 + 4e5 * Math.sin(t / 50) + (r.next() < 0.01 ? 1e6 : 0) + 5e4 * r.normal());
      lines.push([1e9 + t * step, 4, 8000, cpuMHz, 0, 8e6, memKB, 1, 2, 3, 4].join(';\t'));
    }
    const text = `${lines.join('\n')}\n`;
    writeFileSync(join(dir, `${f + 1}.csv${f % 2 ? '.gz' : ''}`), f % 2 ? gzipSync(text) : text);
  }
}

function simulate(trace: string, out: string, policy: string, jobs: number) {
  return spawnSync(BIN, ['simulate', '--trace', trace, '--format', 'bitbrains', '--policy', policy, '--out', out, '--jobs', String(jobs), '--no-progress', '--no-report'], {
    encoding: 'utf8',
  });
}

const summaryWithoutWall = (dir: string): unknown => {
  const s = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
  delete s.wall_ms;
  return s;
};

test('worker threads give byte-identical allocations.csv and the same summary', { skip: BUILT ? false : 'dist/ not built (npm run build)' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'prescient-rsw-'));
  try {
    bitbrainsFixture(join(dir, 'trace'), 11);
    for (const policy of ['predictive', 'vpa']) {
      const outs = [1, 2, 3].map((jobs) => {
        const out = join(dir, `${policy}-${jobs}`);
        const r = simulate(join(dir, 'trace'), out, policy, jobs);
        assert.equal(r.status, 0, r.stderr);
        return out;
      });
      const one = readFileSync(join(outs[0]!, 'allocations.csv'));
      assert.ok(one.toString('utf8').split('\n').length > 11 * 40, 'rows for every series');
      for (const out of outs.slice(1)) {
        assert.ok(readFileSync(join(out, 'allocations.csv')).equals(one), `${out}: allocations.csv differs from one thread`);
        assert.deepEqual(summaryWithoutWall(out), summaryWithoutWall(outs[0]!));
        // no part files left behind
        assert.deepEqual(readdirSync(out).filter((f) => f.includes('.part')), []);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a bad file fails with the same message on workers as on one thread', { skip: BUILT ? false : 'dist/ not built (npm run build)' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'prescient-rsw-'));
  try {
    bitbrainsFixture(join(dir, 'trace'), 9);
    // two bad files: the first in trace order is the one reported
    writeFileSync(join(dir, 'trace', '5.csv'), `${HEADER}\n1;\t4;\t8000;\tlots;\t0;\t8;\t7;\t1;\t2;\t3;\t4\n`);
    writeFileSync(join(dir, 'trace', '8.csv'), `${HEADER}\n1;\t4\n`);
    const one = simulate(join(dir, 'trace'), join(dir, 'o1'), 'vpa', 1);
    const three = simulate(join(dir, 'trace'), join(dir, 'o3'), 'vpa', 3);
    assert.notEqual(one.status, 0);
    assert.notEqual(three.status, 0);
    assert.match(one.stderr, /5\.csv:2, field CPU usage \[MHZ\]: not a number/);
    assert.equal(three.stderr, one.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('runSimulation from the TypeScript sources runs on one thread and gives the same totals', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'prescient-rsw-'));
  try {
    bitbrainsFixture(join(dir, 'trace'), 4);
    const rows: string[][] = [[], []];
    const [a, b] = await Promise.all(
      [1, 3].map((jobs, k) => runSimulation({ trace: join(dir, 'trace'), format: 'bitbrains', policy: 'vpa', jobs, onAllocation: (i, x, c, m) => void rows[k]!.push(`${i},${x},${c},${m}`) })),
    );
    assert.deepEqual(rows[1], rows[0]);
    assert.equal(a!.cpu.slack, b!.cpu.slack);
    assert.equal(a!.memory.violationRate, b!.memory.violationRate);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
