// `prescient demo`: the tour runs the real backtest and simulate code paths on
// a small synthetic workload, prints both tables and writes the same files as those commands.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatSimulations, parseDemoOptions, runDemo } from '../../src/cli/commands/demo.js';
import { InputError } from '../../src/core/errors.js';

test('demo all: backtest table (engine and both baselines) and simulation table (static, vpa), with their files', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'prescient-demo-'));
  try {
    let text = '';
    const r = await runDemo({ part: 'all', out: dir, series: 4, days: 2, seed: 3, progress: false }, (t) => (text += t));
    assert.equal(r.spec, 'synthetic:count=4,length=576,seed=3');
    assert.equal(r.backtest?.series, 4);
    // origins 287, 299, ..., 563: 24 per series, 12 steps each (the last one cut at the series end)
    assert.ok(r.backtest!.points > 4 * 20 * 12, `scored points: ${r.backtest!.points}`);
    for (const row of ['prescient', 'vpa-histogram', 'seasonal-naive']) assert.match(text, new RegExp(`^${row} .*%`, 'm'));
    const csv = readFileSync(join(dir, 'backtest.csv'), 'utf8').split('\n');
    assert.equal(csv[0], 'series,origin,step,mean,q0.5,q0.9,q0.95,q0.99');
    assert.match(csv[1]!, /^syn-0000,287,1,/);

    assert.deepEqual(r.simulations.slice(0, 2).map((s) => s.policy), ['static', 'vpa']);
    const [stat, vpa] = r.simulations;
    // static allocates the provisioned size; synthetic usage never exceeds it
    assert.equal(stat!.cpu.violation_rate, 0);
    assert.equal(stat!.memory.violation_rate, 0);
    assert.ok(vpa!.cpu.allocated_sum < stat!.cpu.allocated_sum, 'vpa allocates less CPU than the provisioned size');
    assert.match(text, /^static +0\.00% .* 100\.00% +100\.00%$/m);
    assert.match(text, /^vpa +\d/m);
    for (const s of r.simulations) {
      for (const f of ['allocations.csv', 'summary.json', 'report.html']) assert.ok(existsSync(join(s.out, f)), `${s.policy}: ${f} written`);
      const summary = JSON.parse(readFileSync(join(s.out, 'summary.json'), 'utf8'));
      assert.equal(summary.trace, r.spec);
      assert.equal(summary.cpu.violation_rate, s.cpu.violation_rate);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('demo parts run alone', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'prescient-demo-'));
  try {
    let text = '';
    const b = await runDemo({ part: 'backtest', out: dir, series: 2, days: 2, seed: 1, progress: false }, (t) => (text += t));
    assert.ok(b.backtest && b.simulations.length === 0);
    assert.doesNotMatch(text, /Rightsizing simulation/);
    const s = await runDemo({ part: 'simulate', out: dir, series: 2, days: 2, seed: 1, progress: false }, () => {});
    assert.ok(!s.backtest && s.simulations.length >= 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('demo options are checked and named', () => {
  const ok = { out: 'x', series: '4', days: '2', seed: '1', progress: false };
  assert.equal(parseDemoOptions('all', ok).days, 2);
  assert.throws(() => parseDemoOptions('everything', ok), (e: unknown) => e instanceof InputError && /valid: all, backtest, simulate/.test(e.message));
  assert.throws(() => parseDemoOptions('all', { ...ok, days: '1' }), /--days must be an integer in 2\.\.365, got "1"/);
  assert.throws(() => parseDemoOptions('all', { ...ok, series: '2.5' }), /--series/);
});

test('the simulation table shows allocation relative to the first policy', () => {
  const row = (policy: string, cpu: number, mem: number) => ({
    policy, out: '', wallMs: 0,
    cpu: { violation_rate: 0.01, slack: 0.5, allocated_sum: cpu },
    memory: { violation_rate: 0, slack: 0.25, allocated_sum: mem },
  });
  const lines = formatSimulations([row('static', 200, 1000), row('vpa', 50, 400)]).trimEnd().split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[2]!, /^vpa +1\.00% +50\.00% +0\.00% +25\.00% +25\.00% +40\.00%$/);
});
