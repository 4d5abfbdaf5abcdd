import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { TraceFormatError } from '../../../src/core/errors.js';
import { csvFormat } from '../../../src/traces/csv/csv-format.js';
import { readAll, runConformance } from '../conformance.js';

const NaN_ = Number.NaN;

runConformance(csvFormat, {
  units: { cpu: 'cores', memory: 'MiB', disk: 'KiBps', network: 'KiBps' },
  async valid(dir) {
    // Several series in one file, rows interleaved, one missing value, extra column ignored.
    await writeFile(
      join(dir, 'b.csv'),
      ['time,series,cpu,memory,note', '0,s2,1,100,x', '0,s1,2,200,y', '300,s2,,110,z', '300,s1,3,210,', '600,s2,1.5,120,', ''].join('\n'),
    );
    // One series per file (id from the name), ISO times, CRLF, gzip.
    await writeFile(
      join(dir, 'a.csv.gz'),
      gzipSync(['Time,CPU,Disk,Network', '2024-03-04T00:00:00Z,0.5,10,20', '2024-03-04T00:05:00Z,0.25,0,0', '2024-03-04T00:10:00Z,0,1e3,5'].join('\r\n')),
    );
    await writeFile(join(dir, 'README.md'), 'ignored');
    return {
      path: dir,
      files: ['a.csv.gz', 'b.csv'],
      series: [
        {
          id: 'a',
          file: 'a.csv.gz',
          length: 3,
          values: { cpu: [0.5, 0.25, 0], disk: [10, 0, 1000], network: [20, 0, 5] },
          startTimeS: Date.UTC(2024, 2, 4) / 1000,
          stepSeconds: 300,
          skippedRows: 0,
        },
        { id: 's1', file: 'b.csv', length: 2, values: { cpu: [2, 3], memory: [200, 210] }, startTimeS: 0, stepSeconds: 300 },
        { id: 's2', file: 'b.csv', length: 3, values: { cpu: [1, NaN_, 1.5], memory: [100, 110, 120] }, stepSeconds: 300 },
      ],
    };
  },
  async malformed(dir) {
    const cases: Array<[string, string, number, string | undefined]> = [
      ['cpu.csv', 'time,cpu\n0,1\n300,abc\n', 3, 'cpu'],
      ['neg.csv', 'time,memory\n0,-1\n', 2, 'memory'],
      ['inf.csv', 'time,cpu\n0,Infinity\n', 2, 'cpu'],
      ['hex.csv', 'time,cpu\n0,0x10\n', 2, 'cpu'],
      ['time.csv', 'time,cpu\nyesterday,1\n', 2, 'time'],
      ['feb30.csv', 'time,cpu\n2024-02-30T00:00:00Z,1\n', 2, 'time'],
      ['order.csv', 'time,series,cpu\n0,a,1\n0,b,1\n300,a,1\n300,a,2\n', 5, 'time'],
      ['width.csv', 'time,cpu\n0,1,2\n', 2, undefined],
      ['notime.csv', '# comment\ncpu,memory\n1,2\n', 2, 'time'],
      ['unit.csv', '# units: cpu=GHz\ntime,cpu\n0,1\n', 1, 'units'],
      ['unitres.csv', '# units: gpu=cores\ntime,cpu\n0,1\n', 1, 'units'],
      ['unitlate.csv', 'time,cpu\n# units: cpu=percent\n0,1\n', 2, 'units'],
      ['dup.csv', 'time,cpu,CPU\n0,1,2\n', 1, 'cpu'],
      ['noid.csv', 'time,series,cpu\n0, ,1\n', 2, 'series'],
    ];
    for (const [name, content] of cases) await writeFile(join(dir, name), content);
    return cases.map(([name, , line, field]) => ({ path: join(dir, name), file: name, line, ...(field ? { field } : {}) }));
  },
});

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'prescient-csv-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('csv: "# units:" declares units, other comments and blank lines are ignored', () =>
  withDir(async (dir) => {
    const file = join(dir, 'host.csv');
    await writeFile(file, '# exported by hand\n# units: cpu=percent, memory=percent\n\ntime,cpu,memory\n# a note\n0,50,20\n\n60,55,21\n');
    const { series } = await readAll(csvFormat, file);
    assert.equal(series.length, 1);
    const s = series[0]!;
    assert.deepEqual(s.units, { cpu: 'percent', memory: 'percent' });
    assert.deepEqual([...s.values.cpu!], [50, 55]);
    assert.equal(s.stepSeconds, 60);
    assert.equal(s.skippedRows, 2);
  }));

test('csv: a UTF-8 byte order mark before the header is ignored', () =>
  withDir(async (dir) => {
    const file = join(dir, 'bom.csv');
    await writeFile(file, '\uFEFFtime,cpu\n0,1\n');
    const { series } = await readAll(csvFormat, file);
    assert.deepEqual([...series[0]!.values.cpu!], [1]);
  }));

test('csv: ISO-8601 times with and without offsets; no offset is UTC', () =>
  withDir(async (dir) => {
    const file = join(dir, 'iso.csv');
    await writeFile(file, 'time,cpu\n2024-03-04,1\n2024-03-04 00:05,1\n2024-03-04T02:10:00+02:00,1\n2024-03-04T00:15:00.5+0000,1\n');
    const { series } = await readAll(csvFormat, file);
    const t0 = Date.UTC(2024, 2, 4) / 1000;
    assert.deepEqual([...series[0]!.timesS!], [t0, t0 + 300, t0 + 600, t0 + 900.5]);
  }));

test('csv: a header-only or empty file has no series; a file with only comments lacks a header', () =>
  withDir(async (dir) => {
    await writeFile(join(dir, 'empty.csv'), '');
    await writeFile(join(dir, 'header.csv'), 'time,cpu\n');
    assert.deepEqual((await readAll(csvFormat, join(dir, 'empty.csv'))).series, []);
    assert.deepEqual((await readAll(csvFormat, join(dir, 'header.csv'))).series, []);
    await writeFile(join(dir, 'comments.csv'), '# only\n');
    await assert.rejects(readAll(csvFormat, join(dir, 'comments.csv')), (e: unknown) => e instanceof TraceFormatError && /missing header/.test(e.message));
  }));

test('csv: writing any series and reading it back gives the same numbers (property)', () =>
  withDir(async (dir) => {
    const value = fc.oneof(fc.constant(Number.NaN), fc.double({ min: 0, max: 1e9, noNaN: true, noDefaultInfinity: true }));
    const seriesArb = fc.uniqueArray(
      fc.record({
        id: fc.stringMatching(/^[A-Za-z0-9_.-]{1,8}$/),
        start: fc.integer({ min: 0, max: 2e9 }),
        steps: fc.array(fc.integer({ min: 1, max: 3600 }), { minLength: 0, maxLength: 20 }),
        cpu: fc.array(value, { minLength: 21, maxLength: 21 }),
      }),
      { selector: (s) => s.id, minLength: 1, maxLength: 4 },
    );
    let run = 0;
    await fc.assert(
      fc.asyncProperty(seriesArb, async (all) => {
        const file = join(dir, `p${run++}.csv`);
        const rows: string[] = ['time,series,cpu'];
        const times = all.map((s) => s.steps.reduce((acc, d) => [...acc, acc[acc.length - 1]! + d], [s.start]));
        // Interleave rows of the series round-robin.
        for (let i = 0; i < 21; i++) {
          all.forEach((s, j) => {
            if (i < times[j]!.length) rows.push(`${times[j]![i]},${s.id},${Number.isNaN(s.cpu[i]!) ? '' : String(s.cpu[i])}`);
          });
        }
        await writeFile(file, rows.join('\n'));
        const { series } = await readAll(csvFormat, file);
        const sorted = [...all.keys()].sort((a, b) => (all[a]!.id < all[b]!.id ? -1 : all[a]!.id > all[b]!.id ? 1 : 0));
        assert.deepEqual(series.map((s) => s.id), sorted.map((j) => all[j]!.id));
        for (const [k, j] of sorted.entries()) {
          const s = series[k]!;
          assert.deepEqual([...s.timesS!], times[j]);
          assert.deepEqual([...s.values.cpu!], all[j]!.cpu.slice(0, times[j]!.length));
        }
      }),
      { numRuns: 40 },
    );
  }));
