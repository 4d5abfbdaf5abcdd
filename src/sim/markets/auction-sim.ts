// Experiment 3 (Google 2011): the spot auction against price-only admission.
//
// Each Google job-day (CPU % and memory % of a machine, 288 five-minute steps) becomes one bid,
// drawn with a seeded random source: a run length L of 2-12 h, an arrival a in [4 h, 24 h - L],
// a profile from the job's own 4 hours before arrival (flat forecast: median, 0.9 and 0.99
// empirical quantiles; mean), a request of 1.1 x the profile window's peak, a memory intensity
// mem / (cpu + mem) of the window's means, a price of 100,000 micro-units per hour per 10 % of
// requested CPU x exp(0.5 N(0,1)), priority 1 for one bid in five (else 0), uninterruptible for
// three in ten (penalty: one hour of its price, and 0.2 priority points), tenant = index mod 20,
// and expiry after 30 minutes pending. Hosts have 100 % CPU and memory; their number makes the
// mean offered CPU `load` x the capacity (default 1.25: a contested market).
// A round runs every step; then the step executes: every running instance (noticed ones too)
// uses its job's values at that time of day. A host-step whose CPU or memory demand exceeds 100 %
// is an interference incident; its instances get the served fraction min(1, 100 / demand) of
// the worse resource. Value delivered = sum of price x step hours x served fraction (money units).
// Utilisation = served CPU / (hosts x 100 % x steps). An admitted job runs L steps, then finishes.
// Variants:
//   price-only:           price order, room by requested sizes, no interference, no displacement
//   price-only-quantile:  price order, room by predicted quantiles (no interference, no displacement)
//   auction-profile:      the full auction on the submitted profiles alone
//   auction:              the full auction with runtime feedback (engine forecasts of each running
//                         instance, warmed on its profile window, every `forecastEvery` steps)
import { seededRng } from '../../core/rng.js';
import { createEngine } from '../../forecast/engine.js';
import type { EnsembleForecaster } from '../../forecast/ensemble.js';
import { SpotMarket, type AuctionOptions, type Bid, type Demand } from '../../policy/markets/auction.js';
import { flatForecast } from '../../policy/markets/dist.js';
import { ASSETS, Ledger, SYSTEM } from '../../policy/markets/ledger.js';
import type { MarketSeries } from './load.js';

export type AuctionVariant = 'price-only' | 'price-only-quantile' | 'auction-profile' | 'auction';
export const AUCTION_VARIANTS: readonly AuctionVariant[] = ['price-only', 'price-only-quantile', 'auction-profile', 'auction'];

const STEP_MS = 300_000;
const WINDOW = 48;
const LEVELS = [0.5, 0.9, 0.99] as const;

export interface PlannedBid {
  bid: Bid;
  series: MarketSeries;
  arrival: number;
  length: number;
  window: { cpu: Float64Array; memory: Float64Array };
}

function empirical(a: Float64Array, q: number): number {
  const xs = Array.from(a).sort((x, y) => x - y);
  return xs[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? 0;
}

function mean(a: Float64Array): number {
  let s = 0;
  for (const v of a) s += v;
  return a.length ? s / a.length : 0;
}

/** The bids of the experiment (deterministic for a seed). */
export function planBids(series: readonly MarketSeries[], seed = 1): PlannedBid[] {
  const rng = seededRng(seed);
  const out: PlannedBid[] = [];
  series.forEach((s, i) => {
    const T = s.cpu.length;
    if (T < WINDOW + 24) return;
    const length = rng.int(24, Math.min(144, T - WINDOW));
    const arrival = rng.int(WINDOW, T - length);
    const wc = s.cpu.slice(arrival - WINDOW, arrival);
    const wm = s.memory.slice(arrival - WINDOW, arrival);
    const prof = (w: Float64Array) => flatForecast(mean(w), LEVELS, LEVELS.map((l) => empirical(w, l)));
    let peakC = 0;
    let peakM = 0;
    for (const v of wc) peakC = Math.max(peakC, v);
    for (const v of wm) peakM = Math.max(peakM, v);
    const reqCpu = Math.max(0.5, 1.1 * peakC);
    const mc = mean(wc);
    const mm = mean(wm);
    const price = Math.max(1, Math.round((reqCpu / 10) * 100_000 * Math.exp(0.5 * rng.normal())));
    const priority = rng.next() < 0.2 ? 1 : 0;
    const interruptible = rng.next() >= 0.3;
    const bid: Bid = {
      id: `job-${s.id}`,
      tenant: `tenant-${i % 20}`,
      priceMicrosPerHour: price,
      priority,
      profile: { cpu: prof(wc), memory: prof(wm) },
      request: { cpu: reqCpu, memory: Math.max(0.5, 1.1 * peakM), network: 0 },
      memoryIntensity: mc + mm > 0 ? mm / (mc + mm) : 0,
      interruptible,
      ...(interruptible ? {} : { penalty: { feeMicros: price, priorityReductionMilli: 200 } }),
      expiresAtMs: (arrival + 6) * STEP_MS,
    };
    out.push({ bid, series: s, arrival, length, window: { cpu: wc, memory: wm } });
  });
  return out;
}

/** Hosts needed for the mean offered CPU to be `load` x their capacity. */
export function hostsFor(plan: readonly PlannedBid[], load: number, steps = 288): number {
  let cpu = 0;
  for (const p of plan) for (let t = p.arrival; t < p.arrival + p.length; t++) cpu += p.series.cpu[t] ?? 0;
  return Math.max(1, Math.ceil(cpu / steps / (100 * load)));
}

export interface AuctionReport {
  variant: AuctionVariant;
  hosts: number;
  bids: number;
  admitted: number;
  expired: number;
  completed: number;
  /** Value delivered to jobs that ran to completion (a stricter measure: interrupted work may be lost). */
  completedValue: number;
  valueDelivered: number;
  valueLostToInterference: number;
  utilisation: number;
  incidents: number;
  incidentShare: number;
  notices: number;
  stoppedAfterNotice: number;
  uninterruptiblePreempted: number;
  penaltiesPaid: number;
  revenueBilled: number;
  booksBalanced: boolean;
}

export function runAuctionExperiment(plan: readonly PlannedBid[], variant: AuctionVariant, o: { hosts: number; steps?: number; forecastEvery?: number; options?: AuctionOptions }): AuctionReport {
  const steps = o.steps ?? 288;
  const every = Math.max(1, o.forecastEvery ?? 3);
  const base: AuctionOptions =
    variant === 'price-only' ? { scoring: 'price-only', capacity: 'request' } : variant === 'price-only-quantile' ? { scoring: 'price-only', capacity: 'quantile' } : { scoring: 'auction', capacity: 'quantile' };
  const hosts = Array.from({ length: o.hosts }, (_, i) => ({ id: `host-${i}`, capacity: { cpu: 100, memory: 100, network: 0 } }));
  const ledger = new Ledger({ keepJournal: false });
  const market = new SpotMarket(hosts, ledger, { minRuntimeMs: 600_000, ...base, ...o.options });
  const tenants = new Set(plan.map((p) => p.bid.tenant));
  for (const t of tenants) market.deposit(t, 1e12, 0);
  const byArrival = new Map<number, PlannedBid[]>();
  for (const p of plan) byArrival.set(p.arrival, [...(byArrival.get(p.arrival) ?? []), p]);
  const byId = new Map(plan.map((p) => [p.bid.id, p]));
  const started = new Map<string, number>();
  const earned = new Map<string, number>();
  const engines = new Map<string, { cpu: EnsembleForecaster; memory: EnsembleForecaster; last: Demand | null }>();
  const feedback = variant === 'auction';
  const rep: AuctionReport = { variant, hosts: o.hosts, bids: plan.length, admitted: 0, expired: 0, completed: 0, completedValue: 0, valueDelivered: 0, valueLostToInterference: 0, utilisation: 0, incidents: 0, incidentShare: 0, notices: 0, stoppedAfterNotice: 0, uninterruptiblePreempted: 0, penaltiesPaid: 0, revenueBilled: 0, booksBalanced: true };
  let servedCpu = 0;
  for (let t = 0; t < steps; t++) {
    const now = t * STEP_MS;
    const running = market.running();
    const observed = new Map<string, { cpu: number; memory: number }>();
    let forecasts: Map<string, Demand> | undefined;
    if (t > 0) for (const id of running) {
      const p = byId.get(id)!;
      observed.set(id, { cpu: p.series.cpu[t - 1]!, memory: p.series.memory[t - 1]! });
    }
    if (feedback) {
      forecasts = new Map();
      for (const id of running) {
        const e = engines.get(id)!;
        const ob = observed.get(id);
        if (ob && started.get(id)! < t) {
          e.cpu.update(ob.cpu);
          e.memory.update(ob.memory);
        }
        if (t % every === 0 || !e.last) e.last = { cpu: e.cpu.forecast(12), memory: e.memory.forecast(12) };
        forecasts.set(id, e.last);
      }
    }
    const r = market.round(now, { bids: (byArrival.get(t) ?? []).map((p) => p.bid), observed, ...(forecasts ? { forecasts } : {}) });
    rep.admitted += r.admitted.length;
    rep.expired += r.expired.length;
    rep.notices += r.notices.length;
    rep.revenueBilled += r.billedMicros / 1e6;
    for (const s of r.stopped) if (s.reasons[0] === 'notice-expired-stopped') rep.stoppedAfterNotice++;
    for (const p of r.penalties) {
      rep.uninterruptiblePreempted++;
      rep.penaltiesPaid += p.feeMicros! / 1e6;
    }
    for (const s of r.stopped) {
      started.delete(s.id);
      engines.delete(s.id);
    }
    for (const a of r.admitted) {
      started.set(a.bidId, t);
      if (feedback) {
        const p = byId.get(a.bidId)!;
        const mk = () => createEngine({ horizon: 12, levels: LEVELS, stepSeconds: 300 });
        const e = { cpu: mk(), memory: mk(), last: null };
        for (let k = 0; k < WINDOW; k++) {
          const ti = p.arrival - WINDOW + k;
          e.cpu.update(p.series.cpu[ti]!);
          e.memory.update(p.series.memory[ti]!);
        }
        for (let ti = p.arrival; ti < t; ti++) {
          e.cpu.update(p.series.cpu[ti]!);
          e.memory.update(p.series.memory[ti]!);
        }
        engines.set(a.bidId, e);
      }
    }
    // the step executes
    for (const h of hosts) {
      const ids = market.instancesOn(h.id);
      let cpu = 0;
      let mem = 0;
      for (const id of ids) {
        const p = byId.get(id)!;
        cpu += p.series.cpu[t] ?? 0;
        mem += p.series.memory[t] ?? 0;
      }
      const frac = Math.min(1, cpu > 100 ? 100 / cpu : 1, mem > 100 ? 100 / mem : 1);
      if (cpu > 100 || mem > 100) rep.incidents++;
      servedCpu += Math.min(cpu, 100) * (frac < 1 && cpu <= 100 ? frac : 1);
      for (const id of ids) {
        const v = (byId.get(id)!.bid.priceMicrosPerHour / 1e6) * (STEP_MS / 3_600_000);
        rep.valueDelivered += v * frac;
        earned.set(id, (earned.get(id) ?? 0) + v * frac);
        rep.valueLostToInterference += v * (1 - frac);
      }
    }
    for (const [id, s] of [...started]) {
      if (t + 1 - s >= byId.get(id)!.length) {
        rep.revenueBilled += market.finish(id, now + STEP_MS) / 1e6;
        rep.completedValue += earned.get(id) ?? 0;
        started.delete(id);
        engines.delete(id);
        rep.completed++;
      }
    }
  }
  rep.utilisation = servedCpu / (o.hosts * 100 * steps);
  rep.incidentShare = rep.incidents / (o.hosts * steps);
  rep.booksBalanced = ASSETS.every((a) => ledger.total(a) === 0) && Math.abs(ledger.balance(SYSTEM.MARKET_REVENUE, 'money') / 1e6 - rep.revenueBilled) < 1e-6;
  return rep;
}
