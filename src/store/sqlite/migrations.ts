// Numbered schema migrations of the SQLite store. The database's `user_version` pragma holds the
// number of the last migration applied. At open, the pending ones run in ONE transaction with the
// version bump, so a crash mid-migration leaves the previous schema intact. Never edit a
// migration that has shipped: append a new one.
//
// Tables are STRICT (a wrong type is an error, not a silent conversion). Resource vectors are four
// REAL columns in canonical units, so availability can be summed in SQL.

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const vector = (prefix: string): string =>
  [`${prefix}_cpu_millicores`, `${prefix}_memory_mib`, `${prefix}_disk_kibps`, `${prefix}_network_kibps`]
    .map((c) => `${c} REAL NOT NULL CHECK (${c} >= 0)`)
    .join(',\n  ');

const appendOnly = (table: string): string => `
CREATE TRIGGER ${table}_no_update BEFORE UPDATE ON ${table}
BEGIN SELECT RAISE(ABORT, '${table} is append-only'); END;
CREATE TRIGGER ${table}_no_delete BEFORE DELETE ON ${table}
BEGIN SELECT RAISE(ABORT, '${table} is append-only'); END;`;

/** Sample metric columns as of migration 1 (a later metric gets its own migration). */
const ROLLUP_METRICS_V1 = [
  'cpu_millicores',
  'memory_mib',
  'disk_read_kibps',
  'disk_write_kibps',
  'network_rx_kibps',
  'network_tx_kibps',
  'cpu_pressure_pct',
  'memory_pressure_pct',
  'io_pressure_pct',
];

/** The ledger assets as of migration 2 (a new asset needs a migration: the CHECKs list them). */
const LEDGER_ASSETS_V2 = ['money', 'credit', 'cpu', 'memory', 'bond', 'priority'].map((a) => `'${a}'`).join(', ');

const PRIORITY = `CHECK (priority IN ('critical', 'high', 'normal', 'low'))`;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
CREATE TABLE hosts (
  id TEXT PRIMARY KEY,
  ${vector('cap')},
  active INTEGER NOT NULL CHECK (active IN (0, 1)),
  labels TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL,
  version INTEGER NOT NULL
) STRICT;

CREATE TABLE instances (
  id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  host_id TEXT REFERENCES hosts(id) ON DELETE RESTRICT,
  priority TEXT NOT NULL ${PRIORITY},
  ${vector('req')},
  ${vector('alloc')},
  state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'stopped', 'preempted', 'terminated')),
  labels TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL,
  version INTEGER NOT NULL
) STRICT;
CREATE INDEX instances_tenant ON instances(tenant);
CREATE INDEX instances_host ON instances(host_id);

-- One row per telemetry batch received: (agent_id, sequence) makes a resent batch a no-op.
CREATE TABLE telemetry_batches (
  agent_id TEXT NOT NULL,
  sequence INTEGER NOT NULL,
  received_at_ms INTEGER NOT NULL,
  samples INTEGER NOT NULL,
  PRIMARY KEY (agent_id, sequence)
) STRICT, WITHOUT ROWID;
CREATE INDEX telemetry_batches_received ON telemetry_batches(received_at_ms);

-- Raw samples, one row per (instance, timestamp). AUTOINCREMENT keeps the cursor increasing even
-- after old rows are pruned.
CREATE TABLE samples (
  cursor INTEGER PRIMARY KEY AUTOINCREMENT,
  instance_id TEXT NOT NULL,
  ts_ms INTEGER NOT NULL,
  interval_ms INTEGER NOT NULL,
  agent_id TEXT NOT NULL,
  cpu_millicores REAL,
  memory_mib REAL,
  disk_read_kibps REAL,
  disk_write_kibps REAL,
  network_rx_kibps REAL,
  network_tx_kibps REAL,
  cpu_pressure_pct REAL,
  memory_pressure_pct REAL,
  io_pressure_pct REAL,
  custom TEXT,
  UNIQUE (instance_id, ts_ms)
) STRICT;
CREATE INDEX samples_ts ON samples(ts_ms);

-- Per instance and minute: count, sum, min, max of each metric over the samples stored (mean =
-- sum/count). One wide row per (instance, minute), so a batch costs one upsert per instance and
-- minute, not one per metric. Custom metrics go to custom_rollups, one row per metric.
CREATE TABLE rollups (
  instance_id TEXT NOT NULL,
  minute_ms INTEGER NOT NULL,
  ${ROLLUP_METRICS_V1.map((m) => `${m}_n INTEGER NOT NULL, ${m}_sum REAL NOT NULL, ${m}_min REAL, ${m}_max REAL`).join(',\n  ')},
  PRIMARY KEY (instance_id, minute_ms)
) STRICT, WITHOUT ROWID;
CREATE INDEX rollups_minute ON rollups(minute_ms);
CREATE TABLE custom_rollups (
  instance_id TEXT NOT NULL,
  minute_ms INTEGER NOT NULL,
  metric TEXT NOT NULL,
  n INTEGER NOT NULL,
  sum REAL NOT NULL,
  min REAL NOT NULL,
  max REAL NOT NULL,
  PRIMARY KEY (instance_id, minute_ms, metric)
) STRICT, WITHOUT ROWID;
CREATE INDEX custom_rollups_minute ON custom_rollups(minute_ms);

-- Latest forecast per instance and resource; arrays as little-endian float64 BLOBs (rows of a few
-- KiB: a rowid table, not WITHOUT ROWID).
CREATE TABLE forecasts (
  id INTEGER PRIMARY KEY,
  instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
  resource TEXT NOT NULL,
  made_at_ms INTEGER NOT NULL,
  step_seconds REAL NOT NULL,
  horizon INTEGER NOT NULL,
  mean BLOB NOT NULL,
  quantiles BLOB NOT NULL,
  levels TEXT NOT NULL,
  confidence REAL NOT NULL,
  model TEXT NOT NULL,
  anomaly_z REAL,
  anomaly_flagged INTEGER,
  UNIQUE (instance_id, resource)
) STRICT;

CREATE TABLE profiles (
  id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  priority TEXT NOT NULL ${PRIORITY},
  instance_id TEXT REFERENCES instances(id) ON DELETE SET NULL,
  payload TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX profiles_tenant ON profiles(tenant);

CREATE TABLE bids (
  id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  profile_id TEXT NOT NULL REFERENCES profiles(id) ON DELETE RESTRICT,
  instance_id TEXT REFERENCES instances(id) ON DELETE SET NULL,
  price_microcredits INTEGER NOT NULL,
  priority TEXT NOT NULL ${PRIORITY},
  state TEXT NOT NULL CHECK (state IN ('open', 'accepted', 'rejected', 'cancelled', 'expired')),
  payload TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX bids_tenant ON bids(tenant);
CREATE INDEX bids_profile ON bids(profile_id);

CREATE TABLE reservations (
  id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  host_id TEXT REFERENCES hosts(id) ON DELETE CASCADE,
  instance_id TEXT REFERENCES instances(id) ON DELETE SET NULL,
  bid_id TEXT REFERENCES bids(id) ON DELETE SET NULL,
  ${vector('res')},
  start_ms INTEGER NOT NULL,
  end_ms INTEGER NOT NULL CHECK (end_ms >= start_ms),
  state TEXT NOT NULL CHECK (state IN ('active', 'released')),
  created_at_ms INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX reservations_tenant ON reservations(tenant);
CREATE INDEX reservations_host ON reservations(host_id);

-- The credit ledger: append-only entries, plus a balance per account kept in the same
-- transaction (so a balance is one row read; the conformance suite checks it equals the sum).
CREATE TABLE ledger (
  seq INTEGER PRIMARY KEY,
  account TEXT NOT NULL,
  delta_microcredits INTEGER NOT NULL,
  reason TEXT NOT NULL,
  ref TEXT,
  at_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX ledger_account ON ledger(account, seq);
${appendOnly('ledger')}

CREATE TABLE balances (
  account TEXT PRIMARY KEY,
  balance_microcredits INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- target: 'global' or 'instance:<id>'.
CREATE TABLE policies (
  target TEXT PRIMARY KEY,
  instance_id TEXT REFERENCES instances(id) ON DELETE CASCADE,
  settings TEXT NOT NULL,
  updated_at_ms INTEGER NOT NULL,
  version INTEGER NOT NULL
) STRICT;
CREATE INDEX policies_instance ON policies(instance_id);

CREATE TABLE agents (
  id TEXT PRIMARY KEY,
  tenant TEXT,
  instance_ids TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL
) STRICT;

CREATE TABLE tokens (
  id TEXT PRIMARY KEY,
  token_sha256 TEXT NOT NULL UNIQUE CHECK (length(token_sha256) = 64),
  role TEXT NOT NULL CHECK (role IN ('admin', 'tenant', 'agent')),
  tenant TEXT,
  agent_id TEXT REFERENCES agents(id) ON DELETE SET NULL,
  label TEXT NOT NULL,
  expires_at_ms INTEGER,
  created_at_ms INTEGER NOT NULL,
  revoked_at_ms INTEGER
) STRICT;

-- The audit log: append-only, seq 1, 2, 3... without gaps.
CREATE TABLE audit (
  seq INTEGER PRIMARY KEY,
  at_ms INTEGER NOT NULL,
  actor TEXT NOT NULL,
  kind TEXT NOT NULL,
  action TEXT NOT NULL,
  reasons TEXT NOT NULL,
  result TEXT NOT NULL,
  error TEXT,
  instance_id TEXT,
  host_id TEXT,
  tenant TEXT
) STRICT;
CREATE INDEX audit_instance ON audit(instance_id, seq);
CREATE INDEX audit_tenant ON audit(tenant, seq);
${appendOnly('audit')}
`,
  },
  {
    version: 2,
    name: 'ledger assets, entry groups, market state',
    // The ledger gets the markets' six assets. Entries written before are money (the DEFAULT);
    // `delta_microcredits` becomes `delta` (in the unit of the entry's asset). ALTER TABLE keeps
    // the rows and the append-only triggers as they are (no row is rewritten). The balance cache
    // is keyed by (account, asset) now: rebuilt from the old one, every balance being money.
    sql: `
ALTER TABLE ledger RENAME COLUMN delta_microcredits TO delta;
ALTER TABLE ledger ADD COLUMN asset TEXT NOT NULL DEFAULT 'money' CHECK (asset IN (${LEDGER_ASSETS_V2}));
-- Entries written by one market transaction share a group ('group' is an SQL keyword).
ALTER TABLE ledger ADD COLUMN entry_group TEXT;

CREATE TABLE balances_v2 (
  account TEXT NOT NULL,
  asset TEXT NOT NULL CHECK (asset IN (${LEDGER_ASSETS_V2})),
  balance INTEGER NOT NULL,
  PRIMARY KEY (account, asset)
) STRICT, WITHOUT ROWID;
INSERT INTO balances_v2 (account, asset, balance) SELECT account, 'money', balance_microcredits FROM balances;
DROP TABLE balances;
ALTER TABLE balances_v2 RENAME TO balances;

-- Market runtime state: one JSON value per key, replaced whole.
CREATE TABLE market_state (
  key TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  updated_at_ms INTEGER NOT NULL
) STRICT;
`,
  },
];

export const LATEST_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
