import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { InputError, TraceFormatError } from '../../../src/core/errors.js';
import { alibabaFormat } from '../../../src/traces/alibaba/alibaba-format.js';
import { readAll, runConformance } from '../conformance.js';
import { missingTrace, sharedTrace } from '../shared-traces.js';

const NaN_ = Number.NaN;

/** machine_usage rows: id, time, cpu, mem, (mem_gps, mkpi empty), net_in, net_out, disk. */
const row = (id: string, t: number, cpu: number, mem: number, disk: number | ''): string => `${id},${t},${cpu},${mem},,,43.04,33.08,${disk}`;

runConformance(alibabaFormat, {
  units: { cpu: 'percent', memory: 'percent', disk: 'percent' },
  async valid(dir) {
    await writeFile(
      join(dir, 'machine_usage.csv'),
      [
        row('m_9', 10, 10, 50, 5),
        row('m_10', 1200, 1, 2, 3),
        row('m_9', 290, 20, 60, -1), // -1: abnormal disk marker, missing
        row('m_2', 0, 0, 0, 0),
        row('m_10', 900, 3, 4, ''), // out of order, disk empty
        row('m_9', 700, 30, 70, 101), // 101: abnormal disk marker; bucket 1 (300-599) is empty
        '',
      ].join('\n'),
    );
    await writeFile(join(dir, 'machine_usage.2.csv.gz'), gzipSync(row('m_5', 3000, 7, 8, 9) + '\n' + row('m_5', 3299, 9, 10, 11) + '\n'));
    await writeFile(join(dir, 'machine_meta.csv'), 'm_1,0,219,17,96,100,USING\n');
    return {
      path: dir,
      files: ['machine_usage.2.csv.gz', 'machine_usage.csv'],
      series: [
        { id: 'm_5', file: 'machine_usage.2.csv.gz', length: 1, values: { cpu: [8], memory: [9], disk: [10] }, startTimeS: 3000, stepSeconds: 300 },
        { id: 'm_10', file: 'machine_usage.csv', length: 2, values: { cpu: [3, 1], memory: [4, 2], disk: [NaN_, 3] }, startTimeS: 900 },
        { id: 'm_2', file: 'machine_usage.csv', length: 1, values: { cpu: [0], memory: [0], disk: [0] }, startTimeS: 0 },
        { id: 'm_9', file: 'machine_usage.csv', length: 3, values: { cpu: [15, 15, 30], memory: [55, 55, 70], disk: [5, 5, 5] }, startTimeS: 0, skippedRows: 0 },
      ],
    };
  },
  async malformed(dir) {
    await writeFile(join(dir, 'machine_usage_cpu.csv'), [row('m_1', 0, 1, 2, 3), 'm_1,10,x,2,,,1,1,3'].join('\n'));
    await writeFile(join(dir, 'machine_usage_mem.csv'), [row('m_1', 0, 1, -2, 3)].join('\n'));
    await writeFile(join(dir, 'machine_usage_disk.csv'), [row('m_1', 0, 1, 2, -5)].join('\n'));
    await writeFile(join(dir, 'machine_usage_id.csv'), ['\n', row('', 0, 1, 2, 3)].join('\n'));
    await writeFile(join(dir, 'machine_usage_short.csv'), 'm_1,0,1,2\n');
    return [
      { path: join(dir, 'machine_usage_cpu.csv'), file: 'machine_usage_cpu.csv', line: 2, field: 'cpu_util_percent' },
      { path: join(dir, 'machine_usage_mem.csv'), file: 'machine_usage_mem.csv', line: 1, field: 'mem_util_percent' },
      { path: join(dir, 'machine_usage_disk.csv'), file: 'machine_usage_disk.csv', line: 1, field: 'disk_io_percent' },
      { path: join(dir, 'machine_usage_id.csv'), file: 'machine_usage_id.csv', line: 3, field: 'machine_id' },
      { path: join(dir, 'machine_usage_short.csv'), file: 'machine_usage_short.csv', line: 1 },
    ];
  },
});

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'prescient-alibaba-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('alibaba: the step option sets the resampling bucket and counts filled buckets', () =>
  withDir(async (dir) => {
    const file = join(dir, 'machine_usage.csv');
    await writeFile(file, [row('m', 0, 10, 1, 1), row('m', 30, 20, 1, 1), row('m', 200, 40, 1, 1)].join('\n'));
    const { series } = await readAll(alibabaFormat, file, { stepSeconds: 60 });
    const s = series[0]!;
    assert.equal(s.stepSeconds, 60);
    assert.deepEqual([...s.values.cpu!], [15, 15, 15, 40]); // buckets 0, 1 (empty), 2 (empty), 3
    assert.equal(s.filledSamples, 2);
    await assert.rejects(readAll(alibabaFormat, file, { stepSeconds: 0 }), InputError);
  }));

test('alibaba: a machine id in two files is an error', () =>
  withDir(async (dir) => {
    await writeFile(join(dir, 'machine_usage_a.csv'), row('m', 0, 1, 1, 1));
    await writeFile(join(dir, 'machine_usage_b.csv'), row('m', 0, 1, 1, 1));
    await assert.rejects(readAll(alibabaFormat, dir), (err: unknown) => err instanceof TraceFormatError && /duplicate series id "m"/.test(err.message));
  }));

test('alibaba real trace: 16 machines; m_1933 matches a plain bucket average', async (t) => {
  const file = sharedTrace('alibaba2018/machine_usage.csv');
  if (!file) return t.skip(missingTrace('alibaba2018/machine_usage.csv'));
  const { series } = await readAll(alibabaFormat, join(file, '..'));
  assert.equal(series.length, 16);
  assert.deepEqual(series.map((s) => s.id), Array.from({ length: 16 }, (_, i) => `m_${1932 + i}`));
  for (const s of series) {
    assert.equal(s.stepSeconds, 300);
    assert.ok(s.length > 600 && s.length <= 2304, `${s.id}: ${s.length} buckets within 8 days`);
    assert.ok(s.values.cpu!.every((v) => v >= 0 && v <= 100));
    assert.ok((s.filledSamples ?? -1) >= 0);
  }
  // Independent check: the whole file in memory, grouped naively.
  const buckets = new Map<number, number[]>();
  for (const line of (await readFile(file, 'utf8')).split('\n')) {
    const f = line.split(',');
    if (f[0] !== 'm_1933') continue;
    const k = Math.floor(Number(f[1]) / 300);
    buckets.set(k, [...(buckets.get(k) ?? []), Number(f[2])]);
  }
  const keys = [...buckets.keys()];
  const first = Math.min(...keys);
  const last = Math.max(...keys);
  const expected: number[] = [];
  let filled = 0;
  for (let k = first; k <= last; k++) {
    const xs = buckets.get(k);
    if (xs) expected.push(xs.reduce((a, b) => a + b, 0) / xs.length);
    else {
      expected.push(expected[expected.length - 1]!);
      filled++;
    }
  }
  const m = series.find((s) => s.id === 'm_1933')!;
  assert.equal(m.startTimeS, first * 300);
  assert.equal(m.filledSamples, filled);
  assert.equal(m.length, expected.length);
  for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(m.values.cpu![i]! - expected[i]!) < 1e-9, `bucket ${i}`);
});
