// The control loop: the shell around the decision core. Each tick:
//
//   ingest telemetry received since the last tick -> update the per instance+resource online
//   forecasters -> decide() with the policy runner -> apply the plan through the Driver
//   (applyPlan: a failure rolls the plan back and is recorded with its cause) -> commit
//   allocations, hosts, audit entries (with reasons) and forecasts to the store in ONE
//   transaction -> publish events.
//
// The decisions stay in src/policy; this file only moves data. Time comes from an injected Clock
// and randomness from a seeded Rng, so a test drives ticks with a virtual clock. A tick that runs
// longer than the tick interval is reported (metric + 'overrun' event), never silently skipped;
// the next tick then starts at once (no burst to catch up). A commit that fails (store down) is
// kept and retried with the next tick's commit, and reported.
//
// The loop keeps its own model of the fleet (what it believes), separate from the driver's world:
// the model changes only after the driver applied a whole plan.
//
// Operator settings (/v1/policies) reach the decisions through the snapshot (`Snapshot.control`,
// src/policy/framework/settings.ts): the loop holds the global and per-instance settings (loaded
// at start, changed by the API from the next tick on), each instance's applied live migrations
// (from its own plans, and at start from the audit log) and each instance's violation share. It
// reports what the settings did: withheld actions (audit entry with result 'rejected' when an
// action starts being withheld, 'withheld' event, metric) and degraded instances ('degraded'
// event on each change, gauge).
import type { Priority } from '../core/model.js';
import type { Action, Amounts, Plan, WithheldAction } from '../core/plan.js';
import { applyPlan, type ApplyResult, type Driver } from '../core/ports.js';
import type { ResourceVector } from '../core/resources.js';
import type { Rng } from '../core/rng.js';
import {
  ALL_TENANTS,
  type AuditInput,
  type ForecastInput,
  type HostInput,
  type HostRecord,
  type InstanceInput,
  type InstancePatch,
  type InstanceRecord,
  type InstanceState as StoredInstanceState,
  type PolicyTarget,
  type Store,
} from '../core/store.js';
import type { TelemetryBatch } from '../core/telemetry.js';
import type { PolicyRunner } from '../policy/framework/decide.js';
import {
  MIGRATION_WINDOW_S,
  degradationWindowSteps,
  effectiveSettings,
  migrationsInWindow,
  updateViolationShare,
  type EffectiveSettings,
} from '../policy/framework/settings.js';
import type { ControlInputs, ControlSettings, Forecasts, HostState, InstanceState, Snapshot, ViolationRecord } from '../policy/framework/types.js';
import { FixedRateTimer, type Clock } from './clock.js';
import type { EventBus } from './events.js';
import { DEFAULT_FORECAST_LEVELS, SeriesForecasters, quantileAt, type ForecasterOptions, type LatestForecast } from './forecasters.js';
import type { MarketRound, MarketRuntime, MarketWrites } from './markets/runtime.js';
import type { RemovalCause } from './markets/types.js';
import type { ServerMetrics } from './metrics.js';
import { policySettingsSchema } from './schemas.js';

export const CONTROL_LOOP_ACTOR = 'control-loop';

export interface ControlLoopOptions {
  store: Store;
  driver: Driver;
  runner: PolicyRunner;
  clock: Clock;
  rng: Rng;
  events: EventBus;
  metrics?: ServerMetrics;
  /** Wall time between ticks, ms (default 1000). */
  tickMs?: number;
  /** Model seconds one tick stands for (default 300: the embedded fleet replays a 5-minute workload one sample per tick). */
  stepSeconds?: number;
  /**
   * Forecaster settings. `everyTicks` defaults to max(1, ceil(2 x instances / seriesPerTick)) at
   * load, so that about `seriesPerTick` series (default 500) are updated per tick.
   */
  forecast?: Partial<Omit<ForecasterOptions, 'stepSeconds'>> & { seriesPerTick?: number };
  /** Ticks of usage and allocation kept per instance for the API and the dashboard (default 240). */
  historyTicks?: number;
  /** Called at the start of every tick, before ingest (the simulated fleet reports its telemetry here). */
  beforeTick?: (tick: number, nowMs: number) => void | Promise<void>;
  /**
   * The markets (src/server/markets): restored at load, run each tick between decide and apply
   * (their actions join the plan), their ledger journal and state written in the tick's commit.
   */
  markets?: MarketRuntime;
  /** Most actions listed in one 'actions' event (the audit log has all of them). Default 200. */
  maxEventActions?: number;
  onError?: (err: unknown, where: string) => void;
}

export interface TickPhasesMs {
  /** The beforeTick hook (the embedded fleet producing its telemetry). */
  source: number;
  ingest: number;
  forecast: number;
  decide: number;
  /** The market round (between decide and apply). */
  markets: number;
  apply: number;
  commit: number;
  publish: number;
}

export interface TickReport {
  tick: number;
  startedAtMs: number;
  durationMs: number;
  /** How late the tick started compared with its slot (live scheduling only). */
  lateMs: number;
  phasesMs: TickPhasesMs;
  samplesIngested: number;
  forecastsUpdated: number;
  actions: number;
  /** Actions the policy wanted but a setting withheld (plan.withheld). */
  withheld: number;
  applied: boolean;
  failure?: { index: number; action: Action; error: string; rollbackErrors: string[] };
  committed: boolean;
  commitError?: string;
  overrun: boolean;
}

/** What the loop knows about one managed instance. */
export interface ManagedInstance {
  readonly state: InstanceState;
  tenant: string;
  priority: Priority;
  request: ResourceVector;
  /** The full allocation vector (disk and network are carried, not managed). */
  allocationVector: ResourceVector;
  lifecycle: StoredInstanceState;
  labels: Record<string, string>;
  /** Index of the instance in the history arrays. */
  readonly row: number;
  lastSampleMs: number;
  /** Telemetry summed over the current tick. */
  readonly acc: Ingested;
  /** Share of recent ticks with usage above the allocation (settings.ts updateViolationShare). */
  readonly violation: ViolationRecord;
}

/** What the loop applies for an instance's settings (GET /get_instance_status). */
export interface InstanceControlStatus {
  /** The settings in effect (instance over global, per field), bounded; null fields are unset. */
  settings: { aggressiveness: number | null; maxMigrationsPerHour: number | null; degradationThreshold: number | null };
  /** Rightsizers' headroom factor (1 = the policy's defaults). */
  headroom: number;
  degraded: boolean;
  violationShare: number;
  violationSamples: number;
  /** Applied live migrations in the last 3600 s of model time. */
  migrationsLastHour: number;
}

export interface ManagedHost {
  readonly state: HostState;
  record: HostInput;
  /** Usage reported for the host itself (host agents), else NaN. */
  reported: Amounts;
}

interface Ingested {
  /** Tick the sums belong to. */
  tick: number;
  cpuSum: number;
  cpuN: number;
  memMax: number;
  lastMs: number;
}

/** Recent per-tick usage and allocation of every instance, in rings indexed by tick. */
class History {
  readonly times: Float64Array;
  private rows: Float32Array[] = [];
  constructor(readonly length: number) {
    this.times = new Float64Array(length).fill(NaN);
  }
  /** 4 series per row: usage cpu, usage memory, allocation cpu, allocation memory. */
  ensure(row: number): void {
    while (this.rows.length <= row) this.rows.push(new Float32Array(this.length * 4).fill(NaN));
  }
  clear(row: number): void {
    this.rows[row]?.fill(NaN);
  }
  set(row: number, tick: number, u: Amounts, a: Amounts): void {
    const r = this.rows[row]!;
    const k = (tick % this.length) * 4;
    r[k] = u.cpu;
    r[k + 1] = u.memory;
    r[k + 2] = a.cpu;
    r[k + 3] = a.memory;
  }
  stamp(tick: number, ms: number): void {
    this.times[tick % this.length] = ms;
  }
  /** The last `n` ticks up to `tick`, oldest first. */
  read(row: number, tick: number, n: number): HistoryPoint[] {
    const r = this.rows[row];
    const out: HistoryPoint[] = [];
    if (!r) return out;
    const count = Math.min(n, this.length, tick + 1);
    for (let t = tick - count + 1; t <= tick; t++) {
      if (t < 0) continue;
      const k = (t % this.length) * 4;
      const atMs = this.times[t % this.length]!;
      if (Number.isNaN(atMs)) continue;
      out.push({ tick: t, atMs, usage: { cpuMillicores: num(r[k]!), memoryMiB: num(r[k + 1]!) }, allocation: { cpuMillicores: num(r[k + 2]!), memoryMiB: num(r[k + 3]!) } });
    }
    return out;
  }
}

export interface HistoryPoint {
  tick: number;
  atMs: number;
  usage: { cpuMillicores: number | null; memoryMiB: number | null };
  allocation: { cpuMillicores: number | null; memoryMiB: number | null };
}

const num = (x: number): number | null => (Number.isFinite(x) ? x : null);

function phaseTimer(clock: Clock): () => number {
  let last = clock.monotonicMs();
  return () => {
    const now = clock.monotonicMs();
    const d = now - last;
    last = now;
    return d;
  };
}

interface Changed {
  allocation: boolean;
  host: boolean;
}

/** Pending writes of ticks whose commit failed: retried with the next commit. */
interface PendingCommit {
  /** Instances changed, with what changed (a patch carries only those fields). */
  instances: Map<string, Changed>;
  hosts: Set<string>;
  audit: AuditInput[];
  forecasts: Map<string, ForecastInput>;
  /** Instances that left the model with a final state to store (preempted). */
  retired: Map<string, InstancePatch>;
}

export class ControlLoop {
  readonly tickMs: number;
  readonly stepSeconds: number;
  private readonly store: Store;
  private readonly clock: Clock;
  private readonly instances = new Map<string, ManagedInstance>();
  private readonly hosts = new Map<string, ManagedHost>();
  private instanceList: InstanceState[] = [];
  private hostList: HostState[] = [];
  private listsDirty = true;
  private inbox: TelemetryBatch[] = [];
  private readonly changes: Array<() => void> = [];
  private forecasters!: SeriesForecasters;
  private history: History;
  private freeRows: number[] = [];
  private nextRow = 0;
  private tickIndex = -1;
  private startS = NaN;
  private pending: PendingCommit = emptyPending();
  private running: Promise<unknown> | null = null;
  /** Owners of instances that left the model this tick (events after the commit). */
  private readonly retiredTenants = new Map<string, string>();
  private readonly timer: FixedRateTimer;
  private loaded = false;
  // operator settings and what they need (see the header)
  private globalSettings: ControlSettings | undefined;
  private readonly instanceSettings = new Map<string, ControlSettings>();
  private readonly migrationsS = new Map<string, number[]>();
  private readonly violations = new Map<string, ViolationRecord>();
  private readonly degraded = new Set<string>();
  /** `${kind}\u0000${instance}` of the actions withheld last tick (audited once per episode). */
  private withheldBefore = new Set<string>();
  /** Migrations read from the audit log at load, placed in model time at the first tick. */
  private auditMigrations: Array<{ id: string; atMs: number }> = [];
  private readonly violationWindowSteps: number;
  lastReport: TickReport | undefined;
  readonly totals = { ticks: 0, overruns: 0, planFailures: 0, commitFailures: 0, actionsApplied: 0 };

  constructor(private readonly o: ControlLoopOptions) {
    this.store = o.store;
    this.clock = o.clock;
    this.tickMs = o.tickMs ?? 1000;
    this.stepSeconds = o.stepSeconds ?? 300;
    if (!(this.tickMs > 0)) throw new RangeError(`tickMs must be > 0, got ${this.tickMs}`);
    if (!(this.stepSeconds > 0)) throw new RangeError(`stepSeconds must be > 0, got ${this.stepSeconds}`);
    this.history = new History(Math.max(2, o.historyTicks ?? 240));
    this.violationWindowSteps = degradationWindowSteps(this.stepSeconds);
    // overran: the next tick starts at once (the tick reports the overrun)
    this.timer = new FixedRateTimer(this.clock, this.tickMs, (lateMs) => this.tick(lateMs), (err) => this.o.onError?.(err, 'tick'));
  }

  // ------------------------------------------------------------------------------ model

  /** Loads hosts and instances from the store (once, before the first tick). */
  async load(): Promise<void> {
    const [hosts, instances, policies] = await Promise.all([this.store.listHosts(), this.store.listInstances(ALL_TENANTS), this.store.listPolicies(ALL_TENANTS)]);
    for (const p of policies) this.putPolicy(p.target, p.settings);
    this.auditMigrations = await this.recentMigrationsFromAudit();
    const managed = instances.filter((i) => isManagedLifecycle(i.state));
    const f = this.o.forecast ?? {};
    this.forecasters = new SeriesForecasters({
      horizonSteps: f.horizonSteps ?? 12,
      levels: f.levels ?? DEFAULT_FORECAST_LEVELS,
      members: f.members ?? 'fast',
      everyTicks: f.everyTicks ?? Math.max(1, Math.ceil((2 * managed.length) / (f.seriesPerTick ?? 500))),
      stepSeconds: this.stepSeconds,
    });
    for (const h of hosts) this.putHost(h);
    for (const i of managed) this.putInstance(i);
    const markets = this.o.markets;
    if (markets) {
      markets.bind({ store: this.store, exclusive: (fn) => this.exclusive(fn), wallNow: () => this.clock.nowMs() });
      await markets.restore(this.store, this.instances, this.clock.nowMs());
    }
    this.loaded = true;
  }

  /** The market runtime, when the loop runs markets. */
  get markets(): MarketRuntime | undefined {
    return this.o.markets;
  }

  /**
   * Runs `fn` between ticks: waits for a tick in progress, and no tick starts until it is done
   * (market operations made through the API use it, so their books never interleave with a tick's).
   */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.running) await this.running.catch(() => undefined);
    const p = fn();
    this.running = p;
    try {
      return await p;
    } finally {
      if (this.running === p) this.running = null;
    }
  }

  private putHost(h: HostInput): void {
    const cap = { cpu: h.capacity.cpuMillicores, memory: h.capacity.memoryMiB };
    const existing = this.hosts.get(h.id);
    if (existing) {
      // Capacity changes come from the operator; power state stays what the loop believes.
      (existing.state as { capacity: Amounts }).capacity = cap;
      existing.record = { ...h, active: existing.state.on };
    } else {
      this.hosts.set(h.id, { state: { id: h.id, capacity: cap, on: h.active }, record: { ...h }, reported: { cpu: NaN, memory: NaN } });
    }
    this.listsDirty = true;
  }

  private putInstance(r: InstanceInput | InstanceRecord): void {
    const existing = this.instances.get(r.id);
    if (existing) {
      existing.tenant = r.tenant;
      existing.priority = r.priority;
      existing.request = { ...r.request };
      existing.labels = { ...(r.labels ?? {}) };
      (existing.state as { capacity: Amounts }).capacity = { cpu: r.request.cpuMillicores, memory: r.request.memoryMiB };
      if (this.loaded) this.o.markets?.instanceUpserted(existing);
      return;
    }
    const row = this.freeRows.pop() ?? this.nextRow++;
    this.history.ensure(row);
    this.history.clear(row);
    const hostId = r.hostId !== null && this.hosts.has(r.hostId) ? r.hostId : null;
    const state: InstanceState = {
      id: r.id,
      hostId,
      units: { cpu: 'millicores', memory: 'MiB' },
      capacity: { cpu: r.request.cpuMillicores, memory: r.request.memoryMiB },
      allocation: { cpu: r.allocation.cpuMillicores, memory: r.allocation.memoryMiB },
      lastUsage: { cpu: NaN, memory: NaN },
      samples: 0,
    };
    this.instances.set(r.id, {
      state,
      tenant: r.tenant,
      priority: r.priority,
      request: { ...r.request },
      allocationVector: { ...r.allocation },
      lifecycle: hostId === null ? 'pending' : r.state,
      labels: { ...(r.labels ?? {}) },
      row,
      lastSampleMs: NaN,
      acc: { tick: -1, cpuSum: 0, cpuN: 0, memMax: NaN, lastMs: NaN },
      violation: this.violationOf(r.id),
    });
    this.forecasters?.add(r.id);
    this.listsDirty = true;
    if (this.loaded) this.o.markets?.instanceUpserted(this.instances.get(r.id)!);
  }

  private dropInstance(id: string, cause: RemovalCause): void {
    const m = this.instances.get(id);
    if (!m) {
      if (cause === 'deleted') this.o.markets?.instanceRemoved(id, cause);
      return;
    }
    this.o.markets?.instanceRemoved(id, cause);
    this.instances.delete(id);
    this.freeRows.push(m.row);
    this.forecasters.remove(id);
    this.o.runner.forget(id);
    this.pending.instances.delete(id);
    this.listsDirty = true;
  }

  /** An instance created or changed through the API (applied at the start of the next tick). */
  upsertInstance(r: InstanceRecord): void {
    this.changes.push(() => {
      if (isManagedLifecycle(r.state)) this.putInstance(r);
      else this.dropInstance(r.id, r.state === 'preempted' ? 'preempted' : r.state === 'terminated' ? 'terminated' : 'stopped');
    });
  }

  /** An instance removed through the API: it leaves the model now (its pending writes are dropped). */
  removeInstance(id: string): void {
    this.dropInstance(id, 'deleted');
    // the store removed its policy with it; its measurements go too
    this.instanceSettings.delete(id);
    this.migrationsS.delete(id);
    this.violations.delete(id);
  }

  /**
   * Settings set (or, with undefined, removed) through the API, as stored: in effect from the next
   * tick on. Settings that do not parse are reported and ignored.
   */
  setPolicy(target: PolicyTarget, settings: unknown): void {
    this.changes.push(() => this.putPolicy(target, settings));
  }

  private putPolicy(target: PolicyTarget, settings: unknown): void {
    let parsed: ControlSettings | undefined;
    if (settings !== undefined && settings !== null) {
      const r = policySettingsSchema.safeParse(settings);
      if (r.success) parsed = r.data;
      else {
        const where = target.kind === 'global' ? 'global' : `instance ${target.instanceId}`;
        this.o.onError?.(new Error(`policy settings of ${where} ignored: ${r.error.issues.map((i) => `${i.path.join('.') || 'settings'}: ${i.message}`).join('; ')}`), 'policy');
      }
    }
    if (target.kind === 'global') this.globalSettings = parsed;
    else if (parsed) this.instanceSettings.set(target.instanceId, parsed);
    else this.instanceSettings.delete(target.instanceId);
  }

  private violationOf(id: string): ViolationRecord {
    let v = this.violations.get(id);
    if (!v) this.violations.set(id, (v = { share: 0, samples: 0 }));
    return v;
  }

  /** The settings and measurements of this round; undefined when no setting is given anywhere. */
  private controlInputs(): ControlInputs | undefined {
    if (!this.globalSettings && this.instanceSettings.size === 0) return undefined;
    return {
      ...(this.globalSettings ? { global: this.globalSettings } : {}),
      instances: this.instanceSettings,
      migrationsS: this.migrationsS,
      violations: this.violations,
    };
  }

  /** The settings in effect for an instance and what they measure (undefined: not managed). */
  controlStatus(id: string): InstanceControlStatus | undefined {
    const m = this.instances.get(id);
    if (!m) return undefined;
    const control = this.controlInputs();
    const nowS = Number.isNaN(this.startS) ? 0 : this.startS + Math.max(0, this.tickIndex) * this.stepSeconds;
    const eff: EffectiveSettings = effectiveSettings({ nowS, stepSeconds: this.stepSeconds, instances: [], hosts: [], ...(control ? { control } : {}) }, id);
    return {
      settings: { aggressiveness: eff.aggressiveness ?? null, maxMigrationsPerHour: eff.maxMigrationsPerHour ?? null, degradationThreshold: eff.degradationThreshold ?? null },
      headroom: eff.headroom,
      degraded: eff.degraded,
      violationShare: m.violation.share,
      violationSamples: m.violation.samples,
      migrationsLastHour: migrationsInWindow(this.migrationsS.get(id), nowS),
    };
  }

  /**
   * Applied live migrations recent enough to count for a rate limit after a restart: the audit
   * log's newest entries (read in growing slices up to 200,000 rows) back to one rate window
   * (converted to wall time: window / stepSeconds ticks).
   */
  private async recentMigrationsFromAudit(): Promise<Array<{ id: string; atMs: number }>> {
    const last = await this.store.lastAuditSeq();
    if (last === 0) return [];
    const cutoffMs = this.clock.nowMs() - (MIGRATION_WINDOW_S / this.stepSeconds) * this.tickMs;
    let rows: Awaited<ReturnType<Store['listAudit']>> = [];
    for (let k = 5000; ; k *= 4) {
      const after = Math.max(0, last - k);
      rows = await this.store.listAudit(ALL_TENANTS, { afterSeq: after, limit: k });
      if (after === 0 || rows.length === 0 || rows[0]!.atMs < cutoffMs || k >= 200_000) break;
    }
    const out: Array<{ id: string; atMs: number }> = [];
    for (const e of rows) {
      const a = e.action as { from?: unknown } | null;
      if (e.kind === 'migrate' && e.result === 'applied' && e.instanceId && e.atMs >= cutoffMs && typeof a?.from === 'string' && a.from !== '') out.push({ id: e.instanceId, atMs: e.atMs });
    }
    return out;
  }

  upsertHost(h: HostRecord): void {
    this.changes.push(() => this.putHost(h));
  }

  /** Telemetry received (already validated, authorized and stored): used at the next tick. */
  ingest(batch: TelemetryBatch): void {
    this.inbox.push(batch);
  }

  hasInstance(id: string): boolean {
    return this.instances.has(id);
  }
  hasHost(id: string): boolean {
    return this.hosts.has(id);
  }
  instance(id: string): ManagedInstance | undefined {
    return this.instances.get(id);
  }
  host(id: string): ManagedHost | undefined {
    return this.hosts.get(id);
  }
  hostIds(): string[] {
    return [...this.hosts.keys()].sort();
  }
  instanceIds(): string[] {
    return [...this.instances.keys()];
  }
  get currentTick(): number {
    return this.tickIndex;
  }
  latestForecast(id: string): LatestForecast | undefined {
    return this.forecasters?.latest(id);
  }
  historyOf(id: string, n: number): HistoryPoint[] {
    const m = this.instances.get(id);
    return m ? this.history.read(m.row, this.tickIndex, n) : [];
  }
  get forecastOptions(): ForecasterOptions {
    return this.forecasters.options;
  }

  /** Allocated, used and forecast capacity of a host (forecast: sum of the residents' quantile at step 1). */
  hostUsage(id: string, level = 0.9): HostUsage | undefined {
    if (!this.hosts.has(id)) return undefined;
    return this.hostUsages(level, id).get(id);
  }

  /** hostUsage of every host (or of one), in one pass over the instances. */
  hostUsages(level = 0.9, only?: string): Map<string, HostUsage> {
    const out = new Map<string, HostUsage>();
    for (const [id, host] of this.hosts) {
      if (only !== undefined && id !== only) continue;
      out.set(id, { host, residents: 0, withForecast: 0, allocated: { cpu: 0, memory: 0 }, used: { cpu: 0, memory: 0 }, forecast: { cpu: 0, memory: 0 }, level });
    }
    for (const m of this.instances.values()) {
      const hid = m.state.hostId;
      if (hid === null) continue;
      const u = out.get(hid);
      if (!u) continue;
      u.residents++;
      u.allocated.cpu += fin(m.state.allocation.cpu);
      u.allocated.memory += fin(m.state.allocation.memory);
      u.used.cpu += fin(m.state.lastUsage.cpu);
      u.used.memory += fin(m.state.lastUsage.memory);
      const f = this.forecasters.latest(m.state.id);
      if (f?.cpu || f?.memory) u.withForecast++;
      u.forecast.cpu += f?.cpu ? quantileAt(f.cpu, level, 1) : fin(m.state.lastUsage.cpu);
      u.forecast.memory += f?.memory ? quantileAt(f.memory, level, 1) : fin(m.state.lastUsage.memory);
    }
    return out;
  }

  // ------------------------------------------------------------------------------ tick

  /** Runs one tick now. Ticks never overlap: a call during a tick waits for it and runs after. */
  async tick(lateMs = 0): Promise<TickReport> {
    while (this.running) await this.running.catch(() => undefined);
    const p = this.runTick(lateMs);
    this.running = p;
    try {
      return await p;
    } finally {
      this.running = null;
    }
  }

  private async runTick(lateMs: number): Promise<TickReport> {
    if (!this.loaded) await this.load();
    const clock = this.clock;
    const startedAtMs = clock.nowMs();
    const t0 = clock.monotonicMs();
    const lap = phaseTimer(clock);
    const tick = ++this.tickIndex;
    if (Number.isNaN(this.startS)) {
      this.startS = Math.floor(startedAtMs / 1000);
      // migrations from before a restart, in model time (wall time elapsed / tickMs ticks ago)
      for (const { id, atMs } of this.auditMigrations) this.recordMigration(id, this.startS - ((startedAtMs - atMs) / this.tickMs) * this.stepSeconds, this.startS);
      this.auditMigrations = [];
    }
    const nowS = this.startS + tick * this.stepSeconds;
    const metrics = this.o.metrics;

    if (this.o.beforeTick) await this.o.beforeTick(tick, startedAtMs);
    const sourceMs = lap();
    for (const change of this.changes.splice(0)) change();
    if (this.listsDirty) {
      this.instanceList = [...this.instances.values()].map((m) => m.state);
      this.hostList = [...this.hosts.values()].map((h) => h.state);
      this.listsDirty = false;
    }

    // 1. Ingest.
    const samplesIngested = this.ingestInbox(tick, nowS, startedAtMs);
    const ingestMs = lap();

    // 2. Forecasters.
    const changed = this.forecasters.step(tick, startedAtMs);
    for (const id of changed) {
      const m = this.instances.get(id)!;
      const f = this.forecasters.latest(id)!;
      for (const key of ['cpu', 'memory'] as const) {
        const pf = f[key];
        if (pf) this.pending.forecasts.set(`${id}\u0000${key}`, { instanceId: id, resource: key, madeAtMs: f.madeAtMs, stepSeconds: f.stepSeconds, forecast: pf });
      }
      void m;
    }
    const forecastMs = lap();

    // 3. Decide (with the operator settings, when there are any).
    const control = this.controlInputs();
    const snapshot: Snapshot = { nowS, stepSeconds: this.stepSeconds, instances: this.instanceList, hosts: this.hostList, ...(control ? { control } : {}) };
    this.updateDegraded(snapshot, tick, startedAtMs);
    const runner = this.o.runner;
    const forecasts: Forecasts = runner.profile.forecast ? runner.forecasts(snapshot, nowS) : this.forecasters.all();
    const decided = runner.decideWithReasons(snapshot, forecasts, nowS, this.o.rng).plan;
    const withheldAudit = this.recordWithheld(decided.withheld ?? [], startedAtMs, tick);
    const decideMs = lap();

    // 3b. Markets: their actions join the plan (same apply, rollback and audit).
    let plan = decided;
    let round: MarketRound | undefined;
    if (this.o.markets) {
      round = this.o.markets.tick({
        tick,
        loopNowS: nowS,
        wallMs: startedAtMs,
        rng: this.o.rng,
        instances: this.instances,
        hosts: this.hosts,
        forecasts,
        latestForecast: (id) => this.forecasters.latest(id),
        latestForecastChanged: changed,
        plan: decided,
      });
      plan = round.plan;
    }
    const marketsMs = lap();

    // 4. Apply.
    let result: ApplyResult = { ok: true, applied: 0, rollbackErrors: [] };
    if (plan.actions.length > 0) {
      try {
        result = await applyPlan(this.o.driver, plan);
      } catch (error) {
        // applyPlan itself does not throw; a driver that breaks its contract is still a failed plan.
        result = { ok: false, applied: 0, failed: { index: 0, action: plan.actions[0]!, error }, rollbackErrors: [] };
      }
    }
    const audit = this.recordPlan(plan, result, startedAtMs, tick);
    audit.push(...withheldAudit);
    if (result.ok) this.adopt(plan, nowS);
    if (round) {
      this.o.markets!.afterApply(round, result, describeError);
      audit.push(...round.audit);
    }
    for (const m of this.instances.values()) this.history.set(m.row, tick, m.state.lastUsage, m.state.allocation);
    this.history.stamp(tick, startedAtMs);
    const applyMs = lap();

    // 5. Commit (one transaction, with whatever earlier failed commits left behind).
    const commit = await this.commit(audit, startedAtMs);
    const commitMs = lap();

    // 6. Publish.
    const failure = result.failed
      ? { index: result.failed.index, action: result.failed.action, error: describeError(result.failed.error), rollbackErrors: result.rollbackErrors.map(describeError) }
      : undefined;
    this.publish(plan, result, failure, tick, startedAtMs);
    if (round) for (const e of round.events) this.o.events.publish(e.type, e.data, e.tenant);
    this.retiredTenants.clear();
    const publishMs = lap();

    const durationMs = clock.monotonicMs() - t0;
    const overrun = durationMs > this.tickMs;
    const report: TickReport = {
      tick,
      startedAtMs,
      durationMs,
      lateMs,
      phasesMs: { source: sourceMs, ingest: ingestMs, forecast: forecastMs, decide: decideMs, markets: marketsMs, apply: applyMs, commit: commitMs, publish: publishMs },
      samplesIngested,
      forecastsUpdated: changed.length,
      actions: plan.actions.length,
      withheld: plan.withheld?.length ?? 0,
      applied: result.ok,
      ...(failure ? { failure } : {}),
      committed: commit.ok,
      ...(commit.error ? { commitError: commit.error } : {}),
      overrun,
    };
    this.totals.ticks++;
    if (overrun) this.totals.overruns++;
    if (!result.ok) this.totals.planFailures++;
    if (!commit.ok) this.totals.commitFailures++;
    if (result.ok) this.totals.actionsApplied += plan.actions.length;
    if (metrics) {
      metrics.ticks.inc();
      metrics.tickSeconds.observe(durationMs / 1000);
      for (const [phase, ms] of Object.entries(report.phasesMs)) metrics.tickPhaseSeconds.observe({ phase }, ms / 1000);
      if (overrun) metrics.overruns.inc();
      if (!result.ok) metrics.planFailures.inc();
      if (!commit.ok) metrics.commitFailures.inc();
      metrics.instances.set(this.instances.size);
      metrics.hosts.set(this.hosts.size);
      let on = 0;
      for (const h of this.hosts.values()) if (h.state.on) on++;
      metrics.hostsOn.set(on);
    }
    if (overrun) {
      this.o.events.publish('overrun', { tick, durationMs, tickMs: this.tickMs, lateMs, phasesMs: report.phasesMs });
    }
    this.o.events.publish('tick', {
      tick,
      atMs: startedAtMs,
      nowS,
      durationMs,
      lateMs,
      phasesMs: report.phasesMs,
      instances: this.instances.size,
      hosts: this.hosts.size,
      hostsOn: this.hostList.filter((h) => h.on).length,
      samplesIngested,
      forecastsUpdated: changed.length,
      actions: plan.actions.length,
      applied: result.ok,
      committed: commit.ok,
      overrun,
    });
    this.lastReport = report;
    return report;
  }

  private ingestInbox(tick: number, nowS: number, nowMs: number): number {
    const batches = this.inbox;
    this.inbox = [];
    let count = 0;
    const touched: ManagedInstance[] = [];
    const hostAcc = new Map<string, Ingested>();
    for (const b of batches) {
      for (const p of b.profiles) {
        const m = this.instances.get(p.instanceId);
        let a: Ingested;
        if (m) {
          if (m.acc.tick !== tick) {
            m.acc.tick = tick;
            m.acc.cpuSum = 0;
            m.acc.cpuN = 0;
            m.acc.memMax = NaN;
            m.acc.lastMs = NaN;
            touched.push(m);
          }
          a = m.acc;
        } else if (this.hosts.has(p.instanceId)) {
          let h = hostAcc.get(p.instanceId);
          if (!h) hostAcc.set(p.instanceId, (h = { tick, cpuSum: 0, cpuN: 0, memMax: NaN, lastMs: NaN }));
          a = h;
        } else continue;
        for (const s of p.samples) {
          count++;
          const v = s.values;
          if (v.cpuMillicores !== undefined) {
            a.cpuSum += v.cpuMillicores;
            a.cpuN++;
          }
          if (v.memoryMiB !== undefined) a.memMax = Number.isNaN(a.memMax) ? v.memoryMiB : Math.max(a.memMax, v.memoryMiB);
          if (!(s.timestampMs <= a.lastMs)) a.lastMs = s.timestampMs;
        }
      }
    }
    const runner = this.o.runner;
    for (let k = 0; k < touched.length; k++) {
      const m = touched[k]!;
      const a = m.acc;
      const usage = { cpu: a.cpuN > 0 ? a.cpuSum / a.cpuN : NaN, memory: a.memMax };
      const s = m.state;
      // The allocation that was in effect while the usage happened (before this tick's plan).
      runner.observe(s, usage, s.allocation, nowS);
      updateViolationShare(m.violation, usage.cpu > s.allocation.cpu || usage.memory > s.allocation.memory, this.violationWindowSteps);
      s.lastUsage = usage;
      s.samples++;
      m.lastSampleMs = a.lastMs;
      this.forecasters.record(s.id, usage);
    }
    for (const [id, a] of hostAcc) this.hosts.get(id)!.reported = { cpu: a.cpuN > 0 ? a.cpuSum / a.cpuN : NaN, memory: a.memMax };
    // Instances silent for 3 ticks lose their last usage (a gap in the history, not stale data).
    const stale = nowMs - 3 * this.tickMs;
    for (const m of this.instances.values()) {
      if (m.acc.tick !== tick && m.state.samples > 0 && m.lastSampleMs < stale && !Number.isNaN(m.state.lastUsage.cpu + m.state.lastUsage.memory)) {
        m.state.lastUsage = { cpu: NaN, memory: NaN };
      }
    }
    return count;
  }

  /** Keeps an applied live migration's time (model seconds) for the rate limit, dropping expired ones. */
  private recordMigration(id: string, atS: number, nowS: number): void {
    let list = this.migrationsS.get(id);
    if (!list) this.migrationsS.set(id, (list = []));
    const keepAfter = nowS - MIGRATION_WINDOW_S;
    let k = 0;
    while (k < list.length && list[k]! <= keepAfter) k++;
    if (k > 0) list.splice(0, k);
    if (atS > keepAfter) {
      list.push(atS);
      list.sort((a, b) => a - b);
    }
    if (list.length === 0) this.migrationsS.delete(id);
  }

  /** Degraded instances of this round (settings.ts): a 'degraded' event and the gauge on every change. */
  private updateDegraded(snapshot: Snapshot, tick: number, atMs: number): void {
    const control = snapshot.control;
    let anyThreshold = control?.global?.degradationThreshold !== undefined;
    if (control && !anyThreshold) {
      for (const v of this.instanceSettings.values()) {
        if (v.degradationThreshold === undefined) continue;
        anyThreshold = true;
        break;
      }
    }
    if (!anyThreshold && this.degraded.size === 0) return;
    for (const m of this.instances.values()) {
      const id = m.state.id;
      const eff = anyThreshold ? effectiveSettings(snapshot, id) : undefined;
      const now = eff?.degraded ?? false;
      if (now === this.degraded.has(id)) continue;
      if (now) this.degraded.add(id);
      else this.degraded.delete(id);
      this.o.events.publish('degraded', { tick, atMs, instance: id, degraded: now, violationShare: m.violation.share, threshold: eff?.degradationThreshold ?? null }, m.tenant);
    }
    for (const id of this.degraded) if (!this.instances.has(id)) this.degraded.delete(id);
    this.o.metrics?.instancesDegraded.set(this.degraded.size);
  }

  /**
   * Withheld actions: counted every tick; an audit entry (result 'rejected', with the reasons) and
   * a 'withheld' event when an action starts being withheld (not again while it stays withheld).
   */
  private recordWithheld(withheld: readonly WithheldAction[], atMs: number, tick: number): AuditInput[] {
    if (withheld.length === 0 && this.withheldBefore.size === 0) return [];
    const out: AuditInput[] = [];
    const now = new Set<string>();
    const fresh = new Map<string | undefined, WithheldAction[]>();
    for (const w of withheld) {
      const key = `${w.kind}\u0000${w.instance}`;
      this.o.metrics?.withheld.inc({ kind: w.kind, reason: w.reasons[0] ?? '' });
      if (now.has(key)) continue;
      now.add(key);
      if (this.withheldBefore.has(key)) continue;
      const m = this.instances.get(w.instance);
      out.push({
        atMs,
        actor: CONTROL_LOOP_ACTOR,
        action: { ...w, tick },
        reasons: [...w.reasons],
        result: 'rejected',
        error: `withheld: ${w.reasons[0] ?? 'limit'}`,
        instanceId: w.instance,
        hostId: w.from || null,
        tenant: m?.tenant ?? null,
      });
      let list = fresh.get(m?.tenant);
      if (!list) fresh.set(m?.tenant, (list = []));
      list.push(w);
    }
    this.withheldBefore = now;
    for (const [tenant, list] of fresh) this.o.events.publish('withheld', { tick, atMs, count: list.length, withheld: list }, tenant);
    return out;
  }

  /** The model after a successfully applied plan. */
  private adopt(plan: Plan, nowS: number): void {
    for (const a of plan.actions) {
      switch (a.kind) {
        case 'resize': {
          const m = this.instances.get(a.instance);
          if (!m) break;
          m.state.allocation = { cpu: a.cpu, memory: a.memory };
          m.allocationVector = {
            ...m.allocationVector,
            cpuMillicores: Number.isFinite(a.cpu) ? a.cpu : m.allocationVector.cpuMillicores,
            memoryMiB: Number.isFinite(a.memory) ? a.memory : m.allocationVector.memoryMiB,
          };
          this.changed(a.instance).allocation = true;
          break;
        }
        case 'migrate': {
          const m = this.instances.get(a.instance);
          if (!m) break;
          if (a.from !== '') this.recordMigration(a.instance, nowS, nowS);
          m.state.hostId = a.to;
          if (m.lifecycle === 'pending') m.lifecycle = 'running';
          this.changed(a.instance).host = true;
          break;
        }
        case 'power': {
          const h = this.hosts.get(a.host);
          if (!h) break;
          h.state.on = a.on;
          h.record = { ...h.record, active: a.on };
          this.pending.hosts.add(a.host);
          break;
        }
        case 'preempt': {
          const m = this.instances.get(a.instance);
          if (!m) break;
          this.retiredTenants.set(a.instance, m.tenant);
          this.dropInstance(a.instance, 'preempted');
          this.pending.retired.set(a.instance, { id: a.instance, hostId: null, state: 'preempted' });
          break;
        }
      }
    }
  }

  private changed(id: string): Changed {
    let c = this.pending.instances.get(id);
    if (!c) this.pending.instances.set(id, (c = { allocation: false, host: false }));
    return c;
  }

  /** Audit entries of a plan: applied, or failed / rolled back / skipped with the cause. */
  private recordPlan(plan: Plan, r: ApplyResult, atMs: number, tick: number): AuditInput[] {
    const out: AuditInput[] = [];
    const failedAt = r.failed?.index ?? -1;
    const cause = r.failed ? describeError(r.failed.error) : '';
    const rb = r.rollbackErrors.length > 0 ? `; rollback errors: ${r.rollbackErrors.map(describeError).join('; ')}` : '';
    plan.actions.forEach((action, i) => {
      let result: AuditInput['result'] = 'applied';
      let error: string | null = null;
      if (!r.ok) {
        if (i < failedAt) {
          result = 'rolled_back';
          error = `rolled back: action ${failedAt} of the plan failed: ${cause}${rb}`;
        } else if (i === failedAt) {
          result = 'failed';
          error = `${cause}${rb}`;
        } else {
          result = 'skipped';
          error = `not applied: action ${failedAt} of the plan failed`;
        }
      }
      const instanceId = action.kind === 'power' ? null : action.instance;
      const m = instanceId ? this.instances.get(instanceId) : undefined;
      const hostId = action.kind === 'power' ? action.host : action.kind === 'migrate' ? action.to : (m?.state.hostId ?? null);
      out.push({
        atMs,
        actor: CONTROL_LOOP_ACTOR,
        action: { ...action, tick },
        reasons: [...action.reasons],
        result,
        error,
        instanceId,
        hostId: hostId || null,
        tenant: m?.tenant ?? null,
      });
      this.o.metrics?.actions.inc({ kind: action.kind, result });
    });
    return out;
  }

  private async commit(audit: AuditInput[], nowMs: number, flushMarkets = false): Promise<{ ok: boolean; error?: string }> {
    const pend = this.pending;
    pend.audit.push(...audit);
    const market: MarketWrites | undefined = this.o.markets?.takeWrites(flushMarkets);
    if (pend.instances.size === 0 && pend.hosts.size === 0 && pend.audit.length === 0 && pend.forecasts.size === 0 && pend.retired.size === 0 && !market) return { ok: true };
    const patches: InstancePatch[] = [];
    for (const [id, c] of pend.instances) {
      const m = this.instances.get(id);
      if (!m) continue;
      const patch: InstancePatch = { id };
      if (c.allocation) patch.allocation = { ...m.allocationVector };
      if (c.host) {
        patch.hostId = m.state.hostId;
        patch.state = m.lifecycle;
      }
      patches.push(patch);
    }
    for (const [id, patch] of pend.retired) if (!this.instances.has(id)) patches.push(patch);
    const hosts: HostInput[] = [];
    for (const id of pend.hosts) {
      const h = this.hosts.get(id);
      if (h) hosts.push(h.record);
    }
    const forecasts = [...pend.forecasts.values()].filter((f) => this.instances.has(f.instanceId));
    const auditNow = pend.audit;
    // Writes made while this commit is in flight go into a fresh pending set.
    this.pending = emptyPending();
    try {
      await this.store.transaction(async (tx) => {
        // Hosts first: an instance may move onto a host that was just powered on.
        for (const h of hosts) await tx.upsertHost(h, nowMs);
        if (patches.length > 0) await tx.updateInstances(ALL_TENANTS, patches, nowMs);
        if (auditNow.length > 0) await tx.appendAudit(auditNow);
        if (forecasts.length > 0) await tx.putForecasts(forecasts);
        if (market) await this.o.markets!.writeInto(tx, market, nowMs);
      });
      return { ok: true };
    } catch (err) {
      if (market) this.o.markets!.restoreWrites(market);
      // Keep everything for the next commit (newer writes of the same rows win).
      const next = this.pending;
      for (const [id, c] of pend.instances) {
        const n = next.instances.get(id);
        if (n) {
          n.allocation ||= c.allocation;
          n.host ||= c.host;
        } else next.instances.set(id, c);
      }
      for (const id of pend.hosts) next.hosts.add(id);
      for (const [id, patch] of pend.retired) if (!next.retired.has(id)) next.retired.set(id, patch);
      next.audit.unshift(...auditNow);
      for (const [k, f] of pend.forecasts) if (!next.forecasts.has(k)) next.forecasts.set(k, f);
      const error = describeError(err);
      this.o.onError?.(err, 'commit');
      this.o.events.publish('commit-failed', { error, pendingAudit: next.audit.length, pendingInstances: next.instances.size });
      return { ok: false, error };
    }
  }

  private publish(plan: Plan, r: ApplyResult, failure: TickReport['failure'], tick: number, atMs: number): void {
    const events = this.o.events;
    if (plan.actions.length > 0) {
      const max = this.o.maxEventActions ?? 200;
      const byTenant = new Map<string | undefined, Action[]>();
      for (const a of plan.actions) {
        const tenant = a.kind === 'power' ? undefined : (this.instances.get(a.instance)?.tenant ?? this.retiredTenants.get(a.instance));
        let list = byTenant.get(tenant);
        if (!list) byTenant.set(tenant, (list = []));
        list.push(a);
      }
      const result = r.ok ? 'applied' : 'rolled_back';
      for (const [tenant, list] of byTenant) {
        events.publish('actions', { tick, atMs, result, count: list.length, actions: list.slice(0, max), truncated: list.length > max }, tenant);
      }
    }
    if (failure) {
      const a = failure.action;
      const tenant = a.kind === 'power' ? undefined : (this.instances.get(a.instance)?.tenant ?? this.retiredTenants.get(a.instance));
      events.publish('plan-failed', { tick, atMs, failedIndex: failure.index, action: a, error: failure.error, rolledBack: r.applied, rollbackErrors: failure.rollbackErrors }, tenant);
    }
  }

  // ------------------------------------------------------------------------------ live scheduling

  /** Starts ticking every tickMs (fixed rate; an overrun delays the next tick, it does not skip it). */
  start(): void {
    this.timer.start();
  }

  /** Stops ticking and waits for a tick in progress; then flushes pending writes once. */
  async stop(): Promise<void> {
    this.timer.stop();
    if (this.running) await this.running.catch(() => undefined);
    const p = this.pending;
    if (this.loaded && (p.audit.length > 0 || p.instances.size > 0 || p.hosts.size > 0 || p.forecasts.size > 0 || p.retired.size > 0 || this.o.markets)) {
      await this.commit([], this.clock.nowMs(), true);
    }
  }

  get isRunning(): boolean {
    return this.timer.isRunning;
  }
}

export interface HostUsage {
  host: ManagedHost;
  residents: number;
  withForecast: number;
  allocated: Amounts;
  used: Amounts;
  forecast: Amounts;
  level: number;
}

function emptyPending(): PendingCommit {
  return { instances: new Map(), hosts: new Set(), audit: [], forecasts: new Map(), retired: new Map() };
}

function fin(x: number): number {
  return Number.isFinite(x) ? x : 0;
}

function isManagedLifecycle(s: StoredInstanceState): boolean {
  return s === 'pending' || s === 'running';
}

/** An error as one line with its cause chain ("host h1 is off (caused by: ...)"). */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    if (e instanceof Error) {
      const code = (e as { code?: unknown }).code;
      parts.push(`${typeof code === 'string' ? `${code}: ` : ''}${e.message}`);
      e = (e as { cause?: unknown }).cause;
    } else {
      parts.push(String(e));
      break;
    }
  }
  return parts.join(' (caused by: ') + ')'.repeat(Math.max(0, parts.length - 1));
}
