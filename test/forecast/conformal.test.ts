import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { seededRng } from '../../src/core/rng.js';
import { ConformalForecaster } from '../../src/forecast/conformal.js';
import { SeasonalNaiveForecaster, SesForecaster } from '../../src/forecast/models/index.js';

function noise(n: number, seed: number, level = 10, sd = 1): Float64Array {
  const r = seededRng(seed);
  return Float64Array.from({ length: n }, () => level + sd * r.normal());
}

test('quantiles of plain errors cover at their level on stationary noise', () => {
  const y = noise(6000, 3);
  const c = new ConformalForecaster(new SesForecaster({ alpha: 0.1 }), { horizon: 4, window: 500 });
  let n = 0;
  const hits = [0, 0, 0];
  for (let t = 0; t < y.length - 4; t++) {
    c.update(y[t]!);
    if (t < 600) continue;
    const q = c.quantiles(4, [0.1, 0.5, 0.9]);
    for (let h = 1; h <= 4; h++) {
      n++;
      for (let k = 0; k < 3; k++) if (y[t + h]! <= q[k]![h - 1]!) hits[k]!++;
    }
  }
  const cover = hits.map((x) => x / n);
  assert.ok(Math.abs(cover[0]! - 0.1) < 0.02, `q0.1 covered ${cover[0]}`);
  assert.ok(Math.abs(cover[1]! - 0.5) < 0.03, `q0.5 covered ${cover[1]}`);
  assert.ok(Math.abs(cover[2]! - 0.9) < 0.02, `q0.9 covered ${cover[2]}`);
});

test('intervals widen with the horizon for a random walk (errors are calibrated per step)', () => {
  const r = seededRng(5);
  const c = new ConformalForecaster(new SeasonalNaiveForecaster({ period: 1 }), { horizon: 12, window: 2000 });
  let y = 0;
  for (let t = 0; t < 3000; t++) c.update((y += r.normal()));
  const [lo, hi] = c.quantiles(12, [0.05, 0.95]);
  const w1 = hi![0]! - lo![0]!;
  const w12 = hi![11]! - lo![11]!;
  // a random walk's h-step spread grows like sqrt(h): 12 steps ~ 3.5x one step
  assert.ok(w12 / w1 > 2.5 && w12 / w1 < 4.5, `width ratio ${w12 / w1}`);
});

test('forecasts and quantiles depend only on samples already fed (causality)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.double({ min: 0, max: 100, noNaN: true }), { minLength: 20, maxLength: 120 }),
      fc.integer({ min: 5, max: 19 }),
      fc.boolean(),
      fc.integer({ min: 1, max: 3 }),
      (ys, cut, scaled, every) => {
        const mk = () => new ConformalForecaster(new SesForecaster({ alpha: 0.4 }), { horizon: 6, window: 30, scaled, calibrateEvery: every });
        const a = mk();
        const b = mk();
        ys.slice(0, cut).forEach((y) => a.update(y));
        ys.forEach((y, i) => i < cut && b.update(y));
        const qa = a.quantiles(6, [0.5, 0.95]);
        const qb = b.quantiles(6, [0.5, 0.95]);
        assert.deepEqual(qa.map((r) => Array.from(r)), qb.map((r) => Array.from(r)));
        // feeding more samples afterwards must not change what was already returned
        const before = qa.map((r) => Array.from(r));
        ys.slice(cut).forEach((y) => a.update(y));
        assert.deepEqual(before, qb.map((r) => Array.from(r)));
      },
    ),
    { numRuns: 60 },
  );
});

test('scaled scores follow a change in volatility faster than plain errors', () => {
  const calm = noise(2000, 7, 50, 1);
  const wild = noise(300, 8, 50, 8);
  const y = Float64Array.from([...calm, ...wild]);
  const plain = new ConformalForecaster(new SesForecaster({ alpha: 0.3 }), { horizon: 1, window: 1000 });
  const scaled = new ConformalForecaster(new SesForecaster({ alpha: 0.3 }), { horizon: 1, window: 1000, scaled: true });
  let missPlain = 0;
  let missScaled = 0;
  for (let t = 0; t < y.length - 1; t++) {
    plain.update(y[t]!);
    scaled.update(y[t]!);
    if (t < 2000) continue;
    if (y[t + 1]! > plain.quantiles(1, [0.95])[0]![0]!) missPlain++;
    if (y[t + 1]! > scaled.quantiles(1, [0.95])[0]![0]!) missScaled++;
  }
  assert.ok(missScaled < missPlain, `scaled missed ${missScaled}, plain ${missPlain}`);
});
