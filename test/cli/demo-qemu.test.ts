// `prescient demo qemu`: option checking, and a short real run (two guests, the control loop
// shaping them through the QEMU driver, one live migration) that leaves no QEMU behind.
// Skips the run with a message when qemu-system-x86_64 is missing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { parseQemuDemoOptions, runQemuDemo } from '../../src/cli/commands/demo-qemu.js';
import { qemuAvailable } from '../../src/drivers/qemu/accel.js';

const base = { vms: '2', seconds: '16', tickMs: '1000', port: '0', policy: 'vpa', memory: '512' };

test('demo qemu: bad options name the option', () => {
  assert.throws(() => parseQemuDemoOptions({ ...base, vms: '7' }), /--vms must be an integer from 1 to 3/);
  assert.throws(() => parseQemuDemoOptions({ ...base, tickMs: 'x' }), /--tick-ms/);
  assert.throws(() => parseQemuDemoOptions({ ...base, memory: '64' }), /--memory/);
  assert.equal(parseQemuDemoOptions(base).vms, 2);
});

function qemuPids(): string[] {
  try {
    return execFileSync('pgrep', ['-f', 'qemu-system-x86_64 -name vm-'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

test('demo qemu: two guests shaped live by the control loop, one migrated, nothing left running', { timeout: 120_000 }, async (t) => {
  const q = await qemuAvailable();
  if (!q.ok) return t.skip(`${q.reason} (scripts/ci/install-drivers.sh installs it)`);
  let out = '';
  const r = await runQemuDemo({ ...parseQemuDemoOptions(base), migrateAfterS: 6 }, (s) => (out += s));
  console.log(out.split('\n').filter((l) => /^t=|migrated|ticks/.test(l)).map((l) => `# ${l}`).join('\n'));
  assert.equal(r.bootMs.length, 2);
  assert.ok(r.ticks >= 5, `${r.ticks} ticks`);
  assert.ok(r.actionsApplied > 0, 'the control loop applied actions to the VMs');
  assert.ok(r.balloonMs.length > 0, 'memory was shaped through the balloon');
  assert.ok(r.migration && r.migration.status === 'completed', 'one VM was live-migrated');
  assert.match(out, /control plane: http:\/\/127\.0\.0\.1:\d+\//);
  assert.deepEqual(qemuPids(), [], 'no demo QEMU left running');
});
