import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { backtestOrigins, backtestSeries, createEngine } from '../../src/forecast/engine.js';
import { generateWorkload } from '../../src/traces/index.js';

const levels = [0.5, 0.9, 0.95, 0.99];

test('origins are warmup-1, warmup-1+every, ... while origin+1 <= length-1', () => {
  assert.deepEqual(backtestOrigins(300, { horizon: 12, every: 12, warmup: 288 }), [287]);
  assert.deepEqual(backtestOrigins(288, { horizon: 12, every: 12, warmup: 288 }), []);
  assert.deepEqual(backtestOrigins(290, { horizon: 12, every: 12, warmup: 288 }), [287]);
  assert.deepEqual(backtestOrigins(20, { horizon: 3, every: 5, warmup: 4 }), [3, 8, 13, 18]);
});

test('a forecast at an origin does not change when later samples are removed (never reads the future)', () => {
  const [series] = generateWorkload({ count: 1, length: 700, seed: 11 });
  const cpu = series!.values.cpu!;
  fc.assert(
    fc.property(fc.integer({ min: 300, max: 690 }), (cut) => {
      const b = { horizon: 12, every: 12, warmup: 288 };
      const full = new Map<number, string>();
      backtestSeries(cpu, createEngine({ horizon: 12, levels, stepSeconds: 300 }), b, (o, f) => full.set(o, JSON.stringify([Array.from(f.mean), f.quantiles.map((q) => Array.from(q))])));
      const truncated = cpu.slice(0, cut);
      let n = 0;
      backtestSeries(truncated, createEngine({ horizon: 12, levels, stepSeconds: 300 }), b, (o, f) => {
        n++;
        assert.equal(JSON.stringify([Array.from(f.mean), f.quantiles.map((q) => Array.from(q))]), full.get(o), `origin ${o}`);
      });
      assert.equal(n, backtestOrigins(cut, b).length);
    }),
    { numRuns: 6 },
  );
});

test('the same input gives the same forecasts (determinism)', () => {
  const [s] = generateWorkload({ count: 1, length: 400, seed: 3 });
  const run = () => {
    const out: number[] = [];
    backtestSeries(s!.values.memory!, createEngine({ horizon: 6, levels, stepSeconds: 300 }), { horizon: 6, every: 6, warmup: 100 }, (_, f) => out.push(...f.quantiles[2]!));
    return out;
  };
  assert.deepEqual(run(), run());
});
