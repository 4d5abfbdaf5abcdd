// The market runtime: one Ledger for every market component, run inside the control loop's tick
// (between decide and apply), with its journal streamed to the store's ledger in the tick's commit
// transaction and its state restored from the store at start. See README.md in this folder.
import { resize as resizeAction, type Action, type Plan, type ResizeAction } from '../../core/plan.js';
import type { ApplyResult } from '../../core/ports.js';
import type { Rng } from '../../core/rng.js';
import { ALL_TENANTS, type AuditInput, type InstanceRecord, type LedgerEntryInput, type Store } from '../../core/store.js';
import type { Forecasts } from '../../policy/framework/types.js';
import { ASSETS, Ledger, NEGATIVE_ALLOWED_PREFIXES, type Asset, type JournalEntry } from '../../policy/markets/ledger.js';
import type { ManagedHost, ManagedInstance } from '../control-loop.js';
import type { EventType } from '../events.js';
import type { LatestForecast } from '../forecasters.js';
import type { ActionHooks, MarketAudit, MarketComponent, MarketTickContext, MarketTickOutput, RemovalCause, StoreWrite } from './types.js';

/** Actor of audit entries written by the markets in a tick. */
export const MARKET_ACTOR = 'control-loop';
/** Store key of the runtime's own state (the market clock). */
export const RUNTIME_STATE_KEY = 'market:runtime';
/** Account the restore's reconciliation moves balances through (ends at 0). */
export const RESTORE_ACCOUNT = 'system:restore';

export const stateKey = (component: string): string => `market:${component}`;

/** Builds a component on the runtime's ledger. */
export type MarketComponentFactory = (ledger: Ledger, stepMs: number) => MarketComponent;

export interface MarketRuntimeOptions {
  /** In tick order; a factory gets the runtime's ledger. */
  components: ReadonlyArray<MarketComponent | MarketComponentFactory>;
  /** Model milliseconds per tick (the loop's stepSeconds x 1000). */
  stepMs: number;
  /**
   * Ticks between writes of routine entries (kinds in `nettedKinds`), netted per (account, asset)
   * over the window, with the component states and the clock. Any other entry (a charge, a bond,
   * an expiry...), a store write, a failed commit to retry, an API operation or the loop's stop
   * writes everything at once. Default: one model hour (3,600,000 / stepMs ticks, at least 1).
   * A crash loses at most the window: the books restart from the last write, consistently.
   */
  flushEveryTicks?: number;
  /** Entry kinds that are routine (netted over the window). Default ['credit-accrual']. */
  nettedKinds?: readonly string[];
}

/** What the loop hands the runtime each tick. */
export interface MarketTickInput {
  tick: number;
  loopNowS: number;
  wallMs: number;
  rng: Rng;
  instances: ReadonlyMap<string, ManagedInstance>;
  hosts: ReadonlyMap<string, ManagedHost>;
  forecasts: Forecasts;
  latestForecast(id: string): LatestForecast | undefined;
  /** MarketTickContext.latestForecastChanged: the instances whose latest forecast was made this tick. */
  latestForecastChanged?: readonly string[];
  plan: Plan;
}

/** One round's outcome: the plan to apply (policy + markets) and what goes with it. */
export interface MarketRound {
  plan: Plan;
  audit: AuditInput[];
  events: Array<{ type: EventType; data: Record<string, unknown>; tenant?: string }>;
  /** Hooks per action of the merged plan (by identity). */
  hooks: Map<Action, ActionHooks[]>;
}

/** Writes taken for one commit (kept and put back when the commit fails). */
export interface MarketWrites {
  entries: JournalEntry[];
  states: Map<string, unknown>;
  writes: StoreWrite[];
}

interface Sink {
  entries: JournalEntry[];
  /** Group prefix of the rows (one group per journal entry). */
  prefix: string;
}

/**
 * Converts journal entries into store rows: each move is -amount on `from`, +amount on `to`, one
 * group per entry. Entries whose kind is in `netted` are summed per (account, asset) first: one
 * row per account for all of them (group `<prefix>/net:<first seq>-<last seq>`), before the others.
 */
export function journalRows(entries: readonly JournalEntry[], groupOf: (e: JournalEntry) => string, netted: ReadonlySet<string> = new Set(), netPrefix = 'mkt'): LedgerEntryInput[] {
  const rows: LedgerEntryInput[] = [];
  const net = new Map<string, { account: string; asset: Asset; delta: number; ref: string | null; kind: string }>();
  let first = -1;
  let last = -1;
  let count = 0;
  const add = (account: string, asset: Asset, delta: number, ref: string | null, kind: string) => {
    const k = `${asset}\u0000${account}`;
    const n = net.get(k);
    if (!n) net.set(k, { account, asset, delta, ref, kind });
    else {
      n.delta += delta;
      if (n.ref !== ref) n.ref = null;
      if (n.kind !== kind) n.kind = 'netted';
    }
  };
  for (const e of entries) {
    if (e.moves.length === 0 || !netted.has(e.kind)) continue;
    if (first < 0) first = e.seq;
    last = e.seq;
    count++;
    for (const m of e.moves) {
      add(m.from, m.asset, -m.amount, e.ref, e.kind);
      add(m.to, m.asset, m.amount, e.ref, e.kind);
    }
  }
  if (count > 0) {
    const group = `${netPrefix}/net:${first}-${last}`;
    for (const n of net.values()) {
      if (n.delta === 0) continue;
      rows.push({ account: n.account, asset: n.asset, delta: n.delta, reason: `${n.kind} (net of ${count} entries)`, ref: n.ref, group });
    }
  }
  for (const e of entries) {
    if (e.moves.length === 0 || netted.has(e.kind)) continue;
    const group = groupOf(e);
    const reason = e.reasons.length > 0 ? `${e.kind}: ${e.reasons.join(', ')}`.slice(0, 500) : e.kind;
    for (const m of e.moves) {
      rows.push({ account: m.from, asset: m.asset, delta: -m.amount, reason, ref: e.ref, group });
      rows.push({ account: m.to, asset: m.asset, delta: m.amount, reason, ref: e.ref, group });
    }
  }
  return rows;
}

export class MarketRuntime {
  readonly ledger: Ledger;
  readonly stepMs: number;
  private readonly components: MarketComponent[];
  /** Where committed journal entries go; null: nowhere (restore, compensation). */
  private sink: Sink | null = null;
  /** Entries of ticks whose commit failed and of changes between ticks (written with the next commit). */
  private pending: Sink;
  private pendingWrites: StoreWrite[] = [];
  /** Component states taken for a commit that failed (a newer snapshot of the same key wins). */
  private unwrittenStates = new Map<string, unknown>();
  /** Market model time at the end of the last tick's step, ms. */
  private clockMs = 0;
  private epoch = '0';
  private restored = false;
  private store: Store | undefined;
  private exclusive: (<T>(fn: () => Promise<T>) => Promise<T>) | undefined;
  private wallNow: () => number = () => 0;
  /** Entries by the group their rows were given (group = prefix + seq). */
  private readonly groups = new WeakMap<JournalEntry, string>();
  private readonly flushEvery: number;
  private readonly netted: ReadonlySet<string>;
  private ticksSinceFlush = 0;
  /** The loop tick of the last round (NaN before the first). */
  private lastTick = NaN;
  /** A pending entry is not routine: write at the next commit. */
  private urgent = false;

  constructor(o: MarketRuntimeOptions) {
    if (!(Number.isSafeInteger(o.stepMs) && o.stepMs > 0)) throw new RangeError(`stepMs must be a positive whole number of milliseconds, got ${o.stepMs}`);
    this.stepMs = o.stepMs;
    const every = o.flushEveryTicks ?? Math.max(1, Math.round(3_600_000 / o.stepMs));
    if (!(Number.isSafeInteger(every) && every >= 1)) throw new RangeError(`flushEveryTicks must be a whole number >= 1, got ${every}`);
    this.flushEvery = every;
    this.netted = new Set(o.nettedKinds ?? ['credit-accrual']);
    this.pending = { entries: [], prefix: 'mkt:0' };
    this.ledger = new Ledger({
      keepJournal: false,
      onCommit: (e) => {
        const s = this.sink;
        if (!s) return;
        s.entries.push(e);
        // routine entries are written netted (their group is never read)
        if (this.netted.has(e.kind)) return;
        this.groups.set(e, `${s.prefix}/j:${e.seq}`);
        if (e.moves.length > 0) this.urgent = true;
      },
    });
    const names = new Set<string>();
    this.components = o.components.map((c) => (typeof c === 'function' ? c(this.ledger, this.stepMs) : c));
    for (const c of this.components) {
      if (names.has(c.name)) throw new RangeError(`two market components are named "${c.name}"`);
      names.add(c.name);
    }
  }

  /** A component by name (the API reads its live state). */
  component<T extends MarketComponent>(name: string): T | undefined {
    return this.components.find((c) => c.name === name) as T | undefined;
  }

  /** Market model time of the last tick, ms. */
  get nowMs(): number {
    return this.clockMs;
  }

  /**
   * Connects the runtime to the loop: its store, a way to run work between ticks (never during
   * one), and the wall clock (for the timestamps of operations made through the API).
   */
  bind(o: { store: Store; exclusive: <T>(fn: () => Promise<T>) => Promise<T>; wallNow: () => number }): void {
    this.store = o.store;
    this.exclusive = o.exclusive;
    this.wallNow = o.wallNow;
  }

  // ------------------------------------------------------------------------------ restore

  /**
   * At start: the market clock and each component's state from the store, then every ledger
   * balance set to the store's (`listBalances`), so the books continue exactly.
   */
  async restore(store: Store, instances: ReadonlyMap<string, ManagedInstance>, wallMs: number): Promise<void> {
    this.store = store;
    this.epoch = Math.floor(wallMs).toString(36);
    const [runtimeState, storedInstances, ...saved] = await Promise.all([
      store.getMarketState(RUNTIME_STATE_KEY),
      store.listInstances(ALL_TENANTS),
      ...this.components.map((c) => store.getMarketState(stateKey(c.name))),
    ]);
    const rs = runtimeState?.state as { clockMs?: unknown } | undefined;
    this.clockMs = typeof rs?.clockMs === 'number' && Number.isSafeInteger(rs.clockMs) && rs.clockMs >= 0 ? rs.clockMs : 0;
    this.sink = null;
    try {
      this.components.forEach((c, k) => c.restore(saved[k]?.state, { ledger: this.ledger, nowMs: this.clockMs, stepMs: this.stepMs, instances, storedInstances: storedInstances as InstanceRecord[] }));
      const balances = await store.listBalances(ALL_TENANTS);
      this.reconcile(balances, wallMs);
    } finally {
      this.pending = { entries: [], prefix: `mkt:${this.epoch}` };
      this.sink = this.pending;
    }
    this.restored = true;
  }

  /** Sets every balance to the stored one in one unpersisted transaction through RESTORE_ACCOUNT. */
  private reconcile(balances: ReadonlyArray<{ account: string; asset: Asset; balance: number }>, wallMs: number): void {
    const target = new Map<string, number>();
    const key = (asset: Asset, account: string) => `${asset}\u0000${account}`;
    for (const b of balances) if ((ASSETS as readonly string[]).includes(b.asset)) target.set(key(b.asset, b.account), b.balance);
    const tx = this.ledger.begin('restore', wallMs, ['balances-from-store']);
    for (const asset of ASSETS) {
      for (const [acc, bal] of this.ledger.accounts(asset)) {
        if (!target.has(key(asset, acc))) target.set(key(asset, acc), 0);
        void bal;
      }
    }
    for (const [k, want] of target) {
      const [asset, acc] = k.split('\u0000') as [Asset, string];
      const have = this.ledger.balance(acc, asset);
      const d = want - have;
      if (d > 0) tx.move(asset, RESTORE_ACCOUNT, acc, d);
      else if (d < 0) tx.move(asset, acc, RESTORE_ACCOUNT, -d);
    }
    if (tx.empty) return;
    const r = this.ledger.commit(tx);
    if (!r.ok) throw new Error(`market restore: the store's balances break a ledger rule: ${r.account} would hold ${r.wouldBe} ${r.asset}`);
    for (const asset of ASSETS) {
      const left = this.ledger.balance(RESTORE_ACCOUNT, asset);
      if (left !== 0) throw new Error(`market restore: the store's ${asset} balances do not sum to 0 (off by ${-left}); the ledger is not balanced`);
    }
  }

  // ------------------------------------------------------------------------------ instances

  instanceUpserted(m: ManagedInstance): void {
    if (!this.restored) return;
    for (const c of this.components) c.instanceUpserted?.(m, this.clockMs);
  }

  instanceRemoved(id: string, cause: RemovalCause): void {
    if (!this.restored) return;
    for (const c of this.components) c.instanceRemoved?.(id, cause, this.clockMs);
  }

  // ------------------------------------------------------------------------------ tick

  /** One market round: every component in order; their proposals merged into the policy's plan. */
  tick(input: MarketTickInput): MarketRound {
    this.clockMs += this.stepMs;
    this.ticksSinceFlush++;
    // the forecasts changed at this tick say what changed since the last round only when that was the previous tick
    const consecutive = input.tick === this.lastTick + 1;
    this.lastTick = input.tick;
    const ctx: MarketTickContext = {
      tick: input.tick,
      nowMs: this.clockMs,
      stepMs: this.stepMs,
      loopNowS: input.loopNowS,
      wallMs: input.wallMs,
      rng: input.rng,
      ledger: this.ledger,
      instances: input.instances,
      hosts: input.hosts,
      forecasts: input.forecasts,
      latestForecast: input.latestForecast,
      ...(input.latestForecastChanged && consecutive ? { latestForecastChanged: input.latestForecastChanged } : {}),
      plan: input.plan,
    };
    const proposed: Array<{ action: Action; hooks?: ActionHooks }> = [];
    const caps = new Map<string, { cpu: number; reasons: readonly string[]; copied: boolean }>();
    const audit: AuditInput[] = [];
    const events: MarketRound['events'] = [];
    const out: MarketTickOutput = {
      action: (action, hooks) => proposed.push(hooks ? { action, hooks } : { action }),
      capCpu: (instance, cpu, reasons) => {
        if (!Number.isFinite(cpu) || cpu < 0) throw new RangeError(`CPU cap of ${instance} must be a finite number of millicores >= 0, got ${cpu}`);
        const c = caps.get(instance);
        // the reasons are copied when a second cap of the same value adds to them, or an action takes them (mergePlan)
        if (!c || cpu < c.cpu) caps.set(instance, { cpu, reasons, copied: false });
        else if (cpu === c.cpu) {
          if (!c.copied) {
            c.reasons = [...c.reasons];
            c.copied = true;
          }
          (c.reasons as string[]).push(...reasons);
        }
      },
      audit: (e: MarketAudit) => audit.push({ ...e, atMs: e.atMs ?? input.wallMs, actor: e.actor ?? MARKET_ACTOR }),
      event: (type, data, tenant) => events.push(tenant !== undefined ? { type, data, tenant } : { type, data }),
      write: (w) => this.pendingWrites.push(w),
    };
    for (const c of this.components) c.tick(ctx, out);
    const { plan, hooks } = mergePlan(input.plan, proposed, caps, input.instances);
    return { plan, audit, events, hooks };
  }

  /** Runs the proposals' hooks with the plan's fate. */
  afterApply(round: MarketRound, result: ApplyResult, describe: (err: unknown) => string): void {
    if (round.hooks.size === 0) return;
    const error = result.ok ? '' : describe(result.failed?.error);
    for (const list of round.hooks.values()) {
      for (const h of list) {
        if (result.ok) h.onApplied?.();
        else h.onFailed?.(error);
      }
    }
  }

  // ------------------------------------------------------------------------------ commit

  /**
   * Everything to write with this commit (journal entries, component states, the clock, store
   * writes), or undefined when nothing is due yet (routine entries wait for their window; `force`:
   * write now, e.g. when the loop stops).
   */
  takeWrites(force = false): MarketWrites | undefined {
    if (!this.restored) return undefined;
    const due = force || this.urgent || this.ticksSinceFlush >= this.flushEvery || this.pendingWrites.length > 0 || this.unwrittenStates.size > 0;
    if (!due) return undefined;
    this.ticksSinceFlush = 0;
    this.urgent = false;
    const states = this.statesNow();
    const w: MarketWrites = { entries: this.pending.entries, states, writes: this.pendingWrites };
    this.pending = { entries: [], prefix: this.pending.prefix };
    this.sink = this.pending;
    this.pendingWrites = [];
    return w;
  }

  /** Writes them inside the caller's transaction: ledger rows (one atomic append), states, then the store writes. */
  async writeInto(tx: Store, w: MarketWrites, wallMs: number): Promise<void> {
    const rows = journalRows(w.entries, (e) => this.groups.get(e) ?? `mkt:${this.epoch}/j:${e.seq}`, this.netted, `mkt:${this.epoch}`);
    if (rows.length > 0) await tx.appendLedger(rows, wallMs, { allowNegative: NEGATIVE_ALLOWED_PREFIXES });
    for (const [key, state] of w.states) await tx.putMarketState(key, state, wallMs);
    for (const write of w.writes) await write(tx, wallMs);
  }

  /** After a failed commit: the writes go back in front of anything newer (states: the next snapshot supersedes). */
  restoreWrites(w: MarketWrites): void {
    this.pending.entries.unshift(...w.entries);
    this.pendingWrites.unshift(...w.writes);
    this.urgent = true; // retried with the next commit
    for (const [k, s] of w.states) if (!this.unwrittenStates.has(k)) this.unwrittenStates.set(k, s);
  }

  // ------------------------------------------------------------------------------ operations between ticks

  /**
   * A market operation made through the API (e.g. a bond): runs between ticks (never during one),
   * and its journal entries are written to the store at once, in one transaction with anything
   * pending and the components' states. When `fn` refuses (returns { ok: false }) nothing is
   * written. When the write fails, the operation's ledger moves are reversed in memory (and
   * `undo` runs) and the error is rethrown: the books stay what the store holds.
   */
  async operate<T>(fn: (ledger: Ledger, nowMs: number) => { result: T; commit: boolean; audit?: AuditInput[]; undo?: () => void }): Promise<T> {
    const store = this.store;
    const exclusive = this.exclusive;
    if (!store || !exclusive || !this.restored) throw new Error('the market runtime is not started');
    return exclusive(async () => {
      const before = this.takeWrites(true)!;
      const local: Sink = { entries: [], prefix: this.pending.prefix };
      this.sink = local;
      let r: ReturnType<typeof fn>;
      try {
        r = fn(this.ledger, this.clockMs);
      } finally {
        this.sink = this.pending;
      }
      if (!r.commit && local.entries.length === 0) {
        this.restoreWrites(before);
        return r.result;
      }
      const all: MarketWrites = { entries: [...before.entries, ...local.entries], states: before.states, writes: before.writes };
      for (const [k, s] of this.statesNow()) all.states.set(k, s);
      const wallMs = this.wallNow();
      try {
        await store.transaction(async (tx) => {
          await this.writeInto(tx, all, wallMs);
          if (r.commit && r.audit && r.audit.length > 0) await tx.appendAudit(r.audit);
        });
      } catch (err) {
        this.compensate(local.entries, wallMs);
        r.undo?.();
        this.restoreWrites(before);
        throw err;
      }
      return r.result;
    });
  }

  /** States to write: those of failed commits, overlaid with every component's newer snapshot and the clock. */
  private statesNow(): Map<string, unknown> {
    const states = this.unwrittenStates;
    this.unwrittenStates = new Map();
    for (const c of this.components) {
      const s = c.snapshot();
      if (s !== undefined) states.set(stateKey(c.name), s);
    }
    states.set(RUNTIME_STATE_KEY, { clockMs: this.clockMs });
    return states;
  }

  /** Reverses journal entries in memory (newest first), unpersisted. */
  private compensate(entries: readonly JournalEntry[], wallMs: number): void {
    const saved = this.sink;
    this.sink = null;
    try {
      for (let k = entries.length - 1; k >= 0; k--) {
        const e = entries[k]!;
        const tx = this.ledger.begin('compensate', wallMs, [`reverses ${e.kind}`], e.ref);
        for (const m of e.moves) tx.move(m.asset, m.to, m.from, m.amount);
        this.ledger.commit(tx);
      }
    } finally {
      this.sink = saved;
    }
  }
}

/** Marks a planned action a cap made pointless (filtered out of the merged plan). */
const DROPPED: Action = Object.freeze(resizeAction('', NaN, NaN, []));

/**
 * The policy's plan with the markets' proposals merged: a market resize replaces the CPU (and a
 * finite memory) of the policy's resize of the same instance; caps lower the instance's resize,
 * or add one when the current allocation is above the cap. NaN amounts become the current allocation.
 */
export function mergePlan(
  policyPlan: Plan,
  proposed: ReadonlyArray<{ action: Action; hooks?: ActionHooks }>,
  caps: ReadonlyMap<string, { cpu: number; reasons: readonly string[] }>,
  instances: ReadonlyMap<string, ManagedInstance>,
): { plan: Plan; hooks: Map<Action, ActionHooks[]> } {
  const hooks = new Map<Action, ActionHooks[]>();
  if (proposed.length === 0 && caps.size === 0) return { plan: policyPlan, hooks };
  const actions: Action[] = policyPlan.actions.slice();
  // where the plan resizes each instance the markets touch (the last resize of it; only those are ever looked up)
  const touched = new Set<string>(caps.keys());
  for (const p of proposed) if (p.action.kind === 'resize') touched.add(p.action.instance);
  const resizeAt = new Map<string, number>();
  actions.forEach((a, k) => {
    if (a.kind === 'resize' && touched.has(a.instance)) resizeAt.set(a.instance, k);
  });
  const addHook = (a: Action, h: ActionHooks | undefined) => {
    if (!h) return;
    let l = hooks.get(a);
    if (!l) hooks.set(a, (l = []));
    l.push(h);
  };
  const filled = (a: ResizeAction): ResizeAction => {
    const alloc = instances.get(a.instance)?.state.allocation;
    if (Number.isFinite(a.cpu) && Number.isFinite(a.memory)) return a;
    return resizeAction(a.instance, Number.isFinite(a.cpu) ? a.cpu : (alloc?.cpu ?? NaN), Number.isFinite(a.memory) ? a.memory : (alloc?.memory ?? NaN), a.reasons);
  };
  for (const p of proposed) {
    const a = p.action;
    if (a.kind !== 'resize') {
      actions.push(a);
      addHook(a, p.hooks);
      continue;
    }
    const k = resizeAt.get(a.instance);
    if (k === undefined) {
      const f = filled(a);
      resizeAt.set(a.instance, actions.length);
      actions.push(f);
      addHook(f, p.hooks);
      continue;
    }
    const prev = actions[k] as ResizeAction;
    const merged = resizeAction(a.instance, Number.isFinite(a.cpu) ? a.cpu : prev.cpu, Number.isFinite(a.memory) ? a.memory : prev.memory, [...prev.reasons, ...a.reasons]);
    const prevHooks = hooks.get(prev);
    hooks.delete(prev);
    actions[k] = merged;
    if (prevHooks) hooks.set(merged, prevHooks);
    addHook(merged, p.hooks);
  }
  let dropped = 0;
  for (const [id, cap] of caps) {
    const m = instances.get(id);
    if (!m) continue;
    const k = resizeAt.get(id);
    if (k !== undefined) {
      const prev = filled(actions[k] as ResizeAction);
      if (!(prev.cpu > cap.cpu)) {
        if (prev !== actions[k]) {
          const h = hooks.get(actions[k]!);
          hooks.delete(actions[k]!);
          actions[k] = prev;
          if (h) hooks.set(prev, h);
        }
        continue;
      }
      const h = hooks.get(actions[k]!);
      // capped back to what it has already: nothing to apply (no audit entry every tick while a cap holds)
      if (!h && cap.cpu === m.state.allocation.cpu && prev.memory === m.state.allocation.memory) {
        actions[k] = DROPPED;
        dropped++;
        continue;
      }
      const capped = resizeAction(id, cap.cpu, prev.memory, [...prev.reasons, ...cap.reasons]);
      hooks.delete(actions[k]!);
      actions[k] = capped;
      if (h) hooks.set(capped, h);
    } else if (m.state.allocation.cpu > cap.cpu) {
      resizeAt.set(id, actions.length);
      actions.push(resizeAction(id, cap.cpu, m.state.allocation.memory, [...cap.reasons]));
    }
  }
  return { plan: { ...policyPlan, actions: dropped > 0 ? actions.filter((a) => a !== DROPPED) : actions }, hooks };
}
