import { join } from 'node:path';
import type { UserStore } from '../accounts/user-store.ts';
import type { InvalidationFeed } from '../core/near-cache.ts';
import type { AuditLog, SessionStore } from '../core/store.ts';
import { openSqliteStores } from '../stores/sqlite.ts';
import { SqliteKeyStore } from '../stores/sqlite-keys.ts';
import type { KeyStore } from '../tokens/key-store.ts';
import type { Logger } from './logger.ts';

/** Where the server keeps its state, chosen by configuration. */
export interface StoreSettings {
  /** Directory of the embedded SQLite file (used for whatever no URL below takes over). */
  readonly dataDir: string;
  /** `redis://…`, `redis+sentinel://…` or `redis+cluster://…`: sessions in Redis. */
  readonly sessionStoreUrl: string | null;
  /** `postgres://…`: users, audit events and keys (and sessions when there is no Redis). */
  readonly databaseUrl: string | null;
  /** With Redis sessions: open the near cache's pub/sub feed. */
  readonly nearCache: boolean;
}

/** The opened stores. Every store failure surfaces as StoreUnavailableError (fail closed). */
export interface ServerStores {
  readonly sessions: SessionStore;
  readonly users: UserStore;
  readonly audit: AuditLog;
  /** The near cache's feed, when enabled. */
  readonly feed: InvalidationFeed | null;
  /** Signing keys, beside the users (SQLite or PostgreSQL). */
  readonly keys: KeyStore;
  /** One line for the start-up log, without credentials. */
  readonly description: string;
  /** True when every store answers. Never throws. */
  ready(): Promise<boolean>;
  /** True from a store's `store_down` log line until its `store_up`: an outage already reported. */
  inOutage(): boolean;
  /** Closes every store (each at most once). */
  close(): Promise<void>;
}

/**
 * Opens the stores the settings name: SQLite under `dataDir` by default; Redis for sessions and
 * PostgreSQL for users/audit/keys when configured. Driver packages are imported only when used.
 * Each outage is logged once when it starts and once when it ends, never per request.
 */
export async function openServerStores(
  settings: StoreSettings,
  logger: Logger,
): Promise<ServerStores> {
  const outages = outageLogger(logger);
  const outage = outages.report;
  const closers: (() => Promise<unknown>)[] = [];
  const checks: (() => Promise<unknown>)[] = [];
  const parts: string[] = [];
  try {
    let users: UserStore;
    let audit: AuditLog;
    let sessions: SessionStore | null = null;
    let keys: KeyStore;
    if (settings.databaseUrl !== null) {
      const { openPostgresStores } = await import('../stores/postgres.ts');
      const pg = await openPostgresStores(settings.databaseUrl, {
        onAvailabilityChange: (up, cause) => outage('postgres', up, cause),
      });
      closers.push(() => pg.close());
      checks.push(() => pg.ready());
      ({ users, audit } = pg);
      const { PostgresKeyStore } = await import('../stores/postgres-keys.ts');
      keys = new PostgresKeyStore(pg.sql);
      if (settings.sessionStoreUrl === null) sessions = pg.sessions;
      parts.push('PostgreSQL');
    } else {
      const lite = openSqliteStores(sqlitePath(settings.dataDir));
      closers.push(() => lite.close());
      checks.push(() => lite.users.count());
      ({ users, audit } = lite);
      keys = new SqliteKeyStore(lite.db);
      if (settings.sessionStoreUrl === null) sessions = lite.sessions;
      parts.push(`SQLite in ${settings.dataDir}`);
    }
    let feed: InvalidationFeed | null = null;
    if (settings.sessionStoreUrl !== null) {
      const { createRedisSessionStore } = await import('../stores/redis.ts');
      const redis = await createRedisSessionStore(settings.sessionStoreUrl, {
        onStatus: ({ up, error }) => outage('redis', up, error),
      });
      closers.push(() => redis.close());
      checks.push(() => redis.ping());
      sessions = redis;
      parts.push('sessions in Redis');
      if (settings.nearCache) {
        const { RedisInvalidationFeed } = await import('../stores/redis-feed.ts');
        feed = new RedisInvalidationFeed(settings.sessionStoreUrl, {
          onStatus: ({ live, error }) => outage('redis pub/sub (near cache)', live, error),
        });
        const opened = feed;
        closers.push(() => opened.close());
        parts.push('near cache');
      }
    }
    if (sessions === null) throw new Error('unreachable: no session store chosen');
    let closed = false;
    return {
      sessions,
      users,
      audit,
      feed,
      keys,
      description: parts.join(', '),
      async ready() {
        const results = await Promise.allSettled(checks.map((check) => check()));
        return results.every((r) => r.status === 'fulfilled');
      },
      inOutage: outages.active,
      async close() {
        if (closed) return;
        closed = true;
        for (const close of closers.reverse()) await close().catch(() => {});
      },
    };
  } catch (error) {
    for (const close of closers.reverse()) await close().catch(() => {});
    throw error;
  }
}

/** The embedded database file under a data directory. */
export function sqlitePath(dataDir: string): string {
  return join(dataDir, 'coatcheck.db');
}

/** The embedded default, opened synchronously: users, sessions, audit and keys in one SQLite file. */
export function openSqliteServerStores(dataDir: string): ServerStores {
  const lite = openSqliteStores(sqlitePath(dataDir));
  return {
    sessions: lite.sessions,
    users: lite.users,
    audit: lite.audit,
    feed: null,
    keys: new SqliteKeyStore(lite.db),
    description: `SQLite in ${dataDir}`,
    async ready() {
      try {
        await lite.users.count();
        return true;
      } catch {
        return false;
      }
    },
    inOutage: () => false, // SQLite has no outages to report: each failure is logged as it happens
    close: () => lite.close(),
  };
}

/** Logs each store's transitions between up and down: one line per outage start and end. */
function outageLogger(logger: Logger) {
  const down = new Map<string, number>();
  const active = () => down.size > 0;
  const report = (store: string, up: boolean, cause?: unknown) => {
    const since = down.get(store);
    if (!up && since === undefined) {
      down.set(store, Date.now());
      logger.error({ event: 'store_down', store, err: cause }, `${store} is unreachable`);
    } else if (up && since !== undefined) {
      down.delete(store);
      logger.info(
        { event: 'store_up', store, downForMs: Date.now() - since },
        `${store} is reachable again`,
      );
    }
  };
  return { report, active };
}
