// The Store port: everything the control plane persists, behind one interface so that a second
// backend (etcd, later) runs the same conformance suite (src/store/conformance.ts).
//
// Rules every implementation follows:
// - Every method is async (returns a promise), so a networked backend can implement it.
// - Every method that changes several rows is atomic: all of it or none of it.
// - Time comes in as a parameter (`nowMs`, Unix milliseconds); a store never reads the clock.
// - Tenant-owned records (instances, profiles, bids, reservations, instance policies, forecasts,
//   telemetry, ledger accounts, audit entries about an instance) are read and changed through a
//   `Scope`: a tenant scope sees only its own rows, and a row it cannot see behaves as absent
//   (reads return undefined / [], changes fail with reason 'not_found'), so ids of other tenants
//   do not leak. Ledger accounts out of scope fail 'forbidden' instead (see the ledger section).
// - The ledger and the audit log are append-only: there is no method to change or remove
//   an entry.
// - Failures throw `StoreError` (code E_STORE) with a stable `reason`.
//
// Pure: types and tiny helpers only (no I/O).
import { PrescientError } from './errors.js';
import type { Priority } from './model.js';
import type { ResourceVector } from './resources.js';
import type { TelemetryBatch } from './telemetry.js';

// ---------------------------------------------------------------------------------------------
// Scope (tenant isolation)

/** Whose rows a call may see: one tenant's, or everyone's (admin and the control loop). */
export type Scope = { readonly tenant: string } | { readonly allTenants: true };

/** The scope of the control loop and of admin tokens. */
export const ALL_TENANTS: Scope = Object.freeze({ allTenants: true as const });

export function tenantScope(tenant: string): Scope {
  return { tenant };
}

/** True when `scope` may see a row owned by `tenant`. */
export function scopeAllows(scope: Scope, tenant: string | null | undefined): boolean {
  return 'allTenants' in scope || (tenant !== null && tenant !== undefined && scope.tenant === tenant);
}

// ---------------------------------------------------------------------------------------------
// Errors

export type StoreErrorReason =
  /** The row does not exist, or the scope may not see it. */
  | 'not_found'
  /** A uniqueness or reference rule would break (duplicate id, host still has instances...). */
  | 'conflict'
  /** The scope may not do this at all (e.g. a tenant changing the global policy). */
  | 'forbidden'
  /** A ledger debit would take an account below zero. */
  | 'insufficient_funds'
  /** A value the store refuses (negative capacity, bad token hash, non-integer credits...). */
  | 'invalid'
  /** The database schema is newer than this code, or otherwise unusable. */
  | 'schema'
  /** Misuse of the API (e.g. calling the outer store inside its own transaction). */
  | 'usage'
  /** The backend failed (I/O error, busy timeout...). */
  | 'backend';

export class StoreError extends PrescientError {
  constructor(
    readonly reason: StoreErrorReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('E_STORE', message, options);
  }
}

export function isStoreError(e: unknown, reason?: StoreErrorReason): e is StoreError {
  return e instanceof StoreError && (reason === undefined || e.reason === reason);
}

// ---------------------------------------------------------------------------------------------
// Hosts and instances

export interface HostInput {
  id: string;
  capacity: ResourceVector;
  /** Powered on and accepting instances. */
  active: boolean;
  labels?: Record<string, string>;
}

export interface HostRecord extends HostInput {
  labels: Record<string, string>;
  createdAtMs: number;
  updatedAtMs: number;
  /** Increases by one on every change (optimistic concurrency for backends that need it). */
  version: number;
}

export type InstanceState = 'pending' | 'running' | 'stopped' | 'preempted' | 'terminated';
export const INSTANCE_STATES: readonly InstanceState[] = ['pending', 'running', 'stopped', 'preempted', 'terminated'];

export interface InstanceInput {
  id: string;
  tenant: string;
  /** Host it runs on (must exist), or null while pending. */
  hostId: string | null;
  priority: Priority;
  /** What the owner asked for. */
  request: ResourceVector;
  /** What prescient currently allocates (the enforced limit). */
  allocation: ResourceVector;
  state: InstanceState;
  labels?: Record<string, string>;
}

export interface InstanceRecord extends InstanceInput {
  labels: Record<string, string>;
  createdAtMs: number;
  updatedAtMs: number;
  version: number;
}

/** A partial change of one instance; absent fields stay as they are. The tenant never changes. */
export interface InstancePatch {
  id: string;
  hostId?: string | null;
  priority?: Priority;
  request?: ResourceVector;
  allocation?: ResourceVector;
  state?: InstanceState;
  labels?: Record<string, string>;
}

export interface InstanceQuery {
  hostId?: string | null;
  state?: InstanceState;
}

// ---------------------------------------------------------------------------------------------
// Telemetry

/** Metric names rolled up: the keys of MetricValues, and `custom.<name>` for custom metrics. */
export type MetricName = string;

/** One stored sample (a row of a TelemetryBatch profile). */
export interface StoredSample {
  /** Ingestion order, increasing; use with `readTelemetrySince`. */
  cursor: number;
  instanceId: string;
  agentId: string;
  timestampMs: number;
  intervalMs: number;
  values: Record<string, number>;
  custom?: Record<string, number>;
}

export interface AppendTelemetryResult {
  /** True when (agentId, sequence) was already stored: nothing was written. */
  duplicate: boolean;
  /** Samples written (a sample whose (instanceId, timestampMs) is already stored is skipped). */
  samplesStored: number;
  samplesSkipped: number;
}

/** Count, mean and max (and min) of one metric of one instance over one minute. */
export interface Rollup {
  instanceId: string;
  /** Start of the minute, Unix ms (a multiple of 60,000). Samples are bucketed by timestampMs. */
  minuteStartMs: number;
  metric: MetricName;
  count: number;
  mean: number;
  max: number;
  min: number;
}

export interface TimeRange {
  /** Inclusive, Unix ms. */
  fromMs: number;
  /** Exclusive, Unix ms. */
  toMs: number;
}

export interface SampleQuery extends TimeRange {
  /** Most recent first with 'desc'. Default 'asc'. */
  order?: 'asc' | 'desc';
  /** Default 10,000. */
  limit?: number;
}

export interface RollupQuery extends TimeRange {
  /** Only these metrics (default: all). */
  metrics?: readonly MetricName[];
}

export interface TelemetryPage {
  samples: StoredSample[];
  /** Pass back to get the next page; equals the argument when nothing new arrived. */
  nextCursor: number;
}

export interface PruneTelemetryOptions {
  /** Remove raw samples with timestampMs before this. */
  samplesBeforeMs?: number;
  /** Remove roll-ups of minutes starting before this. */
  rollupsBeforeMs?: number;
  /** Forget dedupe records of batches received before this. */
  batchesBeforeMs?: number;
}

// ---------------------------------------------------------------------------------------------
// Forecasts

/**
 * A probabilistic forecast as stored. Structurally the same as ProbForecast in
 * src/forecast/types.ts (core may not import forecast), so a ProbForecast can be passed as is.
 */
export interface ForecastData {
  mean: Float64Array;
  quantiles: Float64Array[];
  levels: readonly number[];
  confidence: number;
  model: string;
  anomaly?: { z: number; flagged: boolean };
}

export interface ForecastInput {
  instanceId: string;
  /** 'cpu' | 'memory' | 'disk' | 'network', or another metric name. */
  resource: string;
  /** When the forecast was made: step h covers madeAtMs + h * stepSeconds * 1000. */
  madeAtMs: number;
  stepSeconds: number;
  forecast: ForecastData;
}

export type ForecastRecord = ForecastInput;

// ---------------------------------------------------------------------------------------------
// Reservations

export type ReservationState = 'active' | 'released';

export interface ReservationInput {
  id: string;
  tenant: string;
  /** Host the capacity is held on, or null for "anywhere". */
  hostId: string | null;
  instanceId?: string | null;
  bidId?: string | null;
  resources: ResourceVector;
  startMs: number;
  endMs: number;
}

export interface ReservationRecord extends ReservationInput {
  instanceId: string | null;
  bidId: string | null;
  state: ReservationState;
  createdAtMs: number;
  updatedAtMs: number;
}

export interface ReservationQuery {
  hostId?: string;
  instanceId?: string;
  state?: ReservationState;
  /** Only reservations with startMs <= atMs < endMs. */
  activeAtMs?: number;
}

// ---------------------------------------------------------------------------------------------
// Market: workload profiles and bids (tenant-owned; the payload is JSON the store keeps as is)

export interface ProfileInput {
  id: string;
  tenant: string;
  priority: Priority;
  /** Instance the profile describes, if any (must exist and belong to the same tenant). */
  instanceId?: string | null;
  /** The validated request body (demand, bursts, interruptibility...): any JSON value. */
  payload: unknown;
}

export interface ProfileRecord extends ProfileInput {
  instanceId: string | null;
  createdAtMs: number;
  updatedAtMs: number;
}

export type BidState = 'open' | 'accepted' | 'rejected' | 'cancelled' | 'expired';
export const BID_STATES: readonly BidState[] = ['open', 'accepted', 'rejected', 'cancelled', 'expired'];

export interface BidInput {
  id: string;
  tenant: string;
  /** The workload profile bid for: must exist and belong to the same tenant. */
  profileId: string;
  instanceId?: string | null;
  /** Price offered, integer microcredits (1 credit = 1,000,000). */
  priceMicrocredits: number;
  priority: Priority;
  payload: unknown;
}

export interface BidRecord extends BidInput {
  instanceId: string | null;
  state: BidState;
  createdAtMs: number;
  updatedAtMs: number;
}

export interface BidQuery {
  profileId?: string;
  state?: BidState;
}

// ---------------------------------------------------------------------------------------------
// Ledger (append-only; six integer assets, the markets' journal)

/**
 * The assets of the ledger, each an integer count of its smallest unit (the same assets as the
 * pure market ledger, src/policy/markets/ledger.ts):
 *  - money:    microcredits (1 credit of money = 1,000,000); what bids and invoices are priced in
 *  - credit:   CPU credits in milli-credits (1 credit = one vCPU at 100 % for one minute)
 *  - cpu:      millicores
 *  - memory:   MiB
 *  - bond:     bonding units
 *  - priority: bidding-priority standing in milli-points
 */
export type LedgerAsset = 'money' | 'credit' | 'cpu' | 'memory' | 'bond' | 'priority';
export const LEDGER_ASSETS: readonly LedgerAsset[] = Object.freeze(['money', 'credit', 'cpu', 'memory', 'bond', 'priority'] as const);
/** The unit of one integer step of each asset (for reports and the API). */
export const LEDGER_ASSET_UNITS: Readonly<Record<LedgerAsset, string>> = Object.freeze({
  money: 'microcredits',
  credit: 'millicredits',
  cpu: 'millicores',
  memory: 'MiB',
  bond: 'bonding units',
  priority: 'millipoints',
});

/**
 * Account naming and what a tenant scope may read. An account is a string. A tenant scope sees:
 *  - its own account `<tenant>` (the money account of the store's first API) and the market's
 *    tenant accounts `tenant:<tenant>`, `invoice:<tenant>`, `priority:<tenant>`;
 *  - the accounts of instances it owns: `credits:<i>`, `surplus:<i>`, `bonds:<i>`, `alloc:<i>`
 *    (the part after the first ':' is the id of an instance of that tenant, as stored now; the
 *    accounts of a deleted instance are visible to the all-tenants scope only).
 * Everything else (`system:*`, `host:*`, ...) is visible to the all-tenants scope only.
 */
export const TENANT_LEDGER_PREFIXES: readonly string[] = Object.freeze(['tenant:', 'invoice:', 'priority:']);
export const INSTANCE_LEDGER_PREFIXES: readonly string[] = Object.freeze(['credits:', 'surplus:', 'bonds:', 'alloc:']);

/** The accounts named after a tenant that the tenant may read: `<tenant>`, `tenant:<tenant>`, ... */
export function tenantLedgerAccounts(tenant: string): string[] {
  return [tenant, ...TENANT_LEDGER_PREFIXES.map((p) => `${p}${tenant}`)];
}

/** The instance id of an instance account (`credits:vm-1` -> 'vm-1'), or undefined for any other account. */
export function instanceOfLedgerAccount(account: string): string | undefined {
  for (const p of INSTANCE_LEDGER_PREFIXES) if (account.startsWith(p) && account.length > p.length) return account.slice(p.length);
  return undefined;
}

export interface LedgerEntryInput {
  account: string;
  /** Default 'money'. */
  asset?: LedgerAsset;
  /** Signed change, a safe integer in the asset's unit (LEDGER_ASSET_UNITS). */
  delta: number;
  reason: string;
  /** What the entry is about (a bid id, an instance id...). */
  ref?: string | null;
  /** Entries written by one market transaction share a group (e.g. 'tick:123/j:45'); null otherwise. */
  group?: string | null;
}

export interface LedgerEntry {
  /** Gap-free, increasing across the whole ledger (all assets). */
  seq: number;
  account: string;
  asset: LedgerAsset;
  delta: number;
  reason: string;
  ref: string | null;
  group: string | null;
  atMs: number;
}

export interface LedgerAppendOptions {
  /**
   * Which accounts may end the append below zero. true: any account; an array: accounts starting
   * with one of these prefixes (the market's NEGATIVE_ALLOWED_PREFIXES: 'system:', 'surplus:',
   * 'invoice:', 'priority:'). Default: none ('insufficient_funds'). Checked per (account, asset)
   * on the net change of the whole append.
   */
  allowNegative?: boolean | readonly string[];
}

export interface TransferInput {
  from: string;
  to: string;
  /** Default 'money'. */
  asset?: LedgerAsset;
  /** Positive safe integer in the asset's unit. */
  amount: number;
  reason: string;
  ref?: string | null;
  /** Group of the two entries; default `transfer:<seq of the first entry>`. */
  group?: string | null;
}

export interface LedgerQuery {
  /** Entries with seq > afterSeq. */
  afterSeq?: number;
  /** Default 1,000. */
  limit?: number;
  /** Only entries of this asset (default: every asset). */
  asset?: LedgerAsset;
}

export interface LedgerBalance {
  account: string;
  asset: LedgerAsset;
  balance: number;
}

export interface BalanceQuery {
  /** Only this asset. */
  asset?: LedgerAsset;
  /** Only accounts whose name starts with this. */
  prefix?: string;
}

/** Market runtime state as stored: the JSON value and when it was last written. */
export interface MarketStateRecord {
  state: unknown;
  updatedAtMs: number;
}

// ---------------------------------------------------------------------------------------------
// Policies (settings are JSON the server validates; the store keeps them as is)

export type PolicyTarget = { kind: 'global' } | { kind: 'instance'; instanceId: string };
export const GLOBAL_POLICY: PolicyTarget = Object.freeze({ kind: 'global' as const });

export interface PolicyRecord {
  target: PolicyTarget;
  settings: unknown;
  updatedAtMs: number;
  version: number;
}

// ---------------------------------------------------------------------------------------------
// Agents and API tokens (tokens are stored as sha256 hashes only)

export type Role = 'admin' | 'tenant' | 'agent';
export const ROLES: readonly Role[] = ['admin', 'tenant', 'agent'];

export interface AgentInput {
  id: string;
  /** Tenant the agent reports for, or null for an operator-run (host) agent. */
  tenant: string | null;
  /** Instances (or hosts) this agent may report telemetry for. */
  instanceIds: readonly string[];
}

export interface AgentRecord extends AgentInput {
  instanceIds: string[];
  createdAtMs: number;
  updatedAtMs: number;
}

export interface TokenInput {
  id: string;
  /** sha256 of the token, 64 lowercase hex digits. The token itself is never stored. */
  tokenSha256Hex: string;
  role: Role;
  /** Required for role 'tenant'; null for admin. */
  tenant: string | null;
  /** Required for role 'agent': the agent the token speaks for (must exist). */
  agentId: string | null;
  label?: string;
  expiresAtMs?: number | null;
}

export interface TokenRecord extends TokenInput {
  label: string;
  expiresAtMs: number | null;
  createdAtMs: number;
  revokedAtMs: number | null;
}

/** Who a valid token speaks for: what the server needs to authorize a request. */
export interface Principal {
  tokenId: string;
  role: Role;
  tenant: string | null;
  agentId: string | null;
  /** For agents: the instances it may report for (from its agent record); [] otherwise. */
  instanceIds: string[];
}

// ---------------------------------------------------------------------------------------------
// Audit log (append-only, gap-free sequence)

export type AuditResult = 'applied' | 'failed' | 'rolled_back' | 'rejected' | 'skipped';

export interface AuditInput {
  atMs: number;
  /** Who acted: 'control-loop', 'token:<id>', ... */
  actor: string;
  /** The action as data (e.g. a plan Action); any JSON value. */
  action: unknown;
  reasons: readonly string[];
  result: AuditResult;
  /** Why it failed, with its cause, when it did. */
  error?: string | null;
  instanceId?: string | null;
  hostId?: string | null;
  /** Owner of the instance concerned; a tenant scope sees entries of its own tenant only. */
  tenant?: string | null;
}

export interface AuditEntry extends AuditInput {
  /** 1, 2, 3... without gaps. */
  seq: number;
  /** `action.kind` when the action has a string `kind`, else ''. */
  kind: string;
  reasons: string[];
  error: string | null;
  instanceId: string | null;
  hostId: string | null;
  tenant: string | null;
}

export interface AuditQuery {
  /** Entries with seq > afterSeq. */
  afterSeq?: number;
  /** Default 1,000. */
  limit?: number;
  instanceId?: string;
  /** Newest first with 'desc' (then afterSeq is ignored). Default 'asc'. */
  order?: 'asc' | 'desc';
}

// ---------------------------------------------------------------------------------------------
// The port

export interface Store {
  // Hosts (operator-owned: no scope)
  upsertHost(host: HostInput, nowMs: number): Promise<HostRecord>;
  getHost(id: string): Promise<HostRecord | undefined>;
  listHosts(): Promise<HostRecord[]>;
  /** Fails with 'conflict' while instances are placed on the host. Returns false when absent. */
  deleteHost(id: string): Promise<boolean>;

  // Instances
  /** Create, or replace an instance of the same tenant ('conflict' if the id belongs to another tenant). */
  upsertInstance(scope: Scope, instance: InstanceInput, nowMs: number): Promise<InstanceRecord>;
  getInstance(scope: Scope, id: string): Promise<InstanceRecord | undefined>;
  listInstances(scope: Scope, query?: InstanceQuery): Promise<InstanceRecord[]>;
  /** Apply all patches or none ('not_found' if any instance is absent or out of scope). */
  updateInstances(scope: Scope, patches: readonly InstancePatch[], nowMs: number): Promise<InstanceRecord[]>;
  /** Removes the instance with its policy and forecasts. Returns false when absent or out of scope. */
  deleteInstance(scope: Scope, id: string): Promise<boolean>;

  // Telemetry
  /** Stores a batch atomically and updates the per-minute roll-ups; a resent batch is a no-op. */
  appendTelemetry(batch: TelemetryBatch, receivedAtMs: number): Promise<AppendTelemetryResult>;
  querySamples(scope: Scope, instanceId: string, query: SampleQuery): Promise<StoredSample[]>;
  queryRollups(scope: Scope, instanceId: string, query: RollupQuery): Promise<Rollup[]>;
  /** Samples of every instance in ingestion order, after `cursor` (0 = from the start). */
  readTelemetrySince(cursor: number, limit: number): Promise<TelemetryPage>;
  pruneTelemetry(options: PruneTelemetryOptions): Promise<{ samples: number; rollups: number; batches: number }>;

  // Forecasts (latest per instance and resource)
  putForecasts(forecasts: readonly ForecastInput[]): Promise<void>;
  getForecast(scope: Scope, instanceId: string, resource: string): Promise<ForecastRecord | undefined>;
  listForecasts(scope: Scope, instanceId: string): Promise<ForecastRecord[]>;

  // Reservations
  createReservation(scope: Scope, reservation: ReservationInput, nowMs: number): Promise<ReservationRecord>;
  getReservation(scope: Scope, id: string): Promise<ReservationRecord | undefined>;
  listReservations(scope: Scope, query?: ReservationQuery): Promise<ReservationRecord[]>;
  releaseReservation(scope: Scope, id: string, nowMs: number): Promise<ReservationRecord>;

  // Market
  /** Create or replace a profile of the same tenant. */
  putProfile(scope: Scope, profile: ProfileInput, nowMs: number): Promise<ProfileRecord>;
  getProfile(scope: Scope, id: string): Promise<ProfileRecord | undefined>;
  listProfiles(scope: Scope): Promise<ProfileRecord[]>;
  /** Create a bid (state 'open'); 'conflict' if the id exists. */
  createBid(scope: Scope, bid: BidInput, nowMs: number): Promise<BidRecord>;
  getBid(scope: Scope, id: string): Promise<BidRecord | undefined>;
  listBids(scope: Scope, query?: BidQuery): Promise<BidRecord[]>;
  setBidState(scope: Scope, id: string, state: BidState, nowMs: number): Promise<BidRecord>;

  // Ledger (append-only, six assets)
  /**
   * Append entries atomically (all or none). Refuses ('insufficient_funds') an append whose net
   * change takes an (account, asset) below zero, unless `allowNegative` allows that account;
   * 'invalid' (naming `entries[i]` and the field) for a bad entry, an unknown asset, or a balance
   * that would leave the safe integer range.
   */
  appendLedger(entries: readonly LedgerEntryInput[], nowMs: number, options?: LedgerAppendOptions): Promise<LedgerEntry[]>;
  /** Two entries (-amount on `from`, +amount on `to`) of one asset, in one step and one group. */
  transferCredits(transfer: TransferInput, nowMs: number, options?: LedgerAppendOptions): Promise<LedgerEntry[]>;
  /** Sum of the account's deltas of `asset` (default 'money'; 0 for an unknown account). 'forbidden' if out of scope. */
  balance(scope: Scope, account: string, asset?: LedgerAsset): Promise<number>;
  /** Entries of one account in seq order. 'forbidden' if out of scope. */
  listLedger(scope: Scope, account: string, query?: LedgerQuery): Promise<LedgerEntry[]>;
  /**
   * Every non-zero balance the scope may see, optionally of one asset / account prefix; sorted by
   * account, then asset (both by their UTF-8 bytes). Read from the balances kept with the
   * entries, not summed from the ledger.
   */
  listBalances(scope: Scope, query?: BalanceQuery): Promise<LedgerBalance[]>;
  /**
   * Market runtime state (JSON, e.g. credit classes/modes/carry, smoothed multipliers, running spot
   * instances, loans), kept whole per key and replaced in one write; read back at start. Not
   * tenant-scoped (the control plane's own). Part of `transaction(fn)` like every write.
   */
  putMarketState(key: string, state: unknown, nowMs: number): Promise<void>;
  getMarketState(key: string): Promise<MarketStateRecord | undefined>;

  // Policies
  putPolicy(scope: Scope, target: PolicyTarget, settings: unknown, nowMs: number): Promise<PolicyRecord>;
  getPolicy(scope: Scope, target: PolicyTarget): Promise<PolicyRecord | undefined>;
  /** The global policy (if set) and the instance policies the scope may see. */
  listPolicies(scope: Scope): Promise<PolicyRecord[]>;
  deletePolicy(scope: Scope, target: PolicyTarget): Promise<boolean>;

  // Agents and tokens
  upsertAgent(agent: AgentInput, nowMs: number): Promise<AgentRecord>;
  getAgent(id: string): Promise<AgentRecord | undefined>;
  listAgents(): Promise<AgentRecord[]>;
  /** Also revokes the agent's tokens. */
  deleteAgent(id: string, nowMs: number): Promise<boolean>;
  createToken(token: TokenInput, nowMs: number): Promise<TokenRecord>;
  /** The principal of a token that exists, is not revoked and not expired at nowMs. */
  authenticate(tokenSha256Hex: string, nowMs: number): Promise<Principal | undefined>;
  listTokens(): Promise<TokenRecord[]>;
  revokeToken(id: string, nowMs: number): Promise<boolean>;

  // Audit log (append-only)
  appendAudit(entries: readonly AuditInput[]): Promise<AuditEntry[]>;
  listAudit(scope: Scope, query?: AuditQuery): Promise<AuditEntry[]>;
  /** Highest seq (0 when empty). */
  lastAuditSeq(): Promise<number>;

  /**
   * Runs `fn` in one transaction: everything it does through `tx` commits together, or nothing
   * does if it throws (the error is rethrown). Other calls on this store wait until it ends.
   * Inside `fn`, use `tx` only: calling the outer store from inside fails with reason 'usage'
   * (it would wait for itself). Nested `tx.transaction` calls are savepoints.
   */
  transaction<T>(fn: (tx: Store) => Promise<T> | T): Promise<T>;

  /** Schema version of the open database. */
  schemaVersion(): Promise<number>;
  close(): Promise<void>;
}
