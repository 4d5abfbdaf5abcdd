// Summary metric definitions on a tiny hand-computed case.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FleetMetrics, powerWatts, ResourceMetrics } from '../../src/sim/metrics.js';
import { run, series } from './helpers.js';

test('violation rate and slack by their definitions', () => {
  const m = new ResourceMetrics();
  // (usage, allocation): (1, 2) slack 1; (3, 2) violation; (2, 2) neither; (NaN, 2) not scored.
  m.add(1, 2);
  m.add(3, 2);
  m.add(2, 2);
  m.add(NaN, 2);
  assert.equal(m.samples, 3);
  assert.equal(m.violationRate, 1 / 3);
  assert.equal(m.slack, 1 / 6); // sum(max(alloc - usage, 0)) / sum(alloc) = 1 / 6
});

test('a static run scores from index 144 on a one-day series, 288 on longer ones', () => {
  // 288 rows (one day): rows 144..287 are scored. Capacity 2; usage 1 except 4 samples at 3.
  const cpu = Array.from({ length: 288 }, (_, i) => (i >= 200 && i < 204 ? 3 : 1));
  const { rows, result } = run([series('d', cpu, null, { capacity: { cpu: 2 } })], 'static');
  assert.equal(rows.length, 144);
  assert.equal(rows[0]!.index, 144);
  assert.equal(result.cpu.samples, 144);
  assert.equal(result.cpu.violations, 4);
  // slack: 140 samples with 1 unused of 2, 4 with none: 140 / (144 * 2)
  assert.ok(Math.abs(result.cpu.slack - 140 / 288) < 1e-12);
  const long = run([series('w', new Array(300).fill(1), null, { capacity: { cpu: 2 } })], 'static');
  assert.equal(long.rows.length, 12);
  assert.equal(long.rows[0]!.index, 288);
});

test('static allocates the provisioned capacity (100 % for percent traces without one)', () => {
  const bb = run([series('bb', new Array(300).fill(1), new Array(300).fill(100), { capacity: { cpu: 4, memory: 8192 } })], 'static');
  assert.ok(bb.rows.every((r) => r.cpu === 4 && r.memory === 8192));
  const g = run([series('g', new Array(288).fill(5), new Array(288).fill(7), { units: { cpu: 'percent', memory: 'percent' } })], 'static');
  assert.ok(g.rows.every((r) => r.cpu === 100 && r.memory === 100));
  const pl = run([series('pl', new Array(288).fill(5), null, { units: { cpu: 'percent' } })], 'static');
  assert.ok(pl.rows.every((r) => r.cpu === 100 && Number.isNaN(r.memory)));
});

test('power model: the HP ProLiant ML110 G5 table, linear in between', () => {
  assert.equal(powerWatts(0), 93.7);
  assert.equal(powerWatts(1), 135);
  assert.ok(Math.abs(powerWatts(0.05) - (93.7 + 97) / 2) < 1e-9);
  assert.equal(powerWatts(2), 135);
});

test('fleet metrics: SLATAH, PDM, SLAV, energy, host hours', () => {
  const f = new FleetMetrics(300);
  // host a on for 4 steps, overloaded in 1; host b on for 2 steps, never overloaded.
  for (const d of [10, 5, 5, 5]) f.hostStep('a', true, d, 10);
  f.hostStep('b', true, 1, 10);
  f.hostStep('b', true, 1, 10);
  f.hostStep('c', false, 0, 10);
  const j1 = f.toJSON();
  assert.ok(Math.abs(j1.slatah_pct - 100 * (0.25 + 0) / 2) < 1e-9);
  assert.equal(j1.active_host_hours, (6 * 300) / 3600);
  // one instance: 2 steps of 1 core requested (600 core-s); one migration of 30 s at 1 core: 3 core-s degraded.
  f.instanceStep('i', 1);
  f.instanceStep('i', 1);
  f.migration('i', 1, 30);
  const j = f.toJSON();
  assert.ok(Math.abs(j.pdm_pct - 100 * (3 / 600)) < 1e-9);
  assert.ok(Math.abs(j.slav_pct - 100 * 0.125 * 0.005) < 1e-12);
  assert.ok(j.energy_kwh > 0);
});

test('fleet metrics: PDM by instance slots equals PDM by ids', () => {
  const byId = new FleetMetrics(300);
  const bySlot = new FleetMetrics(300);
  const ids = ['a', 'b', 'c', 'never'];
  bySlot.useSlots(ids);
  const usage = [
    [1, 0.3, NaN],
    [2, 0.1, 4],
    [0.5, 0, 3],
  ];
  for (const step of usage) {
    step.forEach((u, k) => {
      byId.instanceStep(ids[k]!, u);
      if (k === 1) bySlot.instanceStep(ids[k]!, u); // by id after useSlots: the slot's entry
      else bySlot.instanceStepAt(k, u);
    });
  }
  for (const f of [byId, bySlot]) {
    f.migration('a', 1, 30);
    f.migration('c', 3, 10);
  }
  // 'never' had no step: not in the mean (as an id never seen)
  assert.equal(bySlot.pdm, byId.pdm);
  assert.ok(bySlot.pdm > 0);
});
