import postgres, { type Notice, type Sql } from 'postgres';
import { ConfigError } from '../core/errors.ts';
import {
  type AvailabilityListener,
  attempt,
  failure,
  watchAvailability,
} from './postgres-breaker.ts';

/**
 * The PostgreSQL database that holds users, sessions, audit events and signing keys: the pool and
 * its timeouts, and versioned migrations. Times are epoch milliseconds in BIGINT columns (the
 * driver returns int8 as text; the stores convert with Number(), exact below 2^53 ms).
 */

/**
 * Ordered schema migrations; version N is MIGRATIONS[N - 1]. Append only: never edit a released
 * entry, add a new one (a deployed database has already run the old SQL).
 */
export const MIGRATIONS: readonly string[] = [
  // v1: users, sessions, audit events, signing keys. Ids and emails use the "C" collation:
  // byte order and byte equality, the same on every server whatever its locale (like SQLite).
  `
  CREATE TABLE users (
    id text COLLATE "C" PRIMARY KEY,
    -- Stored normalised (accounts.ts lower-cases); the lower() index is a second line of defence.
    email text COLLATE "C" NOT NULL UNIQUE,
    name text,
    roles text[] NOT NULL DEFAULT '{}',
    locked boolean NOT NULL DEFAULT false,
    password_hash text NOT NULL,
    password_changed_at bigint NOT NULL,
    created_at bigint NOT NULL
  );
  CREATE UNIQUE INDEX users_email_lower ON users (lower(email));

  -- No foreign key to users: a session store may be paired with another user store.
  CREATE TABLE sessions (
    id text COLLATE "C" PRIMARY KEY,
    -- SHA-256 of the token's secret, never the secret itself.
    secret_hash bytea NOT NULL CHECK (octet_length(secret_hash) = 32),
    user_id text COLLATE "C" NOT NULL,
    created_at bigint NOT NULL,
    last_seen_at bigint NOT NULL,
    authenticated_at bigint NOT NULL,
    persistent boolean NOT NULL,
    expires_at bigint NOT NULL,
    ip text,
    user_agent text,
    device text NOT NULL,
    replaced_by text COLLATE "C",
    grace_until bigint
  );
  CREATE INDEX sessions_by_user ON sessions (user_id, last_seen_at);
  CREATE INDEX sessions_by_expiry ON sessions (expires_at);

  -- Kept after a user is deleted (no foreign key): the trail outlives the account.
  CREATE TABLE audit_events (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    type text NOT NULL,
    at bigint NOT NULL,
    user_id text COLLATE "C",
    ip text,
    session_id text COLLATE "C",
    detail jsonb
  );
  CREATE INDEX audit_events_by_time ON audit_events (at, seq);
  CREATE INDEX audit_events_by_user ON audit_events (user_id, at, seq);

  -- Keys for download and identity tokens (JWKS); private_key may be encrypted at rest.
  CREATE TABLE signing_keys (
    kid text COLLATE "C" PRIMARY KEY,
    alg text NOT NULL,
    public_jwk jsonb NOT NULL,
    private_key bytea NOT NULL,
    created_at bigint NOT NULL,
    not_before bigint NOT NULL,
    expires_at bigint
  );
  -- At most one signing key (expires_at NULL) at a time, so a KeyStore's addFirst can be a plain
  -- INSERT ... ON CONFLICT DO NOTHING even when several nodes start at once.
  CREATE UNIQUE INDEX signing_keys_one_signing ON signing_keys ((expires_at IS NULL))
    WHERE expires_at IS NULL;
  `,
];

// Any constant bigint works; all Coatcheck nodes must agree on it. ASCII "coatchek".
const MIGRATION_LOCK = 0x636f_6174_6368_656bn;

/** Options of {@link connectPostgres}, resolved once (see DEFAULTS). */
export interface PostgresPoolOptions {
  /** Connections in the pool. @default 10 */
  maxConnections?: number;
  /** Closes a connection idle this long. @default 30 */
  idleTimeoutSeconds?: number;
  /** Gives up connecting after this long, so a dead server fails requests fast. @default 2 */
  connectTimeoutSeconds?: number;
  /** Server-side cap on any one statement (`statement_timeout`). @default 5000 */
  statementTimeoutMs?: number;
  /** Server notices (e.g. "already exists, skipping"). @default dropped */
  onNotice?: (notice: Notice) => void;
  /** Hears each change of reachability once (not per call): log an outage once with it. */
  onAvailabilityChange?: AvailabilityListener;
}

/** Options every PostgreSQL store takes. */
export interface PostgresQueryOptions {
  /**
   * Client-side deadline of one operation, for when the server cannot even say it is late.
   * @default statementTimeoutMs + 1000 (6000)
   */
  queryTimeoutMs?: number;
}

const DEFAULTS = Object.freeze({
  maxConnections: 10,
  idleTimeoutSeconds: 30,
  connectTimeoutSeconds: 2,
  statementTimeoutMs: 5000,
});

/**
 * A pool on `url` (nothing connects until the first query), behind a circuit breaker (see
 * postgres-breaker.ts). Never throws on an unreachable server: calls then reject fast, and the
 * pool reconnects by itself when the server returns.
 * Throws ConfigError for an unusable URL or option; the message never echoes the URL (password).
 */
export function connectPostgres(url: string, options: PostgresPoolOptions = {}): Sql {
  const resolved = Object.freeze({ ...DEFAULTS, ...definedOnly(options) });
  for (const [name, value] of Object.entries(resolved)) {
    if (typeof value === 'number' && !(Number.isInteger(value) && value > 0))
      throw new ConfigError(`PostgreSQL option ${name} must be a positive integer.`);
  }
  let sql: Sql;
  try {
    sql = postgres(url, {
      max: resolved.maxConnections,
      idle_timeout: resolved.idleTimeoutSeconds,
      connect_timeout: resolved.connectTimeoutSeconds,
      // The driver's default backoff grows to 20 s between reconnects, and queries wait it out.
      // Capped at 0.5 s, a query during an outage fails within about connect_timeout + 0.5 s, and
      // the first query after the server returns reconnects within half a second.
      backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 0.5),
      onnotice: resolved.onNotice ?? (() => {}),
      connection: {
        application_name: 'coatcheck',
        statement_timeout: resolved.statementTimeoutMs,
        // A connection left inside a transaction (a bug or a crash) must not hold row locks.
        idle_in_transaction_session_timeout: 10 * resolved.statementTimeoutMs,
      },
    });
  } catch (error) {
    throw new ConfigError(`The PostgreSQL URL is invalid: ${(error as Error).message}`);
  }
  watchAvailability(sql, resolved.onAvailabilityChange);
  return sql;
}

/**
 * Applies each missing migration in its own transaction under a transaction-scoped advisory lock,
 * so nodes starting at once migrate exactly once and the losers see the result. Idempotent.
 * Throws StoreUnavailableError when the server is unreachable or a migration fails.
 */
export async function migratePostgres(sql: Sql): Promise<void> {
  for (;;) {
    let done = false;
    try {
      await sql.begin(async (tx) => {
        // A migration may outlast the pool's statement_timeout, and so may waiting for the lock.
        await tx`SET LOCAL statement_timeout = '5min'`;
        await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK.toString()}::bigint)`;
        // Created under the lock: concurrent CREATE TABLE IF NOT EXISTS can still collide.
        await tx`CREATE TABLE IF NOT EXISTS coatcheck_schema_migrations (
          version integer PRIMARY KEY,
          applied_at timestamptz NOT NULL DEFAULT now()
        )`;
        const version = await currentVersion(tx);
        if (version >= MIGRATIONS.length) {
          done = true;
          return;
        }
        await tx.unsafe(MIGRATIONS[version] as string);
        await tx`INSERT INTO coatcheck_schema_migrations (version) VALUES (${version + 1})`;
      });
    } catch (error) {
      throw failure('migrate', error);
    }
    if (done) return;
  }
}

/** The highest migration version applied (0 when none). Throws StoreUnavailableError. */
export async function schemaVersion(sql: Sql): Promise<number> {
  try {
    const [row] = await sql`SELECT to_regclass('coatcheck_schema_migrations') IS NOT NULL AS ok`;
    return row?.ok ? await currentVersion(sql) : 0;
  } catch (error) {
    throw failure('schemaVersion', error);
  }
}

async function currentVersion(sql: Sql | postgres.TransactionSql): Promise<number> {
  const [row] = await sql`SELECT coalesce(max(version), 0) AS version
    FROM coatcheck_schema_migrations`;
  return Number(row?.version ?? 0);
}

/** Resolves when the server answers `select 1`; else throws StoreUnavailableError (for /readyz). */
export async function pingPostgres(sql: Sql, timeoutMs = defaultQueryTimeoutMs()): Promise<void> {
  await attempt(sql, 'ping', timeoutMs, async () => sql`select 1`);
}

/** The client-side deadline for one operation: the server's statement timeout plus a margin. */
export function defaultQueryTimeoutMs(
  statementTimeoutMs: number = DEFAULTS.statementTimeoutMs,
): number {
  return statementTimeoutMs + 1000;
}

function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(options).filter(([, value]) => value !== undefined),
  ) as Partial<T>;
}
