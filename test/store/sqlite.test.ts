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
import { LATEST_SCHEMA_VERSION } from '../../src/store/sqlite/migrations.js';
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
    (e: unknown) => isStoreError(e, 'schema') && /schema version 2, newer than this prescient knows \(1\)/.test(e.message) && e.message.includes(path),
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
  await s.appendLedger([{ account: 'a', deltaMicrocredits: 5, reason: 'grant' }], 1);
  await s.appendAudit([{ atMs: 1, actor: 'test', action: {}, reasons: [], result: 'applied' }]);
  await s.close();
  const raw = new Database(path);
  for (const sql of ['UPDATE ledger SET delta_microcredits = 6', 'DELETE FROM ledger', "UPDATE audit SET result = 'failed'", 'DELETE FROM audit'])
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
