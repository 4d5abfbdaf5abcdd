// The market phase decides exactly what it decided before it was made cheaper: a seeded run of the
// market runtime (credits and spot auction, through a stand-in for the control loop, see
// markets-equivalence-scenario.ts) digested tick by tick, against the digests recorded with the
// code before the change (fixtures/markets-equivalence.json, test/markets-equivalence-record.ts).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { runMarketsScenario, SCENARIO_TICKS, type TickDigest } from './markets-equivalence-scenario.js';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/markets-equivalence.json', import.meta.url), 'utf8')) as { recordedAt: string; ticks: TickDigest[] };

for (const changedHints of [false, true]) {
  test(`the market runtime's plan, audit, events, ledger, multipliers, credits, auction and store match the recorded run tick by tick (${SCENARIO_TICKS} ticks${changedHints ? ', the loop saying which forecasts changed' : ''})`, async () => {
    const got = await runMarketsScenario({ changedHints });
    assert.equal(got.length, fixture.ticks.length);
    for (let k = 0; k < got.length; k++) {
      const g = got[k]!;
      const want = fixture.ticks[k]!;
      const parts = (Object.keys(want) as Array<keyof TickDigest>).filter((p) => p !== 'tick' && p !== 'counts' && g[p] !== want[p]);
      assert.deepEqual(parts, [], `tick ${k}: ${parts.join(', ')} differ from the run recorded at ${fixture.recordedAt} (counts now ${JSON.stringify(g.counts)}, then ${JSON.stringify(want.counts)})`);
    }
    // the scenario exercises what it says it does
    const sum = (key: string) => got.reduce((s, t) => s + (t.counts[key] ?? 0), 0);
    for (const key of ['throttled', 'restored', 'preempted', 'notices', 'bidEvents', 'spot', 'failed']) assert.ok(sum(key) > 0, `the scenario has ${key}`);
  });
}
