import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPlanetLabDay } from '../../../src/sim/cloudsim/load-planetlab.js';
import { TraceFormatError } from '../../../src/core/errors.js';

test('loads one VM per file, files sorted by name, first n lines as CPU %', () => {
  const dir = mkdtempSync(join(tmpdir(), 'planetlab-'));
  try {
    writeFileSync(join(dir, 'b_vm'), '5\n6\n7\n8\n');
    writeFileSync(join(dir, 'a_vm'), '1\n2\n3\n');
    writeFileSync(join(dir, 'B_vm'), '9\n9\n9');
    const day = loadPlanetLabDay(dir, 3);
    assert.deepEqual(day.names, ['B_vm', 'a_vm', 'b_vm']);
    assert.deepEqual(Array.from(day.cpuPct[1]!), [1, 2, 3]);
    assert.deepEqual(Array.from(day.cpuPct[2]!), [5, 6, 7]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a bad or missing line names the file and the line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'planetlab-'));
  try {
    writeFileSync(join(dir, 'vm'), '1\n2.5\n3\n');
    assert.throws(() => loadPlanetLabDay(dir, 3), (e: unknown) => e instanceof TraceFormatError && /vm:2/.test(e.message));
    writeFileSync(join(dir, 'vm'), '1\n2\n');
    assert.throws(() => loadPlanetLabDay(dir, 3), (e: unknown) => e instanceof TraceFormatError && /vm:3.*expected 3 lines/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
