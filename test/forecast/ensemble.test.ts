import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { seededRng } from '../../src/core/rng.js';
import { ConformalForecaster } from '../../src/forecast/conformal.js';
import { EnsembleForecaster, horizonGroupOf } from '../../src/forecast/ensemble.js';
import { SesForecaster } from '../../src/forecast/models/index.js';
import type { Forecaster } from '../../src/forecast/types.js';
import { AnomalyDetector } from '../../src/forecast/anomaly.js';
import { createEngine } from '../../src/forecast/engine.js';

/** Naive forecast that swings by +-amplitude from one sample to the next: pure added error. */
class Jittery implements Forecaster {
  readonly name: string;
  private last = NaN;
  count = 0;
  constructor(private readonly amplitude: number) {
    this.name = `jittery(${amplitude})`;
  }
  update(y: number): void {
    this.count++;
    this.last = y;
  }
  forecast(h: number, out = new Float64Array(h)): Float64Array {
    return out.fill(this.last + (this.count % 2 ? this.amplitude : -this.amplitude), 0, h);
  }
}

const levels = [0.5, 0.9, 0.95, 0.99];

function randomWalk(n: number, seed: number): Float64Array {
  const r = seededRng(seed);
  let y = 100;
  return Float64Array.from({ length: n }, () => (y = Math.max(0, y + r.normal())));
}

test('the ensemble selects the members with the lowest pinball loss, per horizon group', () => {
  const members = [new Jittery(30), new Jittery(8), new Jittery(0), new Jittery(15)].map(
    (m) => new ConformalForecaster(m, { horizon: 12, window: 50 }),
  );
  const e = new EnsembleForecaster(members, { levels, horizon: 12, topK: 1 });
  const y = randomWalk(600, 1);
  for (const v of y) e.update(v);
  const why = e.explain();
  const ranges = [...new Set(why.groups.map((g) => `${g.from}-${g.to}`))];
  assert.deepEqual(ranges, ['1-1', '2-3', '4-7', '8-12']);
  assert.equal(why.groups.length, 4 * levels.length, 'one selection per horizon group and level');
  for (const g of why.groups) assert.deepEqual(g.selected, ['conformal(jittery(0))']);
  const f = e.forecast(12);
  assert.equal(f.model, 'conformal(jittery(0))');
});

test('horizon groups are log-spaced', () => {
  assert.deepEqual([1, 2, 3, 4, 7, 8, 15, 16].map(horizonGroupOf), [0, 1, 1, 2, 2, 3, 3, 4]);
});

test('a switching penalty keeps an incumbent that is only marginally worse', () => {
  // two nearly identical members: without a penalty selection flips between them
  const mk = (pen: number) =>
    new EnsembleForecaster(
      [new SesForecaster({ alpha: 0.5 }), new SesForecaster({ alpha: 0.52 })].map((m) => new ConformalForecaster(m, { horizon: 4, window: 50 })),
      { levels, horizon: 4, topK: 1, switchPenalty: pen, horizonGroups: false },
    );
  const y = randomWalk(3000, 4);
  const switches = (e: EnsembleForecaster) => {
    let last = '';
    let n = 0;
    for (const v of y) {
      e.update(v);
      const s = e.explain().groups[0]!.selected[0]!;
      if (last && s !== last) n++;
      last = s;
    }
    return n;
  };
  assert.ok(switches(mk(0.2)) < switches(mk(0)), 'penalty should cut switching');
});

test('blended quantiles never cross, never go below the floor, and confidence stays in [0, 1]', () => {
  fc.assert(
    fc.property(fc.array(fc.double({ min: 0, max: 1000, noNaN: true }), { minLength: 1, maxLength: 150 }), (ys) => {
      const e = createEngine({ horizon: 6, levels: [0.99, 0.5, 0.1, 0.9], stepSeconds: 300 });
      for (const y of ys) e.update(y);
      const f = e.forecast(6);
      for (let h = 0; h < 6; h++) {
        const [q99, q50, q10, q90] = f.quantiles.map((r) => r[h]!);
        assert.ok(q10! <= q50! && q50! <= q90! && q90! <= q99!, `crossing at step ${h + 1}`);
        assert.ok(q10! >= 0);
      }
      assert.ok(f.confidence >= 0 && f.confidence <= 1);
    }),
    { numRuns: 40 },
  );
});

test('coverage correction brings the 0.95 quantile near 95 % on heavy-tailed data', () => {
  const r = seededRng(9);
  const y = Float64Array.from({ length: 4000 }, () => 50 + 3 * r.normal() / Math.max(0.15, Math.abs(r.normal())));
  const run = (rate: number) => {
    const e = new EnsembleForecaster([new ConformalForecaster(new SesForecaster({ alpha: 0.2 }), { horizon: 1, window: 30 })], {
      levels: [0.5, 0.95],
      horizon: 1,
      coverageRate: rate,
      floor: -Infinity,
    });
    let hit = 0;
    let n = 0;
    for (let t = 0; t < y.length - 1; t++) {
      e.update(y[t]!);
      if (t < 1000) continue;
      n++;
      if (y[t + 1]! <= e.forecast(1).quantiles[1]![0]!) hit++;
    }
    return hit / n;
  };
  const off = run(0);
  const on = run(0.05);
  assert.ok(Math.abs(on - 0.95) < Math.abs(off - 0.95), `coverage without ${off}, with ${on}`);
  assert.ok(Math.abs(on - 0.95) < 0.015, `coverage with correction ${on}`);
});

test('a lone spike is flagged as an anomaly, ordinary noise is not', () => {
  const d = new AnomalyDetector();
  const r = seededRng(2);
  let flags = 0;
  for (let t = 0; t < 500; t++) if (d.update(20 + r.normal()).flagged) flags++;
  assert.ok(flags <= 2, `${flags} false alarms in 500 normal samples`);
  const spike = d.update(60);
  assert.ok(spike.flagged && spike.z > 4);
  assert.equal(d.update(20).flagged, false);
});
