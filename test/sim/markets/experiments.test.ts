// The market experiments on small slices of the real traces: their books balance, their figures
// are consistent with each other, and the CLI prints the tables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError } from '../../../src/core/errors.js';
import { marketsAction } from '../../../src/cli/commands/markets.js';
import {
  BITBRAINS_DIR,
  forecastSeries,
  GOOGLE_DIR,
  hostsFor,
  loadBitbrains,
  loadGoogle,
  planBids,
  runAuctionExperiment,
  runCreditsExperiment,
  runNegotiationExperiment,
  runPreemptionExperiment,
} from '../../../src/sim/markets/index.js';

const traces = resolve(fileURLToPath(new URL('../../../', import.meta.url)), '..', 'shared', 'traces');
const haveBitbrains = existsSync(join(traces, BITBRAINS_DIR));
const haveGoogle = existsSync(join(traces, GOOGLE_DIR));
const skipBb = haveBitbrains ? false : `Bitbrains trace not found under ${traces}`;
const skipG = haveGoogle ? false : `Google 2011 trace not found under ${traces}`;
// One slice read once: the first 12 Bitbrains VMs, 2 days (the first day sizes, the second is scored).
let slice: ReturnType<typeof loadBitbrains> | undefined;
const bitbrains = () => (slice ??= loadBitbrains(traces, { days: 2, limit: 12 }));

test('credits on Bitbrains: unlimited never throttles, every core-hour is served, throttled or over the vCPUs, books exact', { skip: skipBb }, async () => {
  const vms = await bitbrains();
  assert.equal(vms.length, 12);
  const r = runCreditsExperiment(vms);
  const [std, unl] = r.modes;
  assert.equal(std!.mode, 'standard');
  assert.ok(std!.booksBalanced && unl!.booksBalanced);
  assert.equal(unl!.throttledCoreHours, 0);
  for (const m of r.modes) assert.ok(Math.abs(m.servedCoreHours + m.throttledCoreHours + m.clampedCoreHours - m.demandCoreHours) < 1e-6 * m.demandCoreHours, JSON.stringify(m));
  assert.equal(Object.values(r.classMix).reduce((a, b) => a + b, 0), 12);
});

test('preemption by multiplier on Bitbrains: bonders are protected; bonding tax is 1 credit per unit', { skip: skipBb }, async () => {
  const vms = await bitbrains();
  const fc = vms.map((s) => forecastSeries(s.cpu, { horizon: 6, levels: [0.5, 0.9], stepSeconds: 300, every: 3 }));
  const p = runPreemptionExperiment(vms, fc, 'predictive', { capacityFactor: 1.5 });
  const none = runPreemptionExperiment(vms, fc, 'none', { capacityFactor: 1.5 });
  assert.equal(p.bondingTaxCredits, p.bondUnits);
  assert.ok(p.shortfallSteps > 0 && p.victimSelections > 0);
  assert.ok(p.meanMultiplierBonders > p.meanMultiplierOthers);
  assert.equal(none.meanMultiplierBonders, 1);
  assert.ok(p.unservedShareBonders <= none.unservedShareBonders + 1e-12, `${p.unservedShareBonders} vs ${none.unservedShareBonders}`);
});

test('negotiation on Bitbrains: allocations stay within capacity, books exact, Jain index in (0, 1]', { skip: skipBb }, async () => {
  const vms = await bitbrains();
  const cpu = vms.map((s) => forecastSeries(s.cpu, { horizon: 2, levels: [0.5, 0.9], stepSeconds: 300, every: 2 }));
  const mem = vms.map((s) => forecastSeries(s.memory, { horizon: 2, levels: [0.5, 0.9], stepSeconds: 300, every: 2 }));
  const none = runNegotiationExperiment(vms, 'none');
  const pred = runNegotiationExperiment(vms, 'predictive', { cpuForecasts: cpu, memoryForecasts: mem });
  assert.equal(none.rounds, 0);
  assert.ok(pred.rounds > 0 && pred.rounds <= 2 * (576 - 288), String(pred.rounds));
  for (const r of [none, pred]) {
    assert.ok(r.booksBalanced && r.allocationWithinCapacity);
    for (const x of [r.cpu, r.memory]) assert.ok(x.jain > 0 && x.jain <= 1 && x.violationRate >= 0 && x.violationRate <= 1);
  }
  assert.ok(pred.transfers > 0);
});

test('auction on Google 2011: value delivered plus value lost equals what was billed; price-only never preempts', { skip: skipG }, async () => {
  const jobs = await loadGoogle(traces, { limit: 60 });
  const plan = planBids(jobs, 7);
  assert.equal(plan.length, 60);
  assert.deepEqual(planBids(jobs, 7).map((p) => p.bid.priceMicrosPerHour), plan.map((p) => p.bid.priceMicrosPerHour), 'seeded');
  const hosts = hostsFor(plan, 1.25);
  for (const v of ['price-only', 'auction-profile'] as const) {
    const r = runAuctionExperiment(plan, v, { hosts });
    assert.ok(r.booksBalanced);
    assert.ok(r.utilisation > 0 && r.utilisation <= 1);
    assert.ok(Math.abs(r.valueDelivered + r.valueLostToInterference - r.revenueBilled) < 0.01, JSON.stringify(r));
    assert.equal(r.admitted + r.expired <= r.bids, true);
    if (v === 'price-only') assert.equal(r.notices + r.uninterruptiblePreempted, 0);
  }
});

test('prescient markets: prints the table of the experiment asked for, and names the valid ones for a wrong one', { skip: skipG }, async () => {
  let out = '';
  await marketsAction('auction', { traces, days: '7', jobs: '16', seed: '1', load: '1.25', capacityFactor: '3', hostSize: '10', quick: false }, (s) => (out += s));
  assert.match(out, /Spot auction: Google 2011, 16 job-days/);
  for (const v of ['price-only ', 'price-only-quantile', 'auction-profile', 'auction ']) assert.ok(out.includes(v), v);
  await assert.rejects(marketsAction('bidding', { days: '7', seed: '1', load: '1', capacityFactor: '3', hostSize: '10', quick: false }), (e: unknown) => e instanceof InputError && /valid: credits, negotiation, auction, all/.test(e.message));
  await assert.rejects(marketsAction('auction', { traces, days: '7', seed: '1', load: '-1', capacityFactor: '3', hostSize: '10', quick: false }), /--load must be a number/);
});
