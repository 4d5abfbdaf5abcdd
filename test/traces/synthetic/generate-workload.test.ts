import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { InputError } from '../../../src/core/errors.js';
import { generateWorkload, type WorkloadArchetype } from '../../../src/traces/synthetic/generate-workload.js';
import { parseSyntheticSpec, syntheticFormat } from '../../../src/traces/synthetic/synthetic-format.js';
import { checkSeriesShape, readAll } from '../conformance.js';

/** Sample autocorrelation at `lag`. */
function acf(x: Float64Array, lag: number): number {
  let mean = 0;
  for (const v of x) mean += v;
  mean /= x.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < x.length; i++) {
    den += (x[i]! - mean) ** 2;
    if (i + lag < x.length) num += (x[i]! - mean) * (x[i + lag]! - mean);
  }
  return num / den;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

test('synthetic: the same seed gives identical series, another seed different ones', () => {
  const a = generateWorkload({ count: 8, length: 500, seed: 7 });
  const b = generateWorkload({ count: 8, length: 500, seed: 7 });
  assert.deepEqual(a, b);
  const c = generateWorkload({ count: 8, length: 500, seed: 8 });
  for (let i = 0; i < 8; i++) assert.notDeepEqual(c[i]!.values.cpu, a[i]!.values.cpu, `series ${i}`);
});

test('synthetic: series i does not depend on how many series are asked for', () => {
  const few = generateWorkload({ count: 3, length: 300, seed: 11 });
  const many = generateWorkload({ count: 30, length: 300, seed: 11 });
  assert.deepEqual(many.slice(0, 3), few);
});

test('synthetic: every series is well formed, >= 0 and within capacity (property)', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
      fc.integer({ min: 0, max: 6 }),
      fc.integer({ min: 0, max: 700 }),
      fc.constantFrom(60, 300, 3600),
      fc.record({ seasonal: fc.nat(3), bursty: fc.nat(3), trending: fc.nat(3), steady: fc.integer({ min: 1, max: 3 }) }),
      (seed, count, length, stepSeconds, mix) => {
        const all = generateWorkload({ count, length, seed, stepSeconds, mix });
        assert.equal(all.length, count);
        for (const s of all) {
          checkSeriesShape(syntheticFormat, s);
          assert.equal(s.length, length);
          assert.equal(s.stepSeconds, stepSeconds);
          assert.deepEqual(s.units, { cpu: 'cores', memory: 'MiB' });
          const cpu = s.values.cpu!;
          const mem = s.values.memory!;
          for (let i = 0; i < length; i++) {
            assert.ok(cpu[i]! >= 0 && cpu[i]! <= s.capacity!.cpu!, `${s.id} cpu[${i}] = ${cpu[i]}`);
            assert.ok(mem[i]! >= 0 && mem[i]! <= s.capacity!.memory!, `${s.id} memory[${i}] = ${mem[i]}`);
          }
          assert.ok((mix as Record<string, number>)[s.labels!.archetype!]! > 0, 'archetype drawn with weight 0');
        }
        assert.deepEqual(all.map((s) => s.id), all.map((s) => s.id).sort(), 'ids not in string order');
      },
    ),
    { numRuns: 60 },
  );
});

test('synthetic: the diurnal cycle shows as autocorrelation at lag 288 (5-minute steps)', () => {
  const seasonal: number[] = [];
  for (const seed of [1, 2, 3]) {
    for (const s of generateWorkload({ count: 40, length: 2016, seed, mix: { seasonal: 1 } })) {
      seasonal.push(acf(s.values.cpu!, 288));
    }
  }
  assert.ok(Math.min(...seasonal) > 0.15, `weakest seasonal series: ${Math.min(...seasonal)}`);
  assert.ok(median(seasonal) > 0.5, `median ${median(seasonal)}`);
  // Half a day later the cycle is in opposite phase.
  const s = generateWorkload({ count: 1, length: 2016, seed: 5, mix: { seasonal: 1 } })[0]!;
  assert.ok(acf(s.values.cpu!, 144) < acf(s.values.cpu!, 288));
  // Steady series have much weaker daily structure.
  const steady = generateWorkload({ count: 40, length: 2016, seed: 1, mix: { steady: 1 } }).map((x) => acf(x.values.cpu!, 288));
  assert.ok(median(steady) < median(seasonal) - 0.2, `steady ${median(steady)} vs seasonal ${median(seasonal)}`);
});

test('synthetic: weekends are quieter for seasonal series (weekly cycle)', () => {
  // Start on Monday 2024-03-04 00:00 UTC, four weeks of 5-minute samples.
  const startTimeS = Date.UTC(2024, 2, 4) / 1000;
  let weekday = 0;
  let weekend = 0;
  for (const s of generateWorkload({ count: 30, length: 4 * 2016, seed: 4, startTimeS, mix: { seasonal: 1 } })) {
    s.values.cpu!.forEach((v, i) => {
      const day = Math.floor(i / 288) % 7; // 0 = Monday
      if (day >= 5) weekend += v / 2;
      else weekday += v / 5;
    });
  }
  assert.ok(weekend < 0.9 * weekday, `weekend ${weekend} vs weekday ${weekday} (per-day averages)`);
});

test('synthetic: trending series drift more than steady ones', () => {
  const drift = (a: WorkloadArchetype): number =>
    median(
      generateWorkload({ count: 30, length: 4 * 2016, seed: 9, mix: { [a]: 1 } }).map((s) => {
        const cpu = s.values.cpu!;
        const week = (w: number): number => cpu.subarray(w * 2016, (w + 1) * 2016).reduce((p, q) => p + q, 0) / 2016;
        return Math.abs(week(3) - week(0)) / (week(0) + 1e-9);
      }),
    );
  assert.ok(drift('trending') > 2 * drift('steady'), `trending ${drift('trending')} steady ${drift('steady')}`);
});

test('synthetic: bursty series have short spikes well above their typical level', () => {
  const ratio = (a: WorkloadArchetype): number =>
    median(
      generateWorkload({ count: 30, length: 2016, seed: 2, mix: { [a]: 1 } }).map((s) => {
        const sorted = [...s.values.cpu!].sort((p, q) => p - q);
        return sorted[Math.floor(sorted.length * 0.995)]! / sorted[sorted.length >> 1]!;
      }),
    );
  assert.ok(ratio('bursty') > 1.5 * ratio('steady'), `bursty ${ratio('bursty')} steady ${ratio('steady')}`);
});

test('synthetic: mix weights set the share of each archetype', () => {
  const all = generateWorkload({ count: 1000, length: 1, seed: 3, mix: { seasonal: 3, bursty: 1 } });
  const seasonal = all.filter((s) => s.labels!.archetype === 'seasonal').length;
  assert.equal(all.filter((s) => s.labels!.archetype === 'bursty').length, 1000 - seasonal);
  assert.ok(seasonal > 700 && seasonal < 800, `${seasonal} seasonal of 1000 for weight 3:1`);
});

test('synthetic: bad options are rejected with every problem named', () => {
  assert.throws(
    () => generateWorkload({ count: -1, length: 1.5, seed: 0.5, stepSeconds: 0, mix: { seasonal: -1 } }),
    (e: unknown) => e instanceof InputError && ['count', 'length', 'seed', 'stepSeconds', 'mix.seasonal'].every((k) => e.message.includes(k)),
  );
  assert.throws(() => generateWorkload({ count: 1, length: 1, seed: 1, mix: { seasonal: 0 } }), /weight > 0/);
  assert.throws(() => generateWorkload({ count: 1, length: 1, seed: 1, mix: { gpu: 1 } as never }), /unknown archetype/);
});

test('synthetic format: a spec string reads like a trace', async () => {
  const spec = 'synthetic:count=50,length=2016,seed=7';
  assert.deepEqual(parseSyntheticSpec(spec), { count: 50, length: 2016, seed: 7, stepSeconds: 300, startTimeS: 0 });
  assert.deepEqual(await syntheticFormat.listFiles(spec), [spec]);
  const { series, events } = await readAll(syntheticFormat, spec);
  assert.equal(series.length, 50);
  for (const s of series) {
    checkSeriesShape(syntheticFormat, s);
    assert.equal(s.length, 2016);
    assert.equal(s.file, spec);
  }
  assert.deepEqual(series, generateWorkload({ count: 50, length: 2016, seed: 7 }).map((s) => ({ ...s, file: spec })));
  assert.deepEqual(events.filter((e) => 'done' in e).at(-1), { done: 50, total: 50 });
  const some = await readAll(syntheticFormat, 'count=5,length=10,seed=1,step=60,bursty=1', { filter: (id) => id === 'syn-0003' });
  assert.deepEqual(some.series.map((s) => [s.id, s.stepSeconds, s.labels!.archetype]), [['syn-0003', 60, 'bursty']]);
});

test('synthetic format: a bad spec names the key and lists the valid ones', async () => {
  await assert.rejects(syntheticFormat.listFiles('synthetic:count=5,colour=red'), (e: unknown) => e instanceof InputError && /colour/.test(e.message) && /seasonal/.test(e.message));
  await assert.rejects(readAll(syntheticFormat, 'synthetic:count=many'), (e: unknown) => e instanceof InputError && /count needs a number/.test(e.message));
  await assert.rejects(readAll(syntheticFormat, 'synthetic:count=-2'), InputError);
});

test('synthetic module is pure: no node:* imports, only core and the format types', async () => {
  const dir = fileURLToPath(new URL('../../../src/traces/synthetic/', import.meta.url));
  for (const name of await readdir(dir)) {
    if (!name.endsWith('.ts')) continue;
    const text = await readFile(join(dir, name), 'utf8');
    for (const m of text.matchAll(/from\s+'([^']+)'/g)) {
      const spec = m[1]!;
      assert.ok(!spec.startsWith('node:'), `${name} imports ${spec}`);
      assert.ok(spec.startsWith('./') || spec.startsWith('../../core/') || spec === '../format.js', `${name} imports ${spec}`);
    }
    const code = text
      .split('\n')
      .filter((l) => !/^\s*(\/\/|\*|\/\*)/.test(l))
      .join('\n');
    assert.ok(!/Math\.random|Date\.now|new Date\(/.test(code), `${name} uses Math.random, Date.now or the clock`);
  }
});
