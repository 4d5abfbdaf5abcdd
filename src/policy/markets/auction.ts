// Spot auction with interference and negotiated penalties. Pure: one `round(nowMs, input)` per
// scheduling round; time comes in as an argument, nothing random.
//
// Each round:
//  1. billing: running instances pay price x elapsed time (money, tenant -> market revenue; exact
//     to the micro-unit with a per-instance remainder); one that cannot pay is stopped.
//  2. notices that ran out stop their instances (interruptible instances get `noticeMs` first:
//     presets 120 s as AWS, 30 s as GCP and Azure).
//  3. runtime feedback: forecasts replace a running instance's demand; observed usage over the
//     requested CPU below `lowUtilisation.threshold` for `rounds` rounds in a row, or a host whose
//     interference stays above `highInterference.threshold` for `rounds` rounds, makes an instance
//     a preemption candidate (with the reason).
//  4. relief (optional): on a host whose interference stays high, the lowest-value interruptible
//     candidate past its minimum runtime gets a notice.
//  5. admission: pending bids are scored on each host
//        score = w_price x price / referencePrice + w_priority x priority - w_interference x I
//     with I the interference of placing the bid there (below); in score order each bid goes to
//     its best host where predicted capacity remains: for every resource and horizon step, the
//     sum of the co-located demand quantiles at `admitLevel` plus the bid's fits the capacity.
//  6. a bid that fits nowhere may displace lower-value instances (candidates first, then lowest
//     value; never within their minimum runtime): interruptible ones get a notice (the bid waits
//     for the room), uninterruptible ones stop at once and the displacing tenant pays their
//     pre-negotiated penalty: a fee (money to the victim's tenant) and/or a reduction of its own
//     future bidding priority (to the priority-penalties account), booked in one transaction.
//     The bid's score must exceed the victims' values plus their fees (in score units).
//
// Interference I of a set of co-located demands (the host's instances plus the bid), each demand
// read as a normal per horizon step (median, and sigma from the spread to the highest quantile):
//   P_r     = max over steps of P(sum of demands of resource r > capacity_r), sums independent
//   thrash  = clamp((sum of memoryIntensity x median CPU) / (memoryBandwidthShare x CPU capacity) - 1, 0, 1)
//             (memory-bandwidth / cache-thrash proxy: memory-intensive work beyond the host's budget)
//   I       = w_cpu P_cpu + w_memory P_memory + w_network P_network + w_thrash thrash
//
// `scoring: 'price-only'` with `capacity: 'request'` is the classic spot market the auction is
// compared with: bids by price alone, room by requested sizes, no interference, no displacement.
import { InputError, ValidationError, type Issue } from '../../core/errors.js';
import type { ProbForecast } from '../../forecast/types.js';
import { normalQuantile, normalTail } from './dist.js';
import { account, Ledger, SYSTEM, type CommitResult } from './ledger.js';
import { kv, MR } from './reasons.js';

export type AuctionResource = 'cpu' | 'memory' | 'network';
export const AUCTION_RESOURCES: readonly AuctionResource[] = ['cpu', 'memory', 'network'];

/** Interruption notice presets, milliseconds. */
export const NOTICE_PRESETS = Object.freeze({ aws: 120_000, gcp: 30_000, azure: 30_000 });

/** Predicted demand per resource (a static profile is a flat forecast: see dist.flatForecast). */
export interface Demand {
  cpu: ProbForecast;
  memory: ProbForecast;
  network?: ProbForecast;
}

export interface Amount3 {
  cpu: number;
  memory: number;
  network: number;
}

export interface Penalty {
  /** Paid to the victim's tenant, money micro-units. */
  feeMicros: number;
  /** Taken from the displacing tenant's bidding-priority standing, milli-points. */
  priorityReductionMilli: number;
}

export interface Bid {
  id: string;
  tenant: string;
  /** Price offered per hour of running, money micro-units. */
  priceMicrosPerHour: number;
  /** Priority weight, >= 0. */
  priority: number;
  /** The workload profile: predicted utilisation per resource. */
  profile: Demand;
  /** Size asked for (used by the request-capacity baseline and for utilisation feedback). */
  request: Amount3;
  /** Sensitivity to and pressure on memory bandwidth / caches, in [0, 1]. */
  memoryIntensity: number;
  interruptible: boolean;
  /** Notice before an interruptible stop (default: the market's). */
  noticeMs?: number;
  /** Pre-negotiated penalty of an uninterruptible instance. */
  penalty?: Penalty;
  /** No preemption before it has run this long (default: the market's). */
  minRuntimeMs?: number;
  /** Pending bids past this time expire. */
  expiresAtMs?: number;
}

/** A running instance as a live shell persists it (`SpotMarket.exportRunning` / `adopt`). */
export interface RunningExport {
  bid: Bid;
  hostId: string;
  startedAtMs: number;
  /** Billed up to this time; `billCarry` is the remainder below one micro-unit, in micro-unit x ms / 3,600,000 units. */
  billedToMs: number;
  billCarry: number;
  notice: { atMs: number; stopAtMs: number; reasons: string[] } | null;
}

export interface SpotHost {
  id: string;
  capacity: Amount3;
}

export interface AuctionOptions {
  weights?: { price?: number; priority?: number; interference?: number };
  interferenceWeights?: { cpu?: number; memory?: number; network?: number; thrash?: number };
  /** Price that counts as 1 in the score, micro-units per hour. Default 100,000. */
  referencePriceMicrosPerHour?: number;
  /** Quantile level of the capacity check. Default 0.9. */
  admitLevel?: number;
  /** Horizon steps of demand looked at. Default 12. */
  horizonSteps?: number;
  /** Budget of memory-intensive CPU as a share of the host's CPU. Default 0.5. */
  memoryBandwidthShare?: number;
  noticeMs?: number;
  minRuntimeMs?: number;
  lowUtilisation?: { threshold?: number; rounds?: number };
  highInterference?: { threshold?: number; rounds?: number };
  /** Give notice to interruptible candidates on hosts with persistently high interference. Default true. */
  relieveInterference?: boolean;
  /** Score margin a displacing bid needs over its victims. Default 0.5. */
  preemptMargin?: number;
  scoring?: 'auction' | 'price-only';
  capacity?: 'quantile' | 'request';
}

export interface CompiledAuctionOptions {
  weights: { price: number; priority: number; interference: number };
  interferenceWeights: { cpu: number; memory: number; network: number; thrash: number };
  referencePriceMicrosPerHour: number;
  admitLevel: number;
  horizonSteps: number;
  memoryBandwidthShare: number;
  noticeMs: number;
  minRuntimeMs: number;
  lowUtilisation: { threshold: number; rounds: number };
  highInterference: { threshold: number; rounds: number };
  relieveInterference: boolean;
  preemptMargin: number;
  scoring: 'auction' | 'price-only';
  capacity: 'quantile' | 'request';
}

export function compileAuctionOptions(o: AuctionOptions = {}, path = 'auction'): CompiledAuctionOptions {
  const priceOnly = o.scoring === 'price-only';
  const c: CompiledAuctionOptions = {
    weights: { price: 1, priority: priceOnly ? 0 : 1, interference: priceOnly ? 0 : 2, ...o.weights },
    interferenceWeights: { cpu: 1, memory: 1, network: 0.5, thrash: 0.5, ...o.interferenceWeights },
    referencePriceMicrosPerHour: o.referencePriceMicrosPerHour ?? 100_000,
    admitLevel: o.admitLevel ?? 0.9,
    horizonSteps: o.horizonSteps ?? 12,
    memoryBandwidthShare: o.memoryBandwidthShare ?? 0.5,
    noticeMs: o.noticeMs ?? NOTICE_PRESETS.aws,
    minRuntimeMs: o.minRuntimeMs ?? 600_000,
    lowUtilisation: { threshold: 0.2, rounds: 3, ...o.lowUtilisation },
    highInterference: { threshold: 0.3, rounds: 3, ...o.highInterference },
    relieveInterference: o.relieveInterference ?? !priceOnly,
    preemptMargin: o.preemptMargin ?? 0.5,
    scoring: o.scoring ?? 'auction',
    capacity: o.capacity ?? (priceOnly ? 'request' : 'quantile'),
  };
  const issues: Issue[] = [];
  const nonNeg = (p: string, v: number) => {
    if (!(Number.isFinite(v) && v >= 0)) issues.push({ path: `${path}.${p}`, message: `must be a number >= 0, got ${v}` });
  };
  for (const [k, v] of Object.entries(c.weights)) nonNeg(`weights.${k}`, v);
  for (const [k, v] of Object.entries(c.interferenceWeights)) nonNeg(`interferenceWeights.${k}`, v);
  if (!(c.referencePriceMicrosPerHour > 0)) issues.push({ path: `${path}.referencePriceMicrosPerHour`, message: `must be > 0, got ${c.referencePriceMicrosPerHour}` });
  if (!(c.admitLevel > 0 && c.admitLevel < 1)) issues.push({ path: `${path}.admitLevel`, message: `must be in (0, 1), got ${c.admitLevel}` });
  if (!(Number.isInteger(c.horizonSteps) && c.horizonSteps > 0)) issues.push({ path: `${path}.horizonSteps`, message: `must be a positive integer, got ${c.horizonSteps}` });
  if (!(c.memoryBandwidthShare > 0)) issues.push({ path: `${path}.memoryBandwidthShare`, message: `must be > 0, got ${c.memoryBandwidthShare}` });
  nonNeg('noticeMs', c.noticeMs);
  nonNeg('minRuntimeMs', c.minRuntimeMs);
  nonNeg('lowUtilisation.threshold', c.lowUtilisation.threshold);
  nonNeg('highInterference.threshold', c.highInterference.threshold);
  if (!(Number.isInteger(c.lowUtilisation.rounds) && c.lowUtilisation.rounds > 0)) issues.push({ path: `${path}.lowUtilisation.rounds`, message: `must be a positive integer, got ${c.lowUtilisation.rounds}` });
  if (!(Number.isInteger(c.highInterference.rounds) && c.highInterference.rounds > 0)) issues.push({ path: `${path}.highInterference.rounds`, message: `must be a positive integer, got ${c.highInterference.rounds}` });
  nonNeg('preemptMargin', c.preemptMargin);
  if (c.scoring !== 'auction' && c.scoring !== 'price-only') issues.push({ path: `${path}.scoring`, message: `must be auction or price-only, got ${String(c.scoring)}` });
  if (c.capacity !== 'quantile' && c.capacity !== 'request') issues.push({ path: `${path}.capacity`, message: `must be quantile or request, got ${String(c.capacity)}` });
  if (issues.length > 0) throw new ValidationError(issues, 'invalid auction options');
  return c;
}

/** Checks a bid; every problem with its path (`bids[2].priceMicrosPerHour`). */
export function validateBid(b: Bid, path = 'bid'): Issue[] {
  const issues: Issue[] = [];
  if (typeof b.id !== 'string' || b.id === '') issues.push({ path: `${path}.id`, message: 'must be a non-empty string' });
  if (typeof b.tenant !== 'string' || b.tenant === '') issues.push({ path: `${path}.tenant`, message: 'must be a non-empty string' });
  if (!Number.isSafeInteger(b.priceMicrosPerHour) || b.priceMicrosPerHour < 0) issues.push({ path: `${path}.priceMicrosPerHour`, message: `must be an integer >= 0, got ${b.priceMicrosPerHour}` });
  if (!(b.priority >= 0)) issues.push({ path: `${path}.priority`, message: `must be >= 0, got ${b.priority}` });
  if (!(b.memoryIntensity >= 0 && b.memoryIntensity <= 1)) issues.push({ path: `${path}.memoryIntensity`, message: `must be in [0, 1], got ${b.memoryIntensity}` });
  for (const r of AUCTION_RESOURCES) if (!(b.request?.[r] >= 0)) issues.push({ path: `${path}.request.${r}`, message: `must be >= 0, got ${b.request?.[r]}` });
  if (!b.profile?.cpu || !b.profile?.memory) issues.push({ path: `${path}.profile`, message: 'must give cpu and memory forecasts' });
  if (!b.interruptible) {
    const p = b.penalty;
    if (!p) issues.push({ path: `${path}.penalty`, message: 'an uninterruptible bid must state its penalty (fee and/or priority reduction)' });
    else {
      if (!Number.isSafeInteger(p.feeMicros) || p.feeMicros < 0) issues.push({ path: `${path}.penalty.feeMicros`, message: `must be an integer >= 0, got ${p.feeMicros}` });
      if (!Number.isSafeInteger(p.priorityReductionMilli) || p.priorityReductionMilli < 0) issues.push({ path: `${path}.penalty.priorityReductionMilli`, message: `must be an integer >= 0, got ${p.priorityReductionMilli}` });
      if (p.feeMicros === 0 && p.priorityReductionMilli === 0) issues.push({ path: `${path}.penalty`, message: 'must charge a fee, a priority reduction, or both' });
    }
  }
  if (b.noticeMs !== undefined && !(b.noticeMs >= 0)) issues.push({ path: `${path}.noticeMs`, message: `must be >= 0, got ${b.noticeMs}` });
  if (b.minRuntimeMs !== undefined && !(b.minRuntimeMs >= 0)) issues.push({ path: `${path}.minRuntimeMs`, message: `must be >= 0, got ${b.minRuntimeMs}` });
  return issues;
}

/**
 * Per-step normal parameters and admission quantiles of one demand, over the market's horizon, in
 * one buffer of 9 x H figures: mu of cpu, memory, network (H steps each, in order), then their
 * variance, then their admission quantile `q` (figure of resource ri at step h: table x 3H + ri x H + h,
 * table 0 mu, 1 variance, 2 q). Sums over many instances run over it in one loop.
 */
interface DemandStats {
  flat: Float64Array;
  /**
   * Resources that may be non-zero (bit 1 cpu, 2 memory, 4 network: the demand has a forecast of
   * it). The others are all 0 in every table, and adding them to a sum changes nothing (every
   * figure is >= +0, never -0), so sums skip them.
   */
  present: number;
}

/** Bit of a resource in DemandStats.present, and its offset in each table of `flat` (x H). */
const RESOURCE_BIT = [1, 2, 4] as const;

/** Zeroed stats of horizon H. */
function zeroStats(H: number): DemandStats {
  return { flat: new Float64Array(9 * H), present: 0 };
}

/** Where quantileAt(f, level, ·) reads: the first level equal to `level`, else the nearest below and above. */
interface LevelIndex {
  exact: number;
  lo: number;
  hi: number;
}

function levelIndex(f: ProbForecast, level: number): LevelIndex {
  const L = f.levels.length;
  let lo = -1;
  let hi = -1;
  for (let k = 0; k < L; k++) {
    const l = f.levels[k]!;
    if (l === level) return { exact: k, lo: -1, hi: -1 };
    if (l < level && (lo < 0 || l > f.levels[lo]!)) lo = k;
    if (l > level && (hi < 0 || l < f.levels[hi]!)) hi = k;
  }
  return { exact: -1, lo, hi };
}

/** quantileAt(f, level, i + 1) with the levels found once per forecast (the same arithmetic, step by step). */
function quantileWith(f: ProbForecast, level: number, ix: LevelIndex, i: number): number {
  const mean = f.mean[i] ?? f.mean[f.mean.length - 1] ?? NaN;
  if (f.levels.length === 0) return mean;
  if (ix.exact >= 0) return finiteOr(f.quantiles[ix.exact]![i], mean);
  if (ix.lo < 0) return finiteOr(f.quantiles[ix.hi]![i], mean);
  if (ix.hi < 0) return finiteOr(f.quantiles[ix.lo]![i], mean);
  const a = f.quantiles[ix.lo]![i]!;
  const b = f.quantiles[ix.hi]![i]!;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return mean;
  const t = (level - f.levels[ix.lo]!) / (f.levels[ix.hi]! - f.levels[ix.lo]!);
  return a + t * (b - a);
}

function finiteOr(v: number | undefined, fallback: number): number {
  return v !== undefined && Number.isFinite(v) ? v : fallback;
}

function demandStats(d: Demand, H: number, level: number): DemandStats {
  const s = zeroStats(H);
  AUCTION_RESOURCES.forEach((r, ri) => {
    const f = d[r];
    if (!f) return;
    const fh = f.mean.length;
    if (fh === 0) return;
    s.present |= RESOURCE_BIT[ri]!;
    // normalOf(f, hh) for every step, with its highest level above 0.5 and that level's z found once
    let top = -1;
    for (let k = 0; k < f.levels.length; k++) if (f.levels[k]! > 0.5 && (top < 0 || f.levels[k]! > f.levels[top]!)) top = k;
    const z = top < 0 ? 0 : normalQuantile(f.levels[top]!);
    const qTop = top < 0 ? undefined : f.quantiles[top]!;
    const median = levelIndex(f, 0.5);
    const admit = levelIndex(f, level);
    for (let h = 1; h <= H; h++) {
      const hh = Math.min(h, fh);
      const mu = quantileWith(f, 0.5, median, hh - 1);
      let sigma = 0;
      if (qTop !== undefined) {
        const qt = qTop[hh - 1]!;
        sigma = Number.isFinite(qt) && z > 0 ? Math.max(0, (qt - mu) / z) : 0;
      }
      const q = quantileWith(f, level, admit, hh - 1);
      const at = ri * H + h - 1;
      const flat = s.flat;
      flat[at] = Number.isFinite(mu) ? Math.max(0, mu) : 0;
      flat[3 * H + at] = Number.isFinite(sigma) ? sigma * sigma : 0;
      flat[6 * H + at] = Number.isFinite(q) ? Math.max(0, q) : flat[at]!;
    }
  });
  return s;
}

interface HostSums extends DemandStats {
  request: Amount3;
  /** sum of memoryIntensity x median CPU at step 1. */
  membw: number;
}

interface Running {
  bid: Bid;
  hostId: string;
  /** The state of host `hostId`, and this instance's index in its members (and rows). */
  hs: HostState;
  at: number;
  startedAtMs: number;
  stats: DemandStats;
  lowRounds: number;
  highRounds: number;
  candidate: string[] | null;
  notice: { atMs: number; stopAtMs: number; reasons: string[] } | null;
  billedToMs: number;
  billCarry: number;
  value: number;
}

interface HostState {
  host: SpotHost;
  /** Running instances on the host, in the order they came (the order sums are built in). */
  members: Running[];
  /**
   * What a rebuild reads of each member, member after member (one pass over contiguous memory
   * instead of a walk through every member's objects): `ROW` figures per member, see `writeRow`.
   */
  rows: Float64Array;
  sums: HostSums;
  highRounds: number;
  /**
   * The sums are exactly what `rebuildSums` would compute (rebuilt from scratch, nothing added,
   * removed or re-forecast since): a rebuild may skip the host without changing a bit.
   */
  fresh: boolean;
  /**
   * The admission quantile sums (`sums.q`) are not built yet: the last rebuild left them for the
   * first reader (`qSums`), which builds them from the same members and stats. Only admission
   * reads them, so a round without bids never builds them. Every change of the members or their
   * stats builds them first (or rebuilds the host).
   */
  qStale: boolean;
  /** The interference of the host's instances alone (`interferenceOf` without extra), NaN when it must be computed again. */
  interferenceTotal: number;
  /** `host` is the market's own copy (addHost, setHostCapacity), not an object a caller passed to the constructor. */
  ownHost: boolean;
}

export interface Interference {
  total: number;
  pExceed: Amount3;
  thrash: number;
  reasons: string[];
}

export interface AdmissionDecision {
  bidId: string;
  hostId: string;
  score: number;
  interference: number;
  reasons: string[];
}

export interface PreemptionDecision {
  id: string;
  kind: 'notice' | 'penalty' | 'stop';
  hostId: string;
  /** For notices: when the instance stops. */
  stopAtMs?: number;
  feeMicros?: number;
  priorityReductionMilli?: number;
  payer?: string;
  reasons: string[];
}

export interface AuctionRoundResult {
  nowMs: number;
  admitted: AdmissionDecision[];
  pending: Array<{ bidId: string; reasons: string[] }>;
  expired: string[];
  notices: PreemptionDecision[];
  stopped: PreemptionDecision[];
  penalties: PreemptionDecision[];
  candidates: Array<{ id: string; reasons: string[] }>;
  billedMicros: number;
}

export interface AuctionRoundInput {
  bids?: readonly Bid[];
  /** Runtime forecasts of running instances (replace their profile). */
  forecasts?: ReadonlyMap<string, Demand>;
  /** Observed usage of running instances this round. */
  observed?: ReadonlyMap<string, Partial<Amount3>>;
}

export class SpotMarket {
  readonly options: CompiledAuctionOptions;
  private readonly hosts = new Map<string, HostState>();
  private readonly pendingBids = new Map<string, { bid: Bid; stats: DemandStats; waitingFor: Set<string> }>();
  private readonly runningMap = new Map<string, Running>();
  private readonly H: number;

  constructor(
    hosts: readonly SpotHost[],
    readonly ledger: Ledger = new Ledger(),
    options: AuctionOptions = {},
  ) {
    this.options = compileAuctionOptions(options);
    this.H = this.options.horizonSteps;
    const issues: Issue[] = [];
    hosts.forEach((h, i) => {
      for (const r of AUCTION_RESOURCES) if (!(h.capacity[r] >= 0)) issues.push({ path: `hosts[${i}].capacity.${r}`, message: `must be >= 0, got ${h.capacity[r]}` });
      if (this.hosts.has(h.id)) issues.push({ path: `hosts[${i}].id`, message: `duplicate host id "${h.id}"` });
      this.hosts.set(h.id, this.newHostState(h));
    });
    if (issues.length > 0) throw new ValidationError(issues, 'invalid spot hosts');
  }

  private emptySums(): HostSums {
    return { ...zeroStats(this.H), request: { cpu: 0, memory: 0, network: 0 }, membw: 0 };
  }

  private newHostState(host: SpotHost): HostState {
    return { host, members: [], rows: new Float64Array(0), sums: this.emptySums(), highRounds: 0, fresh: true, qStale: false, interferenceTotal: NaN, ownHost: false };
  }

  /** Figures per member row: its stats (9 H), the present mask, its request (cpu, memory, network) and memoryIntensity x median CPU at step 1. */
  private get rowLength(): number {
    return 9 * this.H + 5;
  }

  /** A member's row from its stats and bid (what rebuildSums and buildQ add, in that order). */
  private writeRow(ru: Running): void {
    const W = this.rowLength;
    const n = 9 * this.H;
    const rows = ru.hs.rows;
    const o = ru.at * W;
    const st = ru.stats;
    rows.set(st.flat, o);
    rows[o + n] = st.present;
    const b = ru.bid;
    rows[o + n + 1] = b.request.cpu;
    rows[o + n + 2] = b.request.memory;
    rows[o + n + 3] = b.request.network;
    rows[o + n + 4] = b.memoryIntensity * st.flat[0]!;
  }

  /** `ru` joins host `hs` as its last member (call after addToSums). */
  private join(hs: HostState, ru: Running): void {
    ru.hs = hs;
    ru.at = hs.members.length;
    hs.members.push(ru);
    const W = this.rowLength;
    if (hs.rows.length < hs.members.length * W) {
      const grown = new Float64Array(Math.max(8, hs.members.length * 2) * W);
      grown.set(hs.rows.subarray(0, ru.at * W));
      hs.rows = grown;
    }
    this.writeRow(ru);
  }

  /** `ru` leaves its host (call after addToSums): the members after it move up, in order. */
  private leave(ru: Running): void {
    const hs = ru.hs;
    const W = this.rowLength;
    const k = ru.at;
    hs.members.splice(k, 1);
    hs.rows.copyWithin(k * W, (k + 1) * W, (hs.members.length + 1) * W);
    for (let j = k; j < hs.members.length; j++) hs.members[j]!.at = j;
  }

  /** Money into a tenant's account (from outside the market). */
  deposit(tenant: string, micros: number, nowMs: number): void {
    must(this.ledger.transfer('money', SYSTEM.MONEY_ISSUER, account.tenant(tenant), micros, 'deposit', nowMs, ['deposit'], tenant));
  }

  /** A tenant's bidding-priority standing, points (0 or below). */
  standing(tenant: string): number {
    return this.ledger.balance(account.priority(tenant), 'priority') / 1000;
  }

  running(): string[] {
    return [...this.runningMap.keys()];
  }

  pending(): string[] {
    return [...this.pendingBids.keys()];
  }

  hostOf(id: string): string | undefined {
    return this.runningMap.get(id)?.hostId;
  }

  instancesOn(hostId: string): string[] {
    return (this.hosts.get(hostId)?.members ?? []).map((ru) => ru.bid.id);
  }

  isNoticed(id: string): boolean {
    return this.runningMap.get(id)?.notice != null;
  }

  private value(b: Bid): number {
    const w = this.options.weights;
    const prio = Math.max(0, b.priority + this.standing(b.tenant));
    return (w.price * b.priceMicrosPerHour) / this.options.referencePriceMicrosPerHour + w.priority * prio;
  }

  /** Interference of the host's instances plus (optionally) one more demand. */
  interference(hostId: string, extra?: { stats: DemandStats; memoryIntensity: number }): Interference {
    const hs = this.hosts.get(hostId);
    if (!hs) throw new InputError(`unknown host "${hostId}"`, { field: 'host' });
    const pExceed: Amount3 = { cpu: 0, memory: 0, network: 0 };
    const r = this.interferenceOf(hs, extra, pExceed);
    return { total: r.total, pExceed, thrash: r.thrash, reasons: [kv('pCpu', pExceed.cpu), kv('pMemory', pExceed.memory), kv('pNetwork', pExceed.network), kv('thrash', r.thrash)] };
  }

  /** The figures of `interference` (pExceed filled in), without formatting reasons. */
  private interferenceOf(hs: HostState, extra: { stats: DemandStats; memoryIntensity: number } | undefined, pExceed: Amount3): { total: number; thrash: number } {
    const cap = hs.host.capacity;
    const H = this.H;
    const a = hs.sums.flat;
    const e = extra?.stats.flat;
    for (let ri = 0; ri < 3; ri++) {
      const r = AUCTION_RESOURCES[ri]!;
      const C = cap[r];
      if (!(C > 0)) continue;
      let p = 0;
      for (let h = 0; h < H; h++) {
        const at = ri * H + h;
        const mu = a[at]! + (e ? e[at]! : 0);
        const v = a[3 * H + at]! + (e ? e[3 * H + at]! : 0);
        const ph = v > 0 ? normalTail((C - mu) / Math.sqrt(v)) : mu > C ? 1 : 0;
        if (ph > p) p = ph;
      }
      pExceed[r] = p;
    }
    const membw = hs.sums.membw + (extra ? extra.memoryIntensity * extra.stats.flat[0]! : 0);
    const budget = this.options.memoryBandwidthShare * cap.cpu;
    const thrash = budget > 0 ? Math.min(1, Math.max(0, membw / budget - 1)) : 0;
    const w = this.options.interferenceWeights;
    const total = w.cpu * pExceed.cpu + w.memory * pExceed.memory + w.network * pExceed.network + w.thrash * thrash;
    return { total, thrash };
  }

  /** Does the demand fit the host's remaining predicted capacity? The first resource short, or null. */
  private shortOf(hs: HostState, stats: DemandStats, request: Amount3, ignore?: Set<string>): AuctionResource | null {
    if (hs.qStale && this.options.capacity !== 'request') this.buildQ(hs);
    const cap = hs.host.capacity;
    const H = this.H;
    for (let ri = 0; ri < 3; ri++) {
      const r = AUCTION_RESOURCES[ri]!;
      const C = cap[r];
      if (this.options.capacity === 'request') {
        let used = hs.sums.request[r];
        if (ignore) for (const id of ignore) used -= this.runningMap.get(id)!.bid.request[r];
        if (used + request[r] > C + 1e-9) return r;
        continue;
      }
      for (let h = 0; h < H; h++) {
        const at = 6 * H + ri * H + h;
        let used = hs.sums.flat[at]!;
        if (ignore) for (const id of ignore) used -= this.runningMap.get(id)!.stats.flat[at]!;
        if (used + stats.flat[at]! > C + 1e-9) return r;
      }
    }
    return null;
  }

  /**
   * Adds (or takes away) one instance's demand to its host's sums. Called before the instance
   * joins (or leaves) the host's members, so that quantile sums a rebuild left for later are built
   * from the members they were of.
   */
  private addToSums(hs: HostState, stats: DemandStats, b: Bid, sign: 1 | -1): void {
    if (hs.qStale) this.buildQ(hs);
    hs.fresh = false;
    hs.interferenceTotal = NaN;
    const s = hs.sums;
    // element by element the same arithmetic as s.x[r][h] += sign x stats.x[r][h] (variance floored
    // at 0), over the flat buffers: mu [0, 3H), variance [3H, 6H), q [6H, 9H); a resource the
    // demand has no forecast of is 0 everywhere and changes nothing (DemandStats.present)
    const a = s.flat;
    const t = stats.flat;
    const H = this.H;
    const n = 3 * H;
    for (let ri = 0; ri < 3; ri++) {
      if ((stats.present & RESOURCE_BIT[ri]!) === 0) continue;
      const lo = ri * H;
      const hi = lo + H;
      for (let i = lo; i < hi; i++) a[i] = a[i]! + sign * t[i]!;
      for (let i = n + lo; i < n + hi; i++) a[i] = Math.max(0, a[i]! + sign * t[i]!);
      for (let i = 2 * n + lo; i < 2 * n + hi; i++) a[i] = a[i]! + sign * t[i]!;
    }
    const rq = s.request;
    rq.cpu += sign * b.request.cpu;
    rq.memory += sign * b.request.memory;
    rq.network += sign * b.request.network;
    s.membw += sign * b.memoryIntensity * stats.flat[0]!;
  }

  /**
   * The host's sums from scratch, members in order (no drift from incremental updates): the same
   * values as adding every member to zeroed sums, except the quantile sums, built by the first
   * reader (`buildQ`) from the same members and stats.
   */
  private rebuildSums(hs: HostState): void {
    // zeroed in place (the same values as a new emptySums())
    const s = hs.sums;
    const a = s.flat;
    const H = this.H;
    const n = 3 * H;
    a.fill(0, 0, 2 * n);
    s.request.cpu = 0;
    s.request.memory = 0;
    s.request.network = 0;
    s.membw = 0;
    const rq = s.request;
    // addToSums(hs, member.stats, member.bid, 1) for every member in order, from the members' rows
    const rows = hs.rows;
    const W = this.rowLength;
    const x = 9 * H;
    const count = hs.members.length;
    // (addToSums floors a variance sum at 0; here every sum starts at +0 and only figures >= +0
    // are added, so the floor never changes a value and is left out)
    for (let m = 0, o = 0; m < count; m++, o += W) {
      const present = rows[o + x]!;
      for (let ri = 0; ri < 3; ri++) {
        if ((present & RESOURCE_BIT[ri]!) === 0) continue;
        for (let i = ri * H, end = i + H; i < end; i++) {
          a[i] = a[i]! + rows[o + i]!;
          a[n + i] = a[n + i]! + rows[o + n + i]!;
        }
      }
      rq.cpu += rows[o + x + 1]!;
      rq.memory += rows[o + x + 2]!;
      rq.network += rows[o + x + 3]!;
      s.membw += rows[o + x + 4]!;
    }
    hs.qStale = true;
    hs.fresh = true;
    hs.interferenceTotal = NaN;
  }

  /** The quantile sums a rebuild left for later: zeroed, then every member's added, in order. */
  private buildQ(hs: HostState): void {
    hs.qStale = false;
    const a = hs.sums.flat;
    const H = this.H;
    const q0 = 6 * H;
    a.fill(0, q0, 9 * H);
    const rows = hs.rows;
    const W = this.rowLength;
    const x = 9 * H;
    const count = hs.members.length;
    for (let m = 0, o = 0; m < count; m++, o += W) {
      const present = rows[o + x]!;
      for (let ri = 0; ri < 3; ri++) {
        if ((present & RESOURCE_BIT[ri]!) === 0) continue;
        const lo = q0 + ri * H;
        const hi = lo + H;
        for (let i = lo; i < hi; i++) a[i] = a[i]! + rows[o + i]!;
      }
    }
  }

  private stopInstance(id: string): void {
    const ru = this.runningMap.get(id);
    if (!ru) return;
    const hs = ru.hs;
    this.addToSums(hs, ru.stats, ru.bid, -1);
    this.leave(ru);
    this.runningMap.delete(id);
    for (const p of this.pendingBids.values()) p.waitingFor.delete(id);
  }

  /** An instance whose workload is done leaves (billed up to now). */
  finish(id: string, nowMs: number): number {
    const ru = this.runningMap.get(id);
    if (!ru) return 0;
    const billed = this.bill(ru, nowMs);
    this.stopInstance(id);
    return billed ?? 0;
  }

  /** Withdraws a pending bid. */
  cancel(bidId: string): boolean {
    return this.pendingBids.delete(bidId);
  }

  private bill(ru: Running, nowMs: number): number | null {
    const ms = nowMs - ru.billedToMs;
    if (ms <= 0) return 0;
    const x = ru.bid.priceMicrosPerHour * ms + ru.billCarry;
    const micros = Math.floor(x / 3_600_000);
    ru.billCarry = x - micros * 3_600_000;
    ru.billedToMs = nowMs;
    if (micros === 0) return 0;
    const r = this.ledger.transfer('money', account.tenant(ru.bid.tenant), SYSTEM.MARKET_REVENUE, micros, 'spot-billing', nowMs, [MR.BILLED, kv('ms', ms)], ru.bid.id);
    return r.ok ? micros : null;
  }

  round(nowMs: number, input: AuctionRoundInput = {}): AuctionRoundResult {
    const o = this.options;
    const res: AuctionRoundResult = { nowMs, admitted: [], pending: [], expired: [], notices: [], stopped: [], penalties: [], candidates: [], billedMicros: 0 };
    // new bids
    if (input.bids) {
      const issues: Issue[] = [];
      input.bids.forEach((b, i) => {
        issues.push(...validateBid(b, `bids[${i}]`));
        if (this.pendingBids.has(b.id) || this.runningMap.has(b.id)) issues.push({ path: `bids[${i}].id`, message: `bid "${b.id}" already exists` });
      });
      if (issues.length > 0) throw new ValidationError(issues, 'invalid bids');
      for (const b of input.bids) this.pendingBids.set(b.id, { bid: b, stats: demandStats(b.profile, this.H, o.admitLevel), waitingFor: new Set() });
    }
    // (the passes over every running instance use forEach: a for-of over the map allocates an
    // iterator result per entry here; the same entries in the same order, deletions alike)
    // 1. billing (stopping an instance deletes only its own entry: safe while iterating the map)
    this.runningMap.forEach((ru, id) => {
      const b = this.bill(ru, nowMs);
      if (b === null) {
        res.stopped.push({ id, kind: 'stop', hostId: ru.hostId, reasons: [MR.INSUFFICIENT_FUNDS] });
        this.stopInstance(id);
      } else res.billedMicros += b;
    });
    // 2. notices that ran out
    this.runningMap.forEach((ru, id) => {
      if (ru.notice && ru.notice.stopAtMs <= nowMs) {
        res.stopped.push({ id, kind: 'stop', hostId: ru.hostId, reasons: [MR.NOTICE_EXPIRED, ...ru.notice.reasons] });
        this.stopInstance(id);
      }
    });
    // 3. runtime feedback
    if (input.forecasts) {
      for (const [id, d] of input.forecasts) {
        const ru = this.runningMap.get(id);
        if (ru) {
          ru.stats = demandStats(d, this.H, o.admitLevel);
          ru.hs.fresh = false;
          this.writeRow(ru);
        }
      }
      // Sums from scratch (no drift from incremental updates); a host whose sums already are that is skipped.
      for (const hs of this.hosts.values()) if (!hs.fresh) this.rebuildSums(hs);
    }
    // (each running instance with an observation, found from the observations: most have none)
    if (input.observed) {
      for (const [id, obs] of input.observed) {
        const ru = this.runningMap.get(id);
        if (!ru) continue;
        const reqCpu = ru.bid.request.cpu;
        if (obs?.cpu !== undefined && Number.isFinite(obs.cpu) && reqCpu > 0) {
          ru.lowRounds = obs.cpu / reqCpu < o.lowUtilisation.threshold ? ru.lowRounds + 1 : 0;
        }
      }
    }
    // interference totals only (the reasons of `interference` are not needed here)
    const hostInterference = new Map<string, number>();
    const pExceed: Amount3 = { cpu: 0, memory: 0, network: 0 };
    for (const [hid, hs] of this.hosts) {
      // a host whose sums and capacity did not change since it was last computed keeps it
      let total = hs.interferenceTotal;
      if (Number.isNaN(total)) {
        pExceed.cpu = 0;
        pExceed.memory = 0;
        pExceed.network = 0;
        total = this.interferenceOf(hs, undefined, pExceed).total;
        hs.interferenceTotal = total;
      }
      hostInterference.set(hid, total);
      hs.highRounds = total >= o.highInterference.threshold ? hs.highRounds + 1 : 0;
    }
    this.runningMap.forEach((ru, id) => {
      ru.highRounds = ru.hs.highRounds;
      const low = ru.lowRounds >= o.lowUtilisation.rounds;
      const high = ru.highRounds >= o.highInterference.rounds;
      if (!low && !high) {
        ru.candidate = null;
        return;
      }
      const reasons: string[] = [MR.PREEMPTION_CANDIDATE];
      if (low) reasons.push(MR.LOW_UTILISATION, kv('rounds', ru.lowRounds));
      if (high) reasons.push(MR.HIGH_INTERFERENCE, kv('rounds', ru.highRounds), kv('interference', hostInterference.get(ru.hostId)!));
      ru.candidate = reasons;
      res.candidates.push({ id, reasons: ru.candidate });
    });
    // 4. relief of persistently interfering hosts
    if (o.relieveInterference && o.scoring === 'auction') {
      for (const [hid, hs] of this.hosts) {
        if (hs.highRounds < o.highInterference.rounds) continue;
        if (hs.members.some((ru) => ru.notice)) continue; // relief already under way
        const victims = hs.members
          .filter((ru) => ru.bid.interruptible && ru.candidate && nowMs - ru.startedAtMs >= (ru.bid.minRuntimeMs ?? o.minRuntimeMs))
          .sort((a, b) => a.value - b.value || cmp(a.bid.id, b.bid.id));
        const v = victims[0];
        if (v) res.notices.push(this.notice(v, nowMs, [MR.HIGH_INTERFERENCE, kv('host', hid), kv('interference', hostInterference.get(hid)!)]));
      }
    }
    // expiry
    for (const [id, p] of [...this.pendingBids]) {
      if (p.bid.expiresAtMs !== undefined && p.bid.expiresAtMs <= nowMs) {
        this.pendingBids.delete(id);
        res.expired.push(id);
      }
    }
    // 5. admission in score order
    const scored: Array<{ id: string; score: number }> = [];
    for (const [id, p] of this.pendingBids) {
      const best = this.bestHost(p.bid, p.stats);
      scored.push({ id, score: best ? best.score : this.value(p.bid) - o.weights.interference * 10 });
    }
    scored.sort((a, b) => b.score - a.score || cmp(a.id, b.id));
    for (const { id } of scored) {
      const p = this.pendingBids.get(id)!;
      const best = this.bestHost(p.bid, p.stats);
      if (best) {
        this.admit(p.bid, p.stats, best.hostId, nowMs);
        this.pendingBids.delete(id);
        res.admitted.push({ bidId: id, hostId: best.hostId, score: best.score, interference: best.interference.total, reasons: [MR.ADMITTED, MR.BEST_HOST, kv('score', best.score), ...best.interference.reasons] });
        continue;
      }
      // 6. displacement
      if (o.scoring === 'auction' && p.waitingFor.size === 0) {
        const d = this.displace(p.bid, p.stats, nowMs, res);
        if (d === 'admitted') {
          this.pendingBids.delete(id);
          continue;
        }
      }
      const why = this.whyNot(p.bid, p.stats);
      res.pending.push({ bidId: id, reasons: p.waitingFor.size > 0 ? [MR.NOTICE, kv('waitingFor', [...p.waitingFor].join('+')), ...why] : why });
    }
    return res;
  }

  private whyNot(bid: Bid, stats: DemandStats): string[] {
    const counts = new Map<string, number>();
    for (const hs of this.hosts.values()) {
      const r = this.shortOf(hs, stats, bid.request);
      const reason = r === 'cpu' ? MR.INSUFFICIENT_CPU : r === 'memory' ? MR.INSUFFICIENT_MEMORY : r === 'network' ? MR.INSUFFICIENT_NETWORK : MR.NO_CAPACITY;
      counts.set(reason, (counts.get(reason) ?? 0) + 1);
    }
    return [MR.NO_CAPACITY, ...[...counts].map(([k, v]) => kv(k, v))];
  }

  private bestHost(bid: Bid, stats: DemandStats): { hostId: string; score: number; interference: Interference } | null {
    const o = this.options;
    const base = this.value(bid);
    let best: { hostId: string; score: number; interference: Interference } | null = null;
    for (const [hid, hs] of this.hosts) {
      if (this.shortOf(hs, stats, bid.request) !== null) continue;
      const it = o.weights.interference > 0 ? this.interference(hid, { stats, memoryIntensity: bid.memoryIntensity }) : { total: 0, pExceed: { cpu: 0, memory: 0, network: 0 }, thrash: 0, reasons: [] };
      const score = base - o.weights.interference * it.total;
      if (!best || score > best.score + 1e-12) best = { hostId: hid, score, interference: it };
    }
    return best;
  }

  private admit(bid: Bid, stats: DemandStats, hostId: string, nowMs: number): void {
    const hs = this.hosts.get(hostId)!;
    const ru: Running = { bid, hostId, hs, at: -1, startedAtMs: nowMs, stats, lowRounds: 0, highRounds: 0, candidate: null, notice: null, billedToMs: nowMs, billCarry: 0, value: this.value(bid) };
    this.runningMap.set(bid.id, ru);
    this.addToSums(hs, stats, bid, 1);
    this.join(hs, ru);
  }

  private notice(ru: Running, nowMs: number, reasons: string[]): PreemptionDecision {
    const stopAtMs = nowMs + (ru.bid.noticeMs ?? this.options.noticeMs);
    const rs = [MR.NOTICE, kv('noticeMs', stopAtMs - nowMs), ...reasons];
    ru.notice = { atMs: nowMs, stopAtMs, reasons: rs };
    return { id: ru.bid.id, kind: 'notice', hostId: ru.hostId, stopAtMs, reasons: rs };
  }

  /**
   * Tries to make room for `bid` by displacing lower-value instances on one host. Returns
   * 'admitted' when it was placed at once (only uninterruptible victims, penalties paid),
   * 'waiting' when notices were sent, 'no' otherwise.
   */
  private displace(bid: Bid, stats: DemandStats, nowMs: number, res: AuctionRoundResult): 'admitted' | 'waiting' | 'no' {
    const o = this.options;
    const bidValue = this.value(bid);
    let plan: { hostId: string; victims: Running[]; cost: number } | null = null;
    for (const [hid, hs] of this.hosts) {
      const eligible = hs.members
        .filter((ru) => !ru.notice && nowMs - ru.startedAtMs >= (ru.bid.minRuntimeMs ?? o.minRuntimeMs))
        .sort((a, b) => (a.candidate ? 0 : 1) - (b.candidate ? 0 : 1) || this.victimCost(a) - this.victimCost(b) || cmp(a.bid.id, b.bid.id));
      const chosen: Running[] = [];
      const ignore = new Set<string>();
      let cost = 0;
      let fits = this.shortOf(hs, stats, bid.request, ignore) === null;
      for (const ru of eligible) {
        if (fits) break;
        const c = this.victimCost(ru);
        if (cost + c + o.preemptMargin >= bidValue) break;
        chosen.push(ru);
        ignore.add(ru.bid.id);
        cost += c;
        fits = this.shortOf(hs, stats, bid.request, ignore) === null;
      }
      if (fits && chosen.length > 0 && (!plan || cost < plan.cost)) plan = { hostId: hid, victims: chosen, cost };
    }
    if (!plan) return 'no';
    const pending = this.pendingBids.get(bid.id)!;
    let waiting = false;
    for (const v of plan.victims) {
      const why = [MR.DISPLACED_BY, kv('bid', bid.id), kv('bidScore', bidValue), kv('victimValue', v.value), ...(v.candidate ?? [])];
      if (v.bid.interruptible) {
        res.notices.push(this.notice(v, nowMs, why));
        pending.waitingFor.add(v.bid.id);
        waiting = true;
        continue;
      }
      const pen = v.bid.penalty!;
      const tx = this.ledger.begin('preemption-penalty', nowMs, [MR.PENALTY_PAID, ...why], v.bid.id);
      // (a tenant displacing its own instance owes itself no fee; the priority reduction still applies)
      if (bid.tenant !== v.bid.tenant) tx.move('money', account.tenant(bid.tenant), account.tenant(v.bid.tenant), pen.feeMicros);
      tx.move('priority', account.priority(bid.tenant), SYSTEM.PRIORITY_PENALTIES, pen.priorityReductionMilli);
      const r = this.ledger.commit(tx);
      if (!r.ok) {
        res.pending.push({ bidId: bid.id, reasons: [MR.CANNOT_AFFORD_PENALTY, kv('victim', v.bid.id), kv('feeMicros', pen.feeMicros)] });
        return 'no';
      }
      this.bill(v, nowMs);
      res.penalties.push({ id: v.bid.id, kind: 'penalty', hostId: v.hostId, feeMicros: bid.tenant !== v.bid.tenant ? pen.feeMicros : 0, priorityReductionMilli: pen.priorityReductionMilli, payer: bid.tenant, reasons: [MR.PENALTY_PAID, ...why] });
      res.stopped.push({ id: v.bid.id, kind: 'stop', hostId: v.hostId, reasons: [MR.PENALTY_PAID, ...why] });
      this.stopInstance(v.bid.id);
    }
    if (waiting) return 'waiting';
    const hs = this.hosts.get(plan.hostId)!;
    if (this.shortOf(hs, stats, bid.request) !== null) return 'no';
    this.admit(bid, stats, plan.hostId, nowMs);
    const it = this.interference(plan.hostId);
    res.admitted.push({ bidId: bid.id, hostId: plan.hostId, score: bidValue - o.weights.interference * it.total, interference: it.total, reasons: [MR.ADMITTED, MR.DISPLACED_BY, kv('victims', plan.victims.map((v) => v.bid.id).join('+')), ...it.reasons] });
    return 'admitted';
  }

  /** Score units a displacement of this instance costs: its value, plus its fee if uninterruptible. */
  private victimCost(ru: Running): number {
    const feeScore = ru.bid.interruptible ? 0 : (this.options.weights.price * (ru.bid.penalty?.feeMicros ?? 0)) / this.options.referencePriceMicrosPerHour;
    return ru.value + feeScore;
  }

  // ------------------------------------------------------------------ state (restart continuity)
  // What a live shell persists and restores: running instances with their billing position and
  // notice, and pending bids with the victims they wait for. Lowering `lowRounds`/`highRounds` to
  // 0 on restore only delays candidates by a few rounds.

  /** Adds a host (capacity 0 = nothing is placed there). */
  addHost(host: SpotHost): void {
    if (this.hosts.has(host.id)) throw new InputError(`spot host "${host.id}" already exists`, { field: 'host' });
    for (const r of AUCTION_RESOURCES) if (!(host.capacity[r] >= 0)) throw new InputError(`capacity.${r} of host "${host.id}" must be >= 0, got ${host.capacity[r]}`, { field: `capacity.${r}` });
    const hs = this.newHostState({ id: host.id, capacity: { ...host.capacity } });
    hs.ownHost = true;
    this.hosts.set(host.id, hs);
  }

  /** Changes a host's capacity (e.g. 0 while it is powered off). */
  setHostCapacity(hostId: string, capacity: Amount3): void {
    const hs = this.hosts.get(hostId);
    if (!hs) throw new InputError(`unknown host "${hostId}"`, { field: 'host' });
    for (const r of AUCTION_RESOURCES) if (!(capacity[r] >= 0)) throw new InputError(`capacity.${r} of host "${hostId}" must be >= 0, got ${capacity[r]}`, { field: `capacity.${r}` });
    const c = hs.host.capacity;
    const same = c.cpu === capacity.cpu && c.memory === capacity.memory && c.network === capacity.network;
    if (!same) hs.interferenceTotal = NaN;
    // a copy the market made already, with the same capacity, stays (a shell sets every host each round)
    if (same && hs.ownHost && Object.is(c.cpu, capacity.cpu) && Object.is(c.memory, capacity.memory) && Object.is(c.network, capacity.network)) return;
    hs.host = { id: hostId, capacity: { ...capacity } };
    hs.ownHost = true;
  }

  hostIds(): string[] {
    return [...this.hosts.keys()];
  }

  hasHost(hostId: string): boolean {
    return this.hosts.has(hostId);
  }

  /** Running instances as plain data (JSON-safe apart from the bid's forecasts). */
  exportRunning(): RunningExport[] {
    return [...this.runningMap.values()].map((ru) => ({
      bid: ru.bid,
      hostId: ru.hostId,
      startedAtMs: ru.startedAtMs,
      billedToMs: ru.billedToMs,
      billCarry: ru.billCarry,
      notice: ru.notice ? { atMs: ru.notice.atMs, stopAtMs: ru.notice.stopAtMs, reasons: ru.notice.reasons.slice() } : null,
    }));
  }

  /**
   * What `exportRunning` returns now, taken without an object per instance (`RunningCheckpoint.
   * exportRunning()` builds the same list later): the undo point of a round in a live shell, which
   * needs the list only when the round is undone.
   */
  checkpointRunning(): RunningCheckpoint {
    const n = this.runningMap.size;
    const bids: Bid[] = new Array<Bid>(n);
    const hostIds: string[] = new Array<string>(n);
    const times = new Float64Array(3 * n);
    const notices: Array<[number, RunningExport['notice']]> = [];
    let k = 0;
    this.runningMap.forEach((ru) => {
      bids[k] = ru.bid;
      hostIds[k] = ru.hostId;
      times[3 * k] = ru.startedAtMs;
      times[3 * k + 1] = ru.billedToMs;
      times[3 * k + 2] = ru.billCarry;
      if (ru.notice) notices.push([k, { atMs: ru.notice.atMs, stopAtMs: ru.notice.stopAtMs, reasons: ru.notice.reasons.slice() }]);
      k++;
    });
    return new RunningCheckpoint(bids, hostIds, times, notices);
  }

  /** Pending bids with the instances under notice they wait for. */
  exportPending(): Array<{ bid: Bid; waitingFor: string[] }> {
    return [...this.pendingBids.values()].map((p) => ({ bid: p.bid, waitingFor: [...p.waitingFor] }));
  }

  /**
   * Places a running instance as it was (restart continuity), or an instance the market does not
   * own but must count (price 0, `minRuntimeMs: Infinity`: never billed, never displaced).
   */
  adopt(r: RunningExport): void {
    const issues = validateBid(r.bid, 'running.bid');
    if (issues.length > 0) throw new ValidationError(issues, 'invalid running instance');
    const hs = this.hosts.get(r.hostId);
    if (!hs) throw new InputError(`unknown host "${r.hostId}" for running instance "${r.bid.id}"`, { field: 'hostId' });
    if (this.runningMap.has(r.bid.id) || this.pendingBids.has(r.bid.id)) throw new InputError(`instance "${r.bid.id}" already in the market`, { field: 'bid.id' });
    if (!(Number.isSafeInteger(r.billCarry) && r.billCarry >= 0 && r.billCarry < 3_600_000)) throw new InputError(`billCarry of "${r.bid.id}" must be an integer in [0, 3600000), got ${r.billCarry}`, { field: 'billCarry' });
    const stats = demandStats(r.bid.profile, this.H, this.options.admitLevel);
    const ru: Running = {
      bid: r.bid,
      hostId: r.hostId,
      hs,
      at: -1,
      startedAtMs: r.startedAtMs,
      stats,
      lowRounds: 0,
      highRounds: 0,
      candidate: null,
      notice: r.notice ? { atMs: r.notice.atMs, stopAtMs: r.notice.stopAtMs, reasons: r.notice.reasons.slice() } : null,
      billedToMs: r.billedToMs,
      billCarry: r.billCarry,
      value: this.value(r.bid),
    };
    this.runningMap.set(r.bid.id, ru);
    this.addToSums(hs, stats, r.bid, 1);
    this.join(hs, ru);
  }

  /** Puts a pending bid back with the victims it waits for (restart continuity). */
  restorePending(bid: Bid, waitingFor: readonly string[] = []): void {
    const issues = validateBid(bid, 'pending.bid');
    if (issues.length > 0) throw new ValidationError(issues, 'invalid pending bid');
    if (this.runningMap.has(bid.id) || this.pendingBids.has(bid.id)) throw new InputError(`bid "${bid.id}" already in the market`, { field: 'bid.id' });
    this.pendingBids.set(bid.id, { bid, stats: demandStats(bid.profile, this.H, this.options.admitLevel), waitingFor: new Set(waitingFor.filter((id) => this.runningMap.has(id))) });
  }

  /** Removes a running instance without billing it (it left outside the market: deleted, or not the market's). */
  remove(id: string): boolean {
    if (!this.runningMap.has(id)) return false;
    this.stopInstance(id);
    return true;
  }

  /** Moves a running instance to another host (it was migrated outside the market); its billing and notice stay. */
  move(id: string, hostId: string): void {
    const ru = this.runningMap.get(id);
    if (!ru) throw new InputError(`instance "${id}" is not running in the market`, { field: 'instance' });
    const to = this.hosts.get(hostId);
    if (!to) throw new InputError(`unknown host "${hostId}"`, { field: 'host' });
    if (ru.hostId === hostId) return;
    const from = ru.hs;
    this.addToSums(from, ru.stats, ru.bid, -1);
    this.leave(ru);
    ru.hostId = hostId;
    this.addToSums(to, ru.stats, ru.bid, 1);
    this.join(to, ru);
  }

  /**
   * Why a pending bid waits: its value, and its score and interference on its best host (hosts
   * where it fits first, then by score), with whether it fits there. Undefined for an unknown bid.
   */
  quote(bidId: string): { value: number; hostId: string | null; score: number; interference: number; fits: boolean } | undefined {
    const p = this.pendingBids.get(bidId);
    if (!p) return undefined;
    const value = this.value(p.bid);
    const wi = this.options.weights.interference;
    let best: { hostId: string; score: number; interference: number; fits: boolean } | null = null;
    for (const [hid, hs] of this.hosts) {
      const fits = this.shortOf(hs, p.stats, p.bid.request) === null;
      const it = wi > 0 ? this.interference(hid, { stats: p.stats, memoryIntensity: p.bid.memoryIntensity }).total : 0;
      const score = value - wi * it;
      if (!best || (fits && !best.fits) || (fits === best.fits && score > best.score + 1e-12)) best = { hostId: hid, score, interference: it, fits };
    }
    return best ? { value, ...best } : { value, hostId: null, score: value, interference: 0, fits: false };
  }

  isRunning(id: string): boolean {
    return this.runningMap.has(id);
  }

  /** Predicted quantile sums of a host per resource at the first horizon step (for reports). */
  predictedLoad(hostId: string): Amount3 {
    const hs = this.hosts.get(hostId)!;
    if (hs.qStale) this.buildQ(hs);
    const s = hs.sums;
    const H = this.H;
    return { cpu: s.flat[6 * H]!, memory: s.flat[7 * H]!, network: s.flat[8 * H]! };
  }
}

/** The running instances of a SpotMarket at one moment (SpotMarket.checkpointRunning). */
export class RunningCheckpoint {
  constructor(
    private readonly bids: readonly Bid[],
    private readonly hostIds: readonly string[],
    /** startedAtMs, billedToMs, billCarry of each. */
    private readonly times: Float64Array,
    private readonly notices: ReadonlyArray<[number, RunningExport['notice']]>,
  ) {}

  get size(): number {
    return this.bids.length;
  }

  /** What `exportRunning` returned at that moment (a new list, notices copied). */
  exportRunning(): RunningExport[] {
    const out: RunningExport[] = [];
    let next = 0;
    for (let k = 0; k < this.bids.length; k++) {
      let notice: RunningExport['notice'] = null;
      const nk = this.notices[next];
      if (nk !== undefined && nk[0] === k) {
        const c = nk[1]!;
        notice = { atMs: c.atMs, stopAtMs: c.stopAtMs, reasons: c.reasons.slice() };
        next++;
      }
      out.push({ bid: this.bids[k]!, hostId: this.hostIds[k]!, startedAtMs: this.times[3 * k]!, billedToMs: this.times[3 * k + 1]!, billCarry: this.times[3 * k + 2]!, notice });
    }
    return out;
  }

  /** Each instance's tenant. */
  tenants(): Map<string, string> {
    const out = new Map<string, string>();
    for (const b of this.bids) out.set(b.id, b.tenant);
    return out;
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function must(r: CommitResult): void {
  if (!r.ok) throw new InputError(`ledger refused ${r.kind}: ${r.account} would hold ${r.wouldBe} ${r.asset}`, { field: r.account });
}
