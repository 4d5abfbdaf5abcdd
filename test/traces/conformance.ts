// ONE conformance suite that every file-based TraceFormat runs from its own *.test.ts (the hono
// `common.case.test.ts` habit): listing, ids, lengths, units, values, streaming order, progress,
// filter, malformed input, empty folder and missing path. Fixtures are written by each format's
// builder into a fresh temp folder, removed afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { InputError, TraceFormatError } from '../../src/core/errors.js';
import { RESOURCE_NAMES, type ResourceName, type Unit } from '../../src/core/resources.js';
import type { ReadOptions, TraceFormat, TraceSeries } from '../../src/traces/format.js';

/** What one series read from a fixture must be. */
export interface ExpectedSeries {
  id: string;
  /** Name of the file it comes from (basename). */
  file: string;
  length: number;
  /** Expected values (NaN where missing), compared with a relative tolerance of 1e-12. */
  values: Partial<Record<ResourceName, ArrayLike<number>>>;
  stepSeconds?: number;
  startTimeS?: number;
  skippedRows?: number;
}

export interface ValidFixture {
  /** The path to pass to listFiles/read (a folder). */
  path: string;
  /** Basenames listFiles must return, in order. */
  files: string[];
  /** Series read must yield, in order. */
  series: ExpectedSeries[];
}

export interface MalformedFixture {
  path: string;
  /** Basename of the file holding the bad row, its 1-based line and the field named. */
  file: string;
  line: number;
  field?: string;
}

export interface ConformanceFixtures {
  /** Units every series of the format reports. */
  units: Partial<Record<ResourceName, Unit>>;
  /** Writes a valid trace under `dir`, files created in an order other than name order. */
  valid(dir: string): Promise<ValidFixture>;
  /** Writes traces with one malformed row each (one case per entry). */
  malformed(dir: string): Promise<MalformedFixture[]>;
  /** Options passed to every read (e.g. a resampling step). */
  readOptions?: ReadOptions;
}

/** Reads everything, recording the series and progress calls in the order they happen. */
export async function readAll(
  format: TraceFormat,
  path: string,
  options: ReadOptions = {},
): Promise<{ series: TraceSeries[]; events: Array<{ series: string } | { done: number; total: number }> }> {
  const series: TraceSeries[] = [];
  const events: Array<{ series: string } | { done: number; total: number }> = [];
  for await (const s of format.read(path, { ...options, onProgress: (done, total) => events.push({ done, total }) })) {
    series.push(s);
    events.push({ series: s.id });
  }
  return { series, events };
}

/** Checks what every series of every format must satisfy. */
export function checkSeriesShape(format: TraceFormat, s: TraceSeries): void {
  const where = `${format.name} series ${s.id}`;
  assert.ok(s.id.length > 0, `${where}: empty id`);
  assert.ok(Number.isInteger(s.length) && s.length >= 0, `${where}: length ${s.length}`);
  assert.ok(Number.isFinite(s.stepSeconds) && s.stepSeconds > 0, `${where}: stepSeconds ${s.stepSeconds}`);
  assert.ok(Number.isFinite(s.startTimeS), `${where}: startTimeS ${s.startTimeS}`);
  assert.ok(Number.isInteger(s.skippedRows) && s.skippedRows >= 0, `${where}: skippedRows ${s.skippedRows}`);
  const resources = Object.keys(s.values) as ResourceName[];
  assert.ok(resources.length > 0, `${where}: no values`);
  assert.deepEqual(Object.keys(s.units).sort(), [...resources].sort(), `${where}: units and values name different resources`);
  for (const r of resources) {
    assert.ok(RESOURCE_NAMES.includes(r) && format.resources.includes(r), `${where}: resource ${r} not declared by the format`);
    const v = s.values[r]!;
    assert.ok(v instanceof Float64Array, `${where}: ${r} is not a Float64Array`);
    assert.equal(v.length, s.length, `${where}: ${r} has ${v.length} values for length ${s.length}`);
    for (let i = 0; i < v.length; i++) {
      const x = v[i]!;
      assert.ok(Number.isNaN(x) || (Number.isFinite(x) && x >= 0), `${where}: ${r}[${i}] = ${x}`);
    }
  }
  if (s.timesS !== undefined) {
    assert.equal(s.timesS.length, s.length, `${where}: timesS length`);
    if (s.length > 0) assert.equal(s.timesS[0], s.startTimeS, `${where}: startTimeS is not the first time`);
  }
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e)) assert.ok(Number.isNaN(a), `${what}[${i}]: expected NaN, got ${a}`);
    else assert.ok(Math.abs(a - e) <= 1e-12 * Math.max(1, Math.abs(e)), `${what}[${i}]: expected ${e}, got ${a}`);
  }
}

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'prescient-traces-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Registers the conformance tests for `format`. */
export function runConformance(format: TraceFormat, fixtures: ConformanceFixtures): void {
  const opts = fixtures.readOptions ?? {};

  test(`${format.name} conformance: lists files sorted by name, ignoring others`, () =>
    withTempDir(async (dir) => {
      const fx = await fixtures.valid(dir);
      const files = await format.listFiles(fx.path);
      assert.deepEqual(files.map((f) => basename(f)), fx.files);
      assert.deepEqual(files.map((f) => basename(f)), files.map((f) => basename(f)).sort(), 'not in plain string order');
      // A single file is listed as itself.
      assert.deepEqual(await format.listFiles(files[0]!), [files[0]]);
    }));

  test(`${format.name} conformance: ids, order, lengths, units and values`, () =>
    withTempDir(async (dir) => {
      const fx = await fixtures.valid(dir);
      const { series } = await readAll(format, fx.path, opts);
      assert.deepEqual(series.map((s) => s.id), fx.series.map((e) => e.id));
      for (const [i, s] of series.entries()) {
        const e = fx.series[i]!;
        checkSeriesShape(format, s);
        assert.equal(basename(s.file), e.file, `${s.id}: file`);
        assert.equal(s.length, e.length, `${s.id}: length`);
        assert.deepEqual(s.units, Object.fromEntries(Object.keys(s.values).map((r) => [r, fixtures.units[r as ResourceName]])));
        assert.deepEqual(Object.keys(s.values).sort(), Object.keys(e.values).sort(), `${s.id}: resources`);
        for (const [r, v] of Object.entries(e.values)) assertClose(s.values[r as ResourceName]!, v, `${s.id}.${r}`);
        if (e.stepSeconds !== undefined) assert.equal(s.stepSeconds, e.stepSeconds, `${s.id}: stepSeconds`);
        if (e.startTimeS !== undefined) assert.equal(s.startTimeS, e.startTimeS, `${s.id}: startTimeS`);
        if (e.skippedRows !== undefined) assert.equal(s.skippedRows, e.skippedRows, `${s.id}: skippedRows`);
      }
    }));

  test(`${format.name} conformance: streams file by file, progress after each file`, () =>
    withTempDir(async (dir) => {
      const fx = await fixtures.valid(dir);
      const { events } = await readAll(format, fx.path, opts);
      const total = fx.files.length;
      let filesDone = 0;
      for (const ev of events) {
        if ('done' in ev) {
          filesDone++;
          assert.deepEqual(ev, { done: filesDone, total });
        } else {
          // A series is yielded after its own file's progress call and before the next one.
          const e = fx.series.find((x) => x.id === ev.series)!;
          assert.equal(filesDone, fx.files.indexOf(e.file) + 1, `series ${ev.series} out of file order`);
        }
      }
      assert.equal(filesDone, total);
      // Breaking off early is allowed and leaves nothing half-open that fails the test.
      for await (const s of format.read(fx.path, opts)) {
        assert.equal(s.id, fx.series[0]!.id);
        break;
      }
    }));

  test(`${format.name} conformance: filter keeps only the ids asked for`, () =>
    withTempDir(async (dir) => {
      const fx = await fixtures.valid(dir);
      const wanted = fx.series[fx.series.length - 1]!.id;
      const { series, events } = await readAll(format, fx.path, { ...opts, filter: (id) => id === wanted });
      assert.deepEqual(series.map((s) => s.id), [wanted]);
      assert.deepEqual(events.filter((e) => 'done' in e).at(-1), { done: fx.files.length, total: fx.files.length });
    }));

  test(`${format.name} conformance: a malformed row is reported with file:line and field`, () =>
    withTempDir(async (dir) => {
      const cases = await fixtures.malformed(dir);
      assert.ok(cases.length > 0);
      for (const c of cases) {
        await assert.rejects(readAll(format, c.path, opts), (err: unknown) => {
          assert.ok(err instanceof TraceFormatError, `expected TraceFormatError, got ${String(err)}`);
          assert.equal(err.code, 'E_TRACE_FORMAT');
          assert.equal(basename(err.location.file ?? ''), c.file, err.message);
          assert.equal(err.location.line, c.line, err.message);
          assert.ok(err.message.includes(`${c.file}:${c.line}`), err.message);
          if (c.field !== undefined) {
            assert.equal(err.location.field, c.field, err.message);
            assert.ok(err.message.includes(c.field), err.message);
          }
          return true;
        });
      }
    }));

  test(`${format.name} conformance: an empty folder lists and yields nothing`, () =>
    withTempDir(async (dir) => {
      const empty = join(dir, 'empty');
      await mkdir(empty);
      assert.deepEqual(await format.listFiles(empty), []);
      const { series, events } = await readAll(format, empty, opts);
      assert.deepEqual(series, []);
      assert.deepEqual(events, []);
    }));

  test(`${format.name} conformance: a missing path is an input error naming it`, () =>
    withTempDir(async (dir) => {
      const missing = join(dir, 'does-not-exist');
      const named = (err: unknown): boolean => {
        assert.ok(err instanceof InputError, `expected InputError, got ${String(err)}`);
        assert.ok(err.message.includes(missing), err.message);
        return true;
      };
      await assert.rejects(format.listFiles(missing), named);
      await assert.rejects(readAll(format, missing, opts), named);
    }));
}
