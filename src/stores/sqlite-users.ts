import type { DatabaseSync, SQLOutputValue, StatementSync } from 'node:sqlite';
import {
  type AuthorisedUpdate,
  keepsAuthority,
  type UpdateAuthority,
  type UserPatch,
  type UserRecord,
  type UserStore,
} from '../accounts/user-store.ts';
import type { SessionUser } from '../core/store.ts';
import { noteCommit } from './sqlite-changes.ts';
import { failure, inWriteTransaction } from './sqlite-db.ts';

/** The users columns in the order `toUser` decodes them. */
export const USER_COLUMNS =
  'id, email, name, roles, locked, password_hash, password_changed_at, created_at';
/** The SessionUser columns, leading USER_COLUMNS in the same order: all a validate reads. */
export const SESSION_USER_COLUMNS = 'id, email, name, roles, locked';
const COLUMNS = USER_COLUMNS;

// Rows come back as arrays in COLUMNS order: cheaper than keyed objects on the validate hot path.
type Row = SQLOutputValue[];

/**
 * Users in the `users` table of a database from openSqliteDatabase. Email is unique (the caller
 * normalises it; the column's NOCASE collation is a second guard). Roles are stored as JSON text.
 * Every database failure surfaces as StoreUnavailableError.
 */
export class SqliteUserStore implements UserStore {
  readonly #db: DatabaseSync;
  readonly #byId: StatementSync;
  readonly #byEmail: StatementSync;
  readonly #insert: StatementSync;
  readonly #update: StatementSync;
  readonly #list: StatementSync;
  readonly #count: StatementSync;

  /** Prepares every statement once. */
  constructor(db: DatabaseSync) {
    this.#db = db;
    try {
      this.#byId = db.prepare(`SELECT ${COLUMNS} FROM users WHERE id = ?`);
      this.#byEmail = db.prepare(`SELECT ${COLUMNS} FROM users WHERE email = ?`);
      this.#insert = db.prepare(
        `INSERT INTO users (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (email) DO NOTHING`,
      );
      // One statement, so a concurrent update never interleaves between a read and a write:
      // each `set_x` flag says whether the patch carries x (name may legitimately become NULL).
      this.#update = db.prepare(
        `UPDATE users SET
           name = iif(:set_name, :name, name),
           roles = iif(:set_roles, :roles, roles),
           locked = iif(:set_locked, :locked, locked),
           password_hash = iif(:set_password_hash, :password_hash, password_hash),
           password_changed_at = iif(:set_password_changed_at, :password_changed_at, password_changed_at)
         WHERE id = :id
         RETURNING ${COLUMNS}`,
      );
      this.#list = db.prepare(`SELECT ${COLUMNS} FROM users ORDER BY email, id LIMIT ? OFFSET ?`);
      for (const statement of [this.#byId, this.#byEmail, this.#update, this.#list]) {
        statement.setReturnArrays(true);
      }
      this.#count = db.prepare('SELECT count(*) AS n FROM users');
    } catch (error) {
      throw failure('prepare', error);
    }
  }

  /**
   * One primary-key SELECT (read on every validate: roles and lock are never cached).
   * Synchronous, like node:sqlite; throws StoreUnavailableError.
   */
  findById(id: string): UserRecord | null {
    try {
      return this.#read(id);
    } catch (error) {
      throw failure('findById', error);
    }
  }

  /** Lookup by the normalised email. */
  async findByEmail(email: string): Promise<UserRecord | null> {
    try {
      const row = this.#byEmail.get(email) as Row | undefined;
      return row === undefined ? null : toUser(row);
    } catch (error) {
      throw failure('findByEmail', error);
    }
  }

  /** False (nothing written) when the email is taken; a duplicate id is a StoreUnavailableError. */
  async create(user: UserRecord): Promise<boolean> {
    try {
      const { changes } = this.#insert.run(
        user.id,
        user.email,
        user.name,
        JSON.stringify(user.roles),
        user.locked ? 1 : 0,
        user.passwordHash,
        user.passwordChangedAt,
        user.createdAt,
      );
      return Number(changes) === 1;
    } catch (error) {
      throw failure('create', error);
    }
  }

  /** Applies the defined fields of the patch atomically; null for an unknown id. */
  async update(id: string, patch: UserPatch): Promise<UserRecord | null> {
    try {
      return this.#write(id, patch);
    } catch (error) {
      throw failure('update', error);
    } finally {
      await noteCommit(this.#db);
    }
  }

  /**
   * The update, if `by` may make it: the check and the write in one IMMEDIATE transaction, which
   * holds the database's write lock from before the reads to the commit, so no other connection
   * or process can change the authority (or anything) in between. node:sqlite is synchronous, so
   * nothing else in this process runs in between either.
   */
  async updateAuthorised(
    id: string,
    patch: UserPatch,
    by: UpdateAuthority,
  ): Promise<AuthorisedUpdate> {
    try {
      return inWriteTransaction(this.#db, () => this.#authorisedWrite(id, patch, by));
    } catch (error) {
      throw failure('updateAuthorised', error);
    } finally {
      await noteCommit(this.#db);
    }
  }

  /** updateAuthorised's reads and write, inside its transaction; throws raw database errors. */
  #authorisedWrite(id: string, patch: UserPatch, by: UpdateAuthority): AuthorisedUpdate {
    if (!keepsAuthority(this.#read(by.userId), id, patch, by)) return { status: 'refused' };
    const previous = this.#read(id);
    const user = previous === null ? null : this.#write(id, patch);
    if (previous === null || user === null) return { status: 'no_user' };
    return { status: 'updated', user, previous };
  }

  /** One primary-key SELECT; throws the raw database error. */
  #read(id: string): UserRecord | null {
    const row = this.#byId.get(id) as Row | undefined;
    return row === undefined ? null : toUser(row);
  }

  /** One UPDATE … RETURNING; throws the raw database error. */
  #write(id: string, patch: UserPatch): UserRecord | null {
    const row = this.#update.get({
      id,
      set_name: patch.name !== undefined ? 1 : 0,
      name: patch.name ?? null,
      set_roles: patch.roles !== undefined ? 1 : 0,
      roles: patch.roles !== undefined ? JSON.stringify(patch.roles) : null,
      set_locked: patch.locked !== undefined ? 1 : 0,
      locked: patch.locked ? 1 : 0,
      set_password_hash: patch.passwordHash !== undefined ? 1 : 0,
      password_hash: patch.passwordHash ?? null,
      set_password_changed_at: patch.passwordChangedAt !== undefined ? 1 : 0,
      password_changed_at: patch.passwordChangedAt ?? null,
    }) as Row | undefined;
    return row === undefined ? null : toUser(row);
  }

  /** Ordered by email, then id. */
  async list(args: { limit: number; offset: number }): Promise<UserRecord[]> {
    try {
      const limit = Math.max(0, Math.floor(args.limit));
      const offset = Math.max(0, Math.floor(args.offset));
      return (this.#list.all(limit, offset) as unknown as Row[]).map((row) => toUser(row));
    } catch (error) {
      throw failure('list', error);
    }
  }

  /** Number of users (an index-only count). */
  async count(): Promise<number> {
    try {
      return Number(this.#count.get()?.n ?? 0);
    } catch (error) {
      throw failure('count', error);
    }
  }
}

/** Decodes a row of USER_COLUMNS starting at index `at` (a JOIN puts them after other columns). */
export function toUser(row: Row, at = 0): UserRecord {
  return {
    ...readSessionUser(row, at),
    passwordHash: row[at + 5] as string,
    passwordChangedAt: row[at + 6] as number,
    createdAt: row[at + 7] as number,
  };
}

/** Decodes a row of SESSION_USER_COLUMNS starting at index `at`. */
export function readSessionUser(row: Row, at = 0): SessionUser {
  return {
    id: row[at] as string,
    email: row[at + 1] as string,
    name: row[at + 2] as string | null,
    roles: JSON.parse(row[at + 3] as string) as string[],
    locked: row[at + 4] === 1,
  };
}
