// Seeded random sequences through the pure markets the control plane's market phase calls
// (SpotMarket, PreemptionMultipliers, CreditBook, Ledger), digested step by step: the recorded
// trace that equivalence.test.ts compares with (fixtures/equivalence.json). Every public result is
// digested (round results, quotes, interference, exports, multipliers and their reasons, accrual
// results, balances), so a faster implementation must decide exactly what the recorded one did.
import { createHash } from 'node:crypto';
import { seededRng, type Rng } from '../../../src/core/rng.js';
import type { ProbForecast } from '../../../src/forecast/types.js';
import { SpotMarket, type Bid, type Demand, type RunningExport } from '../../../src/policy/markets/auction.js';
import { PreemptionMultipliers } from '../../../src/policy/markets/bonding.js';
import { CreditBook, type CreditMode } from '../../../src/policy/markets/credits.js';
import { flatForecast } from '../../../src/policy/markets/dist.js';
import { ASSETS, Ledger, SYSTEM, account } from '../../../src/policy/markets/ledger.js';

const digest = (x: unknown): string => createHash('sha256').update(JSON.stringify(x, (_k, v) => (v instanceof Float64Array ? Array.from(v) : v))).digest('hex').slice(0, 16);

const LEVELS = [0.05, 0.25, 0.5, 0.75, 0.9, 0.95];

/** A random forecast of horizon H around `base` (quantiles increasing; sometimes NaN-free flat). */
function forecast(rng: Rng, base: number, H = 12): ProbForecast {
  if (rng.next() < 0.15) return flatForecast(base, [0.5, 0.9], [base, base * 1.25], 1 + rng.int(0, 2));
  const mean = new Float64Array(H);
  const quantiles = LEVELS.map(() => new Float64Array(H));
  let level = base * (0.5 + rng.next());
  for (let h = 0; h < H; h++) {
    level = Math.max(0, level * (0.85 + 0.3 * rng.next()));
    const spread = level * (0.05 + 0.4 * rng.next());
    mean[h] = level;
    LEVELS.forEach((l, k) => {
      quantiles[k]![h] = Math.max(0, level + spread * (l - 0.5) * 3.2);
    });
  }
  return { mean, quantiles, levels: LEVELS, confidence: rng.next() < 0.2 ? NaN : rng.next(), model: 'eq' };
}

/** A seeded Rng past its first draws (xoroshiro128+ from a small seed starts near 1 for a while). */
function rngOf(seed: number): Rng {
  const rng = seededRng(Math.imul(seed, 2654435761) | 0);
  for (let k = 0; k < 32; k++) rng.next();
  return rng;
}

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(0, xs.length - 1)]!;

/** The spot auction: hosts, residents with forecasts, bids, rounds with feedback, moves, removals, a restart from exports. */
export function auctionTrace(seed: number, rounds = 60): string[] {
  const rng = rngOf(seed);
  const ledger = new Ledger();
  const opts = { minRuntimeMs: rng.next() < 0.5 ? 0 : 600_000, noticeMs: 300_000, horizonSteps: rng.next() < 0.5 ? 12 : 6 };
  let m = new SpotMarket([], ledger, opts);
  const hosts: string[] = [];
  for (let h = 0; h < 8; h++) {
    const id = `h${h}`;
    hosts.push(id);
    m.addHost({ id, capacity: { cpu: h === 7 ? 0 : 4000 + 1000 * rng.int(0, 4), memory: 16_384, network: rng.next() < 0.5 ? 0 : 100_000 } });
  }
  const tenants = ['ta', 'tb', 'tc', 'td'];
  for (const t of tenants) m.deposit(t, t === 'td' ? 50_000 : 5_000_000_000, 0);
  const demand = (cpu: number, mem: number, net: boolean): Demand => ({ cpu: forecast(rng, cpu), memory: forecast(rng, mem), ...(net ? { network: forecast(rng, 2000) } : {}) });
  // residents the market counts but does not own
  let nRes = 0;
  const addResident = (nowMs: number) => {
    const id = `r${nRes++}`;
    const d = demand(100 + rng.int(0, 900), 256 + rng.int(0, 2048), rng.next() < 0.2);
    m.adopt({ bid: { id, tenant: 'ops', priceMicrosPerHour: 0, priority: 0, profile: d, request: { cpu: 1000, memory: 2048, network: 0 }, memoryIntensity: 0, interruptible: true, minRuntimeMs: Infinity }, hostId: pick(rng, hosts.slice(0, 7)), startedAtMs: nowMs, billedToMs: nowMs, billCarry: 0, notice: null });
  };
  for (let k = 0; k < 60; k++) addResident(0);
  let nBid = 0;
  const out: string[] = [];
  for (let r = 0; r < rounds; r++) {
    const nowMs = r * 300_000;
    const bids: Bid[] = [];
    const nb = rng.next() < 0.5 ? rng.int(0, 3) : 0;
    for (let k = 0; k < nb; k++) {
      const interruptible = rng.next() < 0.7;
      const cpu = 200 + rng.int(0, 3000);
      bids.push({
        id: `b${nBid++}`,
        tenant: pick(rng, tenants),
        priceMicrosPerHour: rng.int(0, 20) * 100_000,
        priority: rng.int(0, 3),
        profile: demand(cpu, 512 + rng.int(0, 4096), rng.next() < 0.3),
        request: { cpu: cpu * 1.5, memory: 4096, network: 0 },
        memoryIntensity: rng.next() < 0.5 ? 0 : rng.next(),
        interruptible,
        ...(interruptible ? {} : { penalty: { feeMicros: rng.int(0, 5) * 100_000, priorityReductionMilli: rng.int(1, 3) * 500 } }),
        ...(rng.next() < 0.3 ? { expiresAtMs: nowMs + rng.int(1, 5) * 300_000 } : {}),
        ...(rng.next() < 0.2 ? { noticeMs: rng.int(0, 3) * 300_000 } : {}),
        ...(rng.next() < 0.2 ? { minRuntimeMs: rng.int(0, 3) * 300_000 } : {}),
      });
    }
    // runtime feedback for some running instances (new forecast objects), observed usage for others
    const running = m.running();
    const forecasts = new Map<string, Demand>();
    const observed = new Map<string, { cpu?: number; memory?: number }>();
    for (const id of running) {
      const x = rng.next();
      if (x < 0.15) forecasts.set(id, demand(100 + rng.int(0, 1500), 256 + rng.int(0, 2048), rng.next() < 0.1));
      if (x > 0.6) observed.set(id, rng.next() < 0.1 ? { cpu: NaN } : { cpu: rng.int(0, 2000), memory: rng.int(0, 2048) });
    }
    const res = m.round(nowMs, { bids, ...(forecasts.size > 0 || rng.next() < 0.5 ? { forecasts } : {}), observed });
    const probes: unknown[] = [res];
    // things a shell does between rounds
    const ops = rng.int(0, 4);
    for (let k = 0; k < ops; k++) {
      const x = rng.next();
      const ids = m.running();
      if (x < 0.15 && ids.length > 0) {
        const id = pick(rng, ids);
        const to = pick(rng, hosts);
        m.move(id, to);
        probes.push(['move', id, to]);
      } else if (x < 0.25 && ids.length > 0) probes.push(['remove', m.remove(pick(rng, ids))]);
      else if (x < 0.32 && ids.length > 0) probes.push(['finish', m.finish(pick(rng, ids), nowMs + 1000)]);
      else if (x < 0.4) {
        const h = pick(rng, hosts);
        m.setHostCapacity(h, { cpu: rng.int(0, 8) * 1000, memory: 16_384, network: rng.next() < 0.5 ? 0 : 50_000 });
        probes.push(['capacity', h]);
      } else if (x < 0.5) addResident(nowMs);
      else if (x < 0.58) {
        const p = m.pending();
        if (p.length > 0) probes.push(['cancel', m.cancel(pick(rng, p))]);
      } else if (x < 0.62 && hosts.length < 11) {
        const id = `h${hosts.length}`;
        hosts.push(id);
        m.addHost({ id, capacity: { cpu: 6000, memory: 16_384, network: 0 } });
      } else if (x < 0.66) m.deposit(pick(rng, tenants), rng.int(1, 100) * 10_000, nowMs);
    }
    for (const b of m.pending()) probes.push(['quote', b, m.quote(b)]);
    for (const h of hosts) probes.push(['host', h, m.interference(h), m.predictedLoad(h), m.instancesOn(h)]);
    probes.push(['running', m.exportRunning()], ['pending', m.exportPending()], ['standing', tenants.map((t) => m.standing(t))]);
    probes.push(['ledger', ASSETS.map((a) => ledger.accounts(a))]);
    probes.push(running.map((id) => [id, m.hostOf(id), m.isNoticed(id)]));
    // a restart every 20 rounds: a new market from the exports (hosts, running, pending)
    if (r % 20 === 19) {
      const run: RunningExport[] = m.exportRunning();
      const pend = m.exportPending();
      const caps = hosts.map((h) => [h, m.predictedLoad(h)] as const);
      void caps;
      const next = new SpotMarket([], ledger, opts);
      for (const h of hosts) next.addHost({ id: h, capacity: { cpu: 6000, memory: 16_384, network: 100_000 } });
      for (const x of run) next.adopt(x);
      for (const p of pend) next.restorePending(p.bid, p.waitingFor);
      m = next;
      probes.push(['restart', run.length, pend.length]);
    }
    out.push(digest(probes));
  }
  return out;
}

/** Multipliers: updates with forecasts (reused and new), bonds, NaN demand, explain, forget, export / restore. */
export function multiplierTrace(seed: number, steps = 80): string[] {
  const rng = rngOf(seed);
  const options = rng.next() < 0.5 ? { horizonSteps: 3, floor: 50 } : { extend: 'linear' as const, alpha: 0.5, level: 0.9 };
  let mp = new PreemptionMultipliers(options);
  const ids = Array.from({ length: 40 }, (_, k) => `i${k}`);
  const fcs = new Map<string, ProbForecast>();
  const bonds = new Map<string, number>();
  const out: string[] = [];
  for (let s = 0; s < steps; s++) {
    const probes: unknown[] = [];
    for (const id of ids) {
      if (rng.next() < 0.1) fcs.set(id, forecast(rng, 100 + rng.int(0, 2000)));
      if (rng.next() < 0.02) bonds.set(id, (bonds.get(id) ?? 0) + rng.int(1, 6));
      const f = rng.next() < 0.1 ? null : fcs.get(id);
      const cur = rng.next() < 0.1 ? NaN : rng.next() < 0.05 ? undefined : rng.int(0, 2500);
      const x = rng.next();
      if (x < 0.5) probes.push(mp.refresh(id, bonds.get(id) ?? 0, f, cur));
      else if (x < 0.9) probes.push(mp.update(id, { bondUnits: bonds.get(id) ?? 0, forecast: f ?? null, ...(cur !== undefined ? { currentDemand: cur } : {}) }));
      else if (x < 0.95) probes.push(['explain', mp.explain(id), mp.get(id), mp.factorOf(id)]);
      else if (x < 0.97) {
        mp.forget(id);
        probes.push(['forget', id, mp.get(id)]);
      }
    }
    probes.push(mp.exportFactors());
    for (const id of ids) probes.push([mp.get(id), mp.factorOf(id), mp.explain(id)?.reasons ?? null]);
    if (s % 25 === 24) {
      const saved = mp.exportFactors();
      mp = new PreemptionMultipliers(options);
      mp.restoreFactors(saved);
      probes.push(['restored', mp.exportFactors()]);
    }
    out.push(digest(probes));
  }
  return out;
}

/** The credit book: accruals of random demand in both modes, hourly charges, stops, starts, bonds, mode switches, terminations. */
export function creditTrace(seed: number, steps = 120): string[] {
  const rng = rngOf(seed);
  const ledger = new Ledger();
  const book = new CreditBook(ledger);
  const classes = [...book.classes.keys()];
  const live: string[] = [];
  let n = 0;
  const launch = (nowMs: number) => {
    const id = `c${n++}`;
    book.launch(id, { tenant: pick(rng, ['ta', 'tb']), className: pick(rng, classes), mode: (rng.next() < 0.5 ? 'standard' : 'unlimited') as CreditMode }, nowMs);
    live.push(id);
  };
  for (let k = 0; k < 20; k++) launch(0);
  const out: string[] = [];
  const stepMs = rng.next() < 0.5 ? 300_000 : 7_000;
  for (let s = 1; s <= steps; s++) {
    const nowMs = s * stepMs;
    const probes: unknown[] = [];
    for (const id of book.ids()) {
      const st = book.peek(id)!;
      const demand = rng.next() < 0.3 ? 0 : rng.int(0, st.cls.maxMillicores + 500) + (rng.next() < 0.2 ? 0.37 : 0);
      probes.push(book.accrue(id, nowMs, stepMs, demand));
    }
    const x = rng.next();
    const id = live.length > 0 ? pick(rng, live) : undefined;
    if (id !== undefined && book.has(id)) {
      if (x < 0.05) probes.push(['stop', book.stop(id, nowMs)]);
      else if (x < 0.1) probes.push(['start', book.start(id, nowMs)]);
      else if (x < 0.15) probes.push(['bond', book.bond(id, rng.int(1, 2), nowMs), book.maxBondable(id)]);
      else if (x < 0.2) probes.push(['mode', book.setMode(id, rng.next() < 0.5 ? 'standard' : 'unlimited', nowMs)]);
      else if (x < 0.23) probes.push(['terminate', book.terminate(id, nowMs)]);
    }
    if (x > 0.95) launch(nowMs);
    for (const i of book.ids()) probes.push([i, book.state(i), book.exportState(i)]);
    probes.push(ASSETS.map((a) => ledger.accounts(a)), ledger.seq, ledger.balance(SYSTEM.CREDIT_ISSUER, 'credit'), ledger.balance(account.invoice('ta'), 'money'));
    out.push(digest(probes));
  }
  return out;
}

export const SEEDS = [1, 2, 3, 4, 5, 6];

/** Every trace of every seed (what the fixture holds). */
export function allTraces(): { auction: string[][]; multipliers: string[][]; credits: string[][] } {
  return { auction: SEEDS.map((s) => auctionTrace(s)), multipliers: SEEDS.map((s) => multiplierTrace(s)), credits: SEEDS.map((s) => creditTrace(s)) };
}
