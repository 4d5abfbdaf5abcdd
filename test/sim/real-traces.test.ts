// static and vpa on the real Google 2011 trace (skipped when ../shared/traces is missing).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { runSimulation } from '../../src/sim/run.js';

const google = resolve(process.cwd(), '..', 'shared', 'traces', 'google2011');
const skip = existsSync(google) ? false : `real traces not found at ${google}`;

test('google2011: one row per file and index 144..287; vpa cuts slack against static', { skip }, async () => {
  const files = readdirSync(google).filter((f) => !f.startsWith('.')).length;
  const rows: Record<string, number> = {};
  const res: Record<string, Awaited<ReturnType<typeof runSimulation>>> = {};
  for (const policy of ['static', 'vpa']) {
    rows[policy] = 0;
    res[policy] = await runSimulation({ trace: google, format: 'google2011', policy, onAllocation: () => void rows[policy]!++ });
  }
  assert.equal(rows.static, files * 144);
  assert.equal(rows.vpa, files * 144);
  const s = res.static!;
  const v = res.vpa!;
  assert.equal(s.cpu.violationRate, 0, 'CPU usage never exceeds 100 %');
  assert.ok(v.cpu.slack < 0.5 * s.cpu.slack, `vpa cpu slack ${v.cpu.slack} vs static ${s.cpu.slack}`);
  assert.ok(v.memory.slack < 0.5 * s.memory.slack, `vpa memory slack ${v.memory.slack} vs static ${s.memory.slack}`);
  assert.ok(v.cpu.violationRate < 0.05 && v.memory.violationRate < 0.05);
});
