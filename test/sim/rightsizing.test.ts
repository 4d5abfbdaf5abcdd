// Rightsizing streams series: once a series is simulated, the policy keeps nothing of it (a
// 100x workload does not grow the process), and totals merged in order equal a cohort run's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRng } from '../../src/core/rng.js';
import { compileProfile, createRegistry, defaultProfile, PolicyRunner } from '../../src/policy/index.js';
import type { PredictiveRightsizer } from '../../src/policy/plugins/predictive/predictive.js';
import { RightsizingTotals, simulateSeries } from '../../src/sim/rightsizing.js';
import { series } from './helpers.js';

test('after a series is simulated, the policy holds no state for it', () => {
  const runner = new PolicyRunner(compileProfile(defaultProfile({ policy: 'predictive', scenario: 'rightsizing' }), createRegistry(), { stepSeconds: 300 }));
  const totals = new RightsizingTotals();
  const rng = seededRng(1);
  for (let k = 0; k < 3; k++) {
    const s = series(`vm${k}`, Array.from({ length: 320 }, (_, i) => 1 + Math.sin(i / 9 + k)), Array.from({ length: 320 }, (_, i) => 500 + 50 * Math.cos(i / 20)), {
      capacity: { cpu: 4, memory: 2048 },
    });
    totals.add(simulateSeries(s, runner, rng.fork(), false));
    const inst = { id: s.id, hostId: null, units: { cpu: 'cores', memory: 'MiB' }, capacity: { cpu: 4, memory: 2048 }, allocation: { cpu: 4, memory: 2048 }, lastUsage: { cpu: 1, memory: 500 }, samples: 320 } as const;
    assert.deepEqual((runner.profile.rightsizer as PredictiveRightsizer).explain(s.id), {}, 'rightsizer state dropped');
    assert.equal(runner.profile.forecast!.forecast({ ...inst }, 0), undefined, 'forecast engines dropped');
  }
  assert.equal(totals.instances, 3);
  assert.equal(totals.rows, 3 * (320 - 288));
});
