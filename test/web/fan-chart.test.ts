// The fan chart's data (web/fan-chart.js, plain browser JS): what uPlot is given from the API's
// history and forecast. Properties: time strictly increases; history values are converted to
// display units; the bands are ordered (outer high >= inner high >= median >= inner low >= outer
// low) wherever the forecast is drawn; the fan starts at the last actual value; values the page
// saw predicted one step ahead line up with the ticks they were predicted for.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';

const modulePath = new URL('../../web/fan-chart.js', import.meta.url).href;
const { buildFanData, fanLevels } = (await import(modulePath)) as {
  buildFanData: (history: unknown[], forecast: unknown, resource: 'cpu' | 'memory', past?: Map<number, number>) => { data: Array<Array<number | null>>; nowS: number | null };
  fanLevels: (levels: number[]) => { outer: [number, number] | null; inner: [number, number] | null; median: number | null };
};

const LEVELS = [0.05, 0.25, 0.5, 0.75, 0.9, 0.95];
const S = { actual: 1, allocation: 2, outerHi: 3, innerHi: 4, median: 5, innerLo: 6, outerLo: 7, past: 8 };

const arbCase = fc
  .record({
    n: fc.integer({ min: 1, max: 40 }),
    horizon: fc.integer({ min: 1, max: 24 }),
    tickMs: fc.integer({ min: 50, max: 5000 }),
    startMs: fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 }),
    base: fc.double({ min: 0, max: 1e6, noNaN: true }),
    seedVals: fc.array(fc.double({ min: 0, max: 1e5, noNaN: true }), { minLength: 40 * 2, maxLength: 40 * 2 }),
    spreads: fc.array(fc.double({ min: 0, max: 1e4, noNaN: true }), { minLength: 6, maxLength: 6 }),
  })
  .map(({ n, horizon, tickMs, startMs, base, seedVals, spreads }) => {
    const history = Array.from({ length: n }, (_, k) => ({
      tick: k,
      atMs: startMs + k * tickMs,
      usage: { cpuMillicores: base + seedVals[k]!, memoryMiB: base + seedVals[k + 40]! },
      allocation: { cpuMillicores: base + 2 * seedVals[k]!, memoryMiB: base + 2 * seedVals[k + 40]! },
    }));
    const madeAtMs = history[n - 1]!.atMs;
    // Sorted quantiles per step: cumulative spreads around the base.
    const cum = spreads.map((_, i) => spreads.slice(0, i + 1).reduce((a, b) => a + b, 0));
    const quantiles = (shift: number) => Object.fromEntries(LEVELS.map((l, i) => [String(l), Array.from({ length: horizon }, (_, h) => base + shift + cum[i]! + h)]));
    const series = (shift: number) => ({ model: 'm', confidence: 0.5, mean: Array.from({ length: horizon }, () => base + shift), levels: LEVELS, quantiles: quantiles(shift), anomaly: null });
    const forecast = {
      madeAtMs,
      tick: n - 1,
      stepSeconds: 300,
      stepMs: tickMs,
      horizonSteps: horizon,
      stepTimesMs: Array.from({ length: horizon }, (_, h) => madeAtMs + (h + 1) * tickMs),
      cpuMillicores: series(0),
      memoryMiB: series(10),
    };
    return { history, forecast, n, horizon };
  });

test('fanLevels: outer band = lowest and highest levels, inner = 25-75 %, median 0.5', () => {
  assert.deepEqual(fanLevels([0.5, 0.9, 0.05, 0.95, 0.25, 0.75]), { outer: [0.05, 0.95], inner: [0.25, 0.75], median: 0.5 });
  assert.deepEqual(fanLevels([0.5, 0.9]), { outer: null, inner: null, median: 0.5 });
  assert.deepEqual(fanLevels([0.1, 0.9]), { outer: [0.1, 0.9], inner: null, median: null });
});

test('buildFanData: increasing time, display units, ordered bands, fan anchored at the last actual value', () => {
  fc.assert(
    fc.property(arbCase, fc.constantFrom('cpu' as const, 'memory' as const), ({ history, forecast, n, horizon }, resource) => {
      const { data, nowS } = buildFanData(history, forecast, resource, new Map());
      const div = resource === 'cpu' ? 1000 : 1024;
      const field = resource === 'cpu' ? 'cpuMillicores' : 'memoryMiB';
      const xs = data[0]!;
      assert.equal(xs.length, n + horizon);
      for (const col of data) assert.equal(col.length, xs.length);
      for (let i = 1; i < xs.length; i++) assert.ok(xs[i]! > xs[i - 1]!, 'time increases');
      assert.equal(nowS, history[n - 1]!.atMs / 1000);
      for (let k = 0; k < n; k++) {
        assert.equal(data[S.actual]![k], history[k]!.usage[field] / div);
        assert.equal(data[S.allocation]![k], history[k]!.allocation[field] / div);
        if (k < n - 1) assert.equal(data[S.median]![k], null, 'no forecast drawn over the past');
      }
      for (const s of [S.outerHi, S.innerHi, S.median, S.innerLo, S.outerLo]) assert.equal(data[s]![n - 1], data[S.actual]![n - 1], 'the fan starts at the last actual value');
      for (let k = n; k < n + horizon; k++) {
        assert.equal(data[S.actual]![k], null, 'no actual value in the future');
        const v = [S.outerHi, S.innerHi, S.median, S.innerLo, S.outerLo].map((s) => data[s]![k]!);
        for (let i = 1; i < v.length; i++) assert.ok(v[i - 1]! >= v[i]!, `bands ordered at step ${k - n}: ${v.join(' ')}`);
        assert.equal(data[S.median]![k], forecast[field].quantiles['0.5']![k - n]! / div);
      }
    }),
    { numRuns: 200 },
  );
});

test('buildFanData: one-step-ahead predictions line up with their ticks; no forecast draws history only', () => {
  const history = [0, 1, 2].map((k) => ({ tick: 10 + k, atMs: 1000 * k, usage: { cpuMillicores: 1000, memoryMiB: 1024 }, allocation: { cpuMillicores: 2000, memoryMiB: 2048 } }));
  const { data } = buildFanData(history, null, 'cpu', new Map([[11, 1500]]));
  assert.deepEqual(data[0], [0, 1, 2]);
  assert.deepEqual(data[S.past], [null, 1.5, null]);
  assert.deepEqual(data[S.median], [null, null, null]);
  assert.deepEqual(data[S.actual], [1, 1, 1]);
});
