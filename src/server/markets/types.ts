// The market runtime hook: what a market component (burstable credits, later the spot auction and
// borrow/lend) implements to run inside the control loop's tick. See README.md in this folder.
//
// A component is a shell around a pure market (src/policy/markets): it reads the tick's view
// (time, hosts, instances, usage, forecasts, the policy's plan), moves units on the ONE ledger
// the runtime owns, and proposes plan actions (resizes, CPU caps, preemptions...). The runtime
// merges its proposals into the policy's plan, which then goes through the same applyPlan (with
// rollback) and the same audit (one entry per action with its reasons) as every other action;
// the ledger's journal entries and the component's state are written in the tick's commit
// transaction (retried with the next commit when it fails).
import type { Action, Plan } from '../../core/plan.js';
import type { Rng } from '../../core/rng.js';
import type { AuditInput, InstanceRecord, Store } from '../../core/store.js';
import type { Forecasts } from '../../policy/framework/types.js';
import type { Ledger } from '../../policy/markets/ledger.js';
import type { ManagedHost, ManagedInstance } from '../control-loop.js';
import type { EventType } from '../events.js';
import type { LatestForecast } from '../forecasters.js';

/** Why an instance left the loop's model (what a component does with its books depends on it). */
export type RemovalCause = 'deleted' | 'stopped' | 'terminated' | 'preempted';

/** What a component reads in a tick. Everything is the loop's live model: read it, never change it. */
export interface MarketTickContext {
  readonly tick: number;
  /**
   * Market model time at the END of this tick's step, ms: the `nowMs` to pass to the pure markets.
   * It advances by `stepMs` every tick and is persisted, so it continues across restarts (the loop's
   * own model time restarts from the wall clock).
   */
  readonly nowMs: number;
  /** Model milliseconds one tick stands for (the loop's stepSeconds x 1000). */
  readonly stepMs: number;
  /** The loop's model time (Snapshot.nowS), seconds. */
  readonly loopNowS: number;
  /** Wall time the tick started (the loop's Clock): timestamps of audit entries and events. */
  readonly wallMs: number;
  /** The loop's seeded random source (shared with decide: draw from it only in a fixed order). */
  readonly rng: Rng;
  /** The one ledger of every market (its journal is streamed to the store by the runtime). */
  readonly ledger: Ledger;
  /**
   * Managed instances (pending and running): `state` (hostId, allocation {cpu millicores, memory
   * MiB}, lastUsage = this tick's observed mean CPU / peak memory, NaN when no sample arrived),
   * tenant, priority, labels, request, lifecycle.
   */
  readonly instances: ReadonlyMap<string, ManagedInstance>;
  /** Hosts: `state` (capacity {cpu, memory}, on), the stored record, host-agent usage. */
  readonly hosts: ReadonlyMap<string, ManagedHost>;
  /** The forecasts decide() used this tick (instance id -> { cpu?, memory? } ProbForecast). */
  readonly forecasts: Forecasts;
  /** The loop's latest forecast of an instance, with when it was made. */
  latestForecast(id: string): LatestForecast | undefined;
  /**
   * The instances whose latest forecast was made at this tick. When given, `latestForecast` of
   * any other instance returns what it returned at the previous tick (the same object, or
   * undefined), so a component reading every instance's forecast each tick may keep them and look
   * up only these (LatestForecasts in instance-slots.ts). Absent: no such promise.
   */
  readonly latestForecastChanged?: readonly string[];
  /** The policy's plan of this tick, before the markets' actions are merged in (read only). */
  readonly plan: Readonly<Plan>;
}

/** Called after applyPlan with the fate of one proposed action. */
export interface ActionHooks {
  /** The whole plan applied (the loop's model has adopted it). */
  onApplied?(): void;
  /** The plan failed and was rolled back (this action is not in effect). */
  onFailed?(error: string): void;
}

/** Where a component puts what it decided in a tick. */
export interface MarketTickOutput {
  /**
   * Adds an action to the tick's plan. A resize replaces the CPU (and memory, when finite) of a
   * resize the policy planned for the same instance (one resize per instance reaches the driver;
   * reasons are joined). Amounts must be finite: NaN memory is filled with the current allocation.
   */
  action(action: Action, hooks?: ActionHooks): void;
  /**
   * A CPU ceiling for this tick (millicores): the resize planned for the instance is lowered to it,
   * or, without one, a resize to the cap is added when the current allocation is above it. Several
   * caps of one instance: the lowest wins. Reasons go to the audit entry of the resize.
   */
  capCpu(instance: string, cpuMillicores: number, reasons: readonly string[]): void;
  /** An audit entry written in the tick's commit (for decisions that are not plan actions). */
  audit(entry: MarketAudit): void;
  /** An event published after the tick's commit (tenant: only that tenant's and admin streams). */
  event(type: EventType, data: Record<string, unknown>, tenant?: string): void;
  /**
   * A store write run inside the tick's commit transaction (after the loop's own writes and the
   * ledger rows). When the commit fails it is kept and run again with the next commit, so it must
   * be safe to repeat (upserts, state changes to a target value).
   */
  write(w: StoreWrite): void;
}

export type StoreWrite = (tx: Store, wallMs: number) => Promise<void>;

/** An audit entry of a market decision (atMs and actor default to the tick's wall time and the control loop). */
export type MarketAudit = Omit<AuditInput, 'atMs' | 'actor'> & { atMs?: number; actor?: string };

/** What a component gets at start, before the first tick. */
export interface MarketRestoreContext {
  /**
   * The ledger, BEFORE the store's balances are loaded: a component may re-create its in-memory
   * objects with pure APIs that move units (join, restoreState...): those moves are not persisted,
   * and afterwards the runtime sets every balance to what the store holds (the store is the truth).
   */
  readonly ledger: Ledger;
  /** Market model time of the last tick before the restart (0 on a first start). */
  readonly nowMs: number;
  readonly stepMs: number;
  /** The instances the loop manages (pending and running). */
  readonly instances: ReadonlyMap<string, ManagedInstance>;
  /** Every stored instance, whatever its state (stopped, preempted, terminated included). */
  readonly storedInstances: readonly InstanceRecord[];
}

/** One market inside the control loop. */
export interface MarketComponent {
  /** Unique; its state is stored under the key `market:<name>`. */
  readonly name: string;
  /**
   * At start: its saved state (what `snapshot()` returned at the last commit; undefined on a first
   * start). Called once, before the ledger's balances are loaded from the store.
   */
  restore(saved: unknown, ctx: MarketRestoreContext): void;
  /** An instance joined the loop's model or changed (API, load); `nowMs` is market time. */
  instanceUpserted?(m: ManagedInstance, nowMs: number): void;
  /** An instance left the loop's model (ledger moves it makes here are written with the next commit). */
  instanceRemoved?(id: string, cause: RemovalCause, nowMs: number): void;
  /** One round, between decide and apply. */
  tick(ctx: MarketTickContext, out: MarketTickOutput): void;
  /**
   * The state to persist with the commit that follows (JSON-serialisable; replaced whole), or
   * undefined when nothing changed since the last snapshot.
   */
  snapshot(): unknown;
}
