// The synchronous heart of the SQLite store: one better-sqlite3 connection, prepared statements,
// one method per Store operation. SqliteStore (sqlite-store.ts) wraps it in the async Store port.
// Every method that writes several rows runs inside `this.db.transaction(...)`, which becomes a
// savepoint when an outer transaction is open, so it is atomic either way.
import type { Database, Statement } from 'better-sqlite3';
import type { ResourceVector } from '../../core/resources.js';
import {
  scopeAllows,
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
  INSTANCE_LEDGER_PREFIXES,
  instanceOfLedgerAccount,
  LEDGER_ASSET_UNITS,
  TENANT_LEDGER_PREFIXES,
  tenantLedgerAccounts,
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
  type StoredSample,
  type TelemetryPage,
  type TokenInput,
  type TokenRecord,
  type TransferInput,
} from '../../core/store.js';
import type { MetricValues, TelemetryBatch } from '../../core/telemetry.js';
import {
  checkAsset,
  checkBidState,
  checkFinite,
  checkId,
  checkInstanceState,
  checkLabels,
  checkMicrocredits,
  checkOptionalId,
  checkOwnTenant,
  checkPriority,
  checkRole,
  checkSafeInteger,
  checkSha256Hex,
  checkText,
  checkTimeMs,
  checkVector,
  invalid,
  show,
  toJson,
} from '../validate.js';

type Row = Record<string, unknown>;
type Param = string | number | bigint | Buffer | null;

/** Sample metrics and their columns, in the order of the samples table. */
export const METRIC_COLUMNS = [
  ['cpuMillicores', 'cpu_millicores'],
  ['memoryMiB', 'memory_mib'],
  ['diskReadKiBps', 'disk_read_kibps'],
  ['diskWriteKiBps', 'disk_write_kibps'],
  ['networkRxKiBps', 'network_rx_kibps'],
  ['networkTxKiBps', 'network_tx_kibps'],
  ['cpuPressurePct', 'cpu_pressure_pct'],
  ['memoryPressurePct', 'memory_pressure_pct'],
  ['ioPressurePct', 'io_pressure_pct'],
] as const satisfies ReadonlyArray<readonly [keyof MetricValues, string]>;
// Compile-time check that every metric of the telemetry contract has a column.
type MissingMetric = Exclude<keyof MetricValues, (typeof METRIC_COLUMNS)[number][0]>;
const everyMetricHasAColumn: [MissingMetric] extends [never] ? true : MissingMetric = true;
void everyMetricHasAColumn;

const ROLLUP_UPSERT = `INSERT INTO rollups (instance_id, minute_ms, ${METRIC_COLUMNS.map(([, c]) => `${c}_n, ${c}_sum, ${c}_min, ${c}_max`).join(', ')})
  VALUES (?, ?, ${METRIC_COLUMNS.map(() => '?, ?, ?, ?').join(', ')})
  ON CONFLICT (instance_id, minute_ms) DO UPDATE SET ${METRIC_COLUMNS.map(
    ([, c]) =>
      `${c}_n = ${c}_n + excluded.${c}_n, ${c}_sum = ${c}_sum + excluded.${c}_sum, ` +
      `${c}_min = min(coalesce(${c}_min, excluded.${c}_min), coalesce(excluded.${c}_min, ${c}_min)), ` +
      `${c}_max = max(coalesce(${c}_max, excluded.${c}_max), coalesce(excluded.${c}_max, ${c}_max))`,
  ).join(', ')}`;

/** Roll-up name of a custom metric. */
export const customMetricName = (name: string): string => `custom.${name}`;

const MINUTE_MS = 60_000;
const DEFAULT_LIST_LIMIT = 1000;
const DEFAULT_SAMPLE_LIMIT = 10_000;

const vecCols = (p: string): string => `${p}_cpu_millicores, ${p}_memory_mib, ${p}_disk_kibps, ${p}_network_kibps`;
const vecParams = (v: ResourceVector): number[] => [v.cpuMillicores, v.memoryMiB, v.diskKiBps, v.networkKiBps];
const vecFrom = (r: Row, p: string): ResourceVector => ({
  cpuMillicores: r[`${p}_cpu_millicores`] as number,
  memoryMiB: r[`${p}_memory_mib`] as number,
  diskKiBps: r[`${p}_disk_kibps`] as number,
  networkKiBps: r[`${p}_network_kibps`] as number,
});

function f64ToBlob(a: Float64Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}
function blobToF64(b: Buffer, offsetValues = 0, length = b.byteLength / 8 - offsetValues): Float64Array {
  const out = new Float64Array(length);
  new Uint8Array(out.buffer).set(b.subarray(offsetValues * 8, (offsetValues + length) * 8));
  return out;
}

function limitOf(limit: number | undefined, dflt: number): number {
  if (limit === undefined) return dflt;
  if (!Number.isSafeInteger(limit) || limit < 1) invalid('query', 'limit', `must be a positive integer, got ${limit}`);
  return limit;
}

function policyKey(t: PolicyTarget): string {
  if (t.kind === 'global') return 'global';
  if (t.kind === 'instance') return `instance:${checkId('policy target', 'instanceId', t.instanceId)}`;
  return invalid('policy target', 'kind', `must be 'global' or 'instance', got ${JSON.stringify((t as { kind: unknown }).kind)}`);
}

/**
 * The queries of listBalances, all answered from the balances primary key (account, asset), never
 * from the ledger (test/store/sqlite.test.ts checks their plans):
 *  - 'tenant': the tenant's own accounts by name (params: tenantLedgerAccounts(tenant)), and the
 *    accounts of its instances through the instances_tenant index (param: tenant);
 *  - 'all': every balance; 'from': balances from an account name on (prefix walks), in key order.
 * With `withAsset`, one more parameter: the asset.
 */
export function listBalancesSql(kind: 'tenant' | 'all' | 'from', withAsset: boolean): string {
  const asset = withAsset ? ' AND asset = ?' : '';
  if (kind === 'all') return `SELECT account, asset, balance FROM balances WHERE balance != 0${asset} ORDER BY account, asset`;
  if (kind === 'from') return `SELECT account, asset, balance FROM balances WHERE account >= ?${asset} ORDER BY account, asset`;
  return `SELECT account, asset, balance FROM (
      SELECT account, asset, balance FROM balances WHERE account IN (?, ${TENANT_LEDGER_PREFIXES.map(() => '?').join(', ')})
      UNION
      SELECT b.account, b.asset, b.balance FROM instances i
        JOIN balances b ON b.account IN (${INSTANCE_LEDGER_PREFIXES.map((p) => `'${p}' || i.id`).join(', ')})
        WHERE i.tenant = ?
    ) WHERE balance != 0${asset} ORDER BY account, asset`;
}

export class SqliteCore {
  private readonly statements = new Map<string, Statement<Param[]>>();
  private readonly rawStatements = new Map<string, Statement<Param[]>>();

  constructor(readonly db: Database) {}

  /** A prepared statement, compiled once per distinct SQL text. */
  private stmt(sql: string): Statement<Param[]> {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare<Param[]>(sql);
      this.statements.set(sql, s);
    }
    return s;
  }
  /** A prepared statement returning rows as arrays (faster for wide rows read in bulk). */
  private rawStmt(sql: string): Statement<Param[]> {
    let s = this.rawStatements.get(sql);
    if (!s) {
      s = this.db.prepare<Param[]>(sql).raw(true);
      this.rawStatements.set(sql, s);
    }
    return s;
  }
  private get1(sql: string, ...p: Param[]): Row | undefined {
    return this.stmt(sql).get(...p) as Row | undefined;
  }
  private all(sql: string, ...p: Param[]): Row[] {
    return this.stmt(sql).all(...p) as Row[];
  }
  private run(sql: string, ...p: Param[]): number {
    return this.stmt(sql).run(...p).changes;
  }
  private atomic<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  // ---------------------------------------------------------------------------------- hosts

  upsertHost(h: HostInput, nowMs: number): HostRecord {
    const what = `host ${JSON.stringify(h?.id)}`;
    const id = checkId(what, 'id', h.id);
    checkVector(what, 'capacity', h.capacity);
    if (typeof h.active !== 'boolean') invalid(what, 'active', 'must be a boolean');
    const labels = checkLabels(what, h.labels);
    checkTimeMs(what, 'nowMs', nowMs);
    this.run(
      `INSERT INTO hosts (id, ${vecCols('cap')}, active, labels, created_at_ms, updated_at_ms, version)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
       ON CONFLICT (id) DO UPDATE SET cap_cpu_millicores = excluded.cap_cpu_millicores, cap_memory_mib = excluded.cap_memory_mib,
         cap_disk_kibps = excluded.cap_disk_kibps, cap_network_kibps = excluded.cap_network_kibps, active = excluded.active,
         labels = excluded.labels, updated_at_ms = excluded.updated_at_ms, version = version + 1`,
      id,
      ...vecParams(h.capacity),
      h.active ? 1 : 0,
      JSON.stringify(labels),
      nowMs,
      nowMs,
    );
    return this.getHost(id)!;
  }

  getHost(id: string): HostRecord | undefined {
    const r = this.get1('SELECT * FROM hosts WHERE id = ?', id);
    return r && hostFrom(r);
  }

  listHosts(): HostRecord[] {
    return this.all('SELECT * FROM hosts ORDER BY id').map(hostFrom);
  }

  deleteHost(id: string): boolean {
    return this.atomic(() => {
      const n = this.get1('SELECT count(*) AS n FROM instances WHERE host_id = ?', id)!.n as number;
      if (n > 0) throw new StoreError('conflict', `host ${JSON.stringify(id)}: ${n} instance(s) still placed on it; move or delete them first`);
      return this.run('DELETE FROM hosts WHERE id = ?', id) > 0;
    });
  }

  // ------------------------------------------------------------------------------ instances

  /** The owner of an instance, or undefined when there is no such instance. */
  private instanceTenant(id: string): string | undefined {
    return this.get1('SELECT tenant FROM instances WHERE id = ?', id)?.tenant as string | undefined;
  }

  private instanceRecord(id: string): InstanceRecord | undefined {
    const a = this.rawStmt(`SELECT ${INSTANCE_COLUMNS} FROM instances WHERE id = ?`).get(id) as unknown[] | undefined;
    return a && instanceFromRaw(a);
  }

  private visibleInstance(scope: Scope, id: string): InstanceRecord | undefined {
    const r = this.instanceRecord(id);
    return r && scopeAllows(scope, r.tenant) ? r : undefined;
  }

  private instanceVisible(scope: Scope, id: string): boolean {
    const tenant = this.instanceTenant(id);
    return tenant !== undefined && scopeAllows(scope, tenant);
  }

  private checkHostExists(what: string, hostId: string | null): void {
    if (hostId !== null && !this.get1('SELECT 1 AS x FROM hosts WHERE id = ?', hostId))
      throw new StoreError('not_found', `${what}: hostId: host ${JSON.stringify(hostId)} does not exist`);
  }

  upsertInstance(scope: Scope, inst: InstanceInput, nowMs: number): InstanceRecord {
    const what = `instance ${JSON.stringify(inst?.id)}`;
    const id = checkId(what, 'id', inst.id);
    const tenant = checkId(what, 'tenant', inst.tenant);
    const hostId = checkOptionalId(what, 'hostId', inst.hostId);
    const priority = checkPriority(what, inst.priority);
    checkVector(what, 'request', inst.request);
    checkVector(what, 'allocation', inst.allocation);
    const state = checkInstanceState(what, inst.state);
    const labels = checkLabels(what, inst.labels);
    checkTimeMs(what, 'nowMs', nowMs);
    checkOwnTenant(scope, what, tenant);
    return this.atomic(() => {
      const existing = this.instanceTenant(id);
      if (existing !== undefined && existing !== tenant) throw new StoreError('conflict', `${what}: the id is taken by another tenant`);
      this.checkHostExists(what, hostId);
      this.run(
        `INSERT INTO instances (id, tenant, host_id, priority, ${vecCols('req')}, ${vecCols('alloc')}, state, labels, created_at_ms, updated_at_ms, version)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
         ON CONFLICT (id) DO UPDATE SET host_id = excluded.host_id, priority = excluded.priority,
           req_cpu_millicores = excluded.req_cpu_millicores, req_memory_mib = excluded.req_memory_mib,
           req_disk_kibps = excluded.req_disk_kibps, req_network_kibps = excluded.req_network_kibps,
           alloc_cpu_millicores = excluded.alloc_cpu_millicores, alloc_memory_mib = excluded.alloc_memory_mib,
           alloc_disk_kibps = excluded.alloc_disk_kibps, alloc_network_kibps = excluded.alloc_network_kibps,
           state = excluded.state, labels = excluded.labels, updated_at_ms = excluded.updated_at_ms, version = version + 1`,
        id,
        tenant,
        hostId,
        priority,
        ...vecParams(inst.request),
        ...vecParams(inst.allocation),
        state,
        JSON.stringify(labels),
        nowMs,
        nowMs,
      );
      return this.instanceRecord(id)!;
    });
  }

  getInstance(scope: Scope, id: string): InstanceRecord | undefined {
    return this.visibleInstance(scope, id);
  }

  listInstances(scope: Scope, q: InstanceQuery = {}): InstanceRecord[] {
    const where: string[] = [];
    const p: Param[] = [];
    if ('tenant' in scope) (where.push('tenant = ?'), p.push(scope.tenant));
    if (q.hostId !== undefined) {
      if (q.hostId === null) where.push('host_id IS NULL');
      else (where.push('host_id = ?'), p.push(q.hostId));
    }
    if (q.state !== undefined) (where.push('state = ?'), p.push(q.state));
    const sql = `SELECT ${INSTANCE_COLUMNS} FROM instances${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id`;
    return (this.rawStmt(sql).all(...p) as unknown[][]).map(instanceFromRaw);
  }

  updateInstances(scope: Scope, patches: readonly InstancePatch[], nowMs: number): InstanceRecord[] {
    checkTimeMs('updateInstances', 'nowMs', nowMs);
    // One UPDATE ... RETURNING per patch, setting only the fields the patch has (one prepared
    // statement per combination of fields), so an allocation change touches no index. The scope
    // is part of the WHERE.
    const tenant = 'tenant' in scope ? scope.tenant : undefined;
    return this.atomic(() => {
      const out: InstanceRecord[] = new Array(patches.length);
      for (let i = 0; i < patches.length; i++) {
        const patch = patches[i]!;
        const what = `patches[${i}] (instance ${JSON.stringify(patch?.id)})`;
        const id = checkId(what, 'id', patch.id);
        const sets: string[] = [];
        const p: Param[] = [];
        let hostId: string | null = null;
        if (patch.hostId !== undefined) {
          hostId = checkOptionalId(what, 'hostId', patch.hostId);
          sets.push('host_id = ?');
          p.push(hostId);
        }
        if (patch.priority !== undefined) (sets.push('priority = ?'), p.push(checkPriority(what, patch.priority)));
        if (patch.request !== undefined) {
          sets.push('req_cpu_millicores = ?, req_memory_mib = ?, req_disk_kibps = ?, req_network_kibps = ?');
          p.push(...vecParams(checkVector(what, 'request', patch.request)));
        }
        if (patch.allocation !== undefined) {
          sets.push('alloc_cpu_millicores = ?, alloc_memory_mib = ?, alloc_disk_kibps = ?, alloc_network_kibps = ?');
          p.push(...vecParams(checkVector(what, 'allocation', patch.allocation)));
        }
        if (patch.state !== undefined) (sets.push('state = ?'), p.push(checkInstanceState(what, patch.state)));
        if (patch.labels !== undefined) (sets.push('labels = ?'), p.push(JSON.stringify(checkLabels(what, patch.labels))));
        sets.push('updated_at_ms = ?, version = version + 1');
        p.push(nowMs, id);
        if (tenant !== undefined) p.push(tenant);
        const update = this.rawStmt(
          `UPDATE instances SET ${sets.join(', ')} WHERE id = ?${tenant !== undefined ? ' AND tenant = ?' : ''} RETURNING ${INSTANCE_COLUMNS}`,
        );
        let row: unknown[] | undefined;
        try {
          row = update.get(...p) as unknown[] | undefined;
        } catch (e) {
          if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY')
            throw new StoreError('not_found', `${what}: hostId: host ${JSON.stringify(hostId)} does not exist`, { cause: e });
          throw e;
        }
        if (!row) throw new StoreError('not_found', `${what}: no such instance`);
        out[i] = instanceFromRaw(row);
      }
      return out;
    });
  }

  deleteInstance(scope: Scope, id: string): boolean {
    return this.atomic(() => {
      if (!this.instanceVisible(scope, id)) return false;
      return this.run('DELETE FROM instances WHERE id = ?', id) > 0;
    });
  }

  // ------------------------------------------------------------------------------ telemetry

  appendTelemetry(batch: TelemetryBatch, receivedAtMs: number): AppendTelemetryResult {
    const agentId = checkId('telemetry batch', 'agentId', batch.agentId);
    const sequence = batch.sequence;
    if (!Number.isSafeInteger(sequence) || sequence < 0) invalid(`telemetry batch of agent ${agentId}`, 'sequence', `must be a non-negative integer, got ${sequence}`);
    checkTimeMs('telemetry batch', 'receivedAtMs', receivedAtMs);
    return this.atomic(() => {
      if (this.get1('SELECT 1 AS x FROM telemetry_batches WHERE agent_id = ? AND sequence = ?', agentId, sequence))
        return { duplicate: true, samplesStored: 0, samplesSkipped: 0 };
      const insert = this.stmt(
        `INSERT OR IGNORE INTO samples (instance_id, ts_ms, interval_ms, agent_id, ${METRIC_COLUMNS.map((m) => m[1]).join(', ')}, custom)
         VALUES (?, ?, ?, ?, ${METRIC_COLUMNS.map(() => '?').join(', ')}, ?)`,
      );
      // Roll-ups are accumulated in memory for the whole batch, then merged with one upsert per
      // (instance, minute): only samples actually inserted count, so a sample sent twice (in two
      // batches) is counted once. acc holds [n, sum, min, max] per metric column.
      const NM = METRIC_COLUMNS.length;
      const aggs = new Map<string, { instanceId: string; minuteMs: number; acc: Float64Array }>();
      const customAggs = new Map<string, { instanceId: string; minuteMs: number; metric: string; n: number; sum: number; min: number; max: number }>();
      const params: Param[] = new Array(4 + NM + 1);
      let stored = 0;
      let skipped = 0;
      for (let pi = 0; pi < batch.profiles.length; pi++) {
        const prof = batch.profiles[pi]!;
        const what = `telemetry batch ${agentId}#${sequence}`;
        const instanceId = checkId(what, `profiles[${pi}].instanceId`, prof.instanceId);
        const intervalMs = prof.intervalMs;
        if (!Number.isSafeInteger(intervalMs) || intervalMs <= 0) invalid(what, `profiles[${pi}].intervalMs`, `must be a positive integer, got ${intervalMs}`);
        let cur: Float64Array | undefined;
        let curMinute = -1;
        for (let si = 0; si < prof.samples.length; si++) {
          const s = prof.samples[si]!;
          const ts = s.timestampMs;
          if (!Number.isSafeInteger(ts) || ts < 0) invalid(what, `profiles[${pi}].samples[${si}].timestampMs`, `must be a non-negative integer, got ${ts}`);
          params[0] = instanceId;
          params[1] = ts;
          params[2] = intervalMs;
          params[3] = agentId;
          const values = s.values as Record<string, number | undefined>;
          for (let k = 0; k < NM; k++) {
            const v = values[METRIC_COLUMNS[k]![0]];
            if (v !== undefined && !Number.isFinite(v)) invalid(what, `profiles[${pi}].samples[${si}].values.${METRIC_COLUMNS[k]![0]}`, `must be finite, got ${v}`);
            params[4 + k] = v ?? null;
          }
          let custom: string | null = null;
          if (s.custom) {
            for (const name in s.custom)
              if (!Number.isFinite(s.custom[name])) invalid(what, `profiles[${pi}].samples[${si}].custom.${name}`, `must be finite, got ${s.custom[name]}`);
            custom = JSON.stringify(s.custom);
          }
          params[4 + NM] = custom;
          if (insert.run(...params).changes === 0) {
            skipped++;
            continue;
          }
          stored++;
          const minuteMs = ts - (ts % MINUTE_MS);
          if (minuteMs !== curMinute || !cur) {
            const key = `${instanceId}\u0000${minuteMs}`;
            let a = aggs.get(key);
            if (!a) {
              a = { instanceId, minuteMs, acc: new Float64Array(NM * 4) };
              aggs.set(key, a);
            }
            cur = a.acc;
            curMinute = minuteMs;
          }
          for (let k = 0; k < NM; k++) {
            const v = params[4 + k] as number | null;
            if (v === null) continue;
            const o = k * 4;
            if (cur[o] === 0) {
              cur[o + 2] = v;
              cur[o + 3] = v;
            } else {
              if (v < cur[o + 2]!) cur[o + 2] = v;
              if (v > cur[o + 3]!) cur[o + 3] = v;
            }
            cur[o]!++;
            cur[o + 1]! += v;
          }
          if (s.custom)
            for (const name in s.custom) {
              const v = s.custom[name]!;
              const metric = customMetricName(name);
              const key = `${instanceId}\u0000${minuteMs}\u0000${metric}`;
              const a = customAggs.get(key);
              if (a) {
                a.n++;
                a.sum += v;
                if (v < a.min) a.min = v;
                if (v > a.max) a.max = v;
              } else customAggs.set(key, { instanceId, minuteMs, metric, n: 1, sum: v, min: v, max: v });
            }
        }
      }
      const merge = this.stmt(ROLLUP_UPSERT);
      const mp: Param[] = new Array(2 + NM * 4);
      for (const a of aggs.values()) {
        mp[0] = a.instanceId;
        mp[1] = a.minuteMs;
        for (let k = 0; k < NM; k++) {
          const o = k * 4;
          const n = a.acc[o]!;
          mp[2 + o] = n;
          mp[3 + o] = a.acc[o + 1]!;
          mp[4 + o] = n > 0 ? a.acc[o + 2]! : null;
          mp[5 + o] = n > 0 ? a.acc[o + 3]! : null;
        }
        merge.run(...mp);
      }
      if (customAggs.size) {
        const mergeCustom = this.stmt(
          `INSERT INTO custom_rollups (instance_id, minute_ms, metric, n, sum, min, max) VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (instance_id, minute_ms, metric) DO UPDATE SET n = n + excluded.n, sum = sum + excluded.sum,
             min = min(min, excluded.min), max = max(max, excluded.max)`,
        );
        for (const a of customAggs.values()) mergeCustom.run(a.instanceId, a.minuteMs, a.metric, a.n, a.sum, a.min, a.max);
      }
      this.run('INSERT INTO telemetry_batches (agent_id, sequence, received_at_ms, samples) VALUES (?, ?, ?, ?)', agentId, sequence, receivedAtMs, stored);
      return { duplicate: false, samplesStored: stored, samplesSkipped: skipped };
    });
  }

  /** True when the scope may see telemetry of `instanceId` (admin sees any id, hosts included). */
  private telemetryVisible(scope: Scope, instanceId: string): boolean {
    return 'allTenants' in scope || this.instanceVisible(scope, instanceId);
  }

  querySamples(scope: Scope, instanceId: string, q: SampleQuery): StoredSample[] {
    checkFinite('sample query', 'fromMs', q.fromMs);
    checkFinite('sample query', 'toMs', q.toMs);
    if (!this.telemetryVisible(scope, instanceId)) return [];
    const order = q.order === 'desc' ? 'DESC' : 'ASC';
    return this.all(
      `SELECT * FROM samples WHERE instance_id = ? AND ts_ms >= ? AND ts_ms < ? ORDER BY ts_ms ${order} LIMIT ?`,
      instanceId,
      q.fromMs,
      q.toMs,
      limitOf(q.limit, DEFAULT_SAMPLE_LIMIT),
    ).map(sampleFrom);
  }

  queryRollups(scope: Scope, instanceId: string, q: RollupQuery): Rollup[] {
    checkFinite('roll-up query', 'fromMs', q.fromMs);
    checkFinite('roll-up query', 'toMs', q.toMs);
    if (!this.telemetryVisible(scope, instanceId)) return [];
    const want = q.metrics ? new Set(q.metrics) : undefined;
    const out: Rollup[] = [];
    for (const r of this.all('SELECT * FROM rollups WHERE instance_id = ? AND minute_ms >= ? AND minute_ms < ?', instanceId, q.fromMs, q.toMs)) {
      for (const [metric, col] of METRIC_COLUMNS) {
        const count = r[`${col}_n`] as number;
        if (count === 0 || (want && !want.has(metric))) continue;
        out.push({
          instanceId,
          minuteStartMs: r.minute_ms as number,
          metric,
          count,
          mean: (r[`${col}_sum`] as number) / count,
          max: r[`${col}_max`] as number,
          min: r[`${col}_min`] as number,
        });
      }
    }
    for (const r of this.all('SELECT * FROM custom_rollups WHERE instance_id = ? AND minute_ms >= ? AND minute_ms < ?', instanceId, q.fromMs, q.toMs)) {
      const metric = r.metric as string;
      if (want && !want.has(metric)) continue;
      const count = r.n as number;
      out.push({ instanceId, minuteStartMs: r.minute_ms as number, metric, count, mean: (r.sum as number) / count, max: r.max as number, min: r.min as number });
    }
    return out.sort((a, b) => a.minuteStartMs - b.minuteStartMs || (a.metric < b.metric ? -1 : a.metric > b.metric ? 1 : 0));
  }

  readTelemetrySince(cursor: number, limit: number): TelemetryPage {
    if (!Number.isSafeInteger(cursor) || cursor < 0) invalid('readTelemetrySince', 'cursor', `must be a non-negative integer, got ${cursor}`);
    const samples = this.all('SELECT * FROM samples WHERE cursor > ? ORDER BY cursor LIMIT ?', cursor, limitOf(limit, 1)).map(sampleFrom);
    return { samples, nextCursor: samples.length ? samples[samples.length - 1]!.cursor : cursor };
  }

  pruneTelemetry(o: PruneTelemetryOptions): { samples: number; rollups: number; batches: number } {
    return this.atomic(() => ({
      samples: o.samplesBeforeMs !== undefined ? this.run('DELETE FROM samples WHERE ts_ms < ?', o.samplesBeforeMs) : 0,
      rollups:
        o.rollupsBeforeMs !== undefined
          ? this.run('DELETE FROM rollups WHERE minute_ms < ?', o.rollupsBeforeMs) + this.run('DELETE FROM custom_rollups WHERE minute_ms < ?', o.rollupsBeforeMs)
          : 0,
      batches: o.batchesBeforeMs !== undefined ? this.run('DELETE FROM telemetry_batches WHERE received_at_ms < ?', o.batchesBeforeMs) : 0,
    }));
  }

  // ------------------------------------------------------------------------------ forecasts

  putForecasts(list: readonly ForecastInput[]): void {
    const upsert = this.stmt(
      `INSERT INTO forecasts (instance_id, resource, made_at_ms, step_seconds, horizon, mean, quantiles, levels, confidence, model, anomaly_z, anomaly_flagged)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (instance_id, resource) DO UPDATE SET made_at_ms = excluded.made_at_ms, step_seconds = excluded.step_seconds,
         horizon = excluded.horizon, mean = excluded.mean, quantiles = excluded.quantiles, levels = excluded.levels,
         confidence = excluded.confidence, model = excluded.model, anomaly_z = excluded.anomaly_z, anomaly_flagged = excluded.anomaly_flagged`,
    );
    this.atomic(() => {
      for (let i = 0; i < list.length; i++) {
        const f = list[i]!;
        const what = `forecasts[${i}] (instance ${JSON.stringify(f?.instanceId)})`;
        const instanceId = checkId(what, 'instanceId', f.instanceId);
        const resource = checkId(what, 'resource', f.resource);
        checkTimeMs(what, 'madeAtMs', f.madeAtMs);
        checkFinite(what, 'stepSeconds', f.stepSeconds, 0);
        const fc = f.forecast;
        if (!(fc?.mean instanceof Float64Array)) invalid(what, 'forecast.mean', 'must be a Float64Array');
        const h = fc.mean.length;
        if (!Array.isArray(fc.quantiles) || fc.quantiles.length !== fc.levels.length)
          invalid(what, 'forecast.quantiles', `must hold one Float64Array per level (${fc.levels.length})`);
        const q = new Float64Array(h * fc.quantiles.length);
        fc.quantiles.forEach((row, k) => {
          if (!(row instanceof Float64Array) || row.length !== h) invalid(what, `forecast.quantiles[${k}]`, `must be a Float64Array of length ${h}`);
          q.set(row, k * h);
        });
        const params: Param[] = [
          instanceId,
          resource,
          f.madeAtMs,
          f.stepSeconds,
          h,
          f64ToBlob(fc.mean),
          f64ToBlob(q),
          JSON.stringify(fc.levels),
          fc.confidence,
          checkText(what, 'forecast.model', fc.model, 1000),
          fc.anomaly ? fc.anomaly.z : null,
          fc.anomaly ? (fc.anomaly.flagged ? 1 : 0) : null,
        ];
        try {
          upsert.run(...params);
        } catch (e) {
          if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY') throw new StoreError('not_found', `${what}: no such instance`, { cause: e });
          throw e;
        }
      }
    });
  }

  getForecast(scope: Scope, instanceId: string, resource: string): ForecastRecord | undefined {
    if (!this.instanceVisible(scope, instanceId)) return undefined;
    const r = this.get1('SELECT * FROM forecasts WHERE instance_id = ? AND resource = ?', instanceId, resource);
    return r && forecastFrom(r);
  }

  listForecasts(scope: Scope, instanceId: string): ForecastRecord[] {
    if (!this.instanceVisible(scope, instanceId)) return [];
    return this.all('SELECT * FROM forecasts WHERE instance_id = ? ORDER BY resource', instanceId).map(forecastFrom);
  }

  // --------------------------------------------------------------------------- reservations

  createReservation(scope: Scope, r: ReservationInput, nowMs: number): ReservationRecord {
    const what = `reservation ${JSON.stringify(r?.id)}`;
    const id = checkId(what, 'id', r.id);
    const tenant = checkId(what, 'tenant', r.tenant);
    const hostId = checkOptionalId(what, 'hostId', r.hostId);
    const instanceId = checkOptionalId(what, 'instanceId', r.instanceId);
    const bidId = checkOptionalId(what, 'bidId', r.bidId);
    checkVector(what, 'resources', r.resources);
    checkTimeMs(what, 'startMs', r.startMs);
    checkTimeMs(what, 'endMs', r.endMs);
    if (r.endMs < r.startMs) invalid(what, 'endMs', `must be >= startMs (${r.startMs}), got ${r.endMs}`);
    checkTimeMs(what, 'nowMs', nowMs);
    checkOwnTenant(scope, what, tenant);
    return this.atomic(() => {
      if (this.get1('SELECT 1 AS x FROM reservations WHERE id = ?', id)) throw new StoreError('conflict', `${what}: the id is taken`);
      this.checkHostExists(what, hostId);
      if (instanceId !== null && this.instanceTenant(instanceId) !== tenant)
        throw new StoreError('not_found', `${what}: instanceId: no instance ${JSON.stringify(instanceId)} of this tenant`);
      if (bidId !== null && this.get1('SELECT tenant FROM bids WHERE id = ?', bidId)?.tenant !== tenant)
        throw new StoreError('not_found', `${what}: bidId: no bid ${JSON.stringify(bidId)} of this tenant`);
      this.run(
        `INSERT INTO reservations (id, tenant, host_id, instance_id, bid_id, ${vecCols('res')}, start_ms, end_ms, state, created_at_ms, updated_at_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?)`,
        id,
        tenant,
        hostId,
        instanceId,
        bidId,
        ...vecParams(r.resources),
        r.startMs,
        r.endMs,
        nowMs,
        nowMs,
      );
      return reservationFrom(this.get1('SELECT * FROM reservations WHERE id = ?', id)!);
    });
  }

  getReservation(scope: Scope, id: string): ReservationRecord | undefined {
    const r = this.get1('SELECT * FROM reservations WHERE id = ?', id);
    return r && scopeAllows(scope, r.tenant as string) ? reservationFrom(r) : undefined;
  }

  listReservations(scope: Scope, q: ReservationQuery = {}): ReservationRecord[] {
    const where: string[] = [];
    const p: Param[] = [];
    if ('tenant' in scope) (where.push('tenant = ?'), p.push(scope.tenant));
    if (q.hostId !== undefined) (where.push('host_id = ?'), p.push(q.hostId));
    if (q.instanceId !== undefined) (where.push('instance_id = ?'), p.push(q.instanceId));
    if (q.state !== undefined) (where.push('state = ?'), p.push(q.state));
    if (q.activeAtMs !== undefined) (where.push('start_ms <= ? AND ? < end_ms'), p.push(q.activeAtMs, q.activeAtMs));
    return this.all(`SELECT * FROM reservations${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id`, ...p).map(reservationFrom);
  }

  releaseReservation(scope: Scope, id: string, nowMs: number): ReservationRecord {
    checkTimeMs('releaseReservation', 'nowMs', nowMs);
    return this.atomic(() => {
      const cur = this.getReservation(scope, id);
      if (!cur) throw new StoreError('not_found', `reservation ${JSON.stringify(id)}: no such reservation`);
      if (cur.state === 'released') return cur;
      this.run(`UPDATE reservations SET state = 'released', updated_at_ms = ? WHERE id = ?`, nowMs, id);
      return { ...cur, state: 'released', updatedAtMs: nowMs };
    });
  }

  // ---------------------------------------------------------------------------------- market

  putProfile(scope: Scope, p: ProfileInput, nowMs: number): ProfileRecord {
    const what = `profile ${JSON.stringify(p?.id)}`;
    const id = checkId(what, 'id', p.id);
    const tenant = checkId(what, 'tenant', p.tenant);
    const priority = checkPriority(what, p.priority);
    const instanceId = checkOptionalId(what, 'instanceId', p.instanceId);
    const payload = toJson(what, 'payload', p.payload);
    checkTimeMs(what, 'nowMs', nowMs);
    checkOwnTenant(scope, what, tenant);
    return this.atomic(() => {
      const existing = this.get1('SELECT tenant FROM profiles WHERE id = ?', id);
      if (existing && existing.tenant !== tenant) throw new StoreError('conflict', `${what}: the id is taken by another tenant`);
      if (instanceId !== null && this.instanceTenant(instanceId) !== tenant)
        throw new StoreError('not_found', `${what}: instanceId: no instance ${JSON.stringify(instanceId)} of this tenant`);
      this.run(
        `INSERT INTO profiles (id, tenant, priority, instance_id, payload, created_at_ms, updated_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET priority = excluded.priority, instance_id = excluded.instance_id, payload = excluded.payload,
           updated_at_ms = excluded.updated_at_ms`,
        id,
        tenant,
        priority,
        instanceId,
        payload,
        nowMs,
        nowMs,
      );
      return profileFrom(this.get1('SELECT * FROM profiles WHERE id = ?', id)!);
    });
  }

  getProfile(scope: Scope, id: string): ProfileRecord | undefined {
    const r = this.get1('SELECT * FROM profiles WHERE id = ?', id);
    return r && scopeAllows(scope, r.tenant as string) ? profileFrom(r) : undefined;
  }

  listProfiles(scope: Scope): ProfileRecord[] {
    return ('tenant' in scope ? this.all('SELECT * FROM profiles WHERE tenant = ? ORDER BY id', scope.tenant) : this.all('SELECT * FROM profiles ORDER BY id')).map(
      profileFrom,
    );
  }

  createBid(scope: Scope, b: BidInput, nowMs: number): BidRecord {
    const what = `bid ${JSON.stringify(b?.id)}`;
    const id = checkId(what, 'id', b.id);
    const tenant = checkId(what, 'tenant', b.tenant);
    const profileId = checkId(what, 'profileId', b.profileId);
    const instanceId = checkOptionalId(what, 'instanceId', b.instanceId);
    const price = checkMicrocredits(what, 'priceMicrocredits', b.priceMicrocredits);
    if (price < 0) invalid(what, 'priceMicrocredits', `must be >= 0, got ${price}`);
    const priority = checkPriority(what, b.priority);
    const payload = toJson(what, 'payload', b.payload);
    checkTimeMs(what, 'nowMs', nowMs);
    checkOwnTenant(scope, what, tenant);
    return this.atomic(() => {
      if (this.get1('SELECT 1 AS x FROM bids WHERE id = ?', id)) throw new StoreError('conflict', `${what}: the id is taken`);
      if (this.get1('SELECT tenant FROM profiles WHERE id = ?', profileId)?.tenant !== tenant)
        throw new StoreError('not_found', `${what}: profileId: no profile ${JSON.stringify(profileId)} of this tenant`);
      if (instanceId !== null && this.instanceTenant(instanceId) !== tenant)
        throw new StoreError('not_found', `${what}: instanceId: no instance ${JSON.stringify(instanceId)} of this tenant`);
      this.run(
        `INSERT INTO bids (id, tenant, profile_id, instance_id, price_microcredits, priority, state, payload, created_at_ms, updated_at_ms)
         VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?, ?)`,
        id,
        tenant,
        profileId,
        instanceId,
        price,
        priority,
        payload,
        nowMs,
        nowMs,
      );
      return bidFrom(this.get1('SELECT * FROM bids WHERE id = ?', id)!);
    });
  }

  getBid(scope: Scope, id: string): BidRecord | undefined {
    const r = this.get1('SELECT * FROM bids WHERE id = ?', id);
    return r && scopeAllows(scope, r.tenant as string) ? bidFrom(r) : undefined;
  }

  listBids(scope: Scope, q: BidQuery = {}): BidRecord[] {
    const where: string[] = [];
    const p: Param[] = [];
    if ('tenant' in scope) (where.push('tenant = ?'), p.push(scope.tenant));
    if (q.profileId !== undefined) (where.push('profile_id = ?'), p.push(q.profileId));
    if (q.state !== undefined) (where.push('state = ?'), p.push(q.state));
    return this.all(`SELECT * FROM bids${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id`, ...p).map(bidFrom);
  }

  setBidState(scope: Scope, id: string, state: BidState, nowMs: number): BidRecord {
    checkBidState(`bid ${JSON.stringify(id)}`, state);
    checkTimeMs('setBidState', 'nowMs', nowMs);
    return this.atomic(() => {
      const cur = this.getBid(scope, id);
      if (!cur) throw new StoreError('not_found', `bid ${JSON.stringify(id)}: no such bid`);
      this.run('UPDATE bids SET state = ?, updated_at_ms = ? WHERE id = ?', state, nowMs, id);
      return { ...cur, state, updatedAtMs: nowMs };
    });
  }

  // ---------------------------------------------------------------------------------- ledger

  private balanceOf(account: string, asset: LedgerAsset): number {
    return (this.get1('SELECT balance AS b FROM balances WHERE account = ? AND asset = ?', account, asset)?.b as number | undefined) ?? 0;
  }

  private nextLedgerSeq(): number {
    return (this.get1('SELECT coalesce(max(seq), 0) AS s FROM ledger')!.s as number) + 1;
  }

  appendLedger(entries: readonly LedgerEntryInput[], nowMs: number, options?: LedgerAppendOptions): LedgerEntry[] {
    checkTimeMs('appendLedger', 'nowMs', nowMs);
    const allowed = negativeAllowance(options);
    if (!Array.isArray(entries)) invalid('appendLedger', 'entries', 'must be an array of ledger entries');
    const clean = entries.map((e, i) => cleanEntry(`entries[${i}]`, e));
    return this.atomic(() => this.appendClean(clean, nowMs, allowed));
  }

  /**
   * Checks the resulting balance of every (account, asset) the entries touch, then writes the
   * balances and the entries. Runs inside a transaction (a throw leaves nothing).
   */
  private appendClean(clean: readonly CleanEntry[], nowMs: number, allowed: (account: string) => boolean): LedgerEntry[] {
    const touched = new Map<string, { account: string; asset: LedgerAsset; start: number; balance: number; first: number }>();
    for (let i = 0; i < clean.length; i++) {
      const e = clean[i]!;
      const key = `${e.asset}\u0000${e.account}`;
      let t = touched.get(key);
      if (!t) {
        const start = this.balanceOf(e.account, e.asset);
        t = { account: e.account, asset: e.asset, start, balance: start, first: i };
        touched.set(key, t);
      }
      t.balance += e.delta;
      if (!Number.isSafeInteger(t.balance))
        invalid(`entries[${i}] (account ${JSON.stringify(e.account)}, asset ${e.asset})`, 'delta', `the balance would leave the safe integer range (balance before the append ${t.start})`);
    }
    for (const t of touched.values())
      if (t.balance < 0 && t.balance < t.start && !allowed(t.account))
        throw new StoreError(
          'insufficient_funds',
          `entries[${t.first}] (account ${JSON.stringify(t.account)}, asset ${t.asset}): balance ${t.start} ${LEDGER_ASSET_UNITS[t.asset]} cannot cover a net debit of ${t.start - t.balance} (would be ${t.balance})`,
        );
    const upsert = this.stmt(
      `INSERT INTO balances (account, asset, balance) VALUES (?, ?, ?)
       ON CONFLICT (account, asset) DO UPDATE SET balance = excluded.balance`,
    );
    for (const t of touched.values()) if (t.balance !== t.start) upsert.run(t.account, t.asset, t.balance);
    let seq = this.nextLedgerSeq() - 1;
    const insert = this.stmt('INSERT INTO ledger (seq, account, asset, delta, reason, ref, entry_group, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    return clean.map((e) => {
      seq++;
      insert.run(seq, e.account, e.asset, e.delta, e.reason, e.ref, e.group, nowMs);
      return { seq, account: e.account, asset: e.asset, delta: e.delta, reason: e.reason, ref: e.ref, group: e.group, atMs: nowMs };
    });
  }

  transferCredits(t: TransferInput, nowMs: number, options?: LedgerAppendOptions): LedgerEntry[] {
    checkTimeMs('transfer', 'nowMs', nowMs);
    const allowed = negativeAllowance(options);
    const from = checkId('transfer', 'from', t.from);
    const to = checkId('transfer', 'to', t.to);
    if (from === to) invalid('transfer', 'to', 'must differ from "from"');
    const asset = checkAsset('transfer', 'asset', t.asset);
    const amount = checkSafeInteger('transfer', 'amount', t.amount, LEDGER_ASSET_UNITS[asset]);
    if (amount <= 0) invalid('transfer', 'amount', `must be > 0, got ${amount}`);
    const reason = checkText('transfer', 'reason', t.reason, 1000);
    const ref = checkOptionalText('transfer', 'ref', t.ref);
    const group = checkOptionalText('transfer', 'group', t.group);
    return this.atomic(() => {
      const g = group ?? `transfer:${this.nextLedgerSeq()}`;
      return this.appendClean(
        [
          { account: from, asset, delta: -amount, reason, ref, group: g },
          { account: to, asset, delta: amount, reason, ref, group: g },
        ],
        nowMs,
        allowed,
      );
    });
  }

  /** May `scope` read `account`? See the account rules in src/core/store.ts (ledger section). */
  private accountVisible(scope: Scope, account: string): boolean {
    if ('allTenants' in scope) return true;
    const tenant = scope.tenant;
    if (account === tenant) return true;
    for (const p of TENANT_LEDGER_PREFIXES) if (account === `${p}${tenant}`) return true;
    const instanceId = instanceOfLedgerAccount(account);
    return instanceId !== undefined && this.instanceTenant(instanceId) === tenant;
  }

  private checkAccountScope(scope: Scope, account: string): void {
    if (!this.accountVisible(scope, account))
      throw new StoreError(
        'forbidden',
        `account ${JSON.stringify(account)}: tenant ${JSON.stringify((scope as { tenant: string }).tenant)} may read only its own accounts and those of its instances`,
      );
  }

  balance(scope: Scope, account: string, asset?: LedgerAsset): number {
    const a = checkAsset('balance', 'asset', asset);
    this.checkAccountScope(scope, checkId('balance', 'account', account));
    return this.balanceOf(account, a);
  }

  listLedger(scope: Scope, account: string, q: LedgerQuery = {}): LedgerEntry[] {
    this.checkAccountScope(scope, checkId('listLedger', 'account', account));
    const afterSeq = q.afterSeq ?? 0;
    if (!Number.isSafeInteger(afterSeq)) invalid('ledger query', 'afterSeq', `must be an integer, got ${show(afterSeq)}`);
    const limit = limitOf(q.limit, DEFAULT_LIST_LIMIT);
    const rows =
      q.asset === undefined
        ? this.all('SELECT * FROM ledger WHERE account = ? AND seq > ? ORDER BY seq LIMIT ?', account, afterSeq, limit)
        : this.all('SELECT * FROM ledger WHERE account = ? AND asset = ? AND seq > ? ORDER BY seq LIMIT ?', account, checkAsset('ledger query', 'asset', q.asset), afterSeq, limit);
    return rows.map(ledgerFrom);
  }

  listBalances(scope: Scope, q: BalanceQuery = {}): LedgerBalance[] {
    const asset = q.asset === undefined ? undefined : checkAsset('balance query', 'asset', q.asset);
    const prefix = q.prefix === undefined ? undefined : checkText('balance query', 'prefix', q.prefix, 256);
    const assetParam: Param[] = asset === undefined ? [] : [asset];
    const withAsset = asset !== undefined;
    if ('tenant' in scope) {
      const rows = this.all(listBalancesSql('tenant', withAsset), ...tenantLedgerAccounts(scope.tenant), scope.tenant, ...assetParam) as unknown as LedgerBalance[];
      return prefix === undefined ? rows : rows.filter((r) => r.account.startsWith(prefix));
    }
    if (prefix === undefined || prefix === '') return this.all(listBalancesSql('all', withAsset), ...assetParam) as unknown as LedgerBalance[];
    // Accounts starting with `prefix` are one contiguous run of the (account, asset) key in
    // byte order, starting at `prefix`: walk it and stop at the first account past it.
    const out: LedgerBalance[] = [];
    for (const r of this.stmt(listBalancesSql('from', withAsset)).iterate(prefix, ...assetParam) as IterableIterator<LedgerBalance>) {
      if (!r.account.startsWith(prefix)) break;
      if (r.balance !== 0) out.push({ account: r.account, asset: r.asset, balance: r.balance });
    }
    return out;
  }

  /** (account, asset) pairs whose stored balance differs from the sum of their entries (empty when consistent). */
  ledgerInconsistencies(): Array<{ account: string; asset: LedgerAsset; balance: number; sum: number }> {
    return this.all(
      `SELECT coalesce(b.account, l.account) AS account, coalesce(b.asset, l.asset) AS asset, coalesce(b.balance, 0) AS balance, coalesce(l.s, 0) AS sum
       FROM balances b FULL OUTER JOIN (SELECT account, asset, sum(delta) AS s FROM ledger GROUP BY account, asset) l
         ON l.account = b.account AND l.asset = b.asset
       WHERE coalesce(b.balance, 0) != coalesce(l.s, 0)`,
    ) as Array<{ account: string; asset: LedgerAsset; balance: number; sum: number }>;
  }

  // ---------------------------------------------------------------------------- market state

  putMarketState(key: string, state: unknown, nowMs: number): void {
    const k = checkId('market state', 'key', key);
    const json = toJson(`market state ${JSON.stringify(k)}`, 'state', state);
    checkTimeMs(`market state ${JSON.stringify(k)}`, 'nowMs', nowMs);
    this.run(
      `INSERT INTO market_state (key, state, updated_at_ms) VALUES (?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET state = excluded.state, updated_at_ms = excluded.updated_at_ms`,
      k,
      json,
      nowMs,
    );
  }

  getMarketState(key: string): MarketStateRecord | undefined {
    const r = this.get1('SELECT state, updated_at_ms FROM market_state WHERE key = ?', checkId('market state', 'key', key));
    return r && { state: JSON.parse(r.state as string) as unknown, updatedAtMs: r.updated_at_ms as number };
  }

  // -------------------------------------------------------------------------------- policies

  private checkPolicyScope(scope: Scope, target: PolicyTarget, write: boolean): boolean {
    if (target.kind === 'global') {
      if (write && 'tenant' in scope) throw new StoreError('forbidden', `global policy: tenant ${JSON.stringify(scope.tenant)} may not change it`);
      return true;
    }
    return this.instanceVisible(scope, target.instanceId);
  }

  putPolicy(scope: Scope, target: PolicyTarget, settings: unknown, nowMs: number): PolicyRecord {
    const key = policyKey(target);
    const json = toJson(`policy ${key}`, 'settings', settings);
    checkTimeMs(`policy ${key}`, 'nowMs', nowMs);
    return this.atomic(() => {
      if (!this.checkPolicyScope(scope, target, true)) throw new StoreError('not_found', `policy ${key}: no such instance`);
      this.run(
        `INSERT INTO policies (target, instance_id, settings, updated_at_ms, version) VALUES (?, ?, ?, ?, 1)
         ON CONFLICT (target) DO UPDATE SET settings = excluded.settings, updated_at_ms = excluded.updated_at_ms, version = version + 1`,
        key,
        target.kind === 'instance' ? target.instanceId : null,
        json,
        nowMs,
      );
      return policyFrom(this.get1('SELECT * FROM policies WHERE target = ?', key)!);
    });
  }

  getPolicy(scope: Scope, target: PolicyTarget): PolicyRecord | undefined {
    const key = policyKey(target);
    if (!this.checkPolicyScope(scope, target, false)) return undefined;
    const r = this.get1('SELECT * FROM policies WHERE target = ?', key);
    return r && policyFrom(r);
  }

  listPolicies(scope: Scope): PolicyRecord[] {
    const rows =
      'tenant' in scope
        ? this.all(
            `SELECT p.* FROM policies p LEFT JOIN instances i ON i.id = p.instance_id
             WHERE p.target = 'global' OR i.tenant = ? ORDER BY p.target`,
            scope.tenant,
          )
        : this.all('SELECT * FROM policies ORDER BY target');
    return rows.map(policyFrom);
  }

  deletePolicy(scope: Scope, target: PolicyTarget): boolean {
    const key = policyKey(target);
    return this.atomic(() => {
      if (!this.checkPolicyScope(scope, target, true)) return false;
      return this.run('DELETE FROM policies WHERE target = ?', key) > 0;
    });
  }

  // ---------------------------------------------------------------------------- agents/tokens

  upsertAgent(a: AgentInput, nowMs: number): AgentRecord {
    const what = `agent ${JSON.stringify(a?.id)}`;
    const id = checkId(what, 'id', a.id);
    const tenant = checkOptionalId(what, 'tenant', a.tenant);
    if (!Array.isArray(a.instanceIds)) invalid(what, 'instanceIds', 'must be an array of ids');
    const ids = [...new Set(a.instanceIds.map((x, i) => checkId(what, `instanceIds[${i}]`, x)))].sort();
    checkTimeMs(what, 'nowMs', nowMs);
    this.run(
      `INSERT INTO agents (id, tenant, instance_ids, created_at_ms, updated_at_ms) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET tenant = excluded.tenant, instance_ids = excluded.instance_ids, updated_at_ms = excluded.updated_at_ms`,
      id,
      tenant,
      JSON.stringify(ids),
      nowMs,
      nowMs,
    );
    return this.getAgent(id)!;
  }

  getAgent(id: string): AgentRecord | undefined {
    const r = this.get1('SELECT * FROM agents WHERE id = ?', id);
    return r && agentFrom(r);
  }

  listAgents(): AgentRecord[] {
    return this.all('SELECT * FROM agents ORDER BY id').map(agentFrom);
  }

  deleteAgent(id: string, nowMs: number): boolean {
    checkTimeMs('deleteAgent', 'nowMs', nowMs);
    return this.atomic(() => {
      this.run('UPDATE tokens SET revoked_at_ms = ? WHERE agent_id = ? AND revoked_at_ms IS NULL', nowMs, id);
      return this.run('DELETE FROM agents WHERE id = ?', id) > 0;
    });
  }

  createToken(t: TokenInput, nowMs: number): TokenRecord {
    const what = `token ${JSON.stringify(t?.id)}`;
    const id = checkId(what, 'id', t.id);
    const hash = checkSha256Hex(what, t.tokenSha256Hex);
    const role = checkRole(what, t.role);
    const tenant = checkOptionalId(what, 'tenant', t.tenant);
    const agentId = checkOptionalId(what, 'agentId', t.agentId);
    const label = t.label === undefined ? '' : checkText(what, 'label', t.label, 1000);
    const expires = t.expiresAtMs === undefined || t.expiresAtMs === null ? null : checkTimeMs(what, 'expiresAtMs', t.expiresAtMs);
    checkTimeMs(what, 'nowMs', nowMs);
    if (role === 'tenant' && tenant === null) invalid(what, 'tenant', 'is required for role tenant');
    if (role === 'agent' && agentId === null) invalid(what, 'agentId', 'is required for role agent');
    if (role !== 'agent' && agentId !== null) invalid(what, 'agentId', `must be null for role ${role}`);
    if (role === 'admin' && tenant !== null) invalid(what, 'tenant', 'must be null for role admin');
    return this.atomic(() => {
      if (agentId !== null && !this.getAgent(agentId)) throw new StoreError('not_found', `${what}: agentId: no agent ${JSON.stringify(agentId)}`);
      if (this.get1('SELECT 1 AS x FROM tokens WHERE id = ? OR token_sha256 = ?', id, hash))
        throw new StoreError('conflict', `${what}: a token with this id or hash exists`);
      this.run(
        `INSERT INTO tokens (id, token_sha256, role, tenant, agent_id, label, expires_at_ms, created_at_ms, revoked_at_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
        id,
        hash,
        role,
        tenant,
        agentId,
        label,
        expires,
        nowMs,
      );
      return tokenFrom(this.get1('SELECT * FROM tokens WHERE id = ?', id)!);
    });
  }

  authenticate(hash: string, nowMs: number): Principal | undefined {
    if (typeof hash !== 'string' || hash.length !== 64) return undefined;
    const r = this.get1(
      `SELECT t.id, t.role, t.tenant, t.agent_id, a.instance_ids FROM tokens t LEFT JOIN agents a ON a.id = t.agent_id
       WHERE t.token_sha256 = ? AND t.revoked_at_ms IS NULL AND (t.expires_at_ms IS NULL OR t.expires_at_ms > ?)`,
      hash,
      nowMs,
    );
    if (!r) return undefined;
    if (r.role === 'agent' && r.instance_ids === null) return undefined; // its agent is gone
    return {
      tokenId: r.id as string,
      role: r.role as Principal['role'],
      tenant: r.tenant as string | null,
      agentId: r.agent_id as string | null,
      instanceIds: r.role === 'agent' ? (JSON.parse(r.instance_ids as string) as string[]) : [],
    };
  }

  listTokens(): TokenRecord[] {
    return this.all('SELECT * FROM tokens ORDER BY id').map(tokenFrom);
  }

  revokeToken(id: string, nowMs: number): boolean {
    checkTimeMs('revokeToken', 'nowMs', nowMs);
    return this.atomic(() => {
      if (!this.get1('SELECT 1 AS x FROM tokens WHERE id = ?', id)) return false;
      this.run('UPDATE tokens SET revoked_at_ms = ? WHERE id = ? AND revoked_at_ms IS NULL', nowMs, id);
      return true;
    });
  }

  // ----------------------------------------------------------------------------------- audit

  appendAudit(entries: readonly AuditInput[]): AuditEntry[] {
    const clean = entries.map((e, i) => {
      const what = `audit entries[${i}]`;
      const atMs = checkTimeMs(what, 'atMs', e.atMs);
      const actor = checkText(what, 'actor', e.actor, 256);
      const action = toJson(what, 'action', e.action);
      if (!Array.isArray(e.reasons)) invalid(what, 'reasons', 'must be an array of strings');
      const reasons = e.reasons.map((r, k) => checkText(what, `reasons[${k}]`, r, 1000));
      const result = checkText(what, 'result', e.result, 64);
      const kindValue = typeof e.action === 'object' && e.action !== null ? (e.action as { kind?: unknown }).kind : undefined;
      return {
        atMs,
        actor,
        kind: typeof kindValue === 'string' ? kindValue : '',
        actionJson: action,
        reasons,
        result: result as AuditEntry['result'],
        error: e.error === undefined || e.error === null ? null : checkText(what, 'error', e.error),
        instanceId: checkOptionalId(what, 'instanceId', e.instanceId),
        hostId: checkOptionalId(what, 'hostId', e.hostId),
        tenant: checkOptionalId(what, 'tenant', e.tenant),
      };
    });
    return this.atomic(() => {
      let seq = this.lastAuditSeq();
      const insert = this.stmt(
        `INSERT INTO audit (seq, at_ms, actor, kind, action, reasons, result, error, instance_id, host_id, tenant)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      return clean.map((e) => {
        seq++;
        insert.run(seq, e.atMs, e.actor, e.kind, e.actionJson, JSON.stringify(e.reasons), e.result, e.error, e.instanceId, e.hostId, e.tenant);
        return {
          seq,
          atMs: e.atMs,
          actor: e.actor,
          kind: e.kind,
          action: JSON.parse(e.actionJson) as unknown,
          reasons: e.reasons,
          result: e.result,
          error: e.error,
          instanceId: e.instanceId,
          hostId: e.hostId,
          tenant: e.tenant,
        };
      });
    });
  }

  listAudit(scope: Scope, q: AuditQuery = {}): AuditEntry[] {
    const where: string[] = [];
    const p: Param[] = [];
    const desc = q.order === 'desc';
    if ('tenant' in scope) (where.push('tenant = ?'), p.push(scope.tenant));
    if (q.instanceId !== undefined) (where.push('instance_id = ?'), p.push(q.instanceId));
    if (!desc && q.afterSeq !== undefined) (where.push('seq > ?'), p.push(q.afterSeq));
    p.push(limitOf(q.limit, DEFAULT_LIST_LIMIT));
    return this.all(`SELECT * FROM audit${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY seq ${desc ? 'DESC' : 'ASC'} LIMIT ?`, ...p).map(
      auditFrom,
    );
  }

  lastAuditSeq(): number {
    return this.get1('SELECT coalesce(max(seq), 0) AS s FROM audit')!.s as number;
  }
}

// ----------------------------------------------------------------------------- row mappers

function hostFrom(r: Row): HostRecord {
  return {
    id: r.id as string,
    capacity: vecFrom(r, 'cap'),
    active: r.active === 1,
    labels: JSON.parse(r.labels as string) as Record<string, string>,
    createdAtMs: r.created_at_ms as number,
    updatedAtMs: r.updated_at_ms as number,
    version: r.version as number,
  };
}

const INSTANCE_COLUMNS = `id, tenant, host_id, priority, ${vecCols('req')}, ${vecCols('alloc')}, state, labels, created_at_ms, updated_at_ms, version`;

function instanceFromRaw(a: unknown[]): InstanceRecord {
  const labels = a[13] as string;
  return {
    id: a[0] as string,
    tenant: a[1] as string,
    hostId: a[2] as string | null,
    priority: a[3] as InstanceRecord['priority'],
    request: { cpuMillicores: a[4] as number, memoryMiB: a[5] as number, diskKiBps: a[6] as number, networkKiBps: a[7] as number },
    allocation: { cpuMillicores: a[8] as number, memoryMiB: a[9] as number, diskKiBps: a[10] as number, networkKiBps: a[11] as number },
    state: a[12] as InstanceRecord['state'],
    labels: labels === '{}' ? {} : (JSON.parse(labels) as Record<string, string>),
    createdAtMs: a[14] as number,
    updatedAtMs: a[15] as number,
    version: a[16] as number,
  };
}

function sampleFrom(r: Row): StoredSample {
  const values: Record<string, number> = {};
  for (const [key, col] of METRIC_COLUMNS) {
    const v = r[col];
    if (v !== null) values[key] = v as number;
  }
  const s: StoredSample = {
    cursor: r.cursor as number,
    instanceId: r.instance_id as string,
    agentId: r.agent_id as string,
    timestampMs: r.ts_ms as number,
    intervalMs: r.interval_ms as number,
    values,
  };
  if (r.custom !== null) s.custom = JSON.parse(r.custom as string) as Record<string, number>;
  return s;
}

function forecastFrom(r: Row): ForecastRecord {
  const h = r.horizon as number;
  const levels = JSON.parse(r.levels as string) as number[];
  const qBlob = r.quantiles as Buffer;
  const rec: ForecastRecord = {
    instanceId: r.instance_id as string,
    resource: r.resource as string,
    madeAtMs: r.made_at_ms as number,
    stepSeconds: r.step_seconds as number,
    forecast: {
      mean: blobToF64(r.mean as Buffer),
      quantiles: levels.map((_, k) => blobToF64(qBlob, k * h, h)),
      levels,
      confidence: r.confidence as number,
      model: r.model as string,
    },
  };
  if (r.anomaly_z !== null) rec.forecast.anomaly = { z: r.anomaly_z as number, flagged: r.anomaly_flagged === 1 };
  return rec;
}

function reservationFrom(r: Row): ReservationRecord {
  return {
    id: r.id as string,
    tenant: r.tenant as string,
    hostId: r.host_id as string | null,
    instanceId: r.instance_id as string | null,
    bidId: r.bid_id as string | null,
    resources: vecFrom(r, 'res'),
    startMs: r.start_ms as number,
    endMs: r.end_ms as number,
    state: r.state as ReservationRecord['state'],
    createdAtMs: r.created_at_ms as number,
    updatedAtMs: r.updated_at_ms as number,
  };
}

function profileFrom(r: Row): ProfileRecord {
  return {
    id: r.id as string,
    tenant: r.tenant as string,
    priority: r.priority as ProfileRecord['priority'],
    instanceId: r.instance_id as string | null,
    payload: JSON.parse(r.payload as string) as unknown,
    createdAtMs: r.created_at_ms as number,
    updatedAtMs: r.updated_at_ms as number,
  };
}

function bidFrom(r: Row): BidRecord {
  return {
    id: r.id as string,
    tenant: r.tenant as string,
    profileId: r.profile_id as string,
    instanceId: r.instance_id as string | null,
    priceMicrocredits: r.price_microcredits as number,
    priority: r.priority as BidRecord['priority'],
    state: r.state as BidState,
    payload: JSON.parse(r.payload as string) as unknown,
    createdAtMs: r.created_at_ms as number,
    updatedAtMs: r.updated_at_ms as number,
  };
}

function ledgerFrom(r: Row): LedgerEntry {
  return {
    seq: r.seq as number,
    account: r.account as string,
    asset: r.asset as LedgerAsset,
    delta: r.delta as number,
    reason: r.reason as string,
    ref: r.ref as string | null,
    group: r.entry_group as string | null,
    atMs: r.at_ms as number,
  };
}

/** A validated entry to append: a LedgerEntry before the store gives it its seq and time. */
type CleanEntry = Omit<LedgerEntry, 'seq' | 'atMs'>;

function checkOptionalText(what: string, field: string, v: unknown): string | null {
  return v === undefined || v === null ? null : checkText(what, field, v, 1000);
}

function cleanEntry(what: string, e: LedgerEntryInput): CleanEntry {
  if (typeof e !== 'object' || e === null) invalid(what, 'entry', `must be an object, got ${show(e)}`);
  const account = checkId(what, 'account', e.account);
  const asset = checkAsset(what, 'asset', e.asset);
  return {
    account,
    asset,
    delta: checkSafeInteger(what, 'delta', e.delta, LEDGER_ASSET_UNITS[asset]),
    reason: checkText(what, 'reason', e.reason, 1000),
    ref: checkOptionalText(what, 'ref', e.ref),
    group: checkOptionalText(what, 'group', e.group),
  };
}

/** Which accounts an append may take below zero (LedgerAppendOptions.allowNegative). */
function negativeAllowance(options: LedgerAppendOptions | null | undefined): (account: string) => boolean {
  const a = options?.allowNegative;
  if (a === undefined || a === false) return () => false;
  if (a === true) return () => true;
  if (!Array.isArray(a)) invalid('options', 'allowNegative', `must be a boolean or an array of account prefixes, got ${show(a)}`);
  const prefixes = (a as readonly unknown[]).map((p, k) => {
    if (typeof p !== 'string' || p.length === 0) invalid('options', `allowNegative[${k}]`, `must be a non-empty account prefix, got ${show(p)}`);
    return p;
  });
  return (account) => prefixes.some((p) => account.startsWith(p));
}

function policyFrom(r: Row): PolicyRecord {
  const target: PolicyTarget = r.target === 'global' ? { kind: 'global' } : { kind: 'instance', instanceId: r.instance_id as string };
  return { target, settings: JSON.parse(r.settings as string) as unknown, updatedAtMs: r.updated_at_ms as number, version: r.version as number };
}

function agentFrom(r: Row): AgentRecord {
  return {
    id: r.id as string,
    tenant: r.tenant as string | null,
    instanceIds: JSON.parse(r.instance_ids as string) as string[],
    createdAtMs: r.created_at_ms as number,
    updatedAtMs: r.updated_at_ms as number,
  };
}

function tokenFrom(r: Row): TokenRecord {
  return {
    id: r.id as string,
    tokenSha256Hex: r.token_sha256 as string,
    role: r.role as TokenRecord['role'],
    tenant: r.tenant as string | null,
    agentId: r.agent_id as string | null,
    label: r.label as string,
    expiresAtMs: r.expires_at_ms as number | null,
    createdAtMs: r.created_at_ms as number,
    revokedAtMs: r.revoked_at_ms as number | null,
  };
}

function auditFrom(r: Row): AuditEntry {
  return {
    seq: r.seq as number,
    atMs: r.at_ms as number,
    actor: r.actor as string,
    kind: r.kind as string,
    action: JSON.parse(r.action as string) as unknown,
    reasons: JSON.parse(r.reasons as string) as string[],
    result: r.result as AuditEntry['result'],
    error: r.error as string | null,
    instanceId: r.instance_id as string | null,
    hostId: r.host_id as string | null,
    tenant: r.tenant as string | null,
  };
}
