import type { DatabaseSync } from 'node:sqlite';
import { SqliteAuditLog } from './sqlite-audit.ts';
import { type OpenSqliteOptions, openSqliteDatabase } from './sqlite-db.ts';
import { SqliteSessionStore, type SqliteStoreOptions } from './sqlite-sessions.ts';
import { SqliteUserStore } from './sqlite-users.ts';

/**
 * The embedded default: one SQLite file (node:sqlite, WAL) holds users, sessions and audit events.
 * Several connections and processes (the server and the CLI) may share the file.
 */

export { SqliteAuditLog } from './sqlite-audit.ts';
export {
  MIGRATIONS,
  type OpenSqliteOptions,
  openSqliteDatabase,
  schemaVersion,
} from './sqlite-db.ts';
export { SqliteKeyStore } from './sqlite-keys.ts';
export { SqliteSessionStore, type SqliteStoreOptions } from './sqlite-sessions.ts';
export { SqliteUserStore } from './sqlite-users.ts';

/** The three stores over one open, migrated database. */
export interface SqliteStores {
  readonly db: DatabaseSync;
  readonly sessions: SqliteSessionStore;
  readonly users: SqliteUserStore;
  readonly audit: SqliteAuditLog;
  /** Closes the database. Idempotent. */
  close(): Promise<void>;
}

/** Opens (creating and migrating as needed) the file at `path` and returns its stores. */
export function openSqliteStores(
  path: string,
  options: OpenSqliteOptions & SqliteStoreOptions = {},
): SqliteStores {
  const db = openSqliteDatabase(path, options);
  const users = new SqliteUserStore(db);
  const sessions = new SqliteSessionStore(db, { ...options, users });
  return {
    db,
    sessions,
    users,
    audit: new SqliteAuditLog(db),
    close: () => sessions.close(),
  };
}
