import type { Sql } from 'postgres';
import { PostgresAuditLog } from './postgres-audit.ts';
import {
  connectPostgres,
  defaultQueryTimeoutMs,
  migratePostgres,
  type PostgresPoolOptions,
  pingPostgres,
} from './postgres-db.ts';
import { PostgresSessionStore, type PostgresSessionStoreOptions } from './postgres-sessions.ts';
import { PostgresUserStore } from './postgres-users.ts';

/**
 * The production user store (and a durable session store): PostgreSQL ≥ 15 through one pool
 * (porsager/postgres) shared by users, sessions, audit events and signing keys. Any number of
 * nodes may share the database; they migrate it once between them.
 */

export { PostgresAuditLog } from './postgres-audit.ts';
export {
  connectPostgres,
  defaultQueryTimeoutMs,
  MIGRATIONS,
  migratePostgres,
  type PostgresPoolOptions,
  type PostgresQueryOptions,
  pingPostgres,
  schemaVersion,
} from './postgres-db.ts';
export { PostgresKeyStore } from './postgres-keys.ts';
export { PostgresSessionStore, type PostgresSessionStoreOptions } from './postgres-sessions.ts';
export { PostgresUserStore } from './postgres-users.ts';

/** Options of {@link openPostgresStores}: the pool's, and the session store's. */
export type OpenPostgresOptions = PostgresPoolOptions & Omit<PostgresSessionStoreOptions, 'users'>;

/** The three stores over one pool on a migrated database. */
export interface PostgresStores {
  readonly sql: Sql;
  readonly sessions: PostgresSessionStore;
  readonly users: PostgresUserStore;
  readonly audit: PostgresAuditLog;
  /** Resolves when the server answers `select 1`; else throws StoreUnavailableError (/readyz). */
  ready(): Promise<void>;
  /** Ends the pool, letting running queries finish (2 s at most). Idempotent. */
  close(): Promise<void>;
}

/**
 * Connects to `url` (e.g. `postgres://user:pass@host:5432/db`; any `?search_path=` applies),
 * migrates the database and returns its stores, the session store reading users by JOIN.
 * Rejects with StoreUnavailableError (the pool closed) when the server is unreachable or a
 * migration fails, and with ConfigError for an invalid URL or option.
 */
export async function openPostgresStores(
  url: string,
  options: OpenPostgresOptions = {},
): Promise<PostgresStores> {
  const sql = connectPostgres(url, options);
  try {
    await migratePostgres(sql);
  } catch (error) {
    await sql.end({ timeout: 0 }).catch(() => {});
    throw error;
  }
  const queryTimeoutMs =
    options.queryTimeoutMs ?? defaultQueryTimeoutMs(options.statementTimeoutMs);
  const users = new PostgresUserStore(sql, { queryTimeoutMs });
  const sessions = new PostgresSessionStore(sql, { ...options, queryTimeoutMs, users });
  return {
    sql,
    sessions,
    users,
    audit: new PostgresAuditLog(sql, { queryTimeoutMs }),
    ready: () => pingPostgres(sql, queryTimeoutMs),
    close: () => sessions.close(),
  };
}
