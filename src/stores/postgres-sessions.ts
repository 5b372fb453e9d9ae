import type { Row, Sql } from 'postgres';
import type {
  DeletedSession,
  SessionRecord,
  SessionStore,
  SessionTouch,
  SessionUser,
} from '../core/store.ts';
import { attempt, failure } from './postgres-breaker.ts';
import { defaultQueryTimeoutMs, type PostgresQueryOptions, pingPostgres } from './postgres-db.ts';
import { type PostgresUserStore, readSessionUser, SESSION_USER_COLUMNS } from './postgres-users.ts';

/** Options of the PostgreSQL session store. */
export interface PostgresSessionStoreOptions extends PostgresQueryOptions {
  /** Clock deciding expiry on read; pass the engine's clock in tests. @default Date.now */
  now?: () => number;
  /** The user store on the same database: enables `getWithUser`, one JOIN on every validate. */
  users?: PostgresUserStore;
  /** Rows one sweep statement deletes, so a large backlog never holds locks for long. @default 10000 */
  sweepBatchSize?: number;
}

const COLUMNS = [
  'id',
  'secret_hash',
  'user_id',
  'created_at',
  'last_seen_at',
  'authenticated_at',
  'persistent',
  'expires_at',
  'ip',
  'user_agent',
  'device',
  'replaced_by',
  'grace_until',
] as const;

/**
 * Sessions in the `sessions` table of a database migrated by migratePostgres. Every method is one
 * statement except `rotate`, one transaction whose guarded UPDATE row-locks the previous session,
 * so across connections and nodes exactly one rotation of a session wins, and `deleteByUser`,
 * which follows tombstones to successors its first statement could not see: a revoke-all racing
 * a rotation kills both sessions, whichever commits first. Every failure (including an
 * unreachable server) surfaces as StoreUnavailableError; the pool reconnects alone.
 */
export class PostgresSessionStore implements SessionStore {
  readonly #sql: Sql;
  readonly #now: () => number;
  readonly #sweepBatchSize: number;
  readonly #timeoutMs: number;
  /** The user store `getWithUser` reads (set only when given one on the same database). */
  readonly colocatedUsers?: PostgresUserStore;

  /** Uses the pool `sql`; `close()` ends it (it is shared with the other PostgreSQL stores). */
  constructor(sql: Sql, options: PostgresSessionStoreOptions = {}) {
    this.#sql = sql;
    this.#now = options.now ?? Date.now;
    this.#sweepBatchSize = Math.max(1, Math.floor(options.sweepBatchSize ?? 10_000));
    this.#timeoutMs = options.queryTimeoutMs ?? defaultQueryTimeoutMs();
    if (options.users) this.colocatedUsers = options.users;
  }

  /** Inserts the record; a duplicate id is a StoreUnavailableError (ids are 128 random bits). */
  async create(record: SessionRecord): Promise<void> {
    const sql = this.#sql;
    await this.#run('create', async () => {
      await sql`INSERT INTO sessions ${sql(toRow(record))}`;
    });
  }

  /** Hot path: one primary-key SELECT; null when absent or past `expiresAt`. */
  async get(id: string): Promise<SessionRecord | null> {
    const sql = this.#sql;
    const now = this.#now();
    const [row] = await this.#run(
      'get',
      async () =>
        sql`SELECT ${sql(COLUMNS)} FROM sessions WHERE id = ${id} AND expires_at > ${now}`,
    );
    return row === undefined ? null : toRecord(row);
  }

  /** The session and its user (null when the user row is gone) in one round trip; null if absent. */
  async getWithUser(
    id: string,
  ): Promise<{ session: SessionRecord; user: SessionUser | null } | null> {
    const sql = this.#sql;
    const now = this.#now();
    const [row] = await this.#run(
      'getWithUser',
      async () => sql`SELECT ${sql.unsafe(JOINED)}
        FROM sessions s LEFT JOIN users u ON u.id = s.user_id
        WHERE s.id = ${id} AND s.expires_at > ${now}`,
    );
    if (row === undefined) return null;
    return { session: toRecord(row), user: row.u_id === null ? null : readSessionUser(row, 'u_') };
  }

  /** Renews a live session; no-op for unknown, expired or rotated-out ids. */
  async touch(id: string, touch: SessionTouch): Promise<void> {
    const sql = this.#sql;
    const now = this.#now();
    // A tombstone keeps its theft-detection window; an expired row is never resurrected.
    await this.#run('touch', async () => {
      await sql`UPDATE sessions
        SET last_seen_at = ${touch.lastSeenAt}, expires_at = ${touch.expiresAt}
        WHERE id = ${id} AND replaced_by IS NULL AND expires_at > ${now}`;
    });
  }

  /**
   * One transaction: tombstone the live previous session, then insert `next`. Concurrent rotations
   * queue on the row lock and re-check the guard after the winner commits, so they update nothing
   * and return false.
   */
  async rotate(args: {
    previousId: string;
    next: SessionRecord;
    graceUntil: number;
    tombstoneExpiresAt: number;
  }): Promise<boolean> {
    const now = this.#now();
    return this.#run('rotate', () =>
      this.#sql.begin(async (tx) => {
        const tombstoned = await tx`UPDATE sessions SET replaced_by = ${args.next.id},
            grace_until = ${args.graceUntil}, expires_at = ${args.tombstoneExpiresAt}
          WHERE id = ${args.previousId} AND replaced_by IS NULL AND expires_at > ${now}`;
        if (tombstoned.count === 0) return false; // nothing written: commits an empty transaction
        await tx`INSERT INTO sessions ${tx(toRow(args.next))}`;
        return true;
      }),
    );
  }

  /** Deletes the record (live or tombstone); what it was, or null when absent. */
  async delete(id: string): Promise<DeletedSession | null> {
    const sql = this.#sql;
    const now = this.#now();
    const [row] = await this.#run(
      'delete',
      async () => sql`DELETE FROM sessions WHERE id = ${id}
        RETURNING expires_at > ${now} AS unexpired, replaced_by`,
    );
    if (row === undefined) return null;
    return { unexpired: row.unexpired === true, replacedBy: row.replaced_by ?? null };
  }

  /**
   * Deletes all of the user's rows (tombstones too) but `exceptId`, and the successors of the
   * tombstones it deleted; counts the live ones. One statement, plus one per rotation-chain link
   * its snapshot missed (a successor already deleted costs one more, finding nothing).
   *
   * Guarantee: once it resolves, no session of the user it could see, nor any session rotated
   * out of one of them, is alive (but `exceptId` and what it was rotated into). A rotation racing
   * the DELETE either commits first, and the DELETE (waiting on the tombstone's row lock, READ
   * COMMITTED) deletes the tombstone and returns its `replaced_by`, or loses and writes nothing.
   * Its `next` is not in that statement's snapshot: the next statement, with a snapshot taken
   * after that commit, deletes it. Repeats until a statement finds no successor it has not deleted
   * (each repeat needs a rotation of a session being deleted to have committed meanwhile).
   */
  async deleteByUser(args: { userId: string; exceptId?: string }): Promise<number> {
    const sql = this.#sql;
    const { userId } = args;
    const exceptId = args.exceptId ?? null;
    return this.#run('deleteByUser', async () => {
      let live = 0;
      let scope = sql`TRUE`; // first: every row of the user; then: the successors found
      for (;;) {
        const now = this.#now();
        // A successor deleted in the same statement (it was in the snapshot) is not followed.
        const [row] = await sql`WITH gone AS (
            DELETE FROM sessions
            WHERE user_id = ${userId} AND id IS DISTINCT FROM ${exceptId}::text AND ${scope}
            RETURNING id, replaced_by, expires_at
          )
          SELECT count(*) FILTER (WHERE replaced_by IS NULL AND expires_at > ${now})::int AS live,
            array_agg(replaced_by) FILTER (WHERE replaced_by IS NOT NULL
              AND replaced_by IS DISTINCT FROM ${exceptId}::text
              AND replaced_by NOT IN (SELECT id FROM gone)) AS successors
          FROM gone`;
        live += Number(row?.live ?? 0);
        const successors = (row?.successors ?? null) as string[] | null;
        if (successors === null) return live;
        scope = sql`id = ANY(${successors}::text[])`;
      }
    });
  }

  /** Live sessions only, by `lastSeenAt` desc, then `createdAt` desc, then id. */
  async listByUser(userId: string): Promise<SessionRecord[]> {
    const sql = this.#sql;
    const now = this.#now();
    const rows = await this.#run(
      'listByUser',
      async () => sql`SELECT ${sql(COLUMNS)} FROM sessions
        WHERE user_id = ${userId} AND replaced_by IS NULL AND expires_at > ${now}
        ORDER BY last_seen_at DESC, created_at DESC, id`,
    );
    return rows.map(toRecord);
  }

  /**
   * Deletes every row with `expiresAt <= now`, in batches of `sweepBatchSize` (each its own short
   * statement); returns how many. Rows another node is sweeping right now are skipped, not waited on.
   */
  async sweep(now: number): Promise<number> {
    const sql = this.#sql;
    const batch = this.#sweepBatchSize;
    let total = 0;
    for (;;) {
      // The outer guard is re-checked if a row changed since the inner SELECT saw it.
      const deleted = await this.#run(
        'sweep',
        async () => sql`DELETE FROM sessions WHERE ctid = ANY(ARRAY(
            SELECT ctid FROM sessions WHERE expires_at <= ${now}
            LIMIT ${batch} FOR UPDATE SKIP LOCKED
          )) AND expires_at <= ${now}`,
      );
      total += deleted.count;
      if (deleted.count < batch) return total;
    }
  }

  /** Resolves when the server answers; else throws StoreUnavailableError (for /readyz). */
  ping(): Promise<void> {
    return pingPostgres(this.#sql, this.#timeoutMs);
  }

  /** Ends the shared pool, letting running queries finish (2 s at most). Idempotent. */
  async close(): Promise<void> {
    try {
      // The bound also matters for a driver bug: after a connection dropped mid-query, end()
      // waits for that query forever (porsager/postgres#1097, fix proposed in #1142).
      await this.#sql.end({ timeout: 2 });
    } catch (error) {
      throw failure('close', error);
    }
  }

  #run<T>(operation: string, work: () => Promise<T>): Promise<T> {
    return attempt(this.#sql, operation, this.#timeoutMs, work);
  }
}

/** Session columns, then user columns aliased `u_<column>`, for the `getWithUser` JOIN. */
const JOINED = [
  ...COLUMNS.map((c) => `s.${c}`),
  ...SESSION_USER_COLUMNS.map((c) => `u.${c} AS u_${c}`),
].join(', ');

function toRow(r: SessionRecord) {
  return {
    id: r.id,
    secret_hash: r.secretHash,
    user_id: r.userId,
    created_at: r.createdAt,
    last_seen_at: r.lastSeenAt,
    authenticated_at: r.authenticatedAt,
    persistent: r.persistent,
    expires_at: r.expiresAt,
    ip: r.ip,
    user_agent: r.userAgent,
    device: r.device,
    replaced_by: r.replacedBy,
    grace_until: r.graceUntil,
  };
}

function toRecord(row: Row): SessionRecord {
  return {
    id: row.id as string,
    // Copied into its own ArrayBuffer: the driver's small Buffers are views into a shared pool.
    secretHash: new Uint8Array(row.secret_hash as Buffer),
    userId: row.user_id as string,
    createdAt: Number(row.created_at),
    lastSeenAt: Number(row.last_seen_at),
    authenticatedAt: Number(row.authenticated_at),
    persistent: row.persistent as boolean,
    expiresAt: Number(row.expires_at),
    ip: row.ip as string | null,
    userAgent: row.user_agent as string | null,
    device: row.device as string,
    replacedBy: row.replaced_by as string | null,
    graceUntil: row.grace_until === null ? null : Number(row.grace_until),
  };
}
