// The `predictive` rightsizer: registry, causality (truncation), the budget controller on
// synthetic workloads, the OOM guard, reasons, and the price rule itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createRegistry, compileProfile, defaultProfile, R, type DecideContext, type InstanceState } from '../../../src/policy/index.js';
import { seededRng } from '../../../src/core/rng.js';
import { PredictiveForecastProvider, predictiveForecastArgs } from '../../../src/policy/plugins/predictive/forecast-provider.js';
import { PR, PredictiveRightsizer, predictiveArgs } from '../../../src/policy/plugins/predictive/predictive.js';
import { BudgetController, priceRule } from '../../../src/policy/plugins/predictive/level-controller.js';
import { generateWorkload } from '../../../src/traces/synthetic/generate-workload.js';
import type { TraceSeries } from '../../../src/traces/format.js';
import { run, series } from '../../sim/helpers.js';

const truncate = (s: TraceSeries, k: number): TraceSeries => ({
  ...s,
  length: k,
  values: Object.fromEntries(Object.entries(s.values).map(([r, v]) => [r, v!.slice(0, k)])),
});

test('registry lists predictive (rightsize) with its forecast companion, and the default profile compiles', () => {
  const reg = createRegistry();
  assert.ok(reg.names('rightsize').includes('predictive'));
  assert.ok(reg.names('forecast').includes('predictive-forecast'));
  const p = compileProfile(defaultProfile({ policy: 'predictive', scenario: 'rightsizing' }), reg, { stepSeconds: 300 });
  assert.equal(p.rightsizer.name, 'predictive');
  assert.equal(p.forecast?.name, 'predictive-forecast');
  assert.throws(() => compileProfile(defaultProfile({ policy: 'predictive', policyArgs: { cpuBudget: 2 }, scenario: 'rightsizing' }), reg, { stepSeconds: 300 }), /cpuBudget/);
});

test('predictive: allocations for index i never depend on samples >= i (rightsizing)', () => {
  fc.assert(
    fc.property(
      fc.record({
        cpu: fc.array(fc.float({ min: 0, max: 8, noNaN: true }), { minLength: 300, maxLength: 340 }),
        memScale: fc.float({ min: 100, max: 4000, noNaN: true }),
        cut: fc.integer({ min: 289, max: 299 }),
      }),
      ({ cpu, memScale, cut }) => {
        const mem = cpu.map((c, i) => memScale * (1 + 0.5 * Math.sin(i / 7)) + c * 10);
        const full = series('x', cpu, mem, { capacity: { cpu: 8, memory: 8192 } });
        const a = run([full], 'predictive').rows;
        const b = run([truncate(full, cut)], 'predictive').rows;
        assert.equal(b.length, cut - 288);
        assert.deepEqual(b, a.slice(0, b.length));
      },
    ),
    { numRuns: 8 },
  );
});

/** Realised CPU violation rate of the scored rows of a rightsizing run. */
function cpuViolationRate(input: TraceSeries[], policyArgs: unknown): { rate: number; perSeries: number[] } {
  const { rows } = run(input, 'predictive', { policyArgs });
  const byId = new Map(input.map((s) => [s.id, s]));
  let v = 0;
  const per = new Map<string, { v: number; n: number }>();
  for (const r of rows) {
    const u = byId.get(r.instance)!.values.cpu![r.index]!;
    const p = per.get(r.instance) ?? { v: 0, n: 0 };
    p.n++;
    if (u > r.cpu) {
      v++;
      p.v++;
    }
    per.set(r.instance, p);
  }
  return { rate: v / rows.length, perSeries: [...per.values()].map((p) => p.v / p.n) };
}

test('budget controller: with a cheap reference price the realised violation rate is held near the budget', () => {
  const input = generateWorkload({ count: 4, length: 2016, seed: 7 });
  // price 0.01: left alone, the rule would stop at the base level (~10 % violations); gain 0.3 so
  // that the controller can climb the ~7 e-folds of price it needs within a week
  const loose = cpuViolationRate(input, { cpuPrice: 0.01, cpuBudget: 0.2, gain: 0.3 });
  const tight = cpuViolationRate(input, { cpuPrice: 0.01, cpuBudget: 0.02, gain: 0.3 });
  assert.ok(tight.rate < loose.rate, `a tighter budget gives fewer violations (${tight.rate} vs ${loose.rate})`);
  assert.ok(tight.rate <= 0.02 * 1.6, `realised ${tight.rate} near the 2 % budget`);
  assert.ok(tight.rate >= 0.02 * 0.3, `realised ${tight.rate} is not far below the budget either (the price is not simply maxed out)`);
  for (const r of tight.perSeries) assert.ok(r <= 0.02 * 2, `every series is held near its budget: ${r}`);
});

/** Drives the rightsizer and its forecast source by hand over one series; returns decisions. */
function drive(cpu: number[], memory: number[], args: unknown = {}) {
  const env = { stepSeconds: 300 };
  const provider = new PredictiveForecastProvider(predictiveForecastArgs.parse({}), env);
  const rs = new PredictiveRightsizer(predictiveArgs.parse(args), env);
  const inst: InstanceState = {
    id: 'vm', hostId: null, units: { cpu: 'cores', memory: 'MiB' }, capacity: { cpu: 16, memory: 65536 },
    allocation: { cpu: 16, memory: 65536 }, lastUsage: { cpu: NaN, memory: NaN }, samples: 0,
  };
  const out: Array<{ cpu: number; memory: number; reasons: string[] }> = [];
  const rng = seededRng(1);
  for (let i = 0; i < cpu.length; i++) {
    const f = provider.forecast(inst);
    const forecasts = new Map(f ? [[inst.id, f]] : []);
    const ctx: DecideContext = { snapshot: { nowS: i * 300, stepSeconds: 300, instances: [inst], hosts: [] }, forecasts, nowS: i * 300, rng };
    const d = rs.recommend(inst, ctx);
    inst.allocation = { cpu: Number.isNaN(d.cpu) ? inst.allocation.cpu : d.cpu, memory: Number.isNaN(d.memory) ? inst.allocation.memory : d.memory };
    out.push({ ...inst.allocation, reasons: d.reasons });
    const usage = { cpu: cpu[i]!, memory: memory[i]! };
    provider.observe(inst, usage);
    rs.observe(inst, usage, inst.allocation);
    inst.samples++;
  }
  return { out, rs };
}

test('OOM guard: after memory usage passes the allocation, the next allocation is at least 1.2x it', () => {
  const n = 400;
  const jump = 350;
  const memory = Array.from({ length: n }, (_, i) => (i < jump ? 1000 + 5 * Math.sin(i / 5) : 3000));
  const cpu = Array.from({ length: n }, () => 1);
  const { out } = drive(cpu, memory);
  assert.ok(out[jump]!.memory < memory[jump]!, 'the jump is a violation');
  assert.ok(out[jump + 1]!.memory >= 1.2 * memory[jump]! - 1e-9, `bumped: ${out[jump + 1]!.memory}`);
  assert.ok(out[jump + 1]!.reasons.includes(R.OOM_BUMP));
  for (let i = jump + 1; i < jump + 6; i++) assert.ok(out[i]!.memory >= memory[i]!, `no repeat violation at ${i}`);
  // the guard is relative and decays: the allocation comes back down towards the forecast
  assert.ok(out[n - 1]!.memory < out[jump + 1]!.memory, 'the guard decays');
});

test('every decision records its reasons; explain gives the controller state', () => {
  const cpu = Array.from({ length: 300 }, (_, i) => 2 + Math.sin(i / 10));
  const memory = cpu.map((c) => 500 + 100 * c);
  const { out, rs } = drive(cpu, memory);
  assert.deepEqual(out[0]!.reasons, [R.NO_HISTORY, R.KEEP]);
  for (const d of out.slice(1)) {
    assert.ok(d.reasons.includes(R.FORECAST_QUANTILE) && d.reasons.includes(PR.PRICE_LEVEL), d.reasons.join(','));
    assert.ok(d.cpu > 0 && d.memory > 0);
  }
  const e = rs.explain('vm');
  assert.ok(e.cpu && e.memory);
  assert.ok(e.cpu.price >= 10 - 1e-9 && e.cpu.level >= 0.9, JSON.stringify(e));
  assert.equal(e.cpu.samples, 299);
  assert.ok(e.memory.price >= 150 - 1e-9);
});

test('price rule: climbs cheap segments, stops at a steep one, extrapolates the tail with the price', () => {
  const levels = [0.5, 0.9, 0.95, 0.99];
  const out = { allocation: 0, level: 0, extrapolated: false };
  // segments: 0.9->0.95 costs 1 per 0.05 (slope 20), 0.95->0.99 costs 10 per 0.04 (slope 250)
  const q = [5, 10, 11, 21];
  priceRule(levels, q, 1, 100, 1, 1e-4, 0, out);
  assert.deepEqual([out.allocation, out.level, out.extrapolated], [11, 0.95, false]);
  priceRule(levels, q, 1, 10, 1, 1e-4, 0, out);
  assert.deepEqual([out.allocation, out.level], [10, 0.9]);
  priceRule(levels, q, 1, 300, 1, 1e-4, 0, out);
  assert.deepEqual([out.allocation, out.level, out.extrapolated], [21, 0.99, false]);
  const a300 = out.allocation;
  priceRule(levels, q, 1, 3000, 1, 1e-4, 0, out);
  assert.ok(out.allocation > a300 && out.extrapolated, 'a higher price buys a higher tail quantile');
  priceRule(levels, q, 1, 1e12, 1, 1e-4, 0, out);
  assert.ok(Math.abs(out.level - (1 - 1e-4)) < 1e-12, 'capped at the smallest tail probability');
});

test('budget controller: one-sided, rises on violations above budget, never below the reference', () => {
  const c = new BudgetController(10, 0.1, 0.5, Math.log(100));
  for (let i = 0; i < 50; i++) c.record(false);
  assert.ok(Math.abs(c.price - 10) < 1e-9 && !c.raised);
  for (let i = 0; i < 5; i++) c.record(true);
  assert.ok(c.price > 10 && c.raised);
  for (let i = 0; i < 1000; i++) c.record(true);
  assert.ok(Math.abs(c.price - 1000) < 1e-6, 'capped at maxRaise');
  for (let i = 0; i < 10000; i++) c.record(false);
  assert.ok(Math.abs(c.price - 10) < 1e-9 && !c.raised);
});
