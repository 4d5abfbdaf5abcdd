// The live spot auction: SpotMarket (src/policy/markets/auction.ts) run by the control loop as a
// market component (src/server/markets/types.ts), every `everyTicks` ticks (default every tick),
// in market model time (ctx.nowMs: stepSeconds per tick, persisted across restarts).
//
// A round:
//   1. bids: the open bids of the store (read between ticks, plus those the API just accepted)
//      with their profiles become auction bids (auction-bids.ts). A bid that cannot enter is
//      rejected with the reason (a profile without a penalty for an uninterruptible workload, a
//      bid naming an existing instance, an id already used by another tenant's instance). A bid
//      whose tenant's money (`tenant:<tenant>`) does not cover one round of its price waits
//      outside the auction (reason `insufficient-funds`).
//   2. hosts and residents: every host at its capacity (0 while powered off); every instance the
//      auction did not admit counts on its host with its forecast (else its last usage, else its
//      allocation) as load that is never billed or displaced; spot instances the policy migrated
//      move with them. Runtime feedback: the forecasts and last usage of the spot instances.
//   3. SpotMarket.round: billing (price x time, exact to the microcredit, tenant -> market
//      revenue), notices that ran out, candidates, admission in score order, displacement.
//   4. results become real through the tick's plan:
//      - admitted: the instance (id = the bid's id, allocation = the profile's admission quantile,
//        labels prescient.io/market=spot and prescient.io/bid) joins the simulated world and a
//        `migrate(id, '', host)` places it through the driver; when the plan applied, the store
//        gets the instance (running on that host) and the bid 'accepted' in the tick's commit,
//        and the loop's model the instance from the next tick. An admission is undone (the bid
//        waits, reason `no-allocation-room`) when its allocation does not fit the host's
//        unallocated capacity after the tick's plan (the driver's rule without overcommit);
//      - notices: a `preemption-notice` event to the owner (deadline in market time and an
//        estimate in wall time), and the instance stops with a `preempt` action when it passes;
//      - uninterruptible victims: the penalty (fee to the victim's tenant, priority reduction to
//        `system:priority-penalties`) is booked in the round's ledger moves and the victim stops
//        with a `preempt` action: the rows and the instance's 'preempted' state commit together;
//      - expired bids: 'expired'.
//   Every decision has an audit entry with its reasons. When the plan fails (the driver refused an
//   action), the whole round is undone: the market is rebuilt from its state before the round,
//   the round's ledger moves are reversed (entries of kind 'auction-rollback'), and only an audit
//   entry saying so is written.
// State (`market:auction`): running spot instances with their billing position and notice,
// pending bids with the victims they wait for, the last summary. Balances come from the store.
import { Counter, type Registry } from 'prom-client';
import type { Priority } from '../../core/model.js';
import { migrate, preempt, type Action, type Plan } from '../../core/plan.js';
import { vec } from '../../core/resources.js';
import { ALL_TENANTS, type BidRecord, type InstanceRecord, type ProfileRecord, type Store } from '../../core/store.js';
import type { ProbForecast } from '../../forecast/types.js';
import { compileAuctionOptions, SpotMarket, type AuctionOptions, type AuctionRoundResult, type Bid, type CompiledAuctionOptions, type Demand, type RunningCheckpoint, type RunningExport } from '../../policy/markets/auction.js';
import { account, SYSTEM, type JournalEntry, type Ledger } from '../../policy/markets/ledger.js';
import { kv } from '../../policy/markets/reasons.js';
import type { ManagedInstance } from '../control-loop.js';
import { auctionBid, bidFromJson, bidToJson, flatDemand, spotAllocation, type BidJson } from './auction-bids.js';
import { InstanceSlots, LatestForecasts, type ForecastSlot } from './instance-slots.js';
import type { MarketAudit, MarketComponent, MarketRestoreContext, MarketTickContext, MarketTickOutput, RemovalCause, StoreWrite } from './types.js';
import type { EventType } from '../events.js';

export const AUCTION_COMPONENT = 'auction';
export const SPOT_MARKET_LABEL = 'prescient.io/market';
export const SPOT_BID_LABEL = 'prescient.io/bid';

export interface AuctionComponentOptions {
  store: Store;
  /** SpotMarket options (weights, admission level, notice, minimum runtime...). */
  auction?: AuctionOptions;
  /** Run a round every this many ticks (default 1). */
  everyTicks?: number;
  /** Prometheus registry for the auction's metrics. */
  registry?: Registry;
  onError?: (err: unknown, where: string) => void;
  /** Decided bids remembered for GET /v1/bids/:id (default 10,000). */
  rememberDecided?: number;
}

/** What the component needs from the loop and the world (bound by the service). */
export interface AuctionBindings {
  /** An admitted instance joins the loop's model (applied at the start of the next tick). */
  upsertInstance(rec: InstanceRecord): void;
  /** The simulated world, when there is one: the instance must exist there before the driver places it. */
  world?: { addInstance(rec: InstanceRecord): void; removeInstance(id: string): void };
  /** Wall ms per market ms (tickMs / stepMs), for the notice deadline estimate in wall time. */
  wallPerMarketMs?: number;
}

/** The auction's view of a bid, for GET /v1/bids/:id. */
export interface BidAuctionInfo {
  /** 'waiting' (in the auction), 'held' (outside it: funds), or the decision. */
  status: 'waiting' | 'held' | 'accepted' | 'expired' | 'rejected' | 'cancelled';
  /** Market time and tick of the last round that looked at the bid. */
  lastRoundAtMs: number | null;
  tick: number | null;
  /** Value (price and priority in score units), score on its best host and that host's interference. */
  value: number | null;
  score: number | null;
  interference: number | null;
  hostId: string | null;
  /** Why it waits (or why it was decided so). */
  reasons: string[];
  instanceId: string | null;
}

export interface AuctionSummary {
  round: number;
  tick: number;
  /** Market time of the round. */
  nowMs: number;
  atMs: number;
  admitted: Array<{ bidId: string; instanceId: string; tenant: string; hostId: string; score: number; interference: number; priceMicrocreditsPerHour: number }>;
  pending: Array<{ bidId: string; tenant: string; status: 'waiting' | 'held'; score: number | null; interference: number | null; hostId: string | null; reasons: string[] }>;
  expired: Array<{ bidId: string; tenant: string }>;
  rejected: Array<{ bidId: string; tenant: string; reasons: string[] }>;
  notices: Array<{ instanceId: string; tenant: string; hostId: string; stopAtMs: number; reasons: string[] }>;
  stopped: Array<{ instanceId: string; tenant: string; hostId: string; reasons: string[] }>;
  penalties: Array<{ instanceId: string; victimTenant: string; payer: string; feeMicrocredits: number; priorityReductionMilli: number; reasons: string[] }>;
  candidates: Array<{ instanceId: string; tenant: string; reasons: string[] }>;
  /** Billed this round (microcredits). */
  revenueMicrocredits: number;
  /** Everything the market has billed (the balance of system:market-revenue). */
  revenueTotalMicrocredits: number;
  runningSpot: number;
  /** Set when the round was undone because the tick's plan failed. */
  rolledBack?: string;
}

/** A resident the auction counts but does not own. */
interface Background {
  hostId: string;
  forecastAtMs: number;
  seenRound: number;
  /** False once it left `background` (a kept reference is then stale). */
  alive: boolean;
}

interface OpenBid {
  bidId: string;
  tenant: string;
  profileId: string;
  /** The bid's priority class (the spot instance gets it). */
  priority: Priority;
  /** The auction bid (undefined until converted). */
  bid?: Bid;
  rec?: BidRecord;
  profile?: ProfileRecord;
  addedSeq: number;
  inMarket: boolean;
  info: BidAuctionInfo;
  /** First reason of the last audited pending state (audit once per change). */
  audited?: string;
}

interface Decided {
  state: 'accepted' | 'expired' | 'rejected' | 'cancelled';
  tenant: string;
  info: BidAuctionInfo;
}

interface SpotInstance {
  bidId: string;
  tenant: string;
  hostId: string;
  /** The profile's demand (what runtime forecasts replace per resource). */
  profile: Demand;
  /** Placed through the plan, but not in the loop's model yet (from the next tick). */
  arriving: boolean;
}

interface SavedState {
  v: 1;
  running: Array<Omit<RunningExport, 'bid'> & { bid: BidJson }>;
  pending: Array<{ bid: BidJson; waitingFor: string[]; profileId: string; priority?: Priority; info?: BidAuctionInfo }>;
  summary?: AuctionSummary;
}

interface Effects {
  apply: Array<() => void>;
  audits: MarketAudit[];
  events: Array<{ type: EventType; data: Record<string, unknown>; tenant?: string }>;
  writes: StoreWrite[];
  /** Only when the plan applied (the loop's model learns the new instances). */
  afterApply: Array<() => void>;
}

const emptyEffects = (): Effects => ({ apply: [], audits: [], events: [], writes: [], afterApply: [] });

class AuctionMetrics {
  readonly rounds: Counter<string>;
  readonly decisions: Counter<'kind'>;
  readonly revenue: Counter<string>;
  constructor(registry: Registry) {
    const registers = [registry];
    this.rounds = new Counter({ name: 'prescient_auction_rounds_total', help: 'Spot auction rounds run', registers });
    this.decisions = new Counter({ name: 'prescient_auction_decisions_total', help: 'Spot auction decisions by kind (admitted, expired, rejected, notice, stopped, penalty, rolled_back)', labelNames: ['kind'], registers });
    this.revenue = new Counter({ name: 'prescient_auction_revenue_microcredits_total', help: 'Money billed to running spot instances (price x time), microcredits', registers });
  }
}

/** A Ledger that forwards to the runtime's and keeps the entries it committed (to undo a round). */
function recordingLedger(real: Ledger, sink: () => JournalEntry[] | null): Ledger {
  const keep = (r: ReturnType<Ledger['commit']>) => {
    if (r.ok) sink()?.push(r.entry);
    return r;
  };
  const proxy = {
    balance: (a: string, asset: Parameters<Ledger['balance']>[1]) => real.balance(a, asset),
    begin: (...args: Parameters<Ledger['begin']>) => real.begin(...args),
    commit: (tx: Parameters<Ledger['commit']>[0]) => keep(real.commit(tx)),
    transfer: (...args: Parameters<Ledger['transfer']>) => keep(real.transfer(...args)),
    total: (asset: Parameters<Ledger['total']>[0]) => real.total(asset),
    accounts: (asset: Parameters<Ledger['accounts']>[0]) => real.accounts(asset),
  };
  return proxy as unknown as Ledger;
}

export class AuctionComponent implements MarketComponent {
  readonly name = AUCTION_COMPONENT;
  readonly options: CompiledAuctionOptions;
  readonly everyTicks: number;
  private bindings: AuctionBindings | undefined;
  private market: SpotMarket | undefined;
  private ledger: Ledger | undefined;
  private journal: JournalEntry[] | null = null;
  private saved: SavedState | undefined;
  private readonly open = new Map<string, OpenBid>();
  private readonly decided = new Map<string, Decided>();
  private readonly spot = new Map<string, SpotInstance>();
  /** Residents the auction counts but does not own: instance -> host, and the forecast time last passed. */
  private readonly background = new Map<string, Background>();
  /** Per instance of the loop, its background record (for the pass over every instance each round). */
  private readonly slots = new InstanceSlots<ForecastSlot & { bg: Background | undefined }>((_id, m) => ({ m, bg: undefined, lf: undefined, lfCpu: undefined, lfEpoch: -1 }));
  private readonly latest = new LatestForecasts();
  /** Instance ids the store knows, with their tenant (an admission may not take another tenant's id). */
  private readonly ids = new Map<string, string>();
  private readonly forecastAt = new Map<string, number>();
  private inbox: Array<{ rec: BidRecord; profile: ProfileRecord }> = [];
  private seq = 0;
  private refreshing: Promise<void> | null = null;
  private refreshed: { startSeq: number; bids: BidRecord[]; profiles: Map<string, ProfileRecord> } | null = null;
  private ticks = 0;
  private rounds = 0;
  private dirty = false;
  private lastSummary: AuctionSummary | undefined;
  private readonly metrics: AuctionMetrics | undefined;

  constructor(private readonly o: AuctionComponentOptions) {
    this.options = compileAuctionOptions(o.auction ?? {});
    this.everyTicks = o.everyTicks ?? 1;
    if (!(Number.isInteger(this.everyTicks) && this.everyTicks >= 1)) throw new RangeError(`auction everyTicks must be an integer >= 1, got ${this.everyTicks}`);
    this.metrics = o.registry ? new AuctionMetrics(o.registry) : undefined;
  }

  bind(b: AuctionBindings): void {
    this.bindings = b;
  }

  // ------------------------------------------------------------------------------ API

  /** A bid the API just stored: it enters the next round (no need to wait for the store refresh). */
  bidSubmitted(rec: BidRecord, profile: ProfileRecord): void {
    this.inbox.push({ rec, profile });
  }

  /** The auction's view of a bid (undefined: the auction has not seen it yet). */
  bidInfo(bidId: string): BidAuctionInfo | undefined {
    return this.open.get(bidId)?.info ?? this.decided.get(bidId)?.info;
  }

  /** Whether a bid may still be cancelled: 'open' (yes), 'decided' (with the decision), or 'unknown' (not seen yet: the store decides). */
  bidStatus(bidId: string): { kind: 'open' } | { kind: 'decided'; state: Decided['state'] } | { kind: 'unknown' } {
    if (this.open.has(bidId)) return { kind: 'open' };
    const d = this.decided.get(bidId);
    if (d) return { kind: 'decided', state: d.state };
    return { kind: 'unknown' };
  }

  /**
   * A bid cancelled through the API (call it between ticks, after the store was changed): it leaves
   * the auction. Returns false when the auction had already decided it.
   */
  cancelled(bidId: string, tenant: string, reasons: string[]): boolean {
    if (this.decided.has(bidId) && this.decided.get(bidId)!.state !== 'cancelled') return false;
    this.market?.cancel(bidId);
    const prev = this.open.get(bidId);
    this.open.delete(bidId);
    this.inbox = this.inbox.filter((x) => x.rec.id !== bidId);
    this.remember(bidId, { state: 'cancelled', tenant, info: { ...(prev?.info ?? emptyInfo()), status: 'cancelled', reasons } });
    this.dirty = true;
    return true;
  }

  /** The last round's summary (undefined before the first round). */
  summary(): AuctionSummary | undefined {
    return this.lastSummary;
  }

  /** Spot instances running now: instance -> bid, tenant, host. */
  runningSpot(): Array<{ instanceId: string; bidId: string; tenant: string; hostId: string }> {
    return [...this.spot].map(([id, s]) => ({ instanceId: id, bidId: s.bidId, tenant: s.tenant, hostId: s.hostId }));
  }

  // ------------------------------------------------------------------------------ MarketComponent

  restore(saved: unknown, ctx: MarketRestoreContext): void {
    const s = saved as SavedState | undefined;
    this.saved = s && s.v === 1 && Array.isArray(s.running) && Array.isArray(s.pending) ? s : undefined;
    if (this.saved?.summary) this.lastSummary = this.saved.summary;
    for (const r of ctx.storedInstances) this.ids.set(r.id, r.tenant);
  }

  instanceUpserted(m: ManagedInstance): void {
    this.ids.set(m.state.id, m.tenant);
    const s = this.spot.get(m.state.id);
    if (s) s.arriving = false;
  }

  instanceRemoved(id: string, cause: RemovalCause, nowMs: number): void {
    const s = this.spot.get(id);
    if (s) {
      // left outside the auction (deleted, stopped, preempted by another market): billed up to now
      if (this.market?.isRunning(id)) {
        if (cause === 'deleted' || cause === 'stopped' || cause === 'terminated' || cause === 'preempted') this.market.finish(id, nowMs);
      }
      this.spot.delete(id);
      this.dirty = true;
    }
    const bg = this.background.get(id);
    if (bg) {
      bg.alive = false;
      this.background.delete(id);
      this.market?.remove(id);
    }
    this.slots.delete(id);
    this.forecastAt.delete(id);
  }

  snapshot(): unknown {
    if (!this.dirty || !this.market) return undefined;
    this.dirty = false;
    const running = this.market.exportRunning().filter((r) => this.spot.has(r.bid.id)).map((r) => ({ ...r, bid: bidToJson(r.bid) }));
    const pending = this.market.exportPending().map((p) => {
      const ob = this.open.get(p.bid.id);
      return { bid: bidToJson(p.bid), waitingFor: p.waitingFor, profileId: ob?.profileId ?? '', priority: ob?.priority ?? 'normal', ...(ob ? { info: ob.info } : {}) };
    });
    const state: SavedState = { v: 1, running, pending, ...(this.lastSummary ? { summary: this.lastSummary } : {}) };
    return state;
  }

  tick(ctx: MarketTickContext, out: MarketTickOutput): void {
    this.ticks++;
    this.latest.begin(ctx, this.slots);
    this.ensureMarket(ctx);
    this.mergeBids();
    if ((this.ticks - 1) % this.everyTicks === 0) this.runRound(ctx, out);
    this.startRefresh();
  }

  // ------------------------------------------------------------------------------ the round

  private ensureMarket(ctx: MarketTickContext): void {
    if (this.market) return;
    this.ledger = ctx.ledger;
    this.market = new SpotMarket([], recordingLedger(ctx.ledger, () => this.journal), this.o.auction ?? {});
    this.syncHosts(ctx);
    const s = this.saved;
    this.saved = undefined;
    if (!s) return;
    for (const r of s.running) {
      const m = ctx.instances.get(r.bid.id);
      if (!m || m.state.hostId === null) continue; // gone while the service was down
      const hostId = m.state.hostId;
      try {
        const bid = bidFromJson(r.bid);
        this.market.adopt({ ...r, bid, hostId });
        this.spot.set(r.bid.id, { bidId: r.bid.id, tenant: r.bid.tenant, hostId, profile: bid.profile, arriving: false });
      } catch (err) {
        this.o.onError?.(err, 'auction restore');
      }
    }
    for (const p of s.pending) {
      try {
        const bid = bidFromJson(p.bid);
        this.market.restorePending(bid, p.waitingFor);
        this.open.set(bid.id, { bidId: bid.id, tenant: bid.tenant, profileId: p.profileId, priority: p.priority ?? 'normal', bid, addedSeq: this.seq++, inMarket: true, info: p.info ?? { ...emptyInfo(), status: 'waiting' } });
      } catch (err) {
        this.o.onError?.(err, 'auction restore');
      }
    }
    this.dirty = true;
  }

  /** Every host at its capacity; 0 while it is off or the tick's plan powers it off. */
  private syncHosts(ctx: MarketTickContext): void {
    const market = this.market!;
    const powered = new Map<string, boolean>();
    for (const a of ctx.plan.actions) if (a.kind === 'power') powered.set(a.host, a.on);
    for (const [id, h] of ctx.hosts) {
      const c = h.record.capacity;
      const cap = (powered.get(id) ?? h.state.on) ? { cpu: h.state.capacity.cpu, memory: h.state.capacity.memory, network: c.networkKiBps ?? 0 } : { cpu: 0, memory: 0, network: 0 };
      if (!market.hasHost(id)) market.addHost({ id, capacity: cap });
      else market.setHostCapacity(id, cap);
    }
  }

  /** Bids from the API and from the last store refresh join the open set. */
  private mergeBids(): void {
    for (const { rec, profile } of this.inbox) this.addOpen(rec, profile);
    this.inbox = [];
    const r = this.refreshed;
    if (!r) return;
    this.refreshed = null;
    const openIds = new Set<string>();
    for (const b of r.bids) {
      openIds.add(b.id);
      if (this.decided.has(b.id) || this.open.has(b.id)) continue;
      const p = r.profiles.get(b.profileId);
      if (p) this.addOpen(b, p);
      else this.addOpen(b, undefined);
    }
    // open in memory, closed in the store by someone else: it leaves the auction
    for (const [id, ob] of [...this.open]) {
      if (ob.addedSeq < r.startSeq && !openIds.has(id)) {
        this.market?.cancel(id);
        this.open.delete(id);
        this.dirty = true;
      }
    }
  }

  private addOpen(rec: BidRecord, profile: ProfileRecord | undefined): void {
    if (this.open.has(rec.id) || this.decided.has(rec.id) || rec.state !== 'open') return;
    this.open.set(rec.id, { bidId: rec.id, tenant: rec.tenant, profileId: rec.profileId, priority: rec.priority, rec, ...(profile ? { profile } : {}), addedSeq: this.seq++, inMarket: false, info: { ...emptyInfo(), status: 'waiting' } });
    this.dirty = true;
  }

  private startRefresh(): void {
    if (this.refreshing) return;
    const store = this.o.store;
    const startSeq = this.seq;
    this.refreshing = (async () => {
      const bids = await store.listBids(ALL_TENANTS, { state: 'open' });
      const profiles = new Map<string, ProfileRecord>();
      for (const b of bids) {
        if (this.open.has(b.id) || this.decided.has(b.id) || profiles.has(b.profileId)) continue;
        const p = await store.getProfile(ALL_TENANTS, b.profileId);
        if (p) profiles.set(p.id, p);
      }
      this.refreshed = { startSeq, bids, profiles };
    })()
      .catch((err) => this.o.onError?.(err, 'auction refresh'))
      .finally(() => {
        this.refreshing = null;
      });
  }

  /** Waits for a store refresh in flight (tests). */
  async settled(): Promise<void> {
    while (this.refreshing) await this.refreshing;
  }

  /** Residents the auction does not own count with their forecasts; spot instances follow migrations. */
  private syncResidents(ctx: MarketTickContext): Map<string, Demand> {
    const market = this.market!;
    const forecasts = new Map<string, Demand>();
    // residents seen this round carry its number (no set of every id each round)
    const stamp = this.rounds;
    let seen = 0;
    const spot = this.spot;
    let k = 0;
    // (forEach: a for-of over the map allocates an iterator result per instance here)
    ctx.instances.forEach((m) => {
      const id = m.state.id;
      const hostId = m.state.hostId;
      const slot = this.slots.at(k++, id, m);
      const s = spot.size > 0 ? spot.get(id) : undefined;
      if (s) {
        if (hostId !== null && hostId !== s.hostId && market.isRunning(id)) {
          market.move(id, hostId);
          s.hostId = hostId;
          this.dirty = true;
        }
        const f = this.latest.of(ctx, slot, id);
        if (f && (f.cpu || f.memory) && this.forecastAt.get(id) !== f.madeAtMs) {
          this.forecastAt.set(id, f.madeAtMs);
          const p = s.profile;
          forecasts.set(id, { cpu: f.cpu ?? p.cpu, memory: f.memory ?? p.memory, ...(p.network ? { network: p.network } : {}) });
        }
        return;
      }
      if (hostId === null) return;
      seen++;
      let bg = slot.bg;
      if (bg === undefined || !bg.alive) bg = slot.bg = this.background.get(id);
      const f = this.latest.of(ctx, slot, id);
      if (!bg) {
        const fAt = f && (f.cpu || f.memory) ? f.madeAtMs : -1;
        market.adopt({ bid: residentBid(m, residentDemand(m, f?.cpu, f?.memory)), hostId, startedAtMs: ctx.nowMs, billedToMs: ctx.nowMs, billCarry: 0, notice: null });
        const nb: Background = { hostId, forecastAtMs: fAt, seenRound: stamp, alive: true };
        this.background.set(id, nb);
        slot.bg = nb;
        return;
      }
      bg.seenRound = stamp;
      if (bg.hostId !== hostId) {
        market.move(id, hostId);
        bg.hostId = hostId;
      }
      // a forecast the record held already: its time was passed at the record's last read
      if (!this.latest.looked) return;
      const fAt = f && (f.cpu || f.memory) ? f.madeAtMs : -1;
      if (fAt !== bg.forecastAtMs) {
        bg.forecastAtMs = fAt;
        forecasts.set(id, residentDemand(m, f?.cpu, f?.memory));
      }
    });
    this.slots.end(k);
    if (seen !== this.background.size) {
      for (const [id, bg] of this.background) {
        if (bg.seenRound === stamp) continue;
        bg.alive = false;
        this.background.delete(id);
        market.remove(id);
      }
    }
    return forecasts;
  }

  private runRound(ctx: MarketTickContext, out: MarketTickOutput): void {
    const market = this.market!;
    const ledger = this.ledger!;
    this.rounds++;
    const round = this.rounds;
    this.syncHosts(ctx);
    const forecasts = this.syncResidents(ctx);
    const fx = emptyEffects();
    const summary: AuctionSummary = {
      round,
      tick: ctx.tick,
      nowMs: ctx.nowMs,
      atMs: ctx.wallMs,
      admitted: [],
      pending: [],
      expired: [],
      rejected: [],
      notices: [],
      stopped: [],
      penalties: [],
      candidates: [],
      revenueMicrocredits: 0,
      revenueTotalMicrocredits: 0,
      runningSpot: 0,
    };
    // 1. bids into the auction (or rejected, or held for funds)
    const roundMs = ctx.stepMs * this.everyTicks;
    const newBids: Bid[] = [];
    const entered: OpenBid[] = [];
    for (const ob of this.open.values()) {
      if (!ob.bid) {
        const why = this.admissible(ob, ctx);
        if (why) {
          this.reject(ob, why, summary, fx, ctx);
          continue;
        }
      }
      const bid = ob.bid!;
      const need = Math.ceil((bid.priceMicrosPerHour * roundMs) / 3_600_000);
      const have = ledger.balance(account.tenant(ob.tenant), 'money');
      if (have < need) {
        if (ob.inMarket) {
          market.cancel(ob.bidId);
          ob.inMarket = false;
        }
        const reasons = ['insufficient-funds', kv('balanceMicrocredits', have), kv('neededMicrocredits', need), kv('account', account.tenant(ob.tenant))];
        ob.info = { ...ob.info, status: 'held', lastRoundAtMs: ctx.nowMs, tick: ctx.tick, reasons };
        this.auditPending(ob, fx, ctx);
        continue;
      }
      if (!ob.inMarket) {
        newBids.push(bid);
        entered.push(ob);
      }
    }
    // 2. the round, undoable
    const before = { running: market.checkpointRunning(), pending: market.exportPending(), hosts: market.hostIds() };
    const enteredBefore = entered.map((ob) => ob.inMarket);
    for (const ob of entered) ob.inMarket = true;
    const observed = new Map<string, { cpu?: number; memory?: number }>();
    for (const id of this.spot.keys()) {
      const m = ctx.instances.get(id);
      if (!m) continue;
      const u = m.state.lastUsage;
      const o: { cpu?: number; memory?: number } = {};
      if (Number.isFinite(u.cpu)) o.cpu = u.cpu;
      if (Number.isFinite(u.memory)) o.memory = u.memory;
      observed.set(id, o);
    }
    this.journal = [];
    let res: AuctionRoundResult;
    try {
      res = market.round(ctx.nowMs, { bids: newBids, ...(forecasts.size > 0 ? { forecasts } : {}), observed });
    } catch (err) {
      const journal = this.journal;
      this.journal = null;
      this.undo(before, journal, ctx);
      entered.forEach((ob, k) => (ob.inMarket = enteredBefore[k]!));
      this.o.onError?.(err, 'auction round');
      out.audit({ action: { kind: 'auction-round', round, tick: ctx.tick }, reasons: ['auction-round-failed'], result: 'failed', error: err instanceof Error ? err.message : String(err) });
      return;
    }
    const journal = this.journal;
    this.journal = null;
    this.metrics?.rounds.inc();
    const actions: Action[] = [];
    const created: string[] = [];
    // the room after the plan (a pass over every instance): only when a stop or an admission needs it
    let roomCache: Map<string, { cpu: number; memory: number }> | undefined;
    const room = (): Map<string, { cpu: number; memory: number }> => (roomCache ??= roomAfterPlan(ctx, ctx.plan));
    // the tenants of the instances running before the round (only penalties need them)
    let tenantOfRunning: Map<string, string> | undefined;
    // stops first: notices that ran out, insufficient funds, penalties (their capacity frees the room)
    for (const s of res.stopped) {
      const sp = this.spot.get(s.id);
      if (!sp) continue; // residents are never stopped by the auction
      actions.push(preempt(s.id, s.reasons));
      freeRoom(room(), ctx, s.id, sp.hostId);
      summary.stopped.push({ instanceId: s.id, tenant: sp.tenant, hostId: sp.hostId, reasons: s.reasons });
      fx.audits.push({ action: { kind: 'spot-stop', instance: s.id, bid: sp.bidId, host: sp.hostId, round }, reasons: s.reasons, result: 'applied', instanceId: s.id, hostId: sp.hostId, tenant: sp.tenant });
      fx.events.push({ type: 'preempted', data: { instanceId: s.id, bidId: sp.bidId, hostId: sp.hostId, market: 'spot', atMs: ctx.nowMs, reasons: s.reasons }, tenant: sp.tenant });
      this.metrics?.decisions.inc({ kind: 'stopped' });
    }
    for (const p of res.penalties) {
      if (!tenantOfRunning) {
        tenantOfRunning = before.running.tenants();
      }
      const victimTenant = tenantOfRunning.get(p.id) ?? '';
      summary.penalties.push({ instanceId: p.id, victimTenant, payer: p.payer ?? '', feeMicrocredits: p.feeMicros ?? 0, priorityReductionMilli: p.priorityReductionMilli ?? 0, reasons: p.reasons });
      fx.audits.push({
        action: { kind: 'spot-penalty', instance: p.id, payer: p.payer, victimTenant, feeMicrocredits: p.feeMicros ?? 0, priorityReductionMilli: p.priorityReductionMilli ?? 0, round },
        reasons: p.reasons,
        result: 'applied',
        instanceId: p.id,
        hostId: p.hostId,
        tenant: victimTenant || null,
      });
      if (p.payer && p.payer !== victimTenant) fx.events.push({ type: 'market', data: { kind: 'penalty-paid', instanceId: p.id, feeMicrocredits: p.feeMicros ?? 0, priorityReductionMilli: p.priorityReductionMilli ?? 0, reasons: p.reasons }, tenant: p.payer });
      this.metrics?.decisions.inc({ kind: 'penalty' });
    }
    for (const n of res.notices) {
      const sp = this.spot.get(n.id);
      if (!sp) continue;
      const stopAtMs = n.stopAtMs ?? ctx.nowMs;
      const ticksLeft = Math.max(1, Math.ceil((stopAtMs - ctx.nowMs) / ctx.stepMs));
      const wallPer = this.bindings?.wallPerMarketMs;
      summary.notices.push({ instanceId: n.id, tenant: sp.tenant, hostId: n.hostId, stopAtMs, reasons: n.reasons });
      fx.audits.push({ action: { kind: 'spot-notice', instance: n.id, bid: sp.bidId, host: n.hostId, stopAtMs, round }, reasons: n.reasons, result: 'applied', instanceId: n.id, hostId: n.hostId, tenant: sp.tenant });
      fx.events.push({
        type: 'preemption-notice',
        data: {
          instanceId: n.id,
          bidId: sp.bidId,
          hostId: n.hostId,
          noticeMs: stopAtMs - ctx.nowMs,
          deadlineMarketMs: stopAtMs,
          deadlineTick: ctx.tick + ticksLeft,
          ...(wallPer !== undefined ? { deadlineWallMsEstimate: Math.round(ctx.wallMs + (stopAtMs - ctx.nowMs) * wallPer) } : {}),
          reasons: n.reasons,
        },
        tenant: sp.tenant,
      });
      this.metrics?.decisions.inc({ kind: 'notice' });
    }
    for (const id of res.expired) {
      const ob = this.open.get(id);
      if (!ob) continue;
      const info: BidAuctionInfo = { ...ob.info, status: 'expired', lastRoundAtMs: ctx.nowMs, tick: ctx.tick, reasons: ['bid-expired'] };
      summary.expired.push({ bidId: id, tenant: ob.tenant });
      fx.apply.push(() => {
        this.open.delete(id);
        this.remember(id, { state: 'expired', tenant: ob.tenant, info });
      });
      fx.writes.push(async (tx, wallMs) => {
        await tx.setBidState(ALL_TENANTS, id, 'expired', wallMs);
      });
      fx.audits.push({ action: { kind: 'bid-expired', bid: id, round }, reasons: ['bid-expired'], result: 'applied', tenant: ob.tenant });
      fx.events.push({ type: 'bid', data: { id, state: 'expired', reasons: ['bid-expired'] }, tenant: ob.tenant });
      this.metrics?.decisions.inc({ kind: 'expired' });
    }
    // admissions: placed through the plan where their allocation fits
    for (const a of res.admitted) {
      const ob = this.open.get(a.bidId);
      if (!ob || !ob.bid) continue;
      const bid = ob.bid;
      const alloc = spotAllocation(bid, this.options.admitLevel);
      const free = room().get(a.hostId);
      if (!free || free.cpu < alloc.cpuMillicores || free.memory < alloc.memoryMiB) {
        market.remove(bid.id);
        market.restorePending(bid);
        const reasons = ['no-allocation-room', kv('host', a.hostId), kv('cpuMillicores', alloc.cpuMillicores), kv('memoryMiB', alloc.memoryMiB), kv('freeCpuMillicores', free?.cpu ?? 0), kv('freeMemoryMiB', free?.memory ?? 0)];
        ob.info = { ...ob.info, status: 'waiting', lastRoundAtMs: ctx.nowMs, tick: ctx.tick, score: a.score, interference: a.interference, hostId: a.hostId, reasons };
        this.auditPending(ob, fx, ctx);
        summary.pending.push({ bidId: a.bidId, tenant: ob.tenant, status: 'waiting', score: a.score, interference: a.interference, hostId: a.hostId, reasons });
        continue;
      }
      free.cpu -= alloc.cpuMillicores;
      free.memory -= alloc.memoryMiB;
      const rec = this.instanceRecord(ob, bid, alloc, ctx.wallMs);
      this.bindings?.world?.addInstance(rec);
      created.push(rec.id);
      actions.push(migrate(rec.id, '', a.hostId, a.reasons));
      const info: BidAuctionInfo = { ...ob.info, status: 'accepted', lastRoundAtMs: ctx.nowMs, tick: ctx.tick, value: null, score: a.score, interference: a.interference, hostId: a.hostId, reasons: a.reasons, instanceId: rec.id };
      summary.admitted.push({ bidId: a.bidId, instanceId: rec.id, tenant: ob.tenant, hostId: a.hostId, score: a.score, interference: a.interference, priceMicrocreditsPerHour: bid.priceMicrosPerHour });
      const placed: InstanceRecord = { ...rec, hostId: a.hostId, state: 'running' };
      fx.apply.push(() => {
        this.open.delete(a.bidId);
        this.remember(a.bidId, { state: 'accepted', tenant: ob.tenant, info });
        this.spot.set(rec.id, { bidId: a.bidId, tenant: ob.tenant, hostId: a.hostId, profile: bid.profile, arriving: true });
        this.ids.set(rec.id, ob.tenant);
      });
      fx.afterApply.push(() => this.bindings?.upsertInstance(placed));
      fx.writes.push(async (tx, wallMs) => {
        const { createdAtMs: _c, updatedAtMs: _u, version: _v, ...input } = placed;
        void _c;
        void _u;
        void _v;
        await tx.upsertInstance(ALL_TENANTS, input, wallMs);
        await tx.setBidState(ALL_TENANTS, a.bidId, 'accepted', wallMs);
      });
      fx.audits.push({
        action: { kind: 'spot-admit', bid: a.bidId, instance: rec.id, host: a.hostId, score: a.score, interference: a.interference, priceMicrocreditsPerHour: bid.priceMicrosPerHour, allocation: alloc, round },
        reasons: a.reasons,
        result: 'applied',
        instanceId: rec.id,
        hostId: a.hostId,
        tenant: ob.tenant,
      });
      fx.events.push({ type: 'bid', data: { id: a.bidId, state: 'accepted', instanceId: rec.id, hostId: a.hostId, score: a.score, reasons: a.reasons }, tenant: ob.tenant });
      this.metrics?.decisions.inc({ kind: 'admitted' });
    }
    // why the others wait
    const pendingReasons = new Map(res.pending.map((p) => [p.bidId, p.reasons]));
    const inAuction = new Set(market.pending());
    const listed = new Set(summary.pending.map((p) => p.bidId));
    for (const ob of this.open.values()) {
      if (!ob.inMarket || !inAuction.has(ob.bidId) || listed.has(ob.bidId)) continue;
      const q = market.quote(ob.bidId);
      const reasons = pendingReasons.get(ob.bidId) ?? ob.info.reasons;
      ob.info = { ...ob.info, status: 'waiting', lastRoundAtMs: ctx.nowMs, tick: ctx.tick, value: q?.value ?? null, score: q?.score ?? null, interference: q?.interference ?? null, hostId: q?.hostId ?? null, reasons };
      summary.pending.push({ bidId: ob.bidId, tenant: ob.tenant, status: 'waiting', score: ob.info.score, interference: ob.info.interference, hostId: ob.info.hostId, reasons });
      this.auditPending(ob, fx, ctx);
    }
    for (const ob of this.open.values()) {
      if (ob.info.status === 'held' && ob.info.tick === ctx.tick) summary.pending.push({ bidId: ob.bidId, tenant: ob.tenant, status: 'held', score: null, interference: null, hostId: null, reasons: ob.info.reasons });
    }
    for (const c of res.candidates) {
      const sp = this.spot.get(c.id);
      if (sp) summary.candidates.push({ instanceId: c.id, tenant: sp.tenant, reasons: c.reasons });
    }
    summary.revenueMicrocredits = res.billedMicros;
    summary.revenueTotalMicrocredits = ledger.balance(SYSTEM.MARKET_REVENUE, 'money');
    if (res.billedMicros > 0) this.metrics?.revenue.inc(res.billedMicros);
    fx.apply.push(() => {
      summary.runningSpot = this.spot.size;
      this.lastSummary = summary;
      this.dirty = true;
    });
    if (actions.length === 0) {
      this.flush(fx, out);
      return;
    }
    let settled = false;
    const hooks = {
      onApplied: () => {
        if (settled) return;
        settled = true;
        this.flush(fx, out);
        for (const f of fx.afterApply) f();
      },
      onFailed: (error: string) => {
        if (settled) return;
        settled = true;
        this.undo(before, journal, ctx);
        entered.forEach((ob, k) => (ob.inMarket = enteredBefore[k]!));
        for (const id of created) this.bindings?.world?.removeInstance(id);
        summary.admitted = [];
        summary.stopped = [];
        summary.penalties = [];
        summary.notices = [];
        summary.expired = [];
        summary.rolledBack = error;
        summary.revenueMicrocredits = 0;
        summary.revenueTotalMicrocredits = ledger.balance(SYSTEM.MARKET_REVENUE, 'money');
        summary.runningSpot = this.spot.size;
        this.lastSummary = summary;
        this.dirty = true;
        this.metrics?.decisions.inc({ kind: 'rolled_back' });
        out.audit({ action: { kind: 'auction-round', round, tick: ctx.tick }, reasons: ['auction-round-rolled-back', kv('actions', actions.length)], result: 'rolled_back', error: `the tick's plan failed: ${error}` });
      },
    };
    for (const a of actions) out.action(a, hooks);
  }

  /** Why a stored bid cannot enter the auction (it is then rejected), or null after converting it. */
  private admissible(ob: OpenBid, ctx: MarketTickContext): { reason: string; message: string } | null {
    const rec = ob.rec;
    if (!rec) return { reason: 'bid-unreadable', message: 'the bid record is missing' };
    if (rec.instanceId !== null) return { reason: 'bid-for-existing-instance', message: `the bid names instance "${rec.instanceId}": the auction places new instances (it creates "${rec.id}")` };
    const owner = this.ids.get(rec.id) ?? (ctx.instances.get(rec.id)?.tenant);
    if (owner !== undefined) return { reason: 'instance-id-taken', message: `an instance "${rec.id}" exists already: the spot instance takes the bid's id` };
    if (!ob.profile) return { reason: 'profile-missing', message: `profile "${rec.profileId}" not found` };
    const c = auctionBid(rec, ob.profile);
    if (c.error) return { reason: c.error.reason, message: c.error.message };
    ob.bid = c.bid!;
    return null;
  }

  private reject(ob: OpenBid, why: { reason: string; message: string }, summary: AuctionSummary, fx: Effects, ctx: MarketTickContext): void {
    const reasons = [why.reason, why.message];
    const info: BidAuctionInfo = { ...ob.info, status: 'rejected', lastRoundAtMs: ctx.nowMs, tick: ctx.tick, reasons };
    summary.rejected.push({ bidId: ob.bidId, tenant: ob.tenant, reasons });
    fx.apply.push(() => {
      this.open.delete(ob.bidId);
      this.remember(ob.bidId, { state: 'rejected', tenant: ob.tenant, info });
    });
    fx.writes.push(async (tx, wallMs) => {
      await tx.setBidState(ALL_TENANTS, ob.bidId, 'rejected', wallMs);
    });
    fx.audits.push({ action: { kind: 'bid-rejected', bid: ob.bidId, round: this.rounds }, reasons, result: 'rejected', error: why.message, tenant: ob.tenant });
    fx.events.push({ type: 'bid', data: { id: ob.bidId, state: 'rejected', reasons }, tenant: ob.tenant });
    this.metrics?.decisions.inc({ kind: 'rejected' });
  }

  /** One audit entry when a bid starts waiting for a new reason (not every round). */
  private auditPending(ob: OpenBid, fx: Effects, ctx: MarketTickContext): void {
    const first = ob.info.reasons[0] ?? '';
    if (ob.audited === first) return;
    fx.apply.push(() => {
      ob.audited = first;
    });
    fx.audits.push({
      action: { kind: 'bid-pending', bid: ob.bidId, status: ob.info.status, score: ob.info.score, interference: ob.info.interference, host: ob.info.hostId, tick: ctx.tick },
      reasons: ob.info.reasons,
      result: 'rejected',
      error: `pending: ${first}`,
      tenant: ob.tenant,
    });
  }

  private flush(fx: Effects, out: MarketTickOutput): void {
    for (const f of fx.apply) f();
    for (const a of fx.audits) out.audit(a);
    for (const e of fx.events) out.event(e.type, e.data, e.tenant);
    for (const w of fx.writes) out.write(w);
  }

  /** The market as it was before the round, and the round's ledger moves reversed. */
  private undo(before: { running: RunningCheckpoint; pending: Array<{ bid: Bid; waitingFor: string[] }>; hosts: string[] }, journal: JournalEntry[] | null, ctx: MarketTickContext): void {
    const old = this.market!;
    const m = new SpotMarket([], recordingLedger(ctx.ledger, () => this.journal), this.o.auction ?? {});
    this.market = m;
    this.syncHosts(ctx);
    const known = new Set(m.hostIds());
    for (const h of before.hosts) if (!known.has(h)) m.addHost({ id: h, capacity: { cpu: 0, memory: 0, network: 0 } });
    for (const r of before.running.exportRunning()) m.adopt(r);
    for (const p of before.pending) m.restorePending(p.bid, p.waitingFor);
    void old;
    const entries = journal ?? [];
    for (let k = entries.length - 1; k >= 0; k--) {
      const e = entries[k]!;
      const tx = ctx.ledger.begin('auction-rollback', ctx.nowMs, [`reverses ${e.kind}`, ...e.reasons.slice(0, 3)], e.ref);
      for (const mv of e.moves) tx.move(mv.asset, mv.to, mv.from, mv.amount);
      const r = ctx.ledger.commit(tx);
      if (!r.ok) this.o.onError?.(new Error(`auction rollback of ${e.kind} refused: ${r.account} would hold ${r.wouldBe} ${r.asset}`), 'auction rollback');
    }
  }

  private instanceRecord(ob: OpenBid, bid: Bid, alloc: { cpuMillicores: number; memoryMiB: number; networkKiBps: number }, wallMs: number): InstanceRecord {
    return {
      id: bid.id,
      tenant: ob.tenant,
      hostId: null,
      priority: ob.priority,
      request: vec({ cpuMillicores: Math.max(alloc.cpuMillicores, Math.ceil(bid.request.cpu)), memoryMiB: Math.max(alloc.memoryMiB, Math.ceil(bid.request.memory)), networkKiBps: alloc.networkKiBps }),
      allocation: vec({ cpuMillicores: alloc.cpuMillicores, memoryMiB: alloc.memoryMiB, networkKiBps: alloc.networkKiBps }),
      state: 'pending',
      labels: { [SPOT_MARKET_LABEL]: 'spot', [SPOT_BID_LABEL]: ob.bidId },
      createdAtMs: wallMs,
      updatedAtMs: wallMs,
      version: 1,
    };
  }

  private remember(bidId: string, d: Decided): void {
    this.decided.delete(bidId);
    this.decided.set(bidId, d);
    const max = this.o.rememberDecided ?? 10_000;
    while (this.decided.size > max) {
      const first = this.decided.keys().next().value as string;
      this.decided.delete(first);
    }
  }
}

/** Connects a runtime's auction (if it has one) to the loop and the simulated world. */
export function bindAuction(runtime: { component<T extends MarketComponent>(name: string): T | undefined } | undefined, b: AuctionBindings): AuctionComponent | undefined {
  const a = runtime?.component<AuctionComponent>(AUCTION_COMPONENT);
  a?.bind(b);
  return a;
}

function emptyInfo(): BidAuctionInfo {
  return { status: 'waiting', lastRoundAtMs: null, tick: null, value: null, score: null, interference: null, hostId: null, reasons: [], instanceId: null };
}

/** A resident the auction counts but does not own: never billed (price 0), never displaced. */
function residentBid(m: ManagedInstance, demand: Demand): Bid {
  const a = m.state.allocation;
  return {
    id: m.state.id,
    tenant: m.tenant,
    priceMicrosPerHour: 0,
    priority: 0,
    profile: demand,
    request: { cpu: Number.isFinite(a.cpu) ? a.cpu : 0, memory: Number.isFinite(a.memory) ? a.memory : 0, network: 0 },
    memoryIntensity: 0,
    interruptible: true,
    minRuntimeMs: Infinity,
  };
}

/** A resident's demand: its forecast, else its last usage, else its allocation (flat). */
function residentDemand(m: ManagedInstance, cpu: ProbForecast | undefined, memory: ProbForecast | undefined): Demand {
  if (cpu && memory) return { cpu, memory };
  const u = m.state.lastUsage;
  const a = m.state.allocation;
  const flat = flatDemand(Number.isFinite(u.cpu) ? u.cpu : fin(a.cpu), Number.isFinite(u.memory) ? u.memory : fin(a.memory));
  return { cpu: cpu ?? flat.cpu, memory: memory ?? flat.memory };
}

function fin(x: number): number {
  return Number.isFinite(x) ? x : 0;
}

/** Unallocated capacity per host after the tick's plan (resizes, migrations, preemptions); 0 on a host that is off. */
function roomAfterPlan(ctx: MarketTickContext, plan: Readonly<Plan>): Map<string, { cpu: number; memory: number }> {
  const room = new Map<string, { cpu: number; memory: number }>();
  const on = new Map<string, boolean>();
  for (const [id, h] of ctx.hosts) {
    room.set(id, { cpu: h.state.capacity.cpu, memory: h.state.capacity.memory });
    on.set(id, h.state.on);
  }
  const where = new Map<string, string | null>();
  const alloc = new Map<string, { cpu: number; memory: number }>();
  for (const m of ctx.instances.values()) {
    where.set(m.state.id, m.state.hostId);
    const a = { cpu: fin(m.state.allocation.cpu), memory: fin(m.state.allocation.memory) };
    alloc.set(m.state.id, a);
    if (m.state.hostId !== null) {
      const r = room.get(m.state.hostId);
      if (r) {
        r.cpu -= a.cpu;
        r.memory -= a.memory;
      }
    }
  }
  const add = (host: string | null | undefined, a: { cpu: number; memory: number }, sign: number) => {
    if (!host) return;
    const r = room.get(host);
    if (!r) return;
    r.cpu += sign * a.cpu;
    r.memory += sign * a.memory;
  };
  for (const a of plan.actions) {
    if (a.kind === 'resize') {
      const cur = alloc.get(a.instance);
      if (!cur) continue;
      const next = { cpu: Number.isFinite(a.cpu) ? a.cpu : cur.cpu, memory: Number.isFinite(a.memory) ? a.memory : cur.memory };
      add(where.get(a.instance), cur, 1);
      add(where.get(a.instance), next, -1);
      alloc.set(a.instance, next);
    } else if (a.kind === 'migrate') {
      const cur = alloc.get(a.instance);
      if (!cur) continue;
      add(where.get(a.instance), cur, 1);
      add(a.to, cur, -1);
      where.set(a.instance, a.to);
    } else if (a.kind === 'preempt') {
      const cur = alloc.get(a.instance);
      if (!cur) continue;
      add(where.get(a.instance), cur, 1);
      where.set(a.instance, null);
    } else if (a.kind === 'power') {
      on.set(a.host, a.on);
    }
  }
  for (const [id, r] of room) if (!on.get(id)) room.set(id, { cpu: 0, memory: 0 });
  return room;
}

/** A spot instance the round stops gives its allocation back to the room. */
function freeRoom(room: Map<string, { cpu: number; memory: number }>, ctx: MarketTickContext, id: string, hostId: string): void {
  const m = ctx.instances.get(id);
  const r = room.get(hostId);
  if (!m || !r) return;
  r.cpu += fin(m.state.allocation.cpu);
  r.memory += fin(m.state.allocation.memory);
}
