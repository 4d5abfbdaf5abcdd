import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { google2011Format } from '../../../src/traces/google2011/google2011-format.js';
import { readAll, runConformance } from '../conformance.js';
import { missingTrace, sharedTrace } from '../shared-traces.js';

runConformance(google2011Format, {
  units: { cpu: 'percent', memory: 'percent' },
  async valid(dir) {
    await writeFile(join(dir, 'vm_2_1'), '6.763 5.103\n7.288 5.139\n');
    await writeFile(join(dir, 'vm_10_1'), '0 0\n1e1\t2.5\n\n'); // tab, exponent, trailing blank line
    await writeFile(join(dir, 'vm_1_1'), '5.1209999999999996 0.5\n');
    return {
      path: dir,
      files: ['vm_10_1', 'vm_1_1', 'vm_2_1'],
      series: [
        { id: 'vm_10_1', file: 'vm_10_1', length: 2, values: { cpu: [0, 10], memory: [0, 2.5] }, skippedRows: 1 },
        { id: 'vm_1_1', file: 'vm_1_1', length: 1, values: { cpu: [5.1209999999999996], memory: [0.5] } },
        { id: 'vm_2_1', file: 'vm_2_1', length: 2, values: { cpu: [6.763, 7.288], memory: [5.103, 5.139] }, stepSeconds: 300, startTimeS: 0 },
      ],
    };
  },
  async malformed(dir) {
    await writeFile(join(dir, 'mem'), '1 2\n3 x\n');
    await writeFile(join(dir, 'cpu'), '1 2\n-1 2\n');
    await writeFile(join(dir, 'one'), '1 2\n3\n');
    return [
      { path: join(dir, 'mem'), file: 'mem', line: 2, field: 'memory' },
      { path: join(dir, 'cpu'), file: 'cpu', line: 2, field: 'cpu' },
      { path: join(dir, 'one'), file: 'one', line: 2 },
    ];
  },
});

test('google2011 real trace: 771 series of 288 samples with cpu and memory', async (t) => {
  const dir = sharedTrace('google2011');
  if (!dir) return t.skip(missingTrace('google2011'));
  const { series } = await readAll(google2011Format, dir);
  assert.equal(series.length, 771);
  assert.equal(series[0]!.id, 'vm_1218322450_1');
  assert.deepEqual([...series[0]!.values.cpu!.subarray(0, 2)], [6.763, 7.288]);
  assert.deepEqual([...series[0]!.values.memory!.subarray(0, 2)], [5.103, 5.139]);
  for (const s of series) {
    assert.equal(s.length, 288, s.id);
    assert.ok(s.values.cpu && s.values.memory, s.id);
    assert.equal(s.skippedRows, 0);
  }
});
