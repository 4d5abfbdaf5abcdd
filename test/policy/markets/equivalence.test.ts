// The pure markets decide exactly what they decided before the market phase was made cheaper:
// seeded random sequences through SpotMarket, PreemptionMultipliers and CreditBook (every public
// result digested step by step, see equivalence-scenario.ts) against the digests recorded with the
// code before the change (fixtures/equivalence.json, test/markets-equivalence-record.ts).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { auctionTrace, creditTrace, multiplierTrace, SEEDS } from './equivalence-scenario.js';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/equivalence.json', import.meta.url), 'utf8')) as { recordedAt: string; auction: string[][]; multipliers: string[][]; credits: string[][] };

function same(name: string, got: string[], want: string[] | undefined, seed: number): void {
  assert.ok(want, `no recorded ${name} trace for seed ${seed}`);
  assert.equal(got.length, want.length);
  const k = got.findIndex((d, i) => d !== want[i]);
  assert.equal(k, -1, `${name}, seed ${seed}: step ${k} differs from the run recorded at ${fixture.recordedAt}`);
}

test('SpotMarket: rounds, quotes, interference, predicted load, exports and balances match the recorded runs', () => {
  SEEDS.forEach((s, i) => same('auction', auctionTrace(s), fixture.auction[i], s));
});

test('PreemptionMultipliers: multipliers, factors, reasons and exports match the recorded runs', () => {
  SEEDS.forEach((s, i) => same('multipliers', multiplierTrace(s), fixture.multipliers[i], s));
});

test('CreditBook: accruals, charges, bonds, states and balances match the recorded runs', () => {
  SEEDS.forEach((s, i) => same('credits', creditTrace(s), fixture.credits[i], s));
});
