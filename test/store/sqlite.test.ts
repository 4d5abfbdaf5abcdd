// The SQLite store: the shared Store conformance suite on a temp file, plus what is particular
// to SQLite (pragmas, migrations, refusing newer or foreign files, append-only triggers, reopen).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { ALL_TENANTS, isStoreError } from '../../src/core/store.js';
import { vec } from '../../src/core/resources.js';
import { runStoreConformance } from '../../src/store/conformance.js';
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import { listBalancesSql } from '../../src/store/sqlite/sqlite-core.js';
import { applyMigrations, openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';

const dir = mkdtempSync(join(tmpdir(), 'prescient-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshPath = (): string => join(dir, `store-${++n}.db`);

runStoreConformance('sqlite (temp file)', async () => openSqliteStore(freshPath()), { fc });

test('sqlite: WAL, synchronous FULL by default (NORMAL on request), foreign keys on', async () => {
  const s = openSqliteStore(freshPath());
  assert.deepEqual(s.settings(), { journalMode: 'wal', synchronous: 2, foreignKeys: true });
  await s.close();
  const t = openSqliteStore(freshPath(), { synchronous: 'NORMAL' });
  assert.equal(t.settings().synchronous, 1);
  await t.close();
});

test('sqlite: data survives close and reopen; the schema is not migrated twice', async () => {
  const path = freshPath();
  const s = openSqliteStore(path);
  await s.upsertHost({ id: 'h1', capacity: vec({ cpuMillicores: 4000 }), active: true }, 1);
  await s.appendAudit([{ atMs: 1, actor: 'test', action: { kind: 'power', host: 'h1', on: true }, reasons: ['r'], result: 'applied' }]);
  await s.close();
  const r = openSqliteStore(path);
  assert.equal(await r.schemaVersion(), LATEST_SCHEMA_VERSION);
  assert.equal((await r.getHost('h1'))!.capacity.cpuMillicores, 4000);
  assert.equal(await r.lastAuditSeq(), 1);
  assert.deepEqual(await r.integrityCheck(), []);
  await r.close();
});

test('sqlite: a database with a newer schema is refused with a clear error, and left untouched', async () => {
  const path = freshPath();
  (await openSqliteStore(path).close());
  const raw = new Database(path);
  raw.pragma(`user_version = ${LATEST_SCHEMA_VERSION + 1}`);
  raw.close();
  assert.throws(
    () => openSqliteStore(path),
    (e: unknown) =>
      isStoreError(e, 'schema') &&
      e.message.includes(`schema version ${LATEST_SCHEMA_VERSION + 1}, newer than this prescient knows (${LATEST_SCHEMA_VERSION})`) &&
      e.message.includes(path),
  );
  const check = new Database(path);
  assert.equal(check.pragma('user_version', { simple: true }), LATEST_SCHEMA_VERSION + 1);
  check.close();
});

test('sqlite: a foreign SQLite file or a non-database file is refused, not migrated', () => {
  const foreign = freshPath();
  const raw = new Database(foreign);
  raw.exec('CREATE TABLE songs (title TEXT)');
  raw.close();
  assert.throws(() => openSqliteStore(foreign), (e: unknown) => isStoreError(e, 'schema') && /something else/.test(e.message));
  const text = freshPath();
  writeFileSync(text, 'hello, this is not a database at all, just some text that is long enough to have a header\n'.repeat(20));
  assert.throws(() => openSqliteStore(text), (e: unknown) => isStoreError(e, 'schema') && /not a SQLite database/.test(e.message));
});

test('sqlite: the ledger and audit tables refuse UPDATE and DELETE even through raw SQL', async () => {
  const path = freshPath();
  const s = openSqliteStore(path);
  await s.appendLedger([{ account: 'a', delta: 5, reason: 'grant' }], 1);
  await s.appendAudit([{ atMs: 1, actor: 'test', action: {}, reasons: [], result: 'applied' }]);
  await s.close();
  const raw = new Database(path);
  for (const sql of ['UPDATE ledger SET delta = 6', "UPDATE ledger SET asset = 'cpu'", 'DELETE FROM ledger', "UPDATE audit SET result = 'failed'", 'DELETE FROM audit'])
    assert.throws(() => raw.exec(sql), /append-only/, sql);
  raw.close();
  const r = openSqliteStore(path);
  assert.equal(await r.balance(ALL_TENANTS, 'a'), 5);
  assert.equal((await r.listAudit(ALL_TENANTS))[0]!.result, 'applied');
  await r.close();
});

test('sqlite: a second store on the same file sees committed writes (WAL readers)', async () => {
  const path = freshPath();
  const w = openSqliteStore(path);
  const r = openSqliteStore(path);
  await w.appendAudit([{ atMs: 1, actor: 'w', action: {}, reasons: [], result: 'applied' }]);
  assert.equal(await r.lastAuditSeq(), 1);
  await w.close();
  await r.close();
});

test('sqlite: migrations apply in order in one transaction: a failing one leaves the file as it was', () => {
  const path = freshPath();
  const db = new Database(path);
  const m1 = { version: 1, name: 'one', sql: 'CREATE TABLE a (x INTEGER) STRICT;' };
  const m2 = { version: 2, name: 'two', sql: 'CREATE TABLE b (y INTEGER) STRICT; INSERT INTO a VALUES (1);' };
  const bad = { version: 3, name: 'broken', sql: 'CREATE TABLE c (z INTEGER); THIS IS NOT SQL;' };
  applyMigrations(db, path, false, [m1]);
  assert.equal(db.pragma('user_version', { simple: true }), 1);
  assert.throws(
    () => applyMigrations(db, path, true, [m1, m2, bad]),
    (e: unknown) => isStoreError(e, 'schema') && /migration 3 \(broken\) failed/.test(e.message),
  );
  const tables = () => (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all() as string[]).join(',');
  assert.equal(db.pragma('user_version', { simple: true }), 1, 'version unchanged');
  assert.equal(tables(), 'a', 'migration 2 rolled back with 3');
  applyMigrations(db, path, true, [m1, m2]);
  assert.equal(db.pragma('user_version', { simple: true }), 2);
  assert.equal(tables(), 'a,b');
  assert.equal(db.prepare('SELECT count(*) FROM a').pluck().get(), 1);
  db.close();
});

test('sqlite: a version-1 database (money-only ledger) opens with the new schema and keeps its balances and entries', async () => {
  const path = freshPath();
  // The file as the version-1 code left it: schema 1, entries and balances written as it did.
  const raw = new Database(path);
  applyMigrations(raw, path, false, MIGRATIONS.filter((m) => m.version === 1));
  raw.pragma('journal_mode = WAL');
  const insert = raw.prepare('INSERT INTO ledger (seq, account, delta_microcredits, reason, ref, at_ms) VALUES (?, ?, ?, ?, ?, ?)');
  const v1 = [
    [1, 'tenant-a', 1_000_000, 'grant', 'welcome', 10],
    [2, 'tenant-a', -250_000, 'bid', 'bid-1', 11],
    [3, 'market', 250_000, 'bid', 'bid-1', 11],
    [4, 'penalties', -5, 'fee', null, 12],
  ] as const;
  for (const r of v1) insert.run(...r);
  const balance = raw.prepare('INSERT INTO balances (account, balance_microcredits) VALUES (?, ?)');
  for (const [account, b] of [['tenant-a', 750_000], ['market', 250_000], ['penalties', -5]] as const) balance.run(account, b);
  assert.equal(raw.pragma('user_version', { simple: true }), 1);
  raw.close();

  const s = openSqliteStore(path);
  assert.equal(await s.schemaVersion(), LATEST_SCHEMA_VERSION);
  assert.ok(LATEST_SCHEMA_VERSION >= 2);
  assert.equal(await s.balance(ALL_TENANTS, 'tenant-a'), 750_000);
  assert.equal(await s.balance(ALL_TENANTS, 'market', 'money'), 250_000);
  assert.equal(await s.balance(ALL_TENANTS, 'penalties'), -5);
  assert.equal(await s.balance(ALL_TENANTS, 'tenant-a', 'credit'), 0);
  assert.deepEqual(await s.listBalances(ALL_TENANTS), [
    { account: 'market', asset: 'money', balance: 250_000 },
    { account: 'penalties', asset: 'money', balance: -5 },
    { account: 'tenant-a', asset: 'money', balance: 750_000 },
  ]);
  assert.deepEqual(await s.listLedger(ALL_TENANTS, 'tenant-a'), [
    { seq: 1, account: 'tenant-a', asset: 'money', delta: 1_000_000, reason: 'grant', ref: 'welcome', group: null, atMs: 10 },
    { seq: 2, account: 'tenant-a', asset: 'money', delta: -250_000, reason: 'bid', ref: 'bid-1', group: null, atMs: 11 },
  ]);
  assert.deepEqual(await s.integrityCheck(), []);
  // The old balances still guard debits, and the ledger goes on from seq 5 with any asset.
  await assert.rejects(s.transferCredits({ from: 'tenant-a', to: 'market', amount: 750_001, reason: 'bid' }, 20), (e: unknown) => isStoreError(e, 'insufficient_funds'));
  const next = await s.appendLedger([{ account: 'credits:i1', asset: 'credit', delta: 500, reason: 'accrual', group: 'tick:1' }], 21);
  assert.equal(next[0]!.seq, 5);
  await s.putMarketState('credits', { carry: 1 }, 21);
  await s.close();
  // Append-only still holds on the migrated table, for old and new rows and columns.
  const after = new Database(path);
  for (const sql of ['UPDATE ledger SET delta = 0 WHERE seq = 1', "UPDATE ledger SET asset = 'cpu' WHERE seq = 5", 'UPDATE ledger SET entry_group = NULL', 'DELETE FROM ledger WHERE seq = 1'])
    assert.throws(() => after.exec(sql), /append-only/, sql);
  assert.throws(() => after.exec("INSERT INTO ledger (seq, account, asset, delta, reason, at_ms) VALUES (99, 'x', 'gold', 1, 'r', 1)"), /CHECK/);
  after.close();
  const r = openSqliteStore(path);
  assert.equal(await r.balance(ALL_TENANTS, 'tenant-a'), 750_000);
  assert.equal(await r.balance(ALL_TENANTS, 'credits:i1', 'credit'), 500);
  assert.deepEqual(await r.getMarketState('credits'), { state: { carry: 1 }, updatedAtMs: 21 });
  await r.close();
});

test('sqlite: listBalances reads the balance cache (not the ledger), and integrityCheck reports a cache that drifted', async () => {
  const path = freshPath();
  const s = openSqliteStore(path);
  await s.appendLedger([{ account: 'a', asset: 'cpu', delta: 5, reason: 'r' }], 1);
  await s.close();
  // An entry written behind the store's back (INSERT is not blocked by the append-only triggers).
  const raw = new Database(path);
  raw.exec("INSERT INTO ledger (seq, account, asset, delta, reason, at_ms) VALUES (2, 'a', 'cpu', 7, 'sneaky', 2)");
  raw.close();
  const r = openSqliteStore(path);
  assert.deepEqual(await r.listBalances(ALL_TENANTS), [{ account: 'a', asset: 'cpu', balance: 5 }]);
  assert.deepEqual(await r.integrityCheck(), ['ledger account a (cpu): balance 5 != sum of entries 12']);
  await r.close();
});

test('sqlite: listBalances is answered from the balances primary key, never from the ledger (query plans)', () => {
  const db = new Database(':memory:');
  applyMigrations(db, ':memory:', false);
  const plan = (sql: string, params: number): string =>
    (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...Array.from({ length: params }, () => 'x')) as Array<{ detail: string }>).map((r) => r.detail).join(' | ');
  for (const withAsset of [false, true]) {
    const extra = withAsset ? 1 : 0;
    const tenant = plan(listBalancesSql('tenant', withAsset), 5 + extra);
    assert.match(tenant, /SEARCH i USING INDEX instances_tenant/, tenant);
    assert.match(tenant, /SEARCH b USING PRIMARY KEY \(account=\?/, tenant);
    assert.match(tenant, /SEARCH balances USING PRIMARY KEY \(account=\?/, tenant);
    const from = plan(listBalancesSql('from', withAsset), 1 + extra);
    assert.match(from, /SEARCH balances USING PRIMARY KEY \(account>\?\)/, from);
    assert.doesNotMatch(from, /TEMP B-TREE/, from);
    const all = plan(listBalancesSql('all', withAsset), extra);
    assert.doesNotMatch(all, /TEMP B-TREE/, all);
    for (const p of [tenant, from, all]) assert.doesNotMatch(p, /ledger/, p);
  }
  db.close();
});
