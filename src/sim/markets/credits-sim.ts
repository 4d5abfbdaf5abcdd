// Experiment 1 (Bitbrains): burstable credits on real demand, and preemption by multiplier.
//
// Credits: every VM becomes a T3 instance: vCPUs from its provisioned cores (<= 2 -> 2, <= 4 -> 4,
// else 8), and among the classes with that many vCPUs the smallest whose baseline covers the VM's
// mean CPU over the first day (else the largest). Each row's actual duration (Bitbrains rows are
// ~300 s apart, irregularly) is the accrual step, in whole milliseconds. Demand above the vCPUs
// is clamped (and counted). The same month runs in standard mode and in unlimited mode.
//
// Preemption: VMs are grouped in id order into hosts of `hostSize`; a host's CPU capacity is
// `capacityFactor` x the sum of its VMs' mean demand over the run (a host sized for the average,
// short at the peaks). Credits run in unlimited
// mode (so only the host limits CPU); every third VM is a "bonder" that bonds one unit whenever
// it keeps a quarter of its cap afterwards (at most 3 units). When the VMs want more CPU than the
// host has, victims are picked by lowest multiplier and throttled to their baseline for
// `holdSteps` steps; a shortfall left after that is shared by everyone in proportion. Policies:
//   predictive: multiplier from bonding units x the smoothed forecast factor (engine forecasts),
//   bond-only:  multiplier from bonding units alone,
//   none:       every multiplier 1 (victims in id order).
// A victim selection is a "regret" when the victim's mean demand over the hold rose >= 20 % above
// its demand when picked (throttling it was the costly choice the forecast aims to avoid).
import { selectVictims, PreemptionMultipliers } from '../../policy/markets/bonding.js';
import { CreditBook, type CompiledClass } from '../../policy/markets/credits.js';
import { ASSETS } from '../../policy/markets/ledger.js';
import type { SeriesForecasts } from './forecasts.js';
import type { MarketSeries } from './load.js';

const DAY = 288;

export function stepMsOf(s: MarketSeries, t: number): number {
  const sec = t === 0 ? s.stepSeconds : (s.stepSecondsAt?.[t] ?? s.stepSeconds);
  return Math.min(3_600_000, Math.max(1000, Math.round(sec * 1000)));
}

function meanOf(a: Float64Array, from: number, to: number): number {
  let s = 0;
  let n = 0;
  for (let t = from; t < Math.min(to, a.length); t++) {
    s += a[t]!;
    n++;
  }
  return n > 0 ? s / n : 0;
}

/** The T3 class of a VM (rule in the file header). */
export function classFor(s: MarketSeries, classes: Map<string, CompiledClass>): CompiledClass {
  const cores = s.cores ?? 1;
  const vcpus = cores <= 2 ? 2 : cores <= 4 ? 4 : 8;
  const dayMeanMillicores = meanOf(s.cpu, 0, DAY) * 1000;
  const same = [...classes.values()].filter((c) => c.vcpus === vcpus).sort((a, b) => a.baselineMillicores - b.baselineMillicores);
  return same.find((c) => c.baselineMillicores >= dayMeanMillicores) ?? same[same.length - 1]!;
}

export interface CreditModeReport {
  mode: 'standard' | 'unlimited';
  vms: number;
  steps: number;
  demandCoreHours: number;
  clampedCoreHours: number;
  servedCoreHours: number;
  throttledCoreHours: number;
  throttledStepShare: number;
  vmsThrottled: number;
  discardedCredits: number;
  surplusChargedCredits: number;
  chargedMoney: number;
  vmsCharged: number;
  meanEndBalanceCredits: number;
  booksBalanced: boolean;
}

export interface CreditsReport {
  classMix: Record<string, number>;
  modes: CreditModeReport[];
}

export function runCreditsExperiment(vms: readonly MarketSeries[]): CreditsReport {
  const classMix: Record<string, number> = {};
  const modes: CreditModeReport[] = [];
  for (const mode of ['standard', 'unlimited'] as const) {
    const book = new CreditBook();
    const r: CreditModeReport = { mode, vms: vms.length, steps: 0, demandCoreHours: 0, clampedCoreHours: 0, servedCoreHours: 0, throttledCoreHours: 0, throttledStepShare: 0, vmsThrottled: 0, discardedCredits: 0, surplusChargedCredits: 0, chargedMoney: 0, vmsCharged: 0, meanEndBalanceCredits: 0, booksBalanced: true };
    let throttledSteps = 0;
    for (const s of vms) {
      const cls = classFor(s, book.classes);
      if (mode === 'standard') classMix[cls.name] = (classMix[cls.name] ?? 0) + 1;
      book.launch(s.id, { tenant: `tenant-${s.id}`, className: cls.name, mode }, 0);
      let now = 0;
      let throttled = false;
      let charged = 0;
      for (let t = 0; t < s.cpu.length; t++) {
        const stepMs = stepMsOf(s, t);
        now += stepMs;
        const want = Math.round(s.cpu[t]! * 1000);
        const a = book.accrue(s.id, now, stepMs, want);
        const hours = stepMs / 3_600_000;
        r.steps++;
        r.demandCoreHours += (want / 1000) * hours;
        r.clampedCoreHours += (Math.max(0, want - cls.maxMillicores) / 1000) * hours;
        r.servedCoreHours += (a.grantedMillicores / 1000) * hours;
        r.throttledCoreHours += (a.throttledMillicores / 1000) * hours;
        if (a.throttledMillicores > 0) {
          throttledSteps++;
          throttled = true;
        }
        r.discardedCredits += a.discardedMillicredits / 1000;
        charged += a.chargedMicros;
        r.surplusChargedCredits += a.surplusChargedMillicredits / 1000;
      }
      r.meanEndBalanceCredits += book.balance(s.id) / 1000 / vms.length;
      const stop = book.stop(s.id, now);
      charged += stop.chargedMicros;
      r.surplusChargedCredits += stop.chargedMillicredits / 1000;
      if (throttled) r.vmsThrottled++;
      if (charged > 0) r.vmsCharged++;
      r.chargedMoney += charged / 1e6;
    }
    r.throttledStepShare = r.steps > 0 ? throttledSteps / r.steps : 0;
    r.booksBalanced = ASSETS.every((a) => book.ledger.total(a) === 0);
    modes.push(r);
  }
  return { classMix, modes };
}

export type PreemptionPolicy = 'predictive' | 'bond-only' | 'none';
export const PREEMPTION_POLICIES: readonly PreemptionPolicy[] = ['predictive', 'bond-only', 'none'];

export interface PreemptionOptions {
  hostSize?: number;
  capacityFactor?: number;
  holdSteps?: number;
}

export interface PreemptionReport {
  policy: PreemptionPolicy;
  hosts: number;
  shortfallSteps: number;
  victimSelections: number;
  regretShare: number;
  unservedCoreHours: number;
  unservedShareBonders: number;
  unservedShareOthers: number;
  bondUnits: number;
  bondingTaxCredits: number;
  meanMultiplierBonders: number;
  meanMultiplierOthers: number;
}

/** Runs one preemption policy over every host; forecasts (CPU, cores) per VM in the same order. */
export function runPreemptionExperiment(vms: readonly MarketSeries[], forecasts: readonly (SeriesForecasts | null)[], policy: PreemptionPolicy, o: PreemptionOptions = {}): PreemptionReport {
  const hostSize = o.hostSize ?? 10;
  const factor = o.capacityFactor ?? 1.5;
  const hold = o.holdSteps ?? 6;
  const book = new CreditBook();
  const mult = new PreemptionMultipliers();
  const rep: PreemptionReport = { policy, hosts: 0, shortfallSteps: 0, victimSelections: 0, regretShare: 0, unservedCoreHours: 0, unservedShareBonders: 0, unservedShareOthers: 0, bondUnits: 0, bondingTaxCredits: 0, meanMultiplierBonders: 0, meanMultiplierOthers: 0 };
  let regrets = 0;
  const demandBy = { bonders: 0, others: 0 };
  const unservedBy = { bonders: 0, others: 0 };
  const multSum = { bonders: 0, others: 0, nb: 0, no: 0 };
  for (let h0 = 0; h0 < vms.length; h0 += hostSize) {
    const group = vms.slice(h0, h0 + hostSize);
    const fcs = forecasts.slice(h0, h0 + hostSize);
    rep.hosts++;
    const classes = group.map((s) => classFor(s, book.classes));
    group.forEach((s, i) => book.launch(s.id, { tenant: `tenant-${s.id}`, className: classes[i]!.name, mode: 'unlimited' }, 0));
    const capacity = factor * group.reduce((sum, s) => sum + meanOf(s.cpu, 0, s.cpu.length) * 1000, 0);
    const T = Math.min(...group.map((s) => s.cpu.length));
    const heldUntil = new Int32Array(group.length).fill(-1);
    const bonder = group.map((_, i) => (h0 + i) % 3 === 0);
    const multiplier = new Float64Array(group.length).fill(1);
    let now = 0;
    for (let t = 0; t < T; t++) {
      const stepMs = stepMsOf(group[0]!, t);
      now += stepMs;
      const hours = stepMs / 3_600_000;
      const demand = group.map((s, i) => Math.min(classes[i]!.maxMillicores, s.cpu[t]! * 1000));
      const want = demand.map((d, i) => (heldUntil[i]! >= t ? Math.min(d, classes[i]!.baselineMillicores) : d));
      let total = want.reduce((a, b) => a + b, 0);
      if (total > capacity) {
        rep.shortfallSteps++;
        const cands = group
          .map((s, i) => ({ id: String(i), multiplier: multiplier[i]!, usageMillicores: want[i]!, floorMillicores: classes[i]!.baselineMillicores, i }))
          .filter((c) => heldUntil[c.i]! < t && c.usageMillicores > c.floorMillicores);
        const sel = selectVictims(total - capacity, cands, { allowEvict: false });
        for (const v of sel.victims) {
          const i = Number(v.id);
          heldUntil[i] = t + hold - 1;
          want[i] = Math.min(want[i]!, classes[i]!.baselineMillicores);
          rep.victimSelections++;
          const later = meanOf(group[i]!.cpu, t + 1, t + 1 + hold) * 1000;
          if (later >= 1.2 * Math.max(demand[i]!, 1)) regrets++;
        }
        total = want.reduce((a, b) => a + b, 0);
      }
      const squeeze = total > capacity ? capacity / total : 1;
      group.forEach((s, i) => {
        const served = want[i]! * squeeze;
        const un = (demand[i]! - served) / 1000;
        rep.unservedCoreHours += un * hours;
        const who = bonder[i] ? 'bonders' : 'others';
        unservedBy[who] += un * hours;
        demandBy[who] += (demand[i]! / 1000) * hours;
        book.accrue(s.id, now, stepMs, served);
        if (bonder[i]) {
          const cap = classes[i]!.capMillicredits;
          const cost = book.bondCost(1);
          if (book.bondUnits(s.id) < 3 && book.balance(s.id) >= cost.bondedMillicredits + cost.taxMillicredits + cap / 4) {
            const b = book.bond(s.id, 1, now);
            if (b.ok) {
              rep.bondUnits++;
              rep.bondingTaxCredits += b.taxMillicredits / 1000;
            }
          }
        }
        if (policy === 'none') multiplier[i] = 1;
        else {
          const f = policy === 'predictive' ? (fcs[i]?.at(t) ?? null) : null;
          multiplier[i] = mult.update(s.id, { bondUnits: book.bondUnits(s.id), forecast: f, currentDemand: s.cpu[t]! }).multiplier;
        }
        if (bonder[i]) {
          multSum.bonders += multiplier[i]!;
          multSum.nb++;
        } else {
          multSum.others += multiplier[i]!;
          multSum.no++;
        }
      });
    }
  }
  rep.regretShare = rep.victimSelections > 0 ? regrets / rep.victimSelections : 0;
  rep.unservedShareBonders = demandBy.bonders > 0 ? unservedBy.bonders / demandBy.bonders : 0;
  rep.unservedShareOthers = demandBy.others > 0 ? unservedBy.others / demandBy.others : 0;
  rep.meanMultiplierBonders = multSum.nb > 0 ? multSum.bonders / multSum.nb : 0;
  rep.meanMultiplierOthers = multSum.no > 0 ? multSum.others / multSum.no : 0;
  return rep;
}
