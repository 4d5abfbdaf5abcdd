import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ValidationError } from '../../../src/core/errors.js';
import type { ProbForecast } from '../../../src/forecast/types.js';
import { baseMultiplier, compileMultiplierOptions, predictedHostAvailability, PreemptionMultipliers, selectVictims } from '../../../src/policy/markets/bonding.js';
import { CreditBook } from '../../../src/policy/markets/credits.js';
import { normalQuantile, normalTail, quantileAt } from '../../../src/policy/markets/dist.js';
import { SYSTEM } from '../../../src/policy/markets/ledger.js';
import { kv, MR } from '../../../src/policy/markets/reasons.js';

const HOUR = 3_600_000;

function flat(values: number[], levels = [0.5, 0.9], spread = 0.2, confidence = 1): ProbForecast {
  return {
    mean: Float64Array.from(values),
    quantiles: levels.map((l) => Float64Array.from(values, (v) => v * (1 + (l - 0.5) * spread * 2))),
    levels,
    confidence,
    model: 'test',
  };
}

function bankedBook(credits: number): CreditBook {
  const book = new CreditBook();
  book.launch('i', { tenant: 't', className: 't3.2xlarge', mode: 'standard' }, 0);
  let t = 0;
  // t3.2xlarge earns 192 credits an hour idle
  while (book.balance('i') < credits * 1000) {
    t += 60_000;
    book.accrue('i', t, 60_000, 0);
  }
  return book;
}

test('bonding 2 units of 100 credits costs 200 credits plus the 1 % tax, irreversibly, in one transaction', () => {
  const book = bankedBook(500);
  const before = book.balance('i');
  const seq = book.ledger.seq;
  const r = book.bond('i', 2, HOUR);
  assert.ok(r.ok);
  assert.equal(r.taxMillicredits, 2000);
  assert.equal(book.balance('i'), before - 202_000);
  assert.equal(book.ledger.balance(SYSTEM.BONDED, 'credit'), 200_000);
  assert.equal(book.ledger.balance(SYSTEM.BONDING_TAX, 'credit'), 2000);
  assert.equal(book.bondUnits('i'), 2);
  assert.equal(book.ledger.seq, seq + 1, 'one atomic ledger entry');
  assert.deepEqual(book.ledger.journal.at(-1)!.reasons.slice(0, 2), ['credits-bonded', 'units=2']);
  assert.equal(typeof (book as unknown as Record<string, unknown>).unbond, 'undefined', 'no way back');
});

test('bonding more than the balance covers is refused with the amounts, and nothing changes', () => {
  const book = bankedBook(150);
  const bal = book.balance('i');
  const r = book.bond('i', 2, HOUR);
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.equal(r.needMillicredits, 202_000);
    assert.equal(r.haveMillicredits, bal);
    assert.ok(r.reasons.includes('insufficient-credits'));
  }
  assert.equal(book.balance('i'), bal);
  assert.equal(book.maxBondable('i'), 1);
});

test('the default multiplier table: 0 BU x1, 1 x1.5, 2 x3, 3 x5, then by the last second difference', () => {
  const o = compileMultiplierOptions();
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7].map((n) => baseMultiplier(n, o)), [1, 1.5, 3, 5, 7.5, 10.5, 14, 18]);
  assert.deepEqual([3, 4, 5].map((n) => baseMultiplier(n, compileMultiplierOptions({ extend: 'linear' }))), [5, 7, 9]);
  assert.deepEqual([3, 4, 5].map((n) => baseMultiplier(n, compileMultiplierOptions({ extend: 'flat' }))), [5, 5, 5]);
  assert.deepEqual([1, 2, 3].map((n) => baseMultiplier(n, compileMultiplierOptions({ table: [2, 4] }))), [2, 4, 6]);
});

test('bad multiplier options are reported together with their paths', () => {
  try {
    compileMultiplierOptions({ table: [2, 1.5], alpha: 0, min: 5, max: 2 });
    assert.fail('expected ValidationError');
  } catch (e) {
    assert.ok(e instanceof ValidationError);
    assert.deepEqual(e.issues.map((i) => i.path).sort(), ['multiplier.alpha', 'multiplier.min', 'multiplier.table[1]']);
  }
});

test('a predicted rise raises the multiplier within its limit, a predicted fall lowers it, a steady forecast leaves the base', () => {
  const m = new PreemptionMultipliers({ alpha: 1 });
  const rise = m.update('a', { bondUnits: 1, forecast: flat([1, 2, 4]), currentDemand: 1 });
  assert.equal(rise.multiplier, 1.5 * 1.5, 'a 300 % rise is capped at maxRaise 0.5');
  assert.ok(rise.reasons.includes('predicted-rise'));
  const fall = m.update('b', { bondUnits: 2, forecast: flat([0.7, 0.5]), currentDemand: 1 });
  assert.ok(Math.abs(fall.multiplier - 3 * 0.7) < 1e-12, String(fall.multiplier));
  assert.ok(fall.reasons.includes('predicted-fall'));
  const steady = m.update('c', { bondUnits: 3, forecast: flat([1.05, 1.1]), currentDemand: 1 });
  assert.equal(steady.multiplier, 5);
  assert.ok(steady.reasons.includes('predicted-steady'));
  const none = m.update('d', { bondUnits: 0 });
  assert.equal(none.multiplier, 1);
  assert.ok(none.reasons.includes('no-forecast'));
  assert.equal(m.get('a'), 2.25);
  assert.equal(m.get('unknown'), 1);
});

test('the factor is exponentially smoothed, scaled by confidence, and the multiplier clamped to [min, max]', () => {
  const m = new PreemptionMultipliers({ alpha: 0.5, max: 6 });
  const first = m.update('a', { bondUnits: 1, forecast: flat([3]), currentDemand: 1 });
  assert.equal(first.factor, 1.5);
  const second = m.update('a', { bondUnits: 1, forecast: flat([1]), currentDemand: 1 });
  assert.equal(second.factor, 0.5 * 1 + 0.5 * 1.5);
  assert.ok(second.reasons.includes('smoothed'));
  const halfSure = new PreemptionMultipliers({ alpha: 1 }).update('x', { bondUnits: 0, forecast: flat([3], [0.5, 0.9], 0.2, 0.5), currentDemand: 1 });
  assert.equal(halfSure.factor, 1.25);
  const big = m.update('b', { bondUnits: 4, forecast: flat([3]), currentDemand: 1 });
  assert.equal(big.multiplier, 6);
  assert.ok(big.reasons.includes('clamped-to-max'));
  const small = new PreemptionMultipliers({ alpha: 1, min: 0.9 }).update('c', { bondUnits: 0, forecast: flat([0.1]), currentDemand: 1 });
  assert.equal(small.multiplier, 0.9);
  assert.ok(small.reasons.includes('clamped-to-min'));
});

test('property: whatever the forecasts, the multiplier stays in [min, max] and moves at most alpha x (maxRaise + maxLower) x base per update', () => {
  fc.assert(
    fc.property(fc.array(fc.record({ now: fc.double({ min: 0, max: 10, noNaN: true }), next: fc.double({ min: 0, max: 10, noNaN: true }) }), { minLength: 1, maxLength: 50 }), fc.integer({ min: 0, max: 6 }), (steps, bu) => {
      const m = new PreemptionMultipliers();
      const o = m.options;
      let prev: number | undefined;
      for (const s of steps) {
        const d = m.update('a', { bondUnits: bu, forecast: flat([s.next]), currentDemand: s.now });
        assert.ok(d.multiplier >= o.min && d.multiplier <= o.max);
        if (prev !== undefined) assert.ok(Math.abs(d.multiplier - prev) <= o.alpha * (o.maxRaise + o.maxLower) * d.base + 1e-9);
        prev = d.multiplier;
      }
    }),
  );
});

test('victims: lowest multiplier first, throttled to baseline before anyone is evicted, each with its reasons', () => {
  const cands = [
    { id: 'gold', multiplier: 5, usageMillicores: 2000, floorMillicores: 400 },
    { id: 'tin', multiplier: 1, usageMillicores: 1000, floorMillicores: 200 },
    { id: 'bronze', multiplier: 1.5, usageMillicores: 1500, floorMillicores: 300 },
  ];
  const s1 = selectVictims(1000, cands);
  assert.deepEqual(s1.victims.map((v) => [v.id, v.action, v.reclaimMillicores]), [['tin', 'throttle', 800], ['bronze', 'throttle', 200]]);
  assert.deepEqual(s1.victims[0]!.reasons.slice(0, 2), ['lowest-multiplier', 'multiplier=1']);
  assert.equal(s1.uncoveredMillicores, 0);
  const s2 = selectVictims(4000, cands);
  // throttling all three reclaims 3600; the rest comes from evicting in the same order
  assert.deepEqual(s2.victims.map((v) => [v.id, v.action]), [['tin', 'evict'], ['bronze', 'evict'], ['gold', 'throttle']]);
  assert.equal(s2.reclaimedMillicores, 1000 + 1500 + 1600);
  assert.equal(s2.uncoveredMillicores, 0);
  const s3 = selectVictims(10_000, cands, { allowEvict: false });
  assert.equal(s3.uncoveredMillicores, 10_000 - 3600);
  assert.ok(s3.reasons.includes('shortfall-uncovered'));
});

test('predicted host availability is capacity minus the summed quantiles, per step', () => {
  const a = predictedHostAvailability(10, [flat([2, 3]), flat([1, 4])], 0.9);
  // q0.9 = value x 1.16
  assert.deepEqual(Array.from(a.perStep, (v) => Number(v.toFixed(6))), [10 - 3 * 1.16, 10 - 7 * 1.16].map((v) => Number(v.toFixed(6))));
  assert.ok(Math.abs(a.minimum - (10 - 7 * 1.16)) < 1e-12);
});

test('distribution helpers: interpolated quantiles and the normal tail', () => {
  const f = flat([10], [0.1, 0.5, 0.9], 1);
  assert.equal(quantileAt(f, 0.5, 1), 10);
  assert.ok(Math.abs(quantileAt(f, 0.7, 1) - 14) < 1e-12);
  assert.equal(quantileAt(f, 0.99, 1), 18);
  assert.ok(Math.abs(normalQuantile(0.975) - 1.959964) < 1e-5);
  assert.ok(Math.abs(normalTail(1.959964) - 0.025) < 1e-6);
  assert.ok(Math.abs(normalTail(-1) - 0.841345) < 1e-6);
});

/** PreemptionMultipliers.update as it was before `refresh` (every reason formatted, every peak read): the reference. */
function referenceUpdate(factors: Map<string, number>, o: ReturnType<typeof compileMultiplierOptions>, id: string, input: { bondUnits: number; forecast?: ProbForecast | null; currentDemand?: number }) {
  const base = baseMultiplier(input.bondUnits, o);
  const reasons: string[] = [MR.BOND_MULTIPLIER, kv('bondUnits', input.bondUnits), kv('base', base)];
  let raw = 1;
  let rel = 0;
  const f = input.forecast;
  const cur = input.currentDemand;
  if (f && f.mean.length > 0 && cur !== undefined && Number.isFinite(cur)) {
    const H = Math.min(f.mean.length, o.horizonSteps ?? Infinity);
    let peak = -Infinity;
    for (let h = 1; h <= H; h++) {
      const q = quantileAt(f, o.level, h);
      if (Number.isFinite(q) && q > peak) peak = q;
    }
    if (Number.isFinite(peak)) {
      rel = Math.max(peak, o.floor) / Math.max(cur, o.floor) - 1;
      if (rel >= o.riseThreshold) {
        raw = 1 + Math.min(o.maxRaise, o.gain * rel);
        reasons.push(MR.PREDICTED_RISE, kv('relativeChange', rel));
      } else if (rel <= -o.fallThreshold) {
        raw = 1 - Math.min(o.maxLower, o.gain * -rel);
        reasons.push(MR.PREDICTED_FALL, kv('relativeChange', rel));
      } else reasons.push(MR.PREDICTED_STEADY, kv('relativeChange', rel));
      if (Number.isFinite(f.confidence)) raw = 1 + (raw - 1) * Math.min(1, Math.max(0, f.confidence));
    } else reasons.push(MR.NO_FORECAST);
  } else reasons.push(MR.NO_FORECAST);
  const prev = factors.get(id);
  const factor = prev === undefined ? raw : o.alpha * raw + (1 - o.alpha) * prev;
  factors.set(id, factor);
  if (prev !== undefined) reasons.push(MR.SMOOTHED, kv('factor', factor));
  let m = base * factor;
  if (m < o.min) {
    m = o.min;
    reasons.push(MR.CLAMPED_MIN);
  } else if (m > o.max) {
    m = o.max;
    reasons.push(MR.CLAMPED_MAX);
  }
  return { id, multiplier: m, base, bondUnits: input.bondUnits, rawFactor: raw, factor, relativeChange: rel, reasons };
}

test('refresh (reasons built on explain, peaks kept per forecast) gives exactly the decisions of update', () => {
  const levels = [0.1, 0.5, 0.9];
  const fcst = fc.record({
    mean: fc.array(fc.double({ min: 0, max: 100, noNaN: true }), { minLength: 1, maxLength: 5 }),
    confidence: fc.oneof(fc.constant(NaN), fc.double({ min: 0, max: 1, noNaN: true })),
  }).map(({ mean, confidence }) => ({
    mean: Float64Array.from(mean),
    quantiles: [0.6, 1, 1.5].map((k) => Float64Array.from(mean, (v) => v * k)),
    levels: levels.slice(),
    confidence,
    model: 't',
  }));
  const step = fc.record({ who: fc.nat(3), bondUnits: fc.nat(6), f: fc.option(fc.nat(3), { nil: undefined }), demand: fc.oneof(fc.constant(NaN), fc.double({ min: 0, max: 150, noNaN: true })) });
  fc.assert(
    fc.property(fc.array(fcst, { minLength: 4, maxLength: 4 }), fc.array(step, { maxLength: 40 }), fc.boolean(), (forecasts, steps, explainEvery) => {
      const o = compileMultiplierOptions({ horizonSteps: 3, floor: 50, min: 0.8, max: 4 });
      const refFactors = new Map<string, number>();
      const last = new Map<string, ReturnType<typeof referenceUpdate>>();
      const a = new PreemptionMultipliers({ horizonSteps: 3, floor: 50, min: 0.8, max: 4 });
      const b = new PreemptionMultipliers({ horizonSteps: 3, floor: 50, min: 0.8, max: 4 });
      for (const s of steps) {
        const id = `i${s.who}`;
        const f = s.f === undefined ? null : forecasts[s.f]!; // the same forecast object again and again, as the loop passes it
        const want = referenceUpdate(refFactors, o, id, { bondUnits: s.bondUnits, forecast: f, currentDemand: s.demand });
        last.set(id, want);
        assert.deepEqual(a.update(id, { bondUnits: s.bondUnits, forecast: f, currentDemand: s.demand }), want);
        assert.equal(b.refresh(id, s.bondUnits, f, s.demand), want.multiplier);
        assert.equal(b.get(id), want.multiplier);
        assert.equal(b.factorOf(id), want.factor);
        if (explainEvery) assert.deepEqual(b.explain(id), want);
      }
      for (const k of [0, 1, 2, 3]) assert.deepEqual(b.explain(`i${k}`), last.get(`i${k}`));
    }),
    { numRuns: 100 },
  );
});
