// Store backends. The port (interface and record types) is src/core/store.ts.
export { openSqliteStore, SqliteStore, type SqliteStoreOptions } from './sqlite/sqlite-store.js';
export { LATEST_SCHEMA_VERSION } from './sqlite/migrations.js';
export { hashToken, newToken } from './token-hash.js';
export * from '../core/store.js';
