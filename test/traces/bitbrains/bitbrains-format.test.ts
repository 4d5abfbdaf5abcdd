import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { bitbrainsFormat } from '../../../src/traces/bitbrains/bitbrains-format.js';
import { readAll, runConformance } from '../conformance.js';
import { missingTrace, sharedTrace } from '../shared-traces.js';

const HEADER =
  'Timestamp [ms];\tCPU cores;\tCPU capacity provisioned [MHZ];\tCPU usage [MHZ];\tCPU usage [%];\tMemory capacity provisioned [KB];\tMemory usage [KB];\tDisk read throughput [KB/s];\tDisk write throughput [KB/s];\tNetwork received throughput [KB/s];\tNetwork transmitted throughput [KB/s]';

/** One GWA-T-12 row: time, cores, cap MHz, use MHz, use %, mem cap KB, mem KB, dr, dw, rx, tx. */
const row = (...f: number[]): string => f.join(';\t');

runConformance(bitbrainsFormat, {
  units: { cpu: 'cores', memory: 'MiB', disk: 'KiBps', network: 'KiBps' },
  async valid(dir) {
    await writeFile(join(dir, '2.csv'), [HEADER, row(1000, 4, 8000, 1000, 12.5, 4096, 2048, 1, 2, 3, 4), row(1300, 4, 8000, 0, 0, 4096, 1024, 0, 0, 0, 0), '', ''].join('\n')); // ends with a blank line
    await writeFile(
      join(dir, '10.csv.gz'),
      gzipSync([HEADER, row(500, 2, 5851.9989, 87.7799835, 1.5, 8218624, 1034592.8, 160.8, 21.7, 0.26, 1.46), row(800, 2, 5851.9989, 29.26, 0.5, 8218624, 458575.4, 0, 2.3, 0.2, 1), row(1000, 2, 5851.9989, 0, 0, 8218624, 0, 0, 0, 0, 0)].join('\n') + '\n\n'),
    );
    // Cores 0 and capacity 0: cpu is 0 by definition, not NaN.
    await writeFile(join(dir, '1.csv'), [HEADER, row(0, 0, 0, 10, 0, 0, 512, 0, 0, 0, 0), row(300, 1, 0, 10, 0, 1024, 512, 0, 0, 0, 0)].join('\r\n'));
    await writeFile(join(dir, 'notes.txt'), 'ignored');
    return {
      path: dir,
      files: ['1.csv', '10.csv.gz', '2.csv'],
      series: [
        { id: '1', file: '1.csv', length: 2, values: { cpu: [0, 0], memory: [0.5, 0.5], disk: [0, 0], network: [0, 0] }, startTimeS: 0, stepSeconds: 300 },
        {
          id: '10',
          file: '10.csv.gz',
          length: 3,
          values: {
            cpu: [87.7799835 / (5851.9989 / 2), 29.26 / (5851.9989 / 2), 0],
            memory: [1034592.8 / 1024, 458575.4 / 1024, 0],
            disk: [160.8 + 21.7, 2.3, 0],
            network: [0.26 + 1.46, 1.2, 0],
          },
          startTimeS: 500,
          stepSeconds: 250, // median of the spacings 300 and 200
          skippedRows: 1,
        },
        { id: '2', file: '2.csv', length: 2, values: { cpu: [0.5, 0], memory: [2, 1], disk: [3, 0], network: [7, 0] }, startTimeS: 1000, skippedRows: 1 },
      ],
    };
  },
  async malformed(dir) {
    await writeFile(join(dir, 'cpu.csv'), [HEADER, row(0, 1, 2000, 5, 0, 1024, 512, 0, 0, 0, 0), row(300, 1, 2000, 5, 0, 1024, 512, 0, 0, 0, 0).replace(';\t5;', ';\tfive;')].join('\n'));
    await writeFile(join(dir, 'neg.csv'), [HEADER, row(0, 1, 2000, 5, 0, 1024, -512, 0, 0, 0, 0)].join('\n'));
    await writeFile(join(dir, 'short.csv'), [HEADER, '0;\t1;\t2000'].join('\n'));
    await writeFile(join(dir, 'time.csv'), [HEADER, row(0, 1, 2000, 5, 0, 1024, 512, 0, 0, 0, 0).replace(/^0/, 'noon')].join('\n'));
    return [
      { path: join(dir, 'cpu.csv'), file: 'cpu.csv', line: 3, field: 'CPU usage [MHZ]' },
      { path: join(dir, 'neg.csv'), file: 'neg.csv', line: 2, field: 'Memory usage [KB]' },
      { path: join(dir, 'short.csv'), file: 'short.csv', line: 2 },
      // A header-less file whose first line is not numeric is read as a header, so line 2 here:
      { path: join(dir, 'time.csv'), file: 'time.csv', line: 2, field: 'Timestamp' },
    ];
  },
});

test('bitbrains real trace: file 1.csv.gz first row, row count, capacity', async (t) => {
  const dir = sharedTrace('bitbrains-rnd/2013-7');
  if (!dir) return t.skip(missingTrace('bitbrains-rnd/2013-7'));
  const files = await bitbrainsFormat.listFiles(dir);
  assert.equal(files.length, 125);
  assert.ok(files[0]!.endsWith('/1.csv.gz') && files[1]!.endsWith('/10.csv.gz'), 'plain string order');
  const { series } = await readAll(bitbrainsFormat, dir, { filter: (id) => id === '1' || id === '122' });
  assert.deepEqual(series.map((s) => s.id), ['1', '122']);
  const s = series[0]!;
  assert.equal(s.length, 8260);
  assert.equal(s.values.cpu![0], 87.7799835 / (5851.9989 / 2));
  assert.equal(s.values.memory![0], 1034592.8 / 1024);
  assert.equal(s.values.disk![0], 160.86666666666667 + 21.733333333333334);
  assert.equal(s.values.network![0], 0.26666666666666666 + 1.4666666666666666);
  assert.equal(s.startTimeS, 1372629804);
  assert.equal(s.timesS![1], 1372630104);
  assert.equal(s.stepSeconds, 300);
  // Capacity is the largest provisioned value in the file (8388608 KB in most rows, 8218624 in the first).
  assert.deepEqual(s.capacity, { cpu: 2, memory: 8388608 / 1024 });
  // 122.csv.gz repeats rows in its second half: they are kept, not resampled or dropped.
  const r = series[1]!;
  assert.equal(r.length, 16640);
  assert.ok(r.stepSeconds > 0 && r.stepSeconds <= 300);
});
