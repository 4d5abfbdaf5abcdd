// SqliteStore: the Store port on one SQLite file (better-sqlite3, WAL).
//
// Durability. Journal mode WAL; `synchronous` defaults to FULL: every commit fsyncs the WAL
// before the promise resolves, so an acknowledged write survives kill -9, an OS crash and power
// loss. With NORMAL, a commit is written to the WAL (the OS page cache) but fsynced only at
// checkpoints: it still survives kill -9 of the process (the kernel keeps the written pages),
// but the last transactions can be lost (never corrupted) on power loss or an OS crash. NORMAL
// is faster when commits are small and frequent; choose it with `{ synchronous: 'NORMAL' }`.
//
// Concurrency. better-sqlite3 is synchronous, so each call runs to completion on the event
// loop. `transaction(fn)` opens BEGIN IMMEDIATE and keeps it open across fn's awaits; meanwhile
// every other call on this store waits for it to end (a queue), so nothing from outside slips
// into the transaction. A call on the outer store from inside fn (instead of `tx`) would wait for
// itself: it is detected (AsyncLocalStorage) and fails with reason 'usage'.
import { AsyncLocalStorage } from 'node:async_hooks';
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { Database as Db } from 'better-sqlite3';
import {
  StoreError,
  type AgentInput,
  type AgentRecord,
  type AppendTelemetryResult,
  type AuditEntry,
  type AuditInput,
  type AuditQuery,
  type BidInput,
  type BidQuery,
  type BidRecord,
  type BidState,
  type ForecastInput,
  type ForecastRecord,
  type HostInput,
  type HostRecord,
  type InstanceInput,
  type InstancePatch,
  type InstanceQuery,
  type InstanceRecord,
  type BalanceQuery,
  type LedgerAppendOptions,
  type LedgerAsset,
  type LedgerBalance,
  type LedgerEntry,
  type LedgerEntryInput,
  type LedgerQuery,
  type MarketStateRecord,
  type PolicyRecord,
  type PolicyTarget,
  type Principal,
  type ProfileInput,
  type ProfileRecord,
  type PruneTelemetryOptions,
  type ReservationInput,
  type ReservationQuery,
  type ReservationRecord,
  type Rollup,
  type RollupQuery,
  type SampleQuery,
  type Scope,
  type Store,
  type StoredSample,
  type TelemetryPage,
  type TokenInput,
  type TokenRecord,
  type TransferInput,
} from '../../core/store.js';
import type { TelemetryBatch } from '../../core/telemetry.js';
import { MIGRATIONS, type Migration } from './migrations.js';
import { SqliteCore } from './sqlite-core.js';

/** 'pres' in ASCII: marks a file as a prescient database (PRAGMA application_id). */
export const APPLICATION_ID = 0x70726573;

export interface SqliteStoreOptions {
  /** 'FULL' (default): fsync per commit, survives power loss. 'NORMAL': survives process kill only. */
  synchronous?: 'FULL' | 'NORMAL';
  /** How long a write waits for another connection's lock before failing. Default 5000. */
  busyTimeoutMs?: number;
  /** Page cache size, MiB. Default 32. */
  cacheMiB?: number;
}

/** Opens (creating if needed) and migrates a SQLite store. `path` may be ':memory:'. */
export function openSqliteStore(path: string, options: SqliteStoreOptions = {}): SqliteStore {
  return SqliteStore.open(path, options);
}

/** Maps a better-sqlite3 failure to a StoreError; StoreErrors and programming errors pass. */
function mapError(e: unknown): unknown {
  if (e instanceof StoreError || !(e instanceof Database.SqliteError)) return e;
  const code = e.code;
  if (code.startsWith('SQLITE_CONSTRAINT')) return new StoreError('conflict', `store: ${e.message} (${code})`, { cause: e });
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED')
    return new StoreError('backend', `store: the database is locked by another connection (${code}); is a second prescient using the same file?`, {
      cause: e,
    });
  return new StoreError('backend', `store: ${e.message} (${code})`, { cause: e });
}

interface TxState {
  open: boolean;
  /** A nested transaction (savepoint) is running. */
  nested: boolean;
  savepoints: number;
}

/** How a view runs operations: the outer store queues behind an open transaction; a tx view checks it is still open. */
interface Gate {
  run<T>(op: () => T): Promise<T>;
  transaction<T>(fn: (tx: Store) => Promise<T> | T): Promise<T>;
}

class StoreView implements Store {
  constructor(
    protected readonly core: SqliteCore,
    private readonly gate: Gate,
  ) {}

  upsertHost(host: HostInput, nowMs: number): Promise<HostRecord> {
    return this.gate.run(() => this.core.upsertHost(host, nowMs));
  }
  getHost(id: string): Promise<HostRecord | undefined> {
    return this.gate.run(() => this.core.getHost(id));
  }
  listHosts(): Promise<HostRecord[]> {
    return this.gate.run(() => this.core.listHosts());
  }
  deleteHost(id: string): Promise<boolean> {
    return this.gate.run(() => this.core.deleteHost(id));
  }

  upsertInstance(scope: Scope, instance: InstanceInput, nowMs: number): Promise<InstanceRecord> {
    return this.gate.run(() => this.core.upsertInstance(scope, instance, nowMs));
  }
  getInstance(scope: Scope, id: string): Promise<InstanceRecord | undefined> {
    return this.gate.run(() => this.core.getInstance(scope, id));
  }
  listInstances(scope: Scope, query?: InstanceQuery): Promise<InstanceRecord[]> {
    return this.gate.run(() => this.core.listInstances(scope, query));
  }
  updateInstances(scope: Scope, patches: readonly InstancePatch[], nowMs: number): Promise<InstanceRecord[]> {
    return this.gate.run(() => this.core.updateInstances(scope, patches, nowMs));
  }
  deleteInstance(scope: Scope, id: string): Promise<boolean> {
    return this.gate.run(() => this.core.deleteInstance(scope, id));
  }

  appendTelemetry(batch: TelemetryBatch, receivedAtMs: number): Promise<AppendTelemetryResult> {
    return this.gate.run(() => this.core.appendTelemetry(batch, receivedAtMs));
  }
  querySamples(scope: Scope, instanceId: string, query: SampleQuery): Promise<StoredSample[]> {
    return this.gate.run(() => this.core.querySamples(scope, instanceId, query));
  }
  queryRollups(scope: Scope, instanceId: string, query: RollupQuery): Promise<Rollup[]> {
    return this.gate.run(() => this.core.queryRollups(scope, instanceId, query));
  }
  readTelemetrySince(cursor: number, limit: number): Promise<TelemetryPage> {
    return this.gate.run(() => this.core.readTelemetrySince(cursor, limit));
  }
  pruneTelemetry(options: PruneTelemetryOptions): Promise<{ samples: number; rollups: number; batches: number }> {
    return this.gate.run(() => this.core.pruneTelemetry(options));
  }

  putForecasts(forecasts: readonly ForecastInput[]): Promise<void> {
    return this.gate.run(() => this.core.putForecasts(forecasts));
  }
  getForecast(scope: Scope, instanceId: string, resource: string): Promise<ForecastRecord | undefined> {
    return this.gate.run(() => this.core.getForecast(scope, instanceId, resource));
  }
  listForecasts(scope: Scope, instanceId: string): Promise<ForecastRecord[]> {
    return this.gate.run(() => this.core.listForecasts(scope, instanceId));
  }

  createReservation(scope: Scope, reservation: ReservationInput, nowMs: number): Promise<ReservationRecord> {
    return this.gate.run(() => this.core.createReservation(scope, reservation, nowMs));
  }
  getReservation(scope: Scope, id: string): Promise<ReservationRecord | undefined> {
    return this.gate.run(() => this.core.getReservation(scope, id));
  }
  listReservations(scope: Scope, query?: ReservationQuery): Promise<ReservationRecord[]> {
    return this.gate.run(() => this.core.listReservations(scope, query));
  }
  releaseReservation(scope: Scope, id: string, nowMs: number): Promise<ReservationRecord> {
    return this.gate.run(() => this.core.releaseReservation(scope, id, nowMs));
  }

  putProfile(scope: Scope, profile: ProfileInput, nowMs: number): Promise<ProfileRecord> {
    return this.gate.run(() => this.core.putProfile(scope, profile, nowMs));
  }
  getProfile(scope: Scope, id: string): Promise<ProfileRecord | undefined> {
    return this.gate.run(() => this.core.getProfile(scope, id));
  }
  listProfiles(scope: Scope): Promise<ProfileRecord[]> {
    return this.gate.run(() => this.core.listProfiles(scope));
  }
  createBid(scope: Scope, bid: BidInput, nowMs: number): Promise<BidRecord> {
    return this.gate.run(() => this.core.createBid(scope, bid, nowMs));
  }
  getBid(scope: Scope, id: string): Promise<BidRecord | undefined> {
    return this.gate.run(() => this.core.getBid(scope, id));
  }
  listBids(scope: Scope, query?: BidQuery): Promise<BidRecord[]> {
    return this.gate.run(() => this.core.listBids(scope, query));
  }
  setBidState(scope: Scope, id: string, state: BidState, nowMs: number): Promise<BidRecord> {
    return this.gate.run(() => this.core.setBidState(scope, id, state, nowMs));
  }

  appendLedger(entries: readonly LedgerEntryInput[], nowMs: number, options?: LedgerAppendOptions): Promise<LedgerEntry[]> {
    return this.gate.run(() => this.core.appendLedger(entries, nowMs, options));
  }
  transferCredits(transfer: TransferInput, nowMs: number, options?: LedgerAppendOptions): Promise<LedgerEntry[]> {
    return this.gate.run(() => this.core.transferCredits(transfer, nowMs, options));
  }
  balance(scope: Scope, account: string, asset?: LedgerAsset): Promise<number> {
    return this.gate.run(() => this.core.balance(scope, account, asset));
  }
  listLedger(scope: Scope, account: string, query?: LedgerQuery): Promise<LedgerEntry[]> {
    return this.gate.run(() => this.core.listLedger(scope, account, query));
  }
  listBalances(scope: Scope, query?: BalanceQuery): Promise<LedgerBalance[]> {
    return this.gate.run(() => this.core.listBalances(scope, query));
  }
  putMarketState(key: string, state: unknown, nowMs: number): Promise<void> {
    return this.gate.run(() => this.core.putMarketState(key, state, nowMs));
  }
  getMarketState(key: string): Promise<MarketStateRecord | undefined> {
    return this.gate.run(() => this.core.getMarketState(key));
  }

  putPolicy(scope: Scope, target: PolicyTarget, settings: unknown, nowMs: number): Promise<PolicyRecord> {
    return this.gate.run(() => this.core.putPolicy(scope, target, settings, nowMs));
  }
  getPolicy(scope: Scope, target: PolicyTarget): Promise<PolicyRecord | undefined> {
    return this.gate.run(() => this.core.getPolicy(scope, target));
  }
  listPolicies(scope: Scope): Promise<PolicyRecord[]> {
    return this.gate.run(() => this.core.listPolicies(scope));
  }
  deletePolicy(scope: Scope, target: PolicyTarget): Promise<boolean> {
    return this.gate.run(() => this.core.deletePolicy(scope, target));
  }

  upsertAgent(agent: AgentInput, nowMs: number): Promise<AgentRecord> {
    return this.gate.run(() => this.core.upsertAgent(agent, nowMs));
  }
  getAgent(id: string): Promise<AgentRecord | undefined> {
    return this.gate.run(() => this.core.getAgent(id));
  }
  listAgents(): Promise<AgentRecord[]> {
    return this.gate.run(() => this.core.listAgents());
  }
  deleteAgent(id: string, nowMs: number): Promise<boolean> {
    return this.gate.run(() => this.core.deleteAgent(id, nowMs));
  }
  createToken(token: TokenInput, nowMs: number): Promise<TokenRecord> {
    return this.gate.run(() => this.core.createToken(token, nowMs));
  }
  authenticate(tokenSha256Hex: string, nowMs: number): Promise<Principal | undefined> {
    return this.gate.run(() => this.core.authenticate(tokenSha256Hex, nowMs));
  }
  listTokens(): Promise<TokenRecord[]> {
    return this.gate.run(() => this.core.listTokens());
  }
  revokeToken(id: string, nowMs: number): Promise<boolean> {
    return this.gate.run(() => this.core.revokeToken(id, nowMs));
  }

  appendAudit(entries: readonly AuditInput[]): Promise<AuditEntry[]> {
    return this.gate.run(() => this.core.appendAudit(entries));
  }
  listAudit(scope: Scope, query?: AuditQuery): Promise<AuditEntry[]> {
    return this.gate.run(() => this.core.listAudit(scope, query));
  }
  lastAuditSeq(): Promise<number> {
    return this.gate.run(() => this.core.lastAuditSeq());
  }

  transaction<T>(fn: (tx: Store) => Promise<T> | T): Promise<T> {
    return this.gate.transaction(fn);
  }

  schemaVersion(): Promise<number> {
    return this.gate.run(() => this.core.db.pragma('user_version', { simple: true }) as number);
  }

  close(): Promise<void> {
    return Promise.reject(new StoreError('usage', 'close() the store itself, not a transaction view'));
  }
}

/** The view handed to `transaction(fn)`: usable only while that transaction is open. */
class TxGate implements Gate {
  constructor(
    private readonly core: SqliteCore,
    private readonly state: TxState,
  ) {}

  run<T>(op: () => T): Promise<T> {
    if (!this.state.open) return Promise.reject(new StoreError('usage', 'this transaction has ended: use the store, not the tx it handed out'));
    try {
      return Promise.resolve(op());
    } catch (e) {
      return Promise.reject(mapError(e));
    }
  }

  async transaction<T>(fn: (tx: Store) => Promise<T> | T): Promise<T> {
    if (!this.state.open) throw new StoreError('usage', 'this transaction has ended');
    if (this.state.nested) throw new StoreError('usage', 'nested transactions must run one at a time');
    const db = this.core.db;
    const name = `sp${++this.state.savepoints}`;
    this.state.nested = true;
    db.exec(`SAVEPOINT ${name}`);
    try {
      const result = await fn(new StoreView(this.core, this));
      db.exec(`RELEASE ${name}`);
      return result;
    } catch (e) {
      db.exec(`ROLLBACK TO ${name}`);
      db.exec(`RELEASE ${name}`);
      throw mapError(e);
    } finally {
      this.state.nested = false;
    }
  }
}

export class SqliteStore extends StoreView implements Store {
  private active: TxState | null = null;
  private waiters: Array<() => void> = [];
  private readonly context = new AsyncLocalStorage<TxState>();
  private closed = false;

  private constructor(
    core: SqliteCore,
    /** The file, or ':memory:'. */
    readonly path: string,
  ) {
    const gate: Gate = {
      run: (op) => this.runOutside(op),
      transaction: (fn) => this.runTransaction(fn),
    };
    super(core, gate);
  }

  static open(path: string, options: SqliteStoreOptions = {}): SqliteStore {
    const synchronous = options.synchronous ?? 'FULL';
    if (synchronous !== 'FULL' && synchronous !== 'NORMAL') throw new StoreError('invalid', `sqlite store: synchronous must be FULL or NORMAL, got ${String(synchronous)}`);
    const existed = path !== ':memory:' && existsSync(path);
    let db: Db;
    try {
      db = new Database(path, { timeout: options.busyTimeoutMs ?? 5000 });
    } catch (e) {
      throw new StoreError('backend', `sqlite store: cannot open ${path}: ${(e as Error).message}`, { cause: e });
    }
    try {
      applyMigrations(db, path, existed);
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${synchronous}`);
      db.pragma('foreign_keys = ON');
      db.pragma(`cache_size = ${-1024 * (options.cacheMiB ?? 32)}`);
      return new SqliteStore(new SqliteCore(db), path);
    } catch (e) {
      db.close();
      throw mapError(e);
    }
  }

  /** Waits until the open transaction ends (callers re-check: another may have started since). */
  private waitTurn(): Promise<void> {
    if (this.context.getStore() === this.active)
      return Promise.reject(new StoreError('usage', 'called the store from inside its own transaction: use the `tx` passed to transaction(fn)'));
    return new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  private runOutside<T>(op: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new StoreError('usage', 'the store is closed'));
    if (this.active) return this.waitTurn().then(() => this.runOutside(op));
    try {
      return Promise.resolve(op());
    } catch (e) {
      return Promise.reject(mapError(e));
    }
  }

  private async runTransaction<T>(fn: (tx: Store) => Promise<T> | T): Promise<T> {
    while (this.active) await this.waitTurn();
    if (this.closed) throw new StoreError('usage', 'the store is closed');
    const state: TxState = { open: true, nested: false, savepoints: 0 };
    this.active = state;
    const db = this.core.db;
    try {
      try {
        db.exec('BEGIN IMMEDIATE');
      } catch (e) {
        throw mapError(e);
      }
      try {
        const result = await this.context.run(state, () => fn(new StoreView(this.core, new TxGate(this.core, state))));
        state.open = false;
        db.exec('COMMIT');
        return result;
      } catch (e) {
        state.open = false;
        if (db.inTransaction) db.exec('ROLLBACK');
        throw mapError(e);
      }
    } finally {
      state.open = false;
      this.active = null;
      const w = this.waiters;
      this.waiters = [];
      for (const wake of w) wake();
    }
  }

  /** Runs SQLite's own integrity check; returns the problems found ([] when the file is sound). */
  async integrityCheck(): Promise<string[]> {
    return this.runOutside(() => {
      const rows = this.core.db.pragma('integrity_check') as Array<{ integrity_check: string }>;
      const problems = rows.map((r) => r.integrity_check).filter((s) => s !== 'ok');
      const fk = this.core.db.pragma('foreign_key_check') as unknown[];
      if (fk.length) problems.push(`${fk.length} foreign key violation(s)`);
      for (const l of this.core.ledgerInconsistencies()) problems.push(`ledger account ${l.account} (${l.asset}): balance ${l.balance} != sum of entries ${l.sum}`);
      return problems;
    });
  }

  /** The journal mode and synchronous level in effect (for logs and tests). */
  settings(): { journalMode: string; synchronous: number; foreignKeys: boolean } {
    const db = this.core.db;
    return {
      journalMode: db.pragma('journal_mode', { simple: true }) as string,
      synchronous: db.pragma('synchronous', { simple: true }) as number,
      foreignKeys: db.pragma('foreign_keys', { simple: true }) === 1,
    };
  }

  override async close(): Promise<void> {
    while (this.active) await this.waitTurn();
    if (this.closed) return;
    this.closed = true;
    this.core.db.close();
    const w = this.waiters;
    this.waiters = [];
    for (const wake of w) wake();
  }
}

/**
 * Applies pending migrations in one IMMEDIATE transaction (all of them or none); refuses a newer
 * or foreign database. Exported for tests, which pass their own migration list.
 */
export function applyMigrations(db: Db, path: string, existed: boolean, migrations: readonly Migration[] = MIGRATIONS): void {
  const latest = migrations[migrations.length - 1]?.version ?? 0;
  let appId: number;
  try {
    appId = db.pragma('application_id', { simple: true }) as number;
  } catch (e) {
    throw new StoreError('schema', `${path} is not a SQLite database (${(e as Error).message})`, { cause: e });
  }
  if (appId !== 0 && appId !== APPLICATION_ID)
    throw new StoreError('schema', `${path} is not a prescient database (application_id ${appId}); refusing to touch it`);
  const check = (version: number): void => {
    if (version > latest)
      throw new StoreError('schema', `${path} has schema version ${version}, newer than this prescient knows (${latest}): upgrade prescient, or point it at another file`);
    if (version === 0 && existed) {
      const tables = (db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number }).n;
      if (tables > 0) throw new StoreError('schema', `${path} is a SQLite database of something else (${tables} tables, no prescient schema); refusing to touch it`);
    }
  };
  check(db.pragma('user_version', { simple: true }) as number);
  if ((db.pragma('user_version', { simple: true }) as number) === latest) return;
  db.transaction(() => {
    // Read again under the write lock: another process may have migrated meanwhile.
    const version = db.pragma('user_version', { simple: true }) as number;
    check(version);
    for (const m of migrations) {
      if (m.version <= version) continue;
      try {
        db.exec(m.sql);
      } catch (e) {
        throw new StoreError('schema', `${path}: migration ${m.version} (${m.name}) failed: ${(e as Error).message}; nothing was changed`, { cause: e });
      }
      db.pragma(`user_version = ${m.version}`);
    }
    db.pragma(`application_id = ${APPLICATION_ID}`);
  }).immediate();
}
