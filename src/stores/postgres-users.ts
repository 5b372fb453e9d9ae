import type { Row, Sql, TransactionSql } from 'postgres';
import {
  type AuthorisedUpdate,
  keepsAuthority,
  type UpdateAuthority,
  type UserPatch,
  type UserRecord,
  type UserStore,
} from '../accounts/user-store.ts';
import type { SessionUser } from '../core/store.ts';
import { attempt } from './postgres-breaker.ts';
import { defaultQueryTimeoutMs, type PostgresQueryOptions } from './postgres-db.ts';

/** The users columns `toUser` decodes (a JOIN selects them under a `u_` prefix). */
export const USER_COLUMNS = [
  'id',
  'email',
  'name',
  'roles',
  'locked',
  'password_hash',
  'password_changed_at',
  'created_at',
] as const;
/** The SessionUser columns, leading USER_COLUMNS: all a validate reads. */
export const SESSION_USER_COLUMNS = USER_COLUMNS.slice(0, 5);

/**
 * Users in the `users` table of a database migrated by migratePostgres. Email is unique (the
 * caller normalises it; a unique index on lower(email) is a second guard). Roles are a text[].
 * Statements are prepared once per connection by the driver. Every failure, and no answer within
 * `queryTimeoutMs`, surfaces as StoreUnavailableError.
 */
export class PostgresUserStore implements UserStore {
  readonly #sql: Sql;
  readonly #timeoutMs: number;

  /** Uses the pool `sql` (shared with the other PostgreSQL stores; closing is theirs). */
  constructor(sql: Sql, options: PostgresQueryOptions = {}) {
    this.#sql = sql;
    this.#timeoutMs = options.queryTimeoutMs ?? defaultQueryTimeoutMs();
  }

  /** One primary-key SELECT (read on every validate: roles and lock are never cached). */
  async findById(id: string): Promise<UserRecord | null> {
    const sql = this.#sql;
    const [row] = await this.#run(
      'findById',
      async () => sql`SELECT ${sql(USER_COLUMNS)} FROM users WHERE id = ${id}`,
    );
    return row === undefined ? null : toUser(row);
  }

  /** Lookup by the normalised email, case-insensitively (through the lower(email) index). */
  async findByEmail(email: string): Promise<UserRecord | null> {
    const sql = this.#sql;
    const [row] = await this.#run(
      'findByEmail',
      async () => sql`SELECT ${sql(USER_COLUMNS)} FROM users WHERE lower(email) = lower(${email})`,
    );
    return row === undefined ? null : toUser(row);
  }

  /** False (nothing written) when the email is taken; a duplicate id is a StoreUnavailableError. */
  async create(user: UserRecord): Promise<boolean> {
    const sql = this.#sql;
    const row = {
      id: user.id,
      email: user.email,
      name: user.name,
      roles: [...user.roles],
      locked: user.locked,
      password_hash: user.passwordHash,
      password_changed_at: user.passwordChangedAt,
      created_at: user.createdAt,
    };
    // The arbiter is the lower(email) index, which also catches every exact-email duplicate
    // made before this insert; a primary-key clash is not arbitrated, so it still raises.
    return this.#run('create', async () => {
      try {
        const result =
          await sql`INSERT INTO users ${sql(row)} ON CONFLICT ((lower(email))) DO NOTHING`;
        return result.count === 1;
      } catch (error) {
        // The same email inserted at once by another connection: PostgreSQL arbitrates only the
        // index named, so the exact-email constraint can raise before the arbiter sees it.
        if ((error as { constraint_name?: string }).constraint_name === 'users_email_key') {
          return false;
        }
        throw error;
      }
    });
  }

  /** Applies the defined fields of the patch in one statement; null for an unknown id. */
  async update(id: string, patch: UserPatch): Promise<UserRecord | null> {
    const sql = this.#sql;
    const [row] = await this.#run('update', async () => updateRow(sql, id, patch));
    return row === undefined ? null : toUser(row);
  }

  /**
   * The update, if `by` may make it. One READ COMMITTED transaction that first locks the rows of
   * the authority and the target (FOR NO KEY UPDATE, in id order), then checks and writes. A
   * concurrent change of either row waits for the commit, and this one waits for any in flight,
   * then reads the committed row: so the authority cannot lose the role or be locked between the
   * check and the write, on any node. Locking in id order means two such updates on the same pair
   * (A demotes B while B demotes A) queue instead of deadlocking; the second then sees the first's
   * write and is refused. NO KEY UPDATE, the lock an UPDATE of non-key columns takes anyway, lets
   * readers and key-share locks through. READ COMMITTED is set, not inherited: this reasoning
   * needs the locked read to see the latest committed row, which a server whose default is
   * REPEATABLE READ or SERIALIZABLE would answer with a serialization failure instead.
   * (SERIALIZABLE alone would also catch the race, but as an error to retry; row locks make the
   * second update wait and then answer.)
   */
  async updateAuthorised(
    id: string,
    patch: UserPatch,
    by: UpdateAuthority,
  ): Promise<AuthorisedUpdate> {
    const sql = this.#sql;
    return this.#run('updateAuthorised', () =>
      sql.begin('isolation level read committed', async (tx): Promise<AuthorisedUpdate> => {
        const rows = await tx`SELECT ${tx(USER_COLUMNS)} FROM users
          WHERE id IN (${by.userId}, ${id}) ORDER BY id FOR NO KEY UPDATE`;
        const find = (key: string) => {
          const row = rows.find((r) => r.id === key);
          return row === undefined ? null : toUser(row);
        };
        if (!keepsAuthority(find(by.userId), id, patch, by)) return { status: 'refused' };
        const previous = find(id);
        if (previous === null) return { status: 'no_user' };
        const [row] = await updateRow(tx, id, patch);
        if (row === undefined) return { status: 'no_user' }; // not reached: the row is locked
        return { status: 'updated', user: toUser(row), previous };
      }),
    );
  }

  /** Ordered by email (byte order), then id. */
  async list(args: { limit: number; offset: number }): Promise<UserRecord[]> {
    const sql = this.#sql;
    const limit = Math.max(0, Math.floor(args.limit));
    const offset = Math.max(0, Math.floor(args.offset));
    const rows = await this.#run(
      'list',
      async () => sql`SELECT ${sql(USER_COLUMNS)} FROM users
        ORDER BY email, id LIMIT ${limit} OFFSET ${offset}`,
    );
    return rows.map((row) => toUser(row));
  }

  /** Number of users (exact). */
  async count(): Promise<number> {
    const [row] = await this.#run('count', async () => this.#sql`SELECT count(*) AS n FROM users`);
    return Number(row?.n ?? 0);
  }

  #run<T>(operation: string, work: () => Promise<T>): Promise<T> {
    return attempt(this.#sql, operation, this.#timeoutMs, work);
  }
}

/**
 * One UPDATE of fixed text (one prepared plan): each flag says whether the patch carries the
 * field, since `name` may legitimately become NULL. Returns the updated row, if any.
 */
function updateRow(sql: Sql | TransactionSql, id: string, patch: UserPatch) {
  return sql`UPDATE users SET
      name = CASE WHEN ${patch.name !== undefined} THEN ${patch.name ?? null}::text
        ELSE name END,
      roles = CASE WHEN ${patch.roles !== undefined} THEN ${[...(patch.roles ?? [])]}::text[]
        ELSE roles END,
      locked = CASE WHEN ${patch.locked !== undefined} THEN ${patch.locked ?? false}
        ELSE locked END,
      password_hash = CASE WHEN ${patch.passwordHash !== undefined}
        THEN ${patch.passwordHash ?? null}::text ELSE password_hash END,
      password_changed_at = CASE WHEN ${patch.passwordChangedAt !== undefined}
        THEN ${patch.passwordChangedAt ?? null}::bigint ELSE password_changed_at END
    WHERE id = ${id}
    RETURNING ${sql(USER_COLUMNS)}`;
}

/** Decodes a row of USER_COLUMNS, each name preceded by `prefix` (a JOIN uses `u_`). */
export function toUser(row: Row, prefix = ''): UserRecord {
  return {
    ...readSessionUser(row, prefix),
    passwordHash: row[`${prefix}password_hash`] as string,
    passwordChangedAt: Number(row[`${prefix}password_changed_at`]),
    createdAt: Number(row[`${prefix}created_at`]),
  };
}

/** Decodes SESSION_USER_COLUMNS, each under `prefix`. */
export function readSessionUser(row: Row, prefix = ''): SessionUser {
  return {
    id: row[`${prefix}id`] as string,
    email: row[`${prefix}email`] as string,
    name: row[`${prefix}name`] as string | null,
    roles: row[`${prefix}roles`] as string[],
    locked: row[`${prefix}locked`] as boolean,
  };
}
