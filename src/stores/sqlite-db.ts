import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { StoreUnavailableError } from '../core/errors.ts';

/**
 * The one SQLite file that holds users, sessions, audit events and signing keys: opening, pragmas
 * and migrations.
 * All times are epoch milliseconds in INTEGER columns; booleans are 0/1.
 */

/**
 * Ordered schema migrations; version N is MIGRATIONS[N - 1]. Append only: never edit a released
 * entry, add a new one (a shipped database has already run the old SQL).
 */
export const MIGRATIONS: readonly string[] = [
  // v1: users, sessions, audit events.
  `
  CREATE TABLE users (
    id TEXT PRIMARY KEY,
    -- Stored normalised (accounts.ts lower-cases); NOCASE is a second line of defence.
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    name TEXT,
    roles TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(roles)),
    locked INTEGER NOT NULL DEFAULT 0 CHECK (locked IN (0, 1)),
    password_hash TEXT NOT NULL,
    password_changed_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;

  -- No foreign key to users: a session store may be paired with another user store.
  -- WITHOUT ROWID: the hot-path lookup by id is one b-tree search, not two.
  CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    secret_hash BLOB NOT NULL,
    user_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    authenticated_at INTEGER NOT NULL,
    persistent INTEGER NOT NULL CHECK (persistent IN (0, 1)),
    expires_at INTEGER NOT NULL,
    ip TEXT,
    user_agent TEXT,
    device TEXT NOT NULL,
    replaced_by TEXT,
    grace_until INTEGER
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX sessions_by_user ON sessions (user_id, last_seen_at);
  CREATE INDEX sessions_by_expiry ON sessions (expires_at);

  -- Kept after a user is deleted (no foreign key): the trail outlives the account.
  CREATE TABLE audit_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,
    at INTEGER NOT NULL,
    user_id TEXT,
    ip TEXT,
    session_id TEXT,
    detail TEXT CHECK (detail IS NULL OR json_valid(detail))
  ) STRICT;
  -- seq is the rowid, which every index already ends with: these serve ORDER BY at DESC, seq DESC.
  CREATE INDEX audit_events_by_time ON audit_events (at);
  CREATE INDEX audit_events_by_user ON audit_events (user_id, at);
  `,
  // v2: signing keys of download and identity tokens (src/tokens/keys.ts). private_key is sealed
  // (AES-256-GCM when a keys secret is configured); expires_at is NULL while the key signs.
  `
  CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    alg TEXT NOT NULL,
    public_jwk TEXT NOT NULL CHECK (json_valid(public_jwk)),
    private_key BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    not_before INTEGER NOT NULL,
    expires_at INTEGER
  ) STRICT;
  `,
];

/** Options of {@link openSqliteDatabase}. */
export interface OpenSqliteOptions {
  /** How long a write waits for another connection's lock before failing. @default 5000 */
  busyTimeoutMs?: number;
}

/**
 * Opens (creating the file and its directory if missing) and migrates the database. WAL mode, so
 * readers never block the writer; safe to call from several processes at once. Idempotent.
 * Throws StoreUnavailableError when the file cannot be opened or migrated.
 */
export function openSqliteDatabase(path: string, options: OpenSqliteOptions = {}): DatabaseSync {
  let db: DatabaseSync | undefined;
  try {
    if (path !== ':memory:' && !path.startsWith('file:'))
      mkdirSync(dirname(path), { recursive: true });
    db = new DatabaseSync(path, {
      timeout: options.busyTimeoutMs ?? 5000,
      enableForeignKeyConstraints: true,
      // Double-quoted strings are identifiers only; a typo then fails instead of matching a literal.
      enableDoubleQuotedStringLiterals: false,
    });
    db.exec('PRAGMA journal_mode = WAL');
    // NORMAL is durable in WAL mode except for the last transactions on power loss (not on crash).
    db.exec('PRAGMA synchronous = NORMAL');
    db.exec('PRAGMA foreign_keys = ON');
    migrate(db);
    return db;
  } catch (error) {
    if (db?.isOpen) db.close();
    if (error instanceof StoreUnavailableError) throw error;
    throw new StoreUnavailableError(`Cannot open the SQLite database at ${path}.`, {
      cause: error,
    });
  }
}

/** The highest migration version applied to this database (0 when none). */
export function schemaVersion(db: DatabaseSync): number {
  const row = db.prepare('SELECT max(version) AS version FROM schema_migrations').get();
  return Number(row?.version ?? 0);
}

/** Applies each missing migration in its own IMMEDIATE transaction, recording it as it goes. */
function migrate(db: DatabaseSync): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    applied_at INTEGER NOT NULL
  ) STRICT`);
  const record = db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)');
  for (let version = schemaVersion(db) + 1; version <= MIGRATIONS.length; version++) {
    db.exec('BEGIN IMMEDIATE');
    try {
      // Re-read under the write lock: another process may have migrated since we looked.
      if (schemaVersion(db) >= version) {
        db.exec('COMMIT');
        continue;
      }
      db.exec(MIGRATIONS[version - 1] as string);
      record.run(version, Date.now());
      db.exec('COMMIT');
    } catch (error) {
      rollback(db);
      throw new StoreUnavailableError(`SQLite migration ${version} failed.`, { cause: error });
    }
  }
}

/**
 * Runs `work` in an IMMEDIATE transaction, which holds the database's write lock from before its
 * reads to the commit, so no other connection or process writes in between. Commits unless `work`
 * ended the transaction itself (a ROLLBACK of nothing to keep); on any error rolls back and
 * rethrows the raw error, for the caller to wrap.
 */
export function inWriteTransaction<T>(db: DatabaseSync, work: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = work();
    if (db.isTransaction) db.exec('COMMIT');
    return result;
  } catch (error) {
    rollback(db);
    throw error;
  }
}

/** Rolls back an open transaction, ignoring a failure to do so (the original error matters). */
export function rollback(db: DatabaseSync): void {
  try {
    if (db.isOpen && db.isTransaction) db.exec('ROLLBACK');
  } catch {
    // SQLite may already have rolled back (e.g. after SQLITE_FULL); nothing more to undo.
  }
}

/** Wraps any database error (SQLITE_BUSY, a closed handle, a constraint) for the caller. */
export function failure(operation: string, cause: unknown): StoreUnavailableError {
  return new StoreUnavailableError(`SQLite store: ${operation} failed.`, { cause });
}
