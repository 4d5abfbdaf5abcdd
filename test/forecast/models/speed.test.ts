// Throughput of the cheap models: each must take well over a million updates per second on one
// core. Best of three runs, so a busy machine does not fail it by chance.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { createModel, type ModelSpec } from '../../../src/forecast/models/index.js';
import { seasonalSeries } from './helpers.js';

const N = 1_000_000;
const MIN_UPDATES_PER_SECOND = 1_000_000;

function updatesPerSecond(spec: ModelSpec, values: Float64Array): number {
  let best = 0;
  for (let run = 0; run < 3; run++) {
    const m = createModel(spec);
    const t0 = performance.now();
    for (let i = 0; i < values.length; i++) m.update(values[i]!);
    const seconds = (performance.now() - t0) / 1000;
    assert.ok(Number.isFinite(m.forecast(1)[0]!));
    best = Math.max(best, values.length / seconds);
  }
  return best;
}

test('cheap models: more than 1e6 updates per second each', () => {
  const values = seasonalSeries({ n: N, period: 288, amplitude: 20, noise: 5 });
  for (let i = 0; i < N; i += 97) values[i] = NaN; // missing samples take their path too
  const specs: ModelSpec[] = [
    { kind: 'seasonal-naive', period: 288 },
    { kind: 'ses' },
    { kind: 'holt' },
    { kind: 'holt-winters', period: 288 },
    { kind: 'holt-winters', period: 'auto' },
    { kind: 'decaying-histogram' },
  ];
  const lines: string[] = [];
  for (const spec of specs) {
    const rate = updatesPerSecond(spec, values);
    lines.push(`${JSON.stringify(spec)}: ${(rate / 1e6).toFixed(1)} M updates/s`);
    assert.ok(rate > MIN_UPDATES_PER_SECOND, `${JSON.stringify(spec)}: ${rate.toFixed(0)} updates/s`);
  }
  console.log(lines.join('\n'));
});

test('the fitted models stay usable in a simulation (> 20k updates per second)', () => {
  const values = seasonalSeries({ n: 100_000, period: 288, amplitude: 20, noise: 5 });
  const lines: string[] = [];
  for (const spec of [{ kind: 'ar' }, { kind: 'ar', window: 2016 }, { kind: 'fft-periodic' }] as ModelSpec[]) {
    const rate = updatesPerSecond(spec, values);
    lines.push(`${JSON.stringify(spec)}: ${(rate / 1e6).toFixed(2)} M updates/s`);
    assert.ok(rate > 20_000, `${JSON.stringify(spec)}: ${rate.toFixed(0)} updates/s`);
  }
  console.log(lines.join('\n'));
});
