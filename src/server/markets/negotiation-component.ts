// Live borrow/lend between co-located instances: one HostNegotiator (src/policy/markets/
// negotiation.ts) per host, rounds every `intervalMs` (default 100 ms; the service's
// `negotiationMs`, CLI `--negotiation-ms`) on their own schedule, driven by the loop's Clock.
//
// Entitlement = the allocation the control loop's policy decided for the instance (its latest
// resize; at first sight its allocation). Effective allocation = entitlement - lent + borrowed,
// kept as resource units in a ledger per host (`alloc:<instance>`, `host:<host>` unallocated,
// issued by `system:capacity`), so the allocations of a host always sum to its members'
// entitlements and never exceed its capacity.
//
// A round (under loop.exclusive: never interleaved with a tick):
//   1. membership: instances placed on a host join its negotiator at their entitlement (refused
//      when the entitlements would exceed the capacity: the instance then keeps its allocation and
//      does not negotiate); an instance that left the host, was removed, or whose entitlement
//      changed leaves (its loans revert first) and rejoins;
//   2. statements (negotiation-statements.ts): usage = last measured usage; need = an explicit
//      statement (POST /v1/instances/:id/statement) or the forecast's q0.9 of the next step;
//      SLA class and criticality from the labels;
//   3. HostNegotiator.round on every host with members (the decision time is measured around it);
//   4. ONE store transaction with every ledger move of the round (loans, recalls, releases, joins,
//      leaves: cpu and memory assets) and the state of each host that changed
//      (`market:negotiation:<host>`: capacity, members with entitlements, loans, starved rounds).
// The driver does not resize every 100 ms: at the next control-loop tick the component proposes a
// resize for each instance whose effective allocation differs from its applied allocation (the
// net change of the rounds since; decreases first), through the plan (rollback, audit with the
// reasons). In that tick the policy's own resizes become the new entitlements (a changed
// entitlement reverts the instance's loans), and the component's resize replaces the policy's
// for a borrower or lender whose entitlement did not change.
//
// The negotiation keeps its own pure ledgers (one per host) instead of the runtime's shared one:
// it runs between ticks and writes its rows itself (cpu and memory are its assets alone). A write
// that fails is kept and written with the next round or tick. At the first round the component
// rebuilds every host from its stored state and compares the result with the store's cpu/memory
// balances; a difference (a crash between a round and a tick commit) is written as one
// 'negotiation-resync' transaction, so the books and the state agree again.
import { Counter, Histogram, type Registry } from 'prom-client';
import { resize, type Action } from '../../core/plan.js';
import { ALL_TENANTS, type LedgerEntryInput, type Store } from '../../core/store.js';
import { Ledger, NEGATIVE_ALLOWED_PREFIXES, SYSTEM, type JournalEntry } from '../../policy/markets/ledger.js';
import { HostNegotiator, jainIndex, type AgentStatement, type Loan, type NegotiationOptions, type NegotiationState, type LendResource } from '../../policy/markets/negotiation.js';
import { kv } from '../../policy/markets/reasons.js';
import { FixedRateTimer, type Clock } from '../clock.js';
import type { ControlLoop, ManagedHost, ManagedInstance } from '../control-loop.js';
import { statementOf, slaOf, type ExplicitStatement, type NeedSource } from './negotiation-statements.js';
import type { MarketComponent, MarketTickContext, MarketTickOutput, RemovalCause } from './types.js';

export const NEGOTIATION_COMPONENT = 'negotiation';
export const DEFAULT_NEGOTIATION_MS = 100;
export const negotiationStateKey = (hostId: string): string => `market:negotiation:${hostId}`;
/** Journal kinds whose every move is one transfer (a round's batch, or a single loan or revert). */
const TRANSFER_KINDS: ReadonlySet<string> = new Set(['loan', 'loan-revert', 'loan-release']);

export interface NegotiationComponentOptions {
  store: Store;
  clock: Clock;
  /** Round period, ms (default 100). */
  intervalMs?: number;
  /** HostNegotiator options (grains, SLA weights, ageing...). */
  negotiation?: Omit<NegotiationOptions, 'roundIntervalMs'>;
  /** Forecast quantile taken as the predicted need (default 0.9). */
  needLevel?: number;
  /** Prometheus registry for the negotiation's metrics. */
  registry?: Registry;
  onError?: (err: unknown, where: string) => void;
}

type Amount2 = { cpuMillicores: number; memoryMiB: number };

export interface HostRoundStats {
  atMs: number;
  round: number;
  members: number;
  /** Time of HostNegotiator.round (the decision), ms. */
  decisionMs: number;
  transfers: { loan: number; recall: number; release: number };
  /** Instance x resource requests not fully met. */
  unmet: number;
  /** Jain's index of the members' satisfaction min(1, allocation / need) (1 = all equally served). */
  jain: number;
  stats: Record<LendResource, { offeredUnits: number; requestedUnits: number; grantedUnits: number; recalledUnits: number; releasedUnits: number; unmet: number }>;
}

interface HostNeg {
  id: string;
  capacity: Amount2;
  ledger: Ledger;
  neg: HostNegotiator;
  statements: Map<string, AgentStatement>;
  sources: Map<string, { cpu: NeedSource; memory: NeedSource }>;
  last?: HostRoundStats;
}

/** A host's stored state (`market:negotiation:<host>`). */
interface StoredHost {
  v: 1;
  capacity: Amount2;
  /** [instance, entitlement cpu, entitlement memory], in join order. */
  members: Array<[string, number, number]>;
  loanSeq: number;
  loans: Array<[string, LendResource, string, string, number, number]>;
  starved: NegotiationState['starved'];
  /** Explicit statements of members still valid when written (they expire on their own). */
  explicit?: Record<string, ExplicitStatement>;
}

interface Writes {
  /** The hosts' ledger moves since the last write, netted per asset and account as they commit. */
  net: { cpu: Map<string, number>; memory: Map<string, number> };
  /** Transfers (loans, recalls, releases) and other journal entries netted, per kind. */
  kinds: Map<string, number>;
  /** Rows made directly (resync, capacity changes). */
  rows: LedgerEntryInput[];
  hosts: Set<string>;
}

export interface NegotiationRoundReport {
  atMs: number;
  round: number;
  hosts: number;
  members: number;
  transfers: number;
  /** Sum over hosts of the decision time, ms. */
  decisionMs: number;
  /** The whole round (membership, statements, decisions, store write), ms. */
  roundMs: number;
  /** Its parts: membership, statements, store write (rows netted, one transaction). */
  syncMs: number;
  statementsMs: number;
  writeMs: number;
  /** Ledger rows written (the round's moves netted per account and asset). */
  rows: number;
  written: boolean;
  writeError?: string;
}

class NegotiationMetrics {
  readonly rounds: Counter<string>;
  readonly transfers: Counter<'kind'>;
  readonly decisionSeconds: Histogram<string>;
  constructor(registry: Registry) {
    const registers = [registry];
    this.rounds = new Counter({ name: 'prescient_negotiation_rounds_total', help: 'Borrow/lend negotiation rounds run (all hosts)', registers });
    this.transfers = new Counter({ name: 'prescient_negotiation_transfers_total', help: 'Borrow/lend transfers by kind (loan, recall, release)', labelNames: ['kind'], registers });
    this.decisionSeconds = new Histogram({
      name: 'prescient_negotiation_round_decision_seconds',
      help: 'Decision time of one host negotiation round (HostNegotiator.round)',
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05],
      registers,
    });
  }
}

export class NegotiationComponent implements MarketComponent {
  readonly name = NEGOTIATION_COMPONENT;
  readonly intervalMs: number;
  readonly needLevel: number;
  private readonly hosts = new Map<string, HostNeg>();
  /** Entitlement per instance (the policy's allocation). */
  private readonly ent = new Map<string, Amount2>();
  /** Instances placed on a host that could not join its negotiation, with why. */
  private readonly outside = new Map<string, { hostId: string; reason: string }>();
  private readonly explicit = new Map<string, ExplicitStatement>();
  private loop: ControlLoop | undefined;
  private ready = false;
  private initializing: Promise<void> | null = null;
  private suppress = false;
  private pending: Writes = emptyWrites();
  private batches = 0;
  private readonly epoch: string;
  private rounds = 0;
  private readonly timer: FixedRateTimer;
  private running: Promise<unknown> | null = null;
  private readonly metrics: NegotiationMetrics | undefined;
  lastReport: NegotiationRoundReport | undefined;

  constructor(private readonly o: NegotiationComponentOptions) {
    this.intervalMs = o.intervalMs ?? DEFAULT_NEGOTIATION_MS;
    if (!(Number.isFinite(this.intervalMs) && this.intervalMs > 0)) throw new RangeError(`negotiation intervalMs must be > 0, got ${this.intervalMs}`);
    this.needLevel = o.needLevel ?? 0.9;
    if (!(this.needLevel > 0 && this.needLevel < 1)) throw new RangeError(`needLevel must be in (0, 1), got ${this.needLevel}`);
    this.epoch = Math.floor(o.clock.nowMs()).toString(36);
    this.metrics = o.registry ? new NegotiationMetrics(o.registry) : undefined;
    this.timer = new FixedRateTimer(o.clock, this.intervalMs, () => this.round(), (err) => this.o.onError?.(err, 'negotiation'), true);
  }

  /** Connects the component to the loop (its model, its clock and exclusive()). */
  bind(loop: ControlLoop): void {
    this.loop = loop;
  }

  // ------------------------------------------------------------------------------ MarketComponent

  restore(): void {
    // State is per host (market:negotiation:<host>) and loaded at the first round (init).
  }

  instanceRemoved(id: string, _cause: RemovalCause): void {
    // Leaves at the next round or tick (its allocation units go back to the host then).
    this.explicit.delete(id);
    void _cause;
  }

  snapshot(): unknown {
    return undefined;
  }

  tick(ctx: MarketTickContext, out: MarketTickOutput): void {
    if (!this.ready) return;
    // 1. the policy's resizes are the new entitlements
    const moving = new Set<string>();
    for (const a of ctx.plan.actions) {
      if (a.kind === 'migrate' || a.kind === 'preempt') moving.add(a.instance);
      if (a.kind !== 'resize') continue;
      const cur = this.ent.get(a.instance);
      const m = ctx.instances.get(a.instance);
      if (!m) continue;
      const cpu = Number.isFinite(a.cpu) ? a.cpu : (cur?.cpuMillicores ?? m.state.allocation.cpu);
      const mem = Number.isFinite(a.memory) ? a.memory : (cur?.memoryMiB ?? m.state.allocation.memory);
      this.ent.set(a.instance, { cpuMillicores: Math.round(cpu), memoryMiB: Math.round(mem) });
    }
    // 2. membership with the tick's model
    this.sync(ctx.instances.values(), ctx.hosts, ctx.wallMs);
    // 3. the net change since the last tick: one resize per instance whose allocation moved (decreases first)
    const down: Action[] = [];
    const mixed: Action[] = [];
    const up: Action[] = [];
    for (const h of this.hosts.values()) {
      for (const id of h.neg.memberIds()) {
        if (moving.has(id)) continue;
        const m = ctx.instances.get(id);
        if (!m) continue;
        const eff = h.neg.allocation(id);
        const cur = m.state.allocation;
        const dc = eff.cpuMillicores - cur.cpu;
        const dm = eff.memoryMiB - cur.memory;
        if (dc === 0 && dm === 0) continue;
        if (!Number.isFinite(dc) || !Number.isFinite(dm)) continue;
        const e = h.neg.entitlement(id);
        const reasons = ['negotiated-allocation', kv('host', h.id), kv('entitlementCpu', e.cpuMillicores), kv('entitlementMemory', e.memoryMiB), kv('cpu', eff.cpuMillicores), kv('memory', eff.memoryMiB)];
        (dc <= 0 && dm <= 0 ? down : dc >= 0 && dm >= 0 ? up : mixed).push(resize(id, eff.cpuMillicores, eff.memoryMiB, reasons));
      }
    }
    for (const a of [...down, ...mixed, ...up]) out.action(a);
    // 4. ledger rows and host states changed by this tick: written in the tick's commit
    const w = this.take();
    if (w) {
      out.write(async (tx, wallMs) => {
        await this.writeInto(tx, w, wallMs);
      });
    }
  }

  // ------------------------------------------------------------------------------ rounds

  /** Starts the round timer (every intervalMs of the loop's clock; a slow round delays the next, none is skipped). */
  start(): void {
    this.timer.start();
  }

  /** Stops the timer and waits for a round in progress; then writes anything pending once. */
  async stop(): Promise<void> {
    this.timer.stop();
    if (this.running) await this.running.catch(() => undefined);
    const w = this.take();
    if (w) {
      try {
        await this.o.store.transaction((tx) => this.writeInto(tx, w, this.o.clock.nowMs()));
      } catch (err) {
        this.putBack(w);
        this.o.onError?.(err, 'negotiation');
      }
    }
  }

  /**
   * Runs the round due at the clock's time, if one is (tests drive this with a ManualClock).
   * Returns the report, or undefined when no round was due.
   */
  async runDue(): Promise<NegotiationRoundReport | undefined> {
    const now = this.o.clock.nowMs();
    const t = this.timer;
    if (Number.isNaN(t.nextDueMs)) t.nextDueMs = now;
    if (now < t.nextDueMs) return undefined;
    const r = await this.round();
    t.nextDueMs = Math.max(t.nextDueMs + this.intervalMs, now);
    return r;
  }

  /** One round now, on every host (waits for a tick in progress; no tick starts meanwhile). */
  async round(): Promise<NegotiationRoundReport> {
    const loop = this.loop;
    if (!loop) throw new Error('the negotiation is not bound to a control loop');
    const p = loop.exclusive(() => this.roundNow(loop));
    this.running = p;
    try {
      return await p;
    } finally {
      if (this.running === p) this.running = null;
    }
  }

  private async roundNow(loop: ControlLoop): Promise<NegotiationRoundReport> {
    if (!this.ready) await this.init();
    const clock = this.o.clock;
    const t0 = clock.monotonicMs();
    const nowMs = clock.nowMs();
    const round = ++this.rounds;
    const instances = loop.instanceIds().map((id) => loop.instance(id)!);
    const hosts = new Map<string, ManagedHost>();
    for (const id of loop.hostIds()) hosts.set(id, loop.host(id)!);
    this.sync(instances, hosts, nowMs);
    const t1 = clock.monotonicMs();
    let transfers = 0;
    let members = 0;
    let decisionMs = 0;
    let statementsMs = 0;
    let active = 0;
    for (const h of this.hosts.values()) {
      const ids = h.neg.memberIds();
      if (ids.length === 0) continue;
      active++;
      members += ids.length;
      const s0 = clock.monotonicMs();
      const list: AgentStatement[] = new Array(ids.length);
      for (let k = 0; k < ids.length; k++) {
        const id = ids[k]!;
        const m = loop.instance(id);
        const e = h.neg.entitlement(id);
        const f = loop.latestForecast(id);
        const prev = h.statements.get(id);
        const { statement, sources } = statementOf(
          {
            id,
            priority: m?.priority ?? 'normal',
            labels: m?.labels,
            entitlement: e,
            usage: m ? m.state.lastUsage : { cpu: NaN, memory: NaN },
            ...(f ? { forecast: { ...(f.cpu ? { cpu: f.cpu } : {}), ...(f.memory ? { memory: f.memory } : {}) } } : {}),
            ...(this.explicit.has(id) ? { explicit: this.explicit.get(id)! } : {}),
          },
          nowMs,
          this.needLevel,
          prev,
        );
        if (!prev) h.statements.set(id, statement);
        h.sources.set(id, sources);
        list[k] = statement;
      }
      const d0 = clock.monotonicMs();
      statementsMs += d0 - s0;
      const r = h.neg.round(nowMs, list);
      const dt = clock.monotonicMs() - d0;
      decisionMs += dt;
      const counts = { loan: 0, recall: 0, release: 0 };
      for (const t of r.transfers) counts[t.kind]++;
      transfers += r.transfers.length;
      const sat = new Float64Array(list.length);
      for (let k = 0; k < list.length; k++) {
        const s = list[k]!;
        const a = h.neg.allocation(s.id);
        const nc = Math.max(s.needCpuMillicores, s.usageCpuMillicores);
        const nm = Math.max(s.needMemoryMiB, s.usageMemoryMiB);
        const xc = nc > 0 ? Math.min(1, a.cpuMillicores / nc) : 1;
        const xm = nm > 0 ? Math.min(1, a.memoryMiB / nm) : 1;
        sat[k] = Math.min(xc, xm);
      }
      h.last = { atMs: nowMs, round, members: ids.length, decisionMs: dt, transfers: counts, unmet: r.unmet.length, jain: jainIndex(sat), stats: r.stats };
      if (r.transfers.length > 0) this.pending.hosts.add(h.id);
      if (this.metrics) {
        this.metrics.decisionSeconds.observe(dt / 1000);
        for (const k of ['loan', 'recall', 'release'] as const) if (counts[k] > 0) this.metrics.transfers.inc({ kind: k }, counts[k]);
      }
    }
    this.metrics?.rounds.inc();
    const w0 = clock.monotonicMs();
    const w = this.take();
    let written = false;
    let writeError: string | undefined;
    if (w) {
      try {
        await this.o.store.transaction((tx) => this.writeInto(tx, w, nowMs));
        written = true;
      } catch (err) {
        this.putBack(w);
        writeError = err instanceof Error ? err.message : String(err);
        this.o.onError?.(err, 'negotiation');
      }
    }
    const t9 = clock.monotonicMs();
    const report: NegotiationRoundReport = {
      atMs: nowMs,
      round,
      hosts: active,
      members,
      transfers,
      decisionMs,
      roundMs: t9 - t0,
      syncMs: t1 - t0,
      statementsMs,
      writeMs: t9 - w0,
      rows: w?.rows.length ?? 0,
      written,
      ...(writeError ? { writeError } : {}),
    };
    this.lastReport = report;
    return report;
  }

  // ------------------------------------------------------------------------------ membership

  /** Hosts and members follow the loop's model: capacity changes, leaves (and entitlement changes), joins. */
  private sync(instances: Iterable<ManagedInstance>, hosts: ReadonlyMap<string, ManagedHost>, nowMs: number): void {
    for (const [id, mh] of hosts) {
      const cap = { cpuMillicores: Math.max(0, Math.floor(mh.state.capacity.cpu)), memoryMiB: Math.max(0, Math.floor(mh.state.capacity.memory)) };
      const h = this.hosts.get(id);
      if (!h) this.hosts.set(id, this.newHost(id, cap, nowMs));
      else if (h.capacity.cpuMillicores !== cap.cpuMillicores || h.capacity.memoryMiB !== cap.memoryMiB) this.rebuildHost(h, cap, nowMs);
    }
    const want = new Map<string, ManagedInstance>();
    for (const m of instances) {
      if (m.state.hostId === null || m.lifecycle !== 'running') continue;
      want.set(m.state.id, m);
      if (!this.ent.has(m.state.id)) this.ent.set(m.state.id, { cpuMillicores: Math.max(0, Math.round(fin(m.state.allocation.cpu))), memoryMiB: Math.max(0, Math.round(fin(m.state.allocation.memory))) });
    }
    // leaves first (their units return to their host before anyone joins)
    for (const h of this.hosts.values()) {
      for (const id of h.neg.memberIds()) {
        const m = want.get(id);
        const e = this.ent.get(id);
        const cur = h.neg.entitlement(id);
        if (m && m.state.hostId === h.id && e && e.cpuMillicores === cur.cpuMillicores && e.memoryMiB === cur.memoryMiB) continue;
        h.neg.leave(id, nowMs);
        h.statements.delete(id);
        h.sources.delete(id);
        this.pending.hosts.add(h.id);
      }
    }
    for (const [id] of this.outside) if (!want.has(id)) this.outside.delete(id);
    for (const id of [...this.ent.keys()]) if (!want.has(id)) this.ent.delete(id);
    // joins, in id order (stable tie-breaking in the rounds)
    const ids = [...want.keys()].sort();
    for (const id of ids) {
      const m = want.get(id)!;
      const h = this.hosts.get(m.state.hostId!);
      if (!h || h.neg.isMember(id)) continue;
      const e = this.ent.get(id)!;
      const r = h.neg.join(id, e, nowMs);
      if (r.ok) {
        this.outside.delete(id);
        this.pending.hosts.add(h.id);
      } else {
        const free = h.neg.unallocated();
        this.outside.set(id, { hostId: h.id, reason: `entitlements-exceed-capacity: needs cpu=${e.cpuMillicores} memory=${e.memoryMiB}, host has cpu=${free.cpuMillicores} memory=${free.memoryMiB} unallocated` });
      }
    }
  }

  private newHost(id: string, capacity: Amount2, nowMs: number): HostNeg {
    const ledger = new Ledger({ keepJournal: false, onCommit: (e) => this.record(id, e) });
    const neg = new HostNegotiator(id, capacity, ledger, this.o.negotiation ?? {}, nowMs);
    this.pending.hosts.add(id);
    return { id, capacity, ledger, neg, statements: new Map(), sources: new Map() };
  }

  /** A host whose capacity changed: rebuilt with its members and loans (those that still fit); the difference is written. */
  private rebuildHost(h: HostNeg, capacity: Amount2, nowMs: number): void {
    const before = balancesOf(h.ledger);
    const state = this.stateOf(h);
    this.suppress = true;
    let fresh: HostNeg;
    try {
      fresh = this.build(h.id, capacity, state, nowMs);
    } finally {
      this.suppress = false;
    }
    this.hosts.set(h.id, fresh);
    const rows = diffRows(before, balancesOf(fresh.ledger), 'negotiation-capacity-change', h.id, `neg:${this.epoch}/cap:${h.id}:${nowMs}`);
    this.pending.rows.push(...rows);
    this.pending.hosts.add(h.id);
  }

  /** A host negotiator from a stored state (members that fit rejoin in their order, loans between them are restored). */
  private build(id: string, capacity: Amount2, s: StoredHost | undefined, nowMs: number): HostNeg {
    const h = this.newHost(id, capacity, nowMs);
    if (!s) return h;
    for (const [mid, cpu, mem] of s.members) {
      if (h.neg.join(mid, { cpuMillicores: cpu, memoryMiB: mem }, nowMs).ok) this.ent.set(mid, { cpuMillicores: cpu, memoryMiB: mem });
    }
    h.neg.restoreState(
      { loanSeq: s.loanSeq, loans: s.loans.map(([lid, resource, lender, borrower, amount, sinceMs]) => ({ id: lid, resource, lender, borrower, amount, sinceMs })), starved: s.starved },
      nowMs,
    );
    for (const [mid, e] of Object.entries(s.explicit ?? {})) if (h.neg.isMember(mid) && e.untilMs > nowMs && !this.explicit.has(mid)) this.explicit.set(mid, e);
    return h;
  }

  /**
   * First round: every host rebuilt from its stored state (unpersisted), then the store's cpu and
   * memory balances compared with the rebuilt ledgers; any difference is written as one
   * 'negotiation-resync' transaction.
   */
  async init(): Promise<void> {
    if (this.ready) return;
    if (!this.initializing) this.initializing = this.doInit().finally(() => (this.initializing = null));
    return this.initializing;
  }

  private async doInit(): Promise<void> {
    const loop = this.loop;
    if (!loop) throw new Error('the negotiation is not bound to a control loop');
    const store = this.o.store;
    const nowMs = this.o.clock.nowMs();
    const hostIds = loop.hostIds();
    const saved = await Promise.all(hostIds.map((id) => store.getMarketState(negotiationStateKey(id))));
    const [cpuBal, memBal] = await Promise.all([store.listBalances(ALL_TENANTS, { asset: 'cpu' }), store.listBalances(ALL_TENANTS, { asset: 'memory' })]);
    this.suppress = true;
    try {
      hostIds.forEach((id, k) => {
        const s = parseStored(saved[k]?.state);
        const cap = loop.host(id)!.state.capacity;
        this.hosts.set(id, this.build(id, { cpuMillicores: Math.max(0, Math.floor(cap.cpu)), memoryMiB: Math.max(0, Math.floor(cap.memory)) }, s, nowMs));
      });
    } finally {
      this.suppress = false;
    }
    // the rebuilt books against the store's
    const mine = new Map<string, number>();
    for (const h of this.hosts.values()) for (const [k, v] of balancesOf(h.ledger)) mine.set(k, (mine.get(k) ?? 0) + v);
    const stored = new Map<string, number>();
    for (const b of [...cpuBal, ...memBal]) if (isNegotiationAccount(b.account)) stored.set(`${b.asset}\u0000${b.account}`, b.balance);
    const rows = diffRows(stored, mine, 'negotiation-resync', null, `neg:${this.epoch}/resync`);
    this.pending.rows.push(...rows);
    for (const h of this.hosts.values()) this.pending.hosts.add(h.id);
    this.ready = true;
  }

  /** Whether the first round has loaded the stored state. */
  get isReady(): boolean {
    return this.ready;
  }

  // ------------------------------------------------------------------------------ writes

  private record(hostId: string, e: JournalEntry): void {
    if (this.suppress) return;
    const p = this.pending;
    for (const m of e.moves) {
      const map = m.asset === 'cpu' ? p.net.cpu : m.asset === 'memory' ? p.net.memory : undefined;
      if (!map) continue;
      map.set(m.from, (map.get(m.from) ?? 0) - m.amount);
      map.set(m.to, (map.get(m.to) ?? 0) + m.amount);
    }
    // a round commits each resource's loans, recalls and releases as one entry of many moves: count transfers
    p.kinds.set(e.kind, (p.kinds.get(e.kind) ?? 0) + (TRANSFER_KINDS.has(e.kind) ? e.moves.length : 1));
    p.hosts.add(hostId);
  }

  /**
   * What to write now: the journal entries since the last write netted per (account, asset) into
   * rows of one group (a round moves thousands of grains between the same accounts: the books
   * keep the net change, the host state keeps the loans), plus direct rows and the hosts to save.
   */
  private take(): Writes | undefined {
    const p = this.pending;
    if (p.kinds.size === 0 && p.rows.length === 0 && p.hosts.size === 0) return undefined;
    this.pending = emptyWrites();
    if (p.kinds.size > 0) {
      const batch = ++this.batches;
      const reason = `negotiation: ${[...p.kinds].map(([k, n]) => `${k}=${n}`).join(', ')}`;
      const group = `neg:${this.epoch}/b:${batch}`;
      for (const asset of ['cpu', 'memory'] as const) {
        for (const [acc, d] of p.net[asset]) if (d !== 0) p.rows.push({ account: acc, asset, delta: d, reason, ref: null, group });
        p.net[asset].clear();
      }
      p.kinds.clear();
    }
    return p;
  }

  private putBack(w: Writes): void {
    this.pending.rows.unshift(...w.rows);
    for (const h of w.hosts) this.pending.hosts.add(h);
  }

  /** Ledger rows (one append) and the current state of each host concerned. */
  private async writeInto(tx: Store, w: Writes, wallMs: number): Promise<void> {
    if (w.rows.length > 0) await tx.appendLedger(w.rows, wallMs, { allowNegative: NEGATIVE_ALLOWED_PREFIXES });
    for (const id of w.hosts) {
      const h = this.hosts.get(id);
      if (h) await tx.putMarketState(negotiationStateKey(id), this.stateOf(h), wallMs);
    }
  }

  private stateOf(h: HostNeg): StoredHost {
    const st = h.neg.exportState();
    return {
      v: 1,
      capacity: { ...h.capacity },
      members: h.neg.memberIds().map((id) => {
        const e = h.neg.entitlement(id);
        return [id, e.cpuMillicores, e.memoryMiB];
      }),
      loanSeq: st.loanSeq,
      loans: st.loans.map((l) => [l.id, l.resource, l.lender, l.borrower, l.amount, l.sinceMs]),
      starved: st.starved,
      explicit: Object.fromEntries(h.neg.memberIds().flatMap((id) => {
        const e = this.explicit.get(id);
        return e ? [[id, e]] : [];
      })),
    };
  }

  // ------------------------------------------------------------------------------ API

  /** Records an explicit statement (validated by the route). Returns what the next round will use. */
  setStatement(id: string, s: { cpu?: { need?: number; offer?: number }; memory?: { need?: number; offer?: number } }, validMs: number, nowMs: number): ExplicitStatement {
    const prev = this.explicit.get(id);
    const live = prev && prev.untilMs > nowMs ? prev : undefined;
    const ex: ExplicitStatement = {
      ...(s.cpu ? { cpu: s.cpu } : live?.cpu ? { cpu: live.cpu } : {}),
      ...(s.memory ? { memory: s.memory } : live?.memory ? { memory: live.memory } : {}),
      untilMs: nowMs + validMs,
      atMs: nowMs,
    };
    this.explicit.set(id, ex);
    const host = this.hostOf(id);
    if (host) this.pending.hosts.add(host);
    return ex;
  }

  /** The entitlement of an instance (what it may offer from), or undefined when it does not negotiate. */
  entitlementOf(id: string): Amount2 | undefined {
    for (const h of this.hosts.values()) if (h.neg.isMember(id)) return h.neg.entitlement(id);
    return this.ent.get(id);
  }

  /** Whether the instance is a member of a host's negotiation, and which. */
  hostOf(id: string): string | undefined {
    for (const h of this.hosts.values()) if (h.neg.isMember(id)) return h.id;
    return undefined;
  }

  /**
   * A host's negotiation as the API shows it. `visible(instance)` says whether the caller may see
   * an instance (tenant isolation): other instances are left out, and a loan with one of them
   * shows its counterpart as null.
   */
  hostView(hostId: string, visible: (instanceId: string) => boolean, nowMs: number) {
    const h = this.hosts.get(hostId);
    if (!h) return undefined;
    const loop = this.loop;
    const members = h.neg.memberIds().filter(visible).map((id) => {
      const m = loop?.instance(id);
      const sla = slaOf(m?.labels, m?.priority ?? 'normal');
      const s = h.statements.get(id);
      const ex = this.explicit.get(id);
      return {
        instanceId: id,
        sla: sla.sla,
        criticality: sla.criticality,
        ...(sla.problems.length > 0 ? { labelProblems: sla.problems } : {}),
        entitlement: h.neg.entitlement(id),
        allocation: h.neg.allocation(id),
        applied: m ? { cpuMillicores: m.state.allocation.cpu, memoryMiB: m.state.allocation.memory } : null,
        lastStatement: s
          ? { usageCpuMillicores: s.usageCpuMillicores, usageMemoryMiB: s.usageMemoryMiB, needCpuMillicores: s.needCpuMillicores, needMemoryMiB: s.needMemoryMiB, sources: h.sources.get(id) ?? null }
          : null,
        explicit: ex && ex.untilMs > nowMs ? { cpu: ex.cpu ?? null, memory: ex.memory ?? null, untilMs: ex.untilMs } : null,
      };
    });
    const loans = h.neg
      .loans()
      .filter((l) => visible(l.lender) || visible(l.borrower))
      .map((l: Loan) => ({ id: l.id, resource: l.resource, lender: visible(l.lender) ? l.lender : null, borrower: visible(l.borrower) ? l.borrower : null, amount: l.amount, unit: l.resource === 'cpu' ? 'millicores' : 'MiB', sinceMs: l.sinceMs }));
    const outside = [...this.outside].filter(([id, o]) => o.hostId === hostId && visible(id)).map(([id, o]) => ({ instanceId: id, reason: o.reason }));
    return {
      hostId,
      intervalMs: this.intervalMs,
      ready: this.ready,
      capacity: h.capacity,
      unallocated: h.neg.unallocated(),
      members,
      loans,
      notNegotiating: outside,
      lastRound: h.last ?? null,
    };
  }
}

/** A runtime's negotiation component, if it has one. */
export function negotiationOf(runtime: { component<T extends MarketComponent>(name: string): T | undefined } | undefined): NegotiationComponent | undefined {
  return runtime?.component<NegotiationComponent>(NEGOTIATION_COMPONENT);
}

function emptyWrites(): Writes {
  return { net: { cpu: new Map(), memory: new Map() }, kinds: new Map(), rows: [], hosts: new Set() };
}

function fin(x: number): number {
  return Number.isFinite(x) ? x : 0;
}

function isNegotiationAccount(a: string): boolean {
  return a.startsWith('alloc:') || a.startsWith('host:') || a === SYSTEM.CAPACITY_ISSUER;
}

/** Balances of cpu and memory per account of a ledger, keyed `asset\0account`. */
function balancesOf(l: Ledger): Map<string, number> {
  const out = new Map<string, number>();
  for (const asset of ['cpu', 'memory'] as const) for (const [acc, v] of l.accounts(asset)) out.set(`${asset}\u0000${acc}`, v);
  return out;
}

/** Rows taking balances `from` to `to` (both keyed `asset\0account`); balanced when both sum to 0 per asset. */
function diffRows(from: ReadonlyMap<string, number>, to: ReadonlyMap<string, number>, reason: string, ref: string | null, group: string): LedgerEntryInput[] {
  const keys = new Set([...from.keys(), ...to.keys()]);
  const rows: LedgerEntryInput[] = [];
  for (const k of [...keys].sort()) {
    const d = (to.get(k) ?? 0) - (from.get(k) ?? 0);
    if (d === 0) continue;
    const [asset, acc] = k.split('\u0000') as ['cpu' | 'memory', string];
    rows.push({ account: acc, asset, delta: d, reason, ref, group });
  }
  return rows;
}

function parseStored(x: unknown): StoredHost | undefined {
  const s = x as Partial<StoredHost> | undefined;
  if (!s || s.v !== 1 || !Array.isArray(s.members) || !Array.isArray(s.loans)) return undefined;
  return { v: 1, capacity: s.capacity ?? { cpuMillicores: 0, memoryMiB: 0 }, members: s.members, loans: s.loans, loanSeq: typeof s.loanSeq === 'number' ? s.loanSeq : 0, starved: s.starved ?? {}, explicit: s.explicit ?? {} };
}

