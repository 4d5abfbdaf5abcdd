// `predictive` in the CloudSim PlanetLab scenario: the detector on hand-made host views, and a
// small run through runCloudSimPlanetLab (the plug-ins drive the loop; decisions name the rule).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCloudSimPlanetLab } from '../../../src/sim/cloudsim/index.js';
import { cloudSimOptionsFor } from '../../../src/sim/cloudsim-scenario.js';
import {
  PredictiveCloudSimModel,
  PredictiveOverloadDetector,
  PredictivePlacementScorer,
  predictiveCloudSimArgs,
  type CloudSimHostLike,
} from '../../../src/policy/plugins/predictive/cloudsim.js';
import { seededRng } from '../../../src/core/rng.js';

/** A host view over VMs with fixed utilisation histories (fractions, oldest first). */
function view(totalMips: number, vms: Array<{ mips: number; history: number[] }>, step: number): CloudSimHostLike {
  return {
    index: 0,
    totalMips,
    step,
    vmCount: () => vms.length,
    vm: (i) => i,
    requestedMips: () => vms.reduce((s, v) => s + v.history[Math.min(step, v.history.length - 1)]! * v.mips, 0),
    powerW: (u) => 86 + 31 * u,
    vmMips: (v) => vms[v]!.mips,
    vmRequestedMips: (v) => vms[v]!.history[Math.min(step, vms[v]!.history.length - 1)]! * vms[v]!.mips,
    vmUtilizationHistory: (v, out) => {
      const h = vms[v]!.history.slice(0, step + 1).reverse().slice(0, 30);
      out.set(h);
      return h.length;
    },
  };
}

test('predictive detector: overloaded when the predicted high quantile of the summed demand passes capacity', () => {
  const rng = seededRng(3);
  const noisy = (level: number) => Array.from({ length: 40 }, () => level + 0.05 * (rng.next() - 0.5));
  const vms = [
    { mips: 1000, history: noisy(0.6) },
    { mips: 1000, history: noisy(0.5) },
  ];
  const verdict = { overloaded: false, metric: 0, threshold: 0, rule: '' };
  const model = new PredictiveCloudSimModel(predictiveCloudSimArgs.parse({}));
  const det = new PredictiveOverloadDetector(model);
  // demand ~1100 MIPS: a 1000 MIPS host is overloaded, a 2000 MIPS host is not
  for (let step = 0; step < 40; step++) det.detect(view(2000, vms, step), verdict); // feed history step by step
  assert.equal(det.detect(view(2000, vms, 39), verdict), false);
  assert.equal(verdict.rule, 'predictive-quantile');
  assert.equal(det.detect(view(1000, vms, 39), verdict), true);
  assert.ok(verdict.metric > 1 && verdict.metric < 1.4, `metric ${verdict.metric}`);
  // the same question at the same step gives the same answer (no side effect on the forecasts)
  assert.equal(det.detect(view(1000, vms, 39), verdict), true);
});

test('predictive scorer: an empty host costs its whole power, so a VM goes to a running host', () => {
  const model = new PredictiveCloudSimModel(predictiveCloudSimArgs.parse({}));
  const scorer = new PredictivePlacementScorer(model);
  const hist = Array.from({ length: 20 }, () => 0.3);
  const running = view(2000, [{ mips: 1000, history: hist }, { mips: 500, history: hist }], 19);
  const empty = view(2000, [{ mips: 500, history: hist }], 19);
  // the candidate is the last VM of each list (as the scenario appends it)
  assert.ok(scorer.score(running, 1) < scorer.score(empty, 0));
  const pabfd = new PredictivePlacementScorer(new PredictiveCloudSimModel(predictiveCloudSimArgs.parse({ emptyHostCost: 'increase' })));
  assert.ok(pabfd.score(empty, 0) < 86, 'PABFD-like cost leaves the idle power out');
});

test('predictive plugs into runCloudSimPlanetLab: migrations decided by its rule, fewer than LR-MMT, no anomalies', () => {
  const rng = seededRng(11);
  const vms = Array.from({ length: 60 }, (_, v) => {
    const base = 10 + 60 * rng.next();
    const phase = rng.next() * 6.28;
    return Float64Array.from({ length: 289 }, (_, i) => Math.max(1, Math.min(100, Math.round(base * (1 + 0.5 * Math.sin(i / 20 + phase)) + 10 * (rng.next() - 0.5)))));
  });
  const { options } = cloudSimOptionsFor('predictive');
  const pred = runCloudSimPlanetLab(vms, { ...options, hosts: 40, recordDecisions: true, recordAllocations: false });
  const lr = runCloudSimPlanetLab(vms, { policy: 'lr-mmt', hosts: 40, recordAllocations: false });
  assert.equal(pred.anomalies, 0);
  assert.ok(pred.migrations > 0);
  assert.ok(pred.decisions.some((d) => d.phase === 'overload' && d.rule === 'predictive-quantile') || pred.decisions.every((d) => d.phase === 'underload'));
  assert.ok(pred.migrations < lr.migrations, `${pred.migrations} vs ${lr.migrations}`);
  assert.ok(pred.energyKwh < lr.energyKwh, `${pred.energyKwh} vs ${lr.energyKwh}`);
  assert.throws(() => cloudSimOptionsFor('predictive', { level: 2 }), /level/);
});
