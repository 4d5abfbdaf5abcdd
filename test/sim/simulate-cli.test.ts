// End to end: `prescient simulate` on a small temporary trace writes the three outputs with the
// documented shape, and bad input fails with a clear message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildProgram } from '../../src/cli/main.js';
import { PrescientError } from '../../src/core/errors.js';

function tempTrace(): { dir: string; traceDir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'prescient-sim-'));
  const traceDir = join(dir, 'google');
  mkdirSync(traceDir);
  // Google 2011 format: "CPU% MEM%" per line, 288 lines = one day.
  for (const [name, scale] of [['vm_1_1', 1], ['vm_2_1', 2], ['vm_3_1', 3]] as const) {
    const lines = Array.from({ length: 288 }, (_, i) => `${(scale * (5 + 3 * Math.sin(i / 20))).toFixed(3)} ${(scale * (4 + (i % 50 === 0 ? 2 : 0))).toFixed(3)}`);
    writeFileSync(join(traceDir, name), `${lines.join('\n')}\n`);
  }
  return { dir, traceDir };
}

async function simulate(args: string[]): Promise<void> {
  // (The command prints one summary line; the test runner's TAP output tolerates it.)
  await (await buildProgram()).parseAsync(['node', 'prescient', 'simulate', '--no-progress', ...args]);
}

test('simulate writes allocations.csv, summary.json and a self-contained report.html', async () => {
  const { dir, traceDir } = tempTrace();
  try {
    for (const policy of ['static', 'vpa']) {
      const out = join(dir, `out-${policy}`);
      await simulate(['--trace', traceDir, '--format', 'google2011', '--policy', policy, '--out', out]);
      const csv = readFileSync(join(out, 'allocations.csv'), 'utf8').trimEnd().split('\n');
      assert.equal(csv[0], 'instance,index,cpu,memory');
      assert.equal(csv.length - 1, 3 * 144, 'one row per instance and index 144..287');
      const first = csv[1]!.split(',');
      assert.equal(first[0], 'vm_1_1');
      assert.equal(first[1], '144');
      assert.ok(Number(first[2]) > 0 && Number(first[3]) > 0);
      const ids = new Set(csv.slice(1).map((l) => l.split(',')[0]));
      assert.deepEqual([...ids].sort(), ['vm_1_1', 'vm_2_1', 'vm_3_1']);
      const s = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
      assert.equal(s.policy, policy);
      assert.equal(s.scenario, 'rightsizing');
      assert.equal(s.counts.instances, 3);
      assert.equal(s.counts.rows, 432);
      for (const r of ['cpu', 'memory']) {
        assert.equal(typeof s.resources[r].violation_rate, 'number');
        assert.equal(typeof s.resources[r].slack, 'number');
        assert.deepEqual(s[r], s.resources[r]);
      }
      assert.equal(typeof s.wall_ms, 'number');
      if (policy === 'static') assert.equal(s.cpu.violation_rate, 0);
      const html = readFileSync(join(out, 'report.html'), 'utf8');
      assert.match(html, /^<!doctype html>/);
      assert.ok(html.includes('uPlot'), 'uPlot inlined');
      assert.ok(!/<script[^>]+src=/.test(html) && !/<link[^>]+href=/.test(html), 'no external resources');
    }
    // The second run's report shows the first run as a comparison point.
    assert.ok(readFileSync(join(dir, 'out-vpa', 'report.html'), 'utf8').includes('static (out-static)'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('simulate fleet adds the fleet metrics to summary.json', async () => {
  const { dir, traceDir } = tempTrace();
  try {
    const out = join(dir, 'fleet');
    await simulate(['--trace', traceDir, '--format', 'google2011', '--scenario', 'fleet', '--policy', 'vpa', '--hosts', '2', '--out', out]);
    const s = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    assert.equal(s.scenario, 'fleet');
    for (const k of ['energy_kwh', 'migrations', 'host_shutdowns', 'slatah_pct', 'pdm_pct', 'slav_pct', 'active_host_hours', 'wall_ms']) {
      assert.equal(typeof s[k], 'number', k);
    }
    assert.ok(s.active_host_hours > 0);
    assert.match(readFileSync(join(out, 'report.html'), 'utf8'), /hosts powered on/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('clear errors for a bad format, policy, scenario or trace path', async () => {
  const { dir, traceDir } = tempTrace();
  try {
    const out = join(dir, 'x');
    await assert.rejects(simulate(['--trace', traceDir, '--format', 'nope', '--policy', 'vpa', '--out', out]), (e: unknown) => e instanceof PrescientError && /unknown trace format "nope".*planetlab/.test(e.message));
    await assert.rejects(simulate(['--trace', traceDir, '--format', 'google2011', '--policy', 'vpx', '--out', out]), (e: unknown) => e instanceof PrescientError && /unknown rightsize policy "vpx"; valid: .*static.*vpa/.test(e.message));
    await assert.rejects(simulate(['--trace', traceDir, '--format', 'google2011', '--scenario', 'moon', '--policy', 'vpa', '--out', out]), (e: unknown) => e instanceof PrescientError && /unknown scenario "moon"/.test(e.message));
    await assert.rejects(simulate(['--trace', join(dir, 'missing'), '--format', 'google2011', '--policy', 'vpa', '--out', out]), (e: unknown) => e instanceof PrescientError && /missing.*no such file or folder/.test(e.message));
    await assert.rejects(simulate(['--trace', traceDir, '--format', 'google2011', '--policy', 'vpa', '--policy-args', '{"targetPercentile": 3}', '--out', out]), (e: unknown) => e instanceof PrescientError && /rightsize\.args\.targetPercentile/.test(e.message));
    assert.ok(!existsSync(out), 'no output folder is created for bad input');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('simulate cloudsim-planetlab delegates to the CloudSim engine and writes the MIPS share', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'prescient-cs-'));
  try {
    const traceDir = join(dir, 'pl');
    mkdirSync(traceDir);
    for (let v = 0; v < 12; v++) {
      const lines = Array.from({ length: 288 }, (_, i) => String(Math.round(20 + 15 * Math.sin((i + v * 7) / 30) + (v % 3) * 10)));
      writeFileSync(join(traceDir, `vm${String(v).padStart(2, '0')}`), `${lines.join('\n')}\n`);
    }
    const out = join(dir, 'out');
    await simulate(['--trace', traceDir, '--format', 'planetlab', '--scenario', 'cloudsim-planetlab', '--policy', 'thr-mmt', '--hosts', '6', '--out', out]);
    const csv = readFileSync(join(out, 'allocations.csv'), 'utf8').trimEnd().split('\n');
    assert.equal(csv[0], 'instance,index,cpu,memory');
    assert.equal(csv.length - 1, 12 * 144);
    const row = csv[1]!.split(',');
    assert.equal(row[1], '144');
    assert.ok(Number(row[2]) >= 0 && Number(row[2]) <= 100, row[2]);
    assert.equal(row[3], '', 'PlanetLab has no memory');
    const s = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    assert.equal(s.scenario, 'cloudsim-planetlab');
    for (const k of ['energy_kwh', 'migrations', 'host_shutdowns', 'slatah_pct', 'pdm_pct', 'slav_pct', 'active_host_hours']) assert.equal(typeof s[k], 'number', k);
    assert.ok(s.energy_kwh > 0);
    await assert.rejects(
      simulate(['--trace', traceDir, '--format', 'planetlab', '--scenario', 'cloudsim-planetlab', '--policy', 'vpa', '--out', out]),
      (e: unknown) => e instanceof PrescientError && /unknown cloudsim-planetlab policy "vpa"; valid: thr-mmt/.test(e.message),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
