import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { planetlabFormat } from '../../../src/traces/planetlab/planetlab-format.js';
import { readAll, runConformance } from '../conformance.js';
import { missingTrace, sharedTrace } from '../shared-traces.js';

runConformance(planetlabFormat, {
  units: { cpu: 'percent' },
  async valid(dir) {
    // Created out of order; plain string order is 10 < 9 < VM-c < vm-a < vm-b.
    await writeFile(join(dir, 'vm-b'), '5\n6\n7\n');
    await writeFile(join(dir, '9'), '1\n2\n3\n\n'); // an empty trailing line: skipped, counted
    await writeFile(join(dir, 'vm-a'), '100\r\n0\r\n50\r\n'); // CRLF
    await writeFile(join(dir, '10'), '42\n');
    await writeFile(join(dir, 'VM-c'), '0\n\n1\n'); // a blank line inside
    await writeFile(join(dir, '.hidden'), 'not a trace\n');
    return {
      path: dir,
      files: ['10', '9', 'VM-c', 'vm-a', 'vm-b'],
      series: [
        { id: '10', file: '10', length: 1, values: { cpu: [42] }, stepSeconds: 300, startTimeS: 0, skippedRows: 0 },
        { id: '9', file: '9', length: 3, values: { cpu: [1, 2, 3] }, skippedRows: 1 },
        { id: 'VM-c', file: 'VM-c', length: 2, values: { cpu: [0, 1] }, skippedRows: 1 },
        { id: 'vm-a', file: 'vm-a', length: 3, values: { cpu: [100, 0, 50] } },
        { id: 'vm-b', file: 'vm-b', length: 3, values: { cpu: [5, 6, 7] } },
      ],
    };
  },
  async malformed(dir) {
    await writeFile(join(dir, 'a'), '1\n2\n');
    await writeFile(join(dir, 'b'), '1\n2\nabc\n');
    await writeFile(join(dir, 'neg'), '-3\n');
    await writeFile(join(dir, 'two'), '1 2\n');
    return [
      { path: dir, file: 'b', line: 3, field: 'cpu' },
      { path: join(dir, 'neg'), file: 'neg', line: 1, field: 'cpu' },
      { path: join(dir, 'two'), file: 'two', line: 1, field: 'cpu' },
    ];
  },
});

test('planetlab real trace: 20110303 has 1052 VMs of 288 samples, integer percent', async (t) => {
  const day = sharedTrace('planetlab/20110303');
  if (!day) return t.skip(missingTrace('planetlab/20110303'));
  const files = await planetlabFormat.listFiles(day);
  assert.equal(files.length, 1052);
  const { series } = await readAll(planetlabFormat, day);
  assert.equal(series.length, 1052);
  assert.equal(series[0]!.id, '146-179_surfsnel_dsl_internl_net_colostate_557');
  assert.deepEqual([...series[0]!.values.cpu!.subarray(0, 3)], [24, 34, 29]);
  for (const s of series) {
    assert.equal(s.length, 288, s.id);
    assert.equal(s.stepSeconds, 300);
    assert.ok(s.values.cpu!.every((v) => Number.isInteger(v) && v >= 0 && v <= 100), s.id);
  }
});
