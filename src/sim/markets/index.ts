// The market experiments on real traces (simulation shell: reads files, times rounds).
//   credits:     Bitbrains, burstable credits standard vs unlimited, and preemption by multiplier
//   negotiation: Bitbrains, borrow/lend negotiation (none / reactive / predictive)
//   auction:     Google 2011, the spot auction against price-only admission
// `runMarketExperiments` runs the ones asked for and returns their reports; `formatMarketReport`
// renders the tables `prescient markets` prints.
import { AUCTION_VARIANTS, hostsFor, planBids, runAuctionExperiment, type AuctionReport } from './auction-sim.js';
import { PREEMPTION_POLICIES, runCreditsExperiment, runPreemptionExperiment, type CreditsReport, type PreemptionReport } from './credits-sim.js';
import { forecastSeries, type SeriesForecasts } from './forecasts.js';
import { loadBitbrains, loadGoogle, type MarketSeries } from './load.js';
import { NEGOTIATION_VARIANTS, runNegotiationExperiment, type NegotiationReport } from './negotiation-sim.js';

export * from './auction-sim.js';
export * from './credits-sim.js';
export * from './forecasts.js';
export * from './load.js';
export * from './negotiation-sim.js';

export const MARKET_EXPERIMENTS = ['credits', 'negotiation', 'auction'] as const;
export type MarketExperiment = (typeof MARKET_EXPERIMENTS)[number];

export interface MarketRunOptions {
  traces: string;
  experiments: readonly MarketExperiment[];
  /** Days of Bitbrains (first day sizes entitlements and classes). Default 7. */
  days?: number;
  /** Bitbrains VMs (ids 1..n). Default all 125. */
  vms?: number;
  /** Google jobs (first n by id). Default all. */
  jobs?: number;
  seed?: number;
  /** Auction: mean offered CPU / capacity. Default 1.25. */
  load?: number;
  /** Preemption: host CPU = factor x its VMs' mean demand. Default 3. */
  capacityFactor?: number;
  hostSize?: number;
  clock?: () => number;
  onPhase?: (phase: string) => void;
}

export interface MarketReport {
  options: { days: number; vms: number; jobs: number; seed: number; load: number; capacityFactor: number; hostSize: number };
  credits?: CreditsReport;
  preemption?: PreemptionReport[];
  negotiation?: NegotiationReport[];
  auction?: AuctionReport[];
  timingsMs: Record<string, number>;
}

export async function runMarketExperiments(o: MarketRunOptions): Promise<MarketReport> {
  const clock = o.clock ?? (() => 0);
  const days = o.days ?? 7;
  const seed = o.seed ?? 1;
  const load = o.load ?? 1.25;
  const capacityFactor = o.capacityFactor ?? 3;
  const hostSize = o.hostSize ?? 10;
  const rep: MarketReport = { options: { days, vms: 0, jobs: 0, seed, load, capacityFactor, hostSize }, timingsMs: {} };
  const phase = async <T>(name: string, f: () => T | Promise<T>): Promise<T> => {
    o.onPhase?.(name);
    const t0 = clock();
    const r = await f();
    rep.timingsMs[name] = clock() - t0;
    return r;
  };
  const wants = (e: MarketExperiment) => o.experiments.includes(e);
  if (wants('credits') || wants('negotiation')) {
    const vms: MarketSeries[] = await phase('read bitbrains', () => loadBitbrains(o.traces, { days, ...(o.vms !== undefined ? { limit: o.vms } : {}) }));
    rep.options.vms = vms.length;
    const cpuF: SeriesForecasts[] = await phase('forecast bitbrains cpu', () => vms.map((s) => forecastSeries(s.cpu, { horizon: 6, levels: [0.5, 0.9], stepSeconds: 300 })));
    if (wants('credits')) {
      rep.credits = await phase('credits', () => runCreditsExperiment(vms));
      rep.preemption = await phase('preemption', () => PREEMPTION_POLICIES.map((p) => runPreemptionExperiment(vms, cpuF, p, { capacityFactor, hostSize })));
    }
    if (wants('negotiation')) {
      const memF = await phase('forecast bitbrains memory', () => vms.map((s) => forecastSeries(s.memory, { horizon: 6, levels: [0.5, 0.9], stepSeconds: 300 })));
      rep.negotiation = await phase('negotiation', () => NEGOTIATION_VARIANTS.map((v) => runNegotiationExperiment(vms, v, { hostSize, cpuForecasts: cpuF, memoryForecasts: memF, clock })));
    }
  }
  if (wants('auction')) {
    const jobs = await phase('read google2011', () => loadGoogle(o.traces, o.jobs !== undefined ? { limit: o.jobs } : {}));
    rep.options.jobs = jobs.length;
    const plan = planBids(jobs, seed);
    const hosts = hostsFor(plan, load);
    rep.auction = await phase('auction', () => AUCTION_VARIANTS.map((v) => runAuctionExperiment(plan, v, { hosts })));
  }
  return rep;
}

function table(head: string[], rows: string[][]): string {
  const all = [head, ...rows];
  const widths = head.map((_, c) => Math.max(...all.map((r) => r[c]!.length)));
  return `${all.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')).join('\n')}\n`;
}

const pct = (x: number, d = 1) => `${(100 * x).toFixed(d)}%`;
const f = (x: number, d = 1) => x.toFixed(d);

export function formatMarketReport(r: MarketReport): string {
  let out = '';
  const o = r.options;
  if (r.credits) {
    const c = r.credits;
    out += `\nBurstable credits: Bitbrains, ${o.vms} VMs, ${o.days} days (class mix: ${Object.entries(c.classMix).sort().map(([k, v]) => `${k} ${v}`).join(', ')})\n`;
    out += table(
      ['mode', 'demand core-h', 'over vCPUs core-h', 'throttled core-h', 'throttled', 'VM-steps throttled', 'VMs throttled', 'surplus charged cr', 'charged $', 'VMs charged', 'end balance cr', 'books'],
      c.modes.map((m) => [m.mode, f(m.demandCoreHours), f(m.clampedCoreHours), f(m.throttledCoreHours), pct(m.throttledCoreHours / Math.max(1e-12, m.demandCoreHours - m.clampedCoreHours)), pct(m.throttledStepShare, 2), String(m.vmsThrottled), f(m.surplusChargedCredits), f(m.chargedMoney, 2), String(m.vmsCharged), f(m.meanEndBalanceCredits), m.booksBalanced ? 'exact' : 'OFF']),
    );
  }
  if (r.preemption) {
    out += `\nPreemption by multiplier: hosts of ${o.hostSize} VMs, CPU = ${o.capacityFactor} x mean demand; victims throttled to baseline for 30 min; every 3rd VM bonds (<= 3 BU)\n`;
    out += table(
      ['policy', 'shortfall steps', 'victim picks', 'regret', 'unserved core-h', 'unserved bonders', 'unserved others', 'BU bonded', 'tax cr', 'mean mult bonders', 'mean mult others'],
      r.preemption.map((p) => [p.policy, String(p.shortfallSteps), String(p.victimSelections), pct(p.regretShare), f(p.unservedCoreHours), pct(p.unservedShareBonders), pct(p.unservedShareOthers), String(p.bondUnits), f(p.bondingTaxCredits), f(p.meanMultiplierBonders, 2), f(p.meanMultiplierOthers, 2)]),
    );
  }
  if (r.negotiation) {
    out += `\nBorrow/lend negotiation: Bitbrains, ${o.vms} VMs on hosts of ${o.hostSize}, entitlement = day-1 p90, scored after day 1\n`;
    out += table(
      ['variant', 'cpu viol', 'cpu slack', 'cpu Jain', 'mem viol', 'mem slack', 'mem Jain', 'rounds', 'transfers', 'mean round ms', 'max round ms', 'books', 'within capacity'],
      r.negotiation.map((n) => [n.variant, pct(n.cpu.violationRate, 2), pct(n.cpu.slack), f(n.cpu.jain, 3), pct(n.memory.violationRate, 2), pct(n.memory.slack), f(n.memory.jain, 3), String(n.rounds), String(n.transfers), f(n.meanRoundMs, 3), f(n.maxRoundMs, 2), n.booksBalanced ? 'exact' : 'OFF', n.allocationWithinCapacity ? 'yes' : 'NO']),
    );
  }
  if (r.auction) {
    const a0 = r.auction[0]!;
    out += `\nSpot auction: Google 2011, ${o.jobs} job-days as bids on ${a0.hosts} hosts (offered CPU ${o.load} x capacity), seed ${o.seed}\n`;
    out += table(
      ['variant', 'value $', 'of completed jobs $', 'lost to interf. $', 'utilisation', 'incidents', 'host-steps', 'admitted', 'expired', 'completed', 'notices', 'uninterr. preempted', 'penalties $', 'billed $', 'books'],
      r.auction.map((a) => [a.variant, f(a.valueDelivered, 2), f(a.completedValue, 2), f(a.valueLostToInterference, 2), pct(a.utilisation), String(a.incidents), pct(a.incidentShare, 2), String(a.admitted), String(a.expired), String(a.completed), String(a.notices), String(a.uninterruptiblePreempted), f(a.penaltiesPaid, 2), f(a.revenueBilled, 2), a.booksBalanced ? 'exact' : 'OFF']),
    );
  }
  const t = Object.entries(r.timingsMs).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`).join(', ');
  if (t) out += `\n(${t})\n`;
  return out;
}
