// Burstable credits, bonding and predictive preemption in the control loop (market component
// 'credits'): the shell around CreditBook and PreemptionMultipliers (src/policy/markets).
//
// Each tick (market model time, one step of stepMs):
//  1. Credits: every running instance with a credit class (labels, credit-labels.ts) accrues with
//     its observed mean CPU of the tick as demand (0 without a sample: an idle instance earns).
//     In standard mode an empty balance throttles: the instance's CPU is capped at what the book
//     granted (a resize, reasons from the book); the cap holds until the balance has refilled to
//     `liftMillicredits` (default: one step of full burst of its class, so a cap does not flap),
//     then the CPU is given back (a resize to what it had, or what the policy asked for meanwhile,
//     within the host's free CPU). Unlimited mode is never capped (it spends surplus credits).
//  2. Multipliers: every placed instance's preemption multiplier is updated from its bonding units,
//     its CPU forecast over a short horizon (default 3 steps) and its current demand
//     (PreemptionMultipliers: clamp(base(BU) x smoothed factor, [min, max])).
//  3. Preemption: a host whose observed or predicted (q0.9, next step) CPU demand exceeds its
//     capacity picks victims by multiplier (selectVictims): lowest first, throttled to their floor
//     (credit instances: their baseline; others `floorShare` of their request) for `holdSteps`
//     steps; if that does not cover the shortfall and eviction is allowed, evicted ('preempt'
//     action; the instance stops, its credits are stopped: unlimited surplus charged). Critical
//     instances are never victims. Demand per instance is its usage (and forecast) capped by its
//     allocation: what it can actually take from the host.
// Bonding (`bond`) runs from the API through MarketRuntime.operate (written to the store at once).
import type { Priority } from '../../core/model.js';
import { preempt, resize, type Action } from '../../core/plan.js';
import type { ProbForecast } from '../../forecast/types.js';
import { PreemptionMultipliers, baseMultiplier, selectVictims, type MultiplierDecision, type MultiplierRecord, type PredictiveMultiplierOptions, type VictimCandidate } from '../../policy/markets/bonding.js';
import { CreditBook, MCMS_PER_MILLICREDIT, type AccrualResult, type BondResult, type CompiledClass, type CreditBookOptions, type CreditHandle, type CreditInstanceExport, type CreditMode } from '../../policy/markets/credits.js';
import { quantileAt } from '../../policy/markets/dist.js';
import { account, MILLICREDITS_PER_CREDIT, type Ledger } from '../../policy/markets/ledger.js';
import { kv, MR } from '../../policy/markets/reasons.js';
import type { ManagedInstance } from '../control-loop.js';
import { creditLabelsOf, type CreditSpec } from './credit-labels.js';
import { InstanceSlots, LatestForecasts, type ForecastSlot } from './instance-slots.js';
import type { MarketMetrics } from './metrics.js';
import type { MarketComponent, MarketRestoreContext, MarketTickContext, MarketTickOutput, RemovalCause } from './types.js';

export const CREDITS_COMPONENT = 'credits';

/** Reasons of the credits component (next to the book's MR constants). */
export const CR = {
  CREDIT_THROTTLE: 'credit-throttle',
  CREDITS_RESTORED: 'credits-restored',
  PREEMPTION_THROTTLE: 'preemption-throttle',
  PREEMPTION_HOLD_ENDED: 'preemption-hold-ended',
  PREEMPTION_EVICT: 'preemption-evict',
  HOST_SHORT: 'host-cpu-short',
  NO_USAGE_SAMPLE: 'no-usage-sample',
  EVICTION_REFUSED: 'eviction-refused-by-driver',
} as const;

export interface PreemptionOptions {
  /** Pick victims when a host is short (default true). */
  enabled?: boolean;
  /** Evict when throttling is not enough (default true; the service turns it off for drivers that cannot stop an instance). */
  allowEvict?: boolean;
  /** Quantile of the CPU forecast read as predicted demand (default 0.9). */
  level?: number;
  /** Steps a preemption throttle holds before the CPU is given back (default 6). */
  holdSteps?: number;
  /** Floor of a throttled instance without a credit class, share of its requested CPU (default 0.25). */
  floorShare?: number;
  /** After a driver refused an eviction, steps without evictions (default 60). */
  evictBackoffSteps?: number;
}

export interface CreditsMarketOptions {
  book?: CreditBookOptions;
  /** Multiplier options (defaults here: horizonSteps 3, floor 50 millicores; the rest PreemptionMultipliers'). */
  multiplier?: PredictiveMultiplierOptions;
  preemption?: PreemptionOptions;
  /**
   * A standard-mode credit cap is lifted once the balance holds this many milli-credits. Default
   * (per instance): one step of full burst, (vCPUs x 1000 - baseline millicores) x stepMs / 60,000.
   */
  liftMillicredits?: number;
  metrics?: MarketMetrics;
}

interface Caps {
  /** Standard mode out of credits: CPU ceiling, with the book's reasons. */
  credit?: { cpu: number; reasons: string[]; sinceMs: number };
  /** Preemption victim: ceiling until a market time. */
  preempt?: { cpu: number; untilMs: number; reasons: string[]; sinceMs: number };
  /** The CPU the instance had (or the policy asked for) before the caps: given back when they end. */
  uncappedCpu: number;
}

/** Per-instance credit figures of the recent past (not persisted). */
interface Recent {
  /** Its window in `ring`: credits earned per step at [base, base + recentSteps), used after them. */
  base: number;
  next: number;
  steps: number;
  last?: AccrualResult;
  /** Removed from `recent` (an instance that comes back starts a new one). */
  dropped: boolean;
}

interface SavedState {
  v: 1;
  book: CreditInstanceExport[];
  factors: Record<string, number>;
  caps: Record<string, Caps>;
}

/** A host's observed and predicted CPU demand this tick (summed over its residents). */
interface HostNeed {
  readonly id: string;
  observed: number;
  predicted: number;
  /** The tick the sums are of (older: stale, start again at 0). */
  stamp: number;
}

/** What the per-tick pass over every placed instance keeps per instance (caches of what is found by id). */
interface Slot extends ForecastSlot {
  readonly id: string;
  /** Its record in `multipliers` (passed back each tick). */
  mult: MultiplierRecord | undefined;
  readonly bondAccount: string;
  /** Bonding units, read when the ledger's bond balances last changed (`Ledger.version('bond')`). */
  bondUnits: number;
  bondVersion: number;
  /** The CPU forecast last read and its quantile `preemption.level` at the next step. */
  qOf: ProbForecast | null;
  q: number;
  /** Its host's demand sums (found by id when the host changes). */
  hostId: string | null;
  host: HostNeed | undefined;
  /** The tick stamp of the last pass that met it placed, and its CPU usage then. */
  seen: number;
  usage: number;
}

/** The multiplier of an instance as the API shows it. */
export interface MultiplierView {
  value: number;
  base: number;
  bondUnits: number;
  /** Smoothed predictive factor in effect (1 before the first update). */
  factor: number;
  rawFactor: number | null;
  relativeChange: number | null;
  min: number;
  max: number;
  level: number;
  horizonSteps: number | null;
  reasons: string[];
  basis: string;
}

export interface CreditsView {
  className: string;
  mode: CreditMode;
  running: boolean;
  vcpus: number;
  baselinePercent: number;
  baselineMillicores: number;
  creditsPerHour: number;
  maxEarnedCredits: number;
  balanceMillicredits: number;
  surplusMillicredits: number;
  bondUnits: number;
  throttle: { capMillicores: number; cause: 'credits' | 'preemption'; reasons: string[]; sinceMs: number } | null;
  recent: { steps: number; windowMs: number; earnedCredits: number; spentCredits: number; lastStep: { demandMillicores: number; grantedMillicores: number; throttledMillicores: number; reasons: string[] } | null };
}

export class CreditsMarket implements MarketComponent {
  readonly name = CREDITS_COMPONENT;
  readonly book: CreditBook;
  readonly multipliers: PreemptionMultipliers;
  private readonly caps = new Map<string, Caps>();
  private readonly recent = new Map<string, Recent>();
  /** Every Recent's figures, one window each (see Recent.base); windows of dropped ones are reused. */
  private ring = new Float64Array(0);
  private ringTop = 0;
  private readonly ringFree: number[] = [];
  /** The Recent of the k-th accrual of the last tick, with the handle it was for. */
  private readonly recentAt: Array<{ h: CreditHandle; x: Recent }> = [];
  /** The instance record of the j-th instance of the book, with its handle (InstanceSlots' idea: kept by position). */
  private readonly burstAt: Array<{ h: CreditHandle; s: Slot }> = [];
  private readonly specs = new Map<string, CreditSpec>();
  private readonly pre: Required<PreemptionOptions>;
  private readonly recentSteps: number;
  private stepMs = 0;
  private evictBlockedUntilMs = -Infinity;
  /** Instances to reconcile at the first tick after a restore (running in the book, gone from the loop). */
  private reconcileAtFirstTick = false;
  /** Books of instances deleted while the service was down (terminated at the first tick). */
  private orphans: string[] = [];
  /** Predicted demand (quantile `preemption.level` of the next step) per forecast: a forecast lives several ticks. */
  private readonly predicted = new WeakMap<ProbForecast, number>();
  /** Per placed instance, for the pass over every instance each tick. */
  private readonly slots = new InstanceSlots<Slot>((id, m) => ({ m, id, lf: undefined, lfCpu: undefined, lfEpoch: -1, mult: undefined, bondAccount: account.bonds(id), bondUnits: 0, bondVersion: -1, qOf: null, q: NaN, hostId: null, host: undefined, seen: 0, usage: NaN }));
  private readonly latest = new LatestForecasts();
  /** Demand sums per host (reset each tick by their stamp). */
  private readonly hostNeeds = new Map<string, HostNeed>();
  private stamp = 0;

  constructor(
    ledger: Ledger,
    private readonly o: CreditsMarketOptions = {},
    stepMs = 300_000,
  ) {
    this.book = new CreditBook(ledger, o.book ?? {});
    this.multipliers = new PreemptionMultipliers({ horizonSteps: 3, floor: 50, ...(o.multiplier ?? {}) });
    const p = o.preemption ?? {};
    this.pre = {
      enabled: p.enabled ?? true,
      allowEvict: p.allowEvict ?? true,
      level: p.level ?? 0.9,
      holdSteps: p.holdSteps ?? 6,
      floorShare: p.floorShare ?? 0.25,
      evictBackoffSteps: p.evictBackoffSteps ?? 60,
    };
    this.stepMs = stepMs;
    this.recentSteps = Math.max(1, Math.ceil(3_600_000 / stepMs));
  }

  get classNames(): string[] {
    return [...this.book.classes.keys()];
  }

  // ------------------------------------------------------------------------------ lifecycle

  restore(saved: unknown, ctx: MarketRestoreContext): void {
    this.stepMs = ctx.stepMs;
    const s = saved as Partial<SavedState> | undefined;
    if (s && s.v === 1) {
      for (const e of s.book ?? []) {
        try {
          this.book.restoreState(e);
        } catch {
          // a class no longer configured: the instance is relaunched below if its labels still ask for one
        }
      }
      this.multipliers.restoreFactors(s.factors ?? {});
      for (const [id, c] of Object.entries(s.caps ?? {})) this.caps.set(id, c);
    }
    for (const m of ctx.instances.values()) this.sync(m, ctx.nowMs, false);
    const stored = new Set(ctx.storedInstances.map((i) => i.id));
    this.orphans = this.book.ids().filter((id) => !stored.has(id));
    this.reconcileAtFirstTick = true;
  }

  instanceUpserted(m: ManagedInstance, nowMs: number): void {
    this.sync(m, nowMs, true);
  }

  /** Brings the book in line with an instance's labels (launch, mode switch, start, or drop). */
  private sync(m: ManagedInstance, nowMs: number, moves: boolean): void {
    const id = m.state.id;
    const r = creditLabelsOf(m.labels, this.classNames);
    const spec = r.ok ? r.spec : undefined;
    if (!spec) {
      this.specs.delete(id);
      if (this.book.has(id) && moves) this.book.terminate(id, nowMs);
      return;
    }
    this.specs.set(id, spec);
    if (!this.book.has(id)) {
      this.book.launch(id, { tenant: m.tenant, className: spec.className, mode: spec.mode }, nowMs);
      return;
    }
    if (!moves) return;
    const st = this.book.state(id);
    if (st.cls.name !== spec.className) {
      // A new class: the old book ends (surplus charged, credits lost), the new one starts empty.
      this.book.terminate(id, nowMs);
      this.book.launch(id, { tenant: m.tenant, className: spec.className, mode: spec.mode }, nowMs);
      return;
    }
    if (st.mode !== spec.mode) this.book.setMode(id, spec.mode, nowMs);
    if (!st.running) this.book.start(id, nowMs);
  }

  instanceRemoved(id: string, cause: RemovalCause, nowMs: number): void {
    this.multipliers.forget(id);
    this.slots.delete(id);
    this.caps.delete(id);
    const x = this.recent.get(id);
    if (x) {
      x.dropped = true;
      this.ringFree.push(x.base);
    }
    this.recent.delete(id);
    this.specs.delete(id);
    if (!this.book.has(id)) return;
    if (cause === 'deleted' || cause === 'terminated') this.book.terminate(id, nowMs);
    else if (this.book.peek(id)!.running) this.book.stop(id, nowMs);
  }

  snapshot(): unknown {
    const book: CreditInstanceExport[] = this.book.ids().map((id) => this.book.exportState(id));
    const caps: Record<string, Caps> = {};
    for (const [id, c] of this.caps) caps[id] = c;
    const state: SavedState = { v: 1, book, factors: this.multipliers.exportFactors(), caps };
    return state;
  }

  // ------------------------------------------------------------------------------ tick

  tick(ctx: MarketTickContext, out: MarketTickOutput): void {
    this.stepMs = ctx.stepMs;
    const nowMs = ctx.nowMs;
    const metrics = this.o.metrics;
    this.latest.begin(ctx, this.slots);
    if (this.reconcileAtFirstTick) {
      this.reconcileAtFirstTick = false;
      for (const id of this.orphans) if (this.book.has(id)) this.book.terminate(id, nowMs);
      this.orphans = [];
      for (const id of this.book.ids()) {
        if (ctx.instances.has(id) || !this.book.peek(id)!.running) continue;
        this.book.stop(id, nowMs);
      }
    }
    const policyResize = new Map<string, number>();
    const migrating = new Set<string>();
    for (const a of ctx.plan.actions) {
      if (a.kind === 'resize') policyResize.set(a.instance, a.cpu);
      else if (a.kind === 'migrate') migrating.add(a.instance);
    }

    // 2. (before 1: it reads nothing the accruals change, and 1 finds the instances through it)
    // multipliers, and each host's observed and predicted demand (one pass)
    const level = this.pre.level;
    const enabled = this.pre.enabled;
    const ledger = this.book.ledger;
    const bondVersion = ledger.version('bond');
    const stamp = ++this.stamp;
    /** Hosts in the order their first resident was met (what the sums were kept in before). */
    const needs: HostNeed[] = [];
    let k = 0;
    // (forEach: a for-of over the map allocates an iterator result per instance here)
    ctx.instances.forEach((m, id) => {
      const hid = m.state.hostId;
      if (hid === null) return;
      const s = this.slots.at(k++, id, m);
      const usage = m.state.lastUsage.cpu;
      s.seen = stamp;
      s.usage = usage;
      this.latest.of(ctx, s, id);
      const f = s.lfCpu ?? ctx.forecasts.get(id)?.cpu ?? null;
      if (s.bondVersion !== bondVersion) {
        s.bondUnits = ledger.balance(s.bondAccount, 'bond');
        s.bondVersion = bondVersion;
      }
      // a NaN demand (no sample this tick) reads as "no current demand": the factor decays toward 1
      s.mult = this.multipliers.refreshRecord(id, s.mult, s.bondUnits, f, usage);
      if (!enabled) return;
      // demandOf, with the forecast's quantile kept per instance
      const alloc = m.state.allocation.cpu;
      let observed = Number.isFinite(usage) && usage > 0 ? usage : 0;
      let q = NaN;
      if (f) {
        if (s.qOf !== f) {
          s.qOf = f;
          s.q = quantileAt(f, level, 1);
        }
        q = s.q;
      }
      let predicted = Number.isFinite(q) && q > 0 ? q : observed;
      if (Number.isFinite(alloc)) {
        if (observed > alloc) observed = alloc;
        if (predicted > alloc) predicted = alloc;
      }
      let h = s.host;
      if (h === undefined || s.hostId !== hid) {
        h = this.hostNeeds.get(hid);
        if (!h) this.hostNeeds.set(hid, (h = { id: hid, observed: 0, predicted: 0, stamp: 0 }));
        s.hostId = hid;
        s.host = h;
      }
      if (h.stamp !== stamp) {
        h.stamp = stamp;
        h.observed = 0;
        h.predicted = 0;
        needs.push(h);
      }
      h.observed += observed;
      h.predicted += predicted;
    });
    this.slots.end(k);

    // 1. credits (the book's instances in launch order, held by handle: no lookup by id in the book)
    // (the pass over the instances came first: an instance placed now has a record seen at this tick)
    let b = 0;
    let j = 0;
    for (const h of this.book.handles()) {
      const id = h.id;
      const c = this.burstAt[j];
      let s: Slot | undefined;
      if (c !== undefined && c.h === h && c.s.m !== null) s = c.s;
      else {
        s = this.slots.get(id);
        if (s) this.burstAt[j] = { h, s };
      }
      j++;
      if (s === undefined || s.seen !== stamp) continue; // not in the loop, or not placed
      const m = s.m!;
      const st = h.state;
      if (!st.running) continue;
      const usage = s.usage;
      const demand = Number.isFinite(usage) && usage > 0 ? usage : 0;
      // the instance's last result is reused (the API reads the last step from it)
      const x = this.recentOf(b++, h);
      const r = this.book.accrueHandle(h, nowMs, ctx.stepMs, demand, x.last);
      if (!Number.isFinite(usage)) r.reasons.push(CR.NO_USAGE_SAMPLE);
      this.record(x, r);
      if (metrics) {
        metrics.creditsEarned.inc(r.earnedCredits);
        metrics.creditsSpent.inc(r.usedCredits);
        if (r.chargedMicros > 0) metrics.surplusChargedMicrocredits.inc(r.chargedMicros);
      }
      const caps = this.caps.get(id);
      if (st.mode === 'standard' && r.throttledMillicores > 0) {
        const cpu = Math.max(1, r.grantedMillicores);
        if (!caps?.credit) {
          const c = caps ?? { uncappedCpu: policyResize.get(id) ?? m.state.allocation.cpu };
          c.credit = { cpu, reasons: [CR.CREDIT_THROTTLE, ...r.reasons], sinceMs: nowMs };
          this.caps.set(id, c);
          out.event('credits', { instance: id, change: 'throttled', capMillicores: cpu, balanceMillicredits: r.balanceMillicredits, reasons: c.credit.reasons }, m.tenant);
        } else if (cpu < caps.credit.cpu) {
          caps.credit = { cpu, reasons: [CR.CREDIT_THROTTLE, ...r.reasons], sinceMs: caps.credit.sinceMs };
        }
      } else if (caps?.credit) {
        const lift = this.o.liftMillicredits ?? Math.ceil(((st.cls.maxMillicores - st.cls.baselineMillicores) * ctx.stepMs) / MCMS_PER_MILLICREDIT);
        if (st.mode === 'unlimited' || r.balanceMillicredits >= Math.min(lift, st.cls.capMillicredits)) {
          delete caps.credit;
          out.event('credits', { instance: id, change: 'restored', balanceMillicredits: r.balanceMillicredits, reasons: [CR.CREDITS_RESTORED, kv('balanceMillicredits', r.balanceMillicredits)] }, m.tenant);
          this.release(ctx, out, id, m, caps, [CR.CREDITS_RESTORED, kv('balanceMillicredits', r.balanceMillicredits), kv('liftMillicredits', lift)], policyResize, migrating);
        }
      }
    }

    if (this.recentAt.length > b) this.recentAt.length = b;
    if (this.burstAt.length > j) this.burstAt.length = j;

    // 3. preemption: ends of holds, then shortfalls
    for (const [id, c] of this.caps) {
      if (!c.preempt || c.preempt.untilMs > nowMs) continue;
      const m = ctx.instances.get(id);
      delete c.preempt;
      if (m) this.release(ctx, out, id, m, c, [CR.PREEMPTION_HOLD_ENDED], policyResize, migrating);
    }
    if (enabled) {
      const short: string[] = [];
      for (const h of needs) {
        const host = ctx.hosts.get(h.id);
        if (host && host.state.on && Math.max(h.observed, h.predicted) > host.state.capacity.cpu) short.push(h.id);
      }
      if (short.length > 0) this.preemptShortHosts(ctx, out, short, new Map(needs.map((h) => [h.id, h])), policyResize, migrating);
    }

    // caps in effect (the runtime lowers the planned resize, or adds one)
    let byCredits = 0;
    let byPreemption = 0;
    for (const [id, c] of this.caps) {
      if (!c.credit && !c.preempt) {
        this.caps.delete(id);
        continue;
      }
      if (!ctx.instances.has(id)) continue;
      const p = policyResize.get(id);
      if (p !== undefined && Number.isFinite(p)) c.uncappedCpu = p;
      const credit = c.credit?.cpu ?? Infinity;
      const pre = c.preempt?.cpu ?? Infinity;
      if (credit <= pre) {
        byCredits++;
        out.capCpu(id, credit, c.credit!.reasons);
      } else {
        byPreemption++;
        out.capCpu(id, pre, c.preempt!.reasons);
      }
    }
    metrics?.throttled.set({ cause: 'credits' }, byCredits);
    metrics?.throttled.set({ cause: 'preemption' }, byPreemption);
  }

  /** Gives the CPU back when the last cap ends: a resize to what it had, within its host's free CPU. */
  private release(ctx: MarketTickContext, out: MarketTickOutput, id: string, m: ManagedInstance, c: Caps, reasons: string[], policyResize: ReadonlyMap<string, number>, migrating: ReadonlySet<string>): void {
    if (c.credit || c.preempt) return; // another cap still holds
    this.caps.delete(id);
    if (policyResize.has(id) || migrating.has(id) || m.state.hostId === null) return; // the policy's own resize stands
    const current = m.state.allocation.cpu;
    const want = c.uncappedCpu;
    if (!(Number.isFinite(want) && want > current)) return;
    const free = this.hostFreeCpu(ctx, m.state.hostId);
    const to = Math.min(want, current + Math.max(0, free));
    if (!(to > current)) return;
    out.action(resize(id, to, NaN, [...reasons, kv('restoredMillicores', to)]));
  }

  /** Capacity minus the allocations on a host after the policy's planned resizes (migrations ignored: conservative). */
  private hostFreeCpu(ctx: MarketTickContext, hostId: string): number {
    const h = ctx.hosts.get(hostId);
    if (!h) return 0;
    const planned = new Map<string, number>();
    for (const a of ctx.plan.actions) if (a.kind === 'resize') planned.set(a.instance, a.cpu);
    let used = 0;
    for (const m of ctx.instances.values()) {
      if (m.state.hostId !== hostId) continue;
      const p = planned.get(m.state.id);
      const a = p !== undefined && Number.isFinite(p) ? p : m.state.allocation.cpu;
      if (Number.isFinite(a)) used += a;
    }
    for (const a of ctx.plan.actions) {
      if (a.kind === 'migrate' && a.to === hostId) {
        const m = ctx.instances.get(a.instance);
        if (m && m.state.hostId !== hostId && Number.isFinite(m.state.allocation.cpu)) used += m.state.allocation.cpu;
      }
    }
    return h.state.capacity.cpu - used;
  }

  private preemptShortHosts(
    ctx: MarketTickContext,
    out: MarketTickOutput,
    short: readonly string[],
    hostNeed: ReadonlyMap<string, { observed: number; predicted: number }>,
    policyResize: ReadonlyMap<string, number>,
    migrating: ReadonlySet<string>,
  ): void {
    const level = this.pre.level;
    const residents = new Map<string, ManagedInstance[]>(short.map((h) => [h, []]));
    for (const m of ctx.instances.values()) {
      const hid = m.state.hostId;
      if (hid !== null) residents.get(hid)?.push(m);
    }
    for (const hid of short) {
      const h = ctx.hosts.get(hid)!;
      const capacity = h.state.capacity.cpu;
      const { observed, predicted } = hostNeed.get(hid)!;
      const need = Math.max(observed, predicted);
      const shortfall = Math.ceil(need - capacity);
      const list = residents.get(hid)!;
      const hostReasons = [CR.HOST_SHORT, kv('host', hid), kv('capacityMillicores', capacity), kv('observedMillicores', Math.round(observed)), kv('predictedMillicores', Math.round(predicted)), kv('level', level)];
      const candidates: VictimCandidate[] = [];
      for (const m of list) {
        const id = m.state.id;
        if (m.priority === 'critical' || migrating.has(id)) continue;
        const d = demandOf(m, ctx.latestForecast(id)?.cpu ?? ctx.forecasts.get(id)?.cpu ?? null, level, this.predicted);
        const usage = Math.max(d.observed, d.predicted);
        if (!(usage > 0)) continue;
        candidates.push({ id, multiplier: this.multiplierOf(id).value, usageMillicores: usage, floorMillicores: this.floorOf(m) });
      }
      const allowEvict = this.pre.allowEvict && ctx.nowMs >= this.evictBlockedUntilMs;
      const sel = selectVictims(shortfall, candidates, { allowEvict });
      const usageOf = new Map(candidates.map((c) => [c.id, c]));
      for (const v of sel.victims) {
        const m = ctx.instances.get(v.id)!;
        const reasons = [...hostReasons, ...v.reasons, ...sel.reasons];
        this.o.metrics?.preemptions.inc({ action: v.action });
        out.event('preempted', { instance: v.id, host: hid, action: v.action, multiplier: v.multiplier, reclaimMillicores: v.reclaimMillicores, priority: m.priority as Priority, reasons }, m.tenant);
        if (v.action === 'throttle') {
          const c = usageOf.get(v.id)!;
          const cpu = Math.max(c.floorMillicores, Math.floor(c.usageMillicores - v.reclaimMillicores));
          const caps = this.caps.get(v.id) ?? { uncappedCpu: policyResize.get(v.id) ?? m.state.allocation.cpu };
          caps.preempt = { cpu, untilMs: ctx.nowMs + this.pre.holdSteps * ctx.stepMs, reasons: [CR.PREEMPTION_THROTTLE, ...reasons], sinceMs: ctx.nowMs };
          this.caps.set(v.id, caps);
        } else {
          const action: Action = preempt(v.id, [CR.PREEMPTION_EVICT, ...reasons]);
          out.action(action, {
            onFailed: (error) => {
              // A driver that cannot stop instances: no evictions for a while (throttling goes on).
              this.evictBlockedUntilMs = ctx.nowMs + this.pre.evictBackoffSteps * ctx.stepMs;
              out.event('market', { market: CREDITS_COMPONENT, instance: v.id, change: CR.EVICTION_REFUSED, error }, m.tenant);
            },
          });
        }
      }
    }
  }

  private floorOf(m: ManagedInstance): number {
    const id = m.state.id;
    const st = this.book.peek(id);
    if (st) return st.cls.baselineMillicores;
    return Math.floor(this.pre.floorShare * m.request.cpuMillicores);
  }

  /** The Recent of the b-th accrual of this tick (kept by position, checked by handle, as InstanceSlots). */
  private recentOf(b: number, h: CreditHandle): Recent {
    const c = this.recentAt[b];
    if (c !== undefined && c.h === h && !c.x.dropped) return c.x;
    const id = h.id;
    let x = this.recent.get(id);
    if (!x) this.recent.set(id, (x = { base: this.ringBlock(), next: 0, steps: 0, dropped: false }));
    this.recentAt[b] = { h, x };
    return x;
  }

  /** A zeroed window of 2 x recentSteps figures in `ring` (instances accrue in the order they got theirs: mostly one sweep through it). */
  private ringBlock(): number {
    const w = 2 * this.recentSteps;
    const free = this.ringFree.pop();
    if (free !== undefined) {
      this.ring.fill(0, free, free + w);
      return free;
    }
    const base = this.ringTop;
    this.ringTop += w;
    if (this.ring.length < this.ringTop) {
      const grown = new Float64Array(Math.max(this.ringTop, 2 * this.ring.length, 64 * w));
      grown.set(this.ring);
      this.ring = grown;
    }
    return base;
  }

  private record(x: Recent, r: AccrualResult): void {
    this.ring[x.base + x.next] = r.earnedCredits;
    this.ring[x.base + this.recentSteps + x.next] = r.usedCredits;
    x.next = (x.next + 1) % this.recentSteps;
    x.steps = Math.min(this.recentSteps, x.steps + 1);
    x.last = r;
  }

  // ------------------------------------------------------------------------------ reads (API)

  bondUnits(id: string): number {
    return this.book.ledger.balance(account.bonds(id), 'bond');
  }

  /** The instance's multiplier now: base of its bonding units now x its smoothed factor, clamped. */
  multiplierOf(id: string): MultiplierView {
    const o = this.multipliers.options;
    const units = this.bondUnits(id);
    const base = baseMultiplier(units, o);
    const factor = this.multipliers.factorOf(id) ?? 1;
    const d: MultiplierDecision | undefined = this.multipliers.explain(id);
    let value = base * factor;
    const reasons = d ? d.reasons.slice() : [MR.BOND_MULTIPLIER, kv('bondUnits', units), kv('base', base), MR.NO_FORECAST];
    if (d && d.bondUnits !== units) reasons.push(MR.BONDED, kv('bondUnitsNow', units), kv('baseNow', base));
    if (value < o.min) value = o.min;
    else if (value > o.max) value = o.max;
    return {
      value,
      base,
      bondUnits: units,
      factor,
      rawFactor: d ? d.rawFactor : null,
      relativeChange: d ? d.relativeChange : null,
      min: o.min,
      max: o.max,
      level: o.level,
      horizonSteps: o.horizonSteps ?? null,
      reasons,
      basis: `clamp(base(bonding units) x smoothed predictive factor, [${o.min}, ${o.max}]); base table 0 BU x${o.unbonded}, ${o.table.map((v, i) => `${i + 1} BU x${v}`).join(', ')} (then ${o.extend}); factor from the CPU forecast's q${o.level} over ${o.horizonSteps ?? 'its'} steps vs current demand, smoothed (alpha ${o.alpha})`,
    };
  }

  credits(id: string): CreditsView | undefined {
    if (!this.book.has(id)) return undefined;
    const s = this.book.state(id);
    const cls: CompiledClass = s.cls;
    const c = this.caps.get(id);
    let throttle: CreditsView['throttle'] = null;
    if (c?.credit || c?.preempt) {
      const credit = c.credit?.cpu ?? Infinity;
      const pre = c.preempt?.cpu ?? Infinity;
      throttle = credit <= pre ? { capMillicores: credit, cause: 'credits', reasons: c.credit!.reasons, sinceMs: c.credit!.sinceMs } : { capMillicores: pre, cause: 'preemption', reasons: c.preempt!.reasons, sinceMs: c.preempt!.sinceMs };
    }
    const r = this.recent.get(id);
    let earned = 0;
    let used = 0;
    if (r) for (let k = 0; k < r.steps; k++) {
      earned += this.ring[r.base + k]!;
      used += this.ring[r.base + this.recentSteps + k]!;
    }
    return {
      className: cls.name,
      mode: s.mode,
      running: s.running,
      vcpus: cls.vcpus,
      baselinePercent: cls.baselinePercent,
      baselineMillicores: cls.baselineMillicores,
      creditsPerHour: cls.creditsPerHour,
      maxEarnedCredits: cls.maxEarnedCredits,
      balanceMillicredits: s.balanceMillicredits,
      surplusMillicredits: s.surplusMillicredits,
      bondUnits: s.bondUnits,
      throttle,
      recent: {
        steps: r?.steps ?? 0,
        windowMs: (r?.steps ?? 0) * this.stepMs,
        earnedCredits: round6(earned),
        spentCredits: round6(used),
        lastStep: r?.last ? { demandMillicores: r.last.demandMillicores, grantedMillicores: r.last.grantedMillicores, throttledMillicores: r.last.throttledMillicores, reasons: r.last.reasons.slice() } : null,
      },
    };
  }

  /** Whether the instance has a credit book (a credit class). */
  has(id: string): boolean {
    return this.book.has(id);
  }

  /** Bonds `units` (called inside MarketRuntime.operate). */
  bond(id: string, units: number, nowMs: number): BondResult {
    const r = this.book.bond(id, units, nowMs);
    if (r.ok) this.o.metrics?.bonds.inc(units);
    return r;
  }
}

/** An instance's CPU demand on its host: observed and predicted (quantile `level`, next step), each capped by its allocation. */
function demandOf(m: ManagedInstance, f: ProbForecast | null, level: number, cache?: WeakMap<ProbForecast, number>): { observed: number; predicted: number } {
  const alloc = m.state.allocation.cpu;
  const u = m.state.lastUsage.cpu;
  let observed = Number.isFinite(u) && u > 0 ? u : 0;
  let q = NaN;
  if (f) {
    const c = cache?.get(f);
    if (c !== undefined) q = c;
    else {
      q = quantileAt(f, level, 1);
      cache?.set(f, q);
    }
  }
  let predicted = Number.isFinite(q) && q > 0 ? q : observed;
  if (Number.isFinite(alloc)) {
    if (observed > alloc) observed = alloc;
    if (predicted > alloc) predicted = alloc;
  }
  return { observed, predicted };
}

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

/** Credits as a decimal number from milli-credits. */
export const credits = (millicredits: number): number => millicredits / MILLICREDITS_PER_CREDIT;
