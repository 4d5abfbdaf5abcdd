// Season length detection: a noisy daily series at 5-minute steps, white noise, short series,
// and augurs' periodogram detector as an independent opinion.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initSync as initSeasons, seasonalities } from '@bsull/augurs/seasons';
import { autocorrelationAt, detectSeasonPeriod } from '../../../src/forecast/models/season.js';
import { augursWasm, seasonalSeries, whiteNoise } from './helpers.js';

initSeasons({ module: augursWasm('seasons') });

const DAY = 288; // 5-minute samples per day

test('a noisy daily series: 288 with candidates [288, 2016], within 1 % by lag search', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const y = seasonalSeries({ n: DAY * 8, period: DAY, amplitude: 20, noise: 10, slope: 0.01, seed });
    assert.equal(detectSeasonPeriod(y, { candidates: [288, 2016] }), 288, `seed ${seed}`);
    assert.equal(detectSeasonPeriod(y, [288, 2016]), 288, 'candidates as a plain list');
    const searched = detectSeasonPeriod(y);
    assert.ok(Math.abs(searched - DAY) <= 3, `seed ${seed}: lag search found ${searched}`);
  }
});

test('white noise has no season, with or without candidates', () => {
  for (const seed of [1, 2, 3]) {
    const y = whiteNoise(DAY * 8, seed);
    assert.equal(detectSeasonPeriod(y, { candidates: [288, 2016] }), 0);
    assert.equal(detectSeasonPeriod(y), 0);
  }
});

test('a random walk (trend-like, smooth) has no season', () => {
  const steps = whiteNoise(DAY * 8, 11);
  let level = 0;
  const y = Float64Array.from(steps, (e) => (level += e));
  assert.equal(detectSeasonPeriod(y, { candidates: [288] }), 0);
  assert.equal(detectSeasonPeriod(y), 0);
});

test('two full periods are needed', () => {
  const y = seasonalSeries({ n: DAY * 2 - 1, period: DAY, noise: 0.5 });
  assert.equal(detectSeasonPeriod(y, { candidates: [288] }), 0);
  assert.equal(detectSeasonPeriod(seasonalSeries({ n: DAY * 2, period: DAY, noise: 0.5 }), { candidates: [288] }), 288);
});

test('a weekly pattern on top of a daily one: the shorter season wins unless the longer is clearly better', () => {
  const n = 2016 * 3;
  const daily = seasonalSeries({ n, period: DAY, amplitude: 10, noise: 2, seed: 8 });
  const weekend = Float64Array.from(daily, (v, t) => v + ((t % 2016) >= 5 * DAY ? -25 : 0));
  assert.equal(detectSeasonPeriod(daily, { candidates: [288, 2016] }), 288);
  assert.equal(detectSeasonPeriod(weekend, { candidates: [288, 2016] }), 2016);
});

test('missing samples are tolerated', () => {
  const y = seasonalSeries({ n: DAY * 6, period: DAY, amplitude: 20, noise: 5, seed: 9 });
  for (let t = 0; t < y.length; t += 7) y[t] = NaN;
  assert.equal(detectSeasonPeriod(y, { candidates: [288, 2016] }), 288);
  assert.ok(autocorrelationAt(y, 288) > 0.5);
  assert.equal(detectSeasonPeriod([NaN, NaN, 1]), 0);
});

test('agrees with augurs seasonalities (periodogram) on a clear season', () => {
  const period = 24;
  const y = seasonalSeries({ n: period * 20, period, amplitude: 10, noise: 2, seed: 12 });
  const theirs = Array.from(seasonalities(y, { minPeriod: 4, maxPeriod: 100, threshold: undefined }));
  const ours = detectSeasonPeriod(y);
  // The periodogram's frequency grid puts augurs at 24 or a neighbour (25 here).
  assert.ok(theirs.some((p) => Math.abs(p - period) <= 1), `augurs found ${theirs}`);
  assert.ok(Math.abs(ours - period) <= 1, `we found ${ours}`);
});

test('bad options say which field', () => {
  assert.throws(() => detectSeasonPeriod([1, 2, 3, 4, 5], { candidates: [1] }), /candidates\[0\]/);
  assert.throws(() => detectSeasonPeriod([1, 2, 3, 4, 5], { threshold: 2 }), /threshold/);
});
