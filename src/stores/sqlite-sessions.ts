import type { DatabaseSync, SQLOutputValue, StatementSync } from 'node:sqlite';
import type {
  ChangeProbe,
  DeletedSession,
  SessionRecord,
  SessionStore,
  SessionTouch,
  SessionUser,
} from '../core/store.ts';
import { neutralCommit, noteCommit, stopWatching, walChangeProbe } from './sqlite-changes.ts';
import { failure, inWriteTransaction } from './sqlite-db.ts';
import { readSessionUser, SESSION_USER_COLUMNS, type SqliteUserStore } from './sqlite-users.ts';

/** Options of the SQLite stores. */
export interface SqliteStoreOptions {
  /** Clock deciding expiry on read; pass the engine's clock in tests. @default Date.now */
  now?: () => number;
  /**
   * The user store on the same database: enables `getWithUser`, one JOIN instead of two reads on
   * every validate (measured: SQLite validate ~0.5× → ~0.75× fast-jwt HS256 in bench/core.ts).
   */
  users?: SqliteUserStore;
}

const COLUMNS = `id, secret_hash, user_id, created_at, last_seen_at, authenticated_at, persistent,
  expires_at, ip, user_agent, device, replaced_by, grace_until`;

// Reads return rows as arrays in this order, and the hash as hex: both measured on the validate
// hot path (node:sqlite builds a keyed object, or a fresh ArrayBuffer for a BLOB, noticeably slower
// than an array and a 64-char string). The column itself stays a BLOB.
const SELECTED = COLUMNS.replace('secret_hash', 'hex(secret_hash)');
const SESSION_COLUMNS = COLUMNS.split(',').map((c) => c.trim());
/** Session columns (prefixed `s.`) then user columns (`u.`), for the `getWithUser` JOIN. */
const JOINED = [
  ...SESSION_COLUMNS.map((c) => (c === 'secret_hash' ? 'hex(s.secret_hash)' : `s.${c}`)),
  ...SESSION_USER_COLUMNS.split(',').map((c) => `u.${c.trim()}`),
].join(', ');

type Row = SQLOutputValue[];

/**
 * Sessions in the `sessions` table of a database from openSqliteDatabase. Every method is atomic;
 * `rotate` holds the write lock (BEGIN IMMEDIATE), so across connections and processes exactly one
 * rotation of a session wins. Every database failure surfaces as StoreUnavailableError.
 */
export class SqliteSessionStore implements SessionStore {
  readonly #db: DatabaseSync;
  readonly #now: () => number;
  readonly #get: StatementSync;
  readonly #insert: StatementSync;
  readonly #touch: StatementSync;
  readonly #tombstone: StatementSync;
  readonly #delete: StatementSync;
  readonly #deleteByUser: StatementSync;
  readonly #listByUser: StatementSync;
  readonly #sweep: StatementSync;
  readonly #getWithUser: StatementSync;
  /** The user store `getWithUser` reads (set only when given one on the same database). */
  readonly colocatedUsers?: SqliteUserStore;

  /** Prepares every statement once; `close()` closes `db` (shared with the other SQLite stores). */
  constructor(db: DatabaseSync, options: SqliteStoreOptions = {}) {
    this.#db = db;
    this.#now = options.now ?? Date.now;
    if (options.users) this.colocatedUsers = options.users;
    try {
      this.#get = db.prepare(`SELECT ${SELECTED} FROM sessions WHERE id = ?1 AND expires_at > ?2`);
      this.#get.setReturnArrays(true);
      this.#insert = db.prepare(
        `INSERT INTO sessions (${COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)`,
      );
      // Only a live, not rotated-out session is renewed: a tombstone keeps its theft-detection
      // window, and an expired row is never resurrected.
      this.#touch = db.prepare(
        `UPDATE sessions SET last_seen_at = ?1, expires_at = ?2
         WHERE id = ?3 AND replaced_by IS NULL AND expires_at > ?4`,
      );
      this.#tombstone = db.prepare(
        `UPDATE sessions SET replaced_by = ?1, grace_until = ?2, expires_at = ?3
         WHERE id = ?4 AND replaced_by IS NULL AND expires_at > ?5`,
      );
      this.#delete = db.prepare(
        'DELETE FROM sessions WHERE id = ?1 RETURNING expires_at > ?2 AS unexpired, replaced_by',
      );
      this.#deleteByUser = db.prepare(
        `DELETE FROM sessions WHERE user_id = ?1 AND id IS NOT ?2
         RETURNING replaced_by IS NULL AND expires_at > ?3 AS live`,
      );
      this.#listByUser = db.prepare(
        `SELECT ${SELECTED} FROM sessions
         WHERE user_id = ?1 AND replaced_by IS NULL AND expires_at > ?2
         ORDER BY last_seen_at DESC, created_at DESC, id`,
      );
      this.#listByUser.setReturnArrays(true);
      this.#sweep = db.prepare('DELETE FROM sessions WHERE expires_at <= ?1');
      this.#getWithUser = db.prepare(
        `SELECT ${JOINED} FROM sessions s LEFT JOIN users u ON u.id = s.user_id
         WHERE s.id = ?1 AND s.expires_at > ?2`,
      );
      this.#getWithUser.setReturnArrays(true);
    } catch (error) {
      throw failure('prepare', error);
    }
  }

  /**
   * A new probe of whether any connection of any process committed to the file since its previous
   * call (sqlite-changes.ts); null for an in-memory database, or one not in WAL mode. Only `create`
   * and `touch` commit through `neutralCommit`: a delete, rotation or sweep must still empty every
   * near cache, since another engine on this same connection learns of it no other way.
   */
  changeProbe(): ChangeProbe | null {
    try {
      return walChangeProbe(this.#db);
    } catch {
      return null; // a closed database: no cache
    }
  }

  /**
   * Inserts the record; a duplicate id is a StoreUnavailableError (ids are 128 random bits).
   * A new id is in no near cache, so the commit does not empty this connection's.
   */
  async create(record: SessionRecord): Promise<void> {
    try {
      neutralCommit(this.#db, () => this.#insert.run(...params(record)));
    } catch (error) {
      throw failure('create', error);
    }
  }

  /**
   * Hot path: one primary-key SELECT; null when absent or past `expiresAt`. Synchronous (so is
   * node:sqlite): the engine validates without a promise. Throws StoreUnavailableError.
   */
  get(id: string): SessionRecord | null {
    let row: Row | undefined;
    try {
      row = this.#get.get(id, this.#now()) as Row | undefined;
    } catch (error) {
      throw failure('get', error);
    }
    return row === undefined ? null : toRecord(row);
  }

  /**
   * The session and its user (null when the user row is gone) in one read; null when absent.
   * Synchronous.
   */
  getWithUser(id: string): { session: SessionRecord; user: SessionUser | null } | null {
    let row: Row | undefined;
    try {
      row = this.#getWithUser.get(id, this.#now()) as Row | undefined;
    } catch (error) {
      throw failure('getWithUser', error);
    }
    if (row === undefined) return null;
    const user =
      row[SESSION_COLUMNS.length] === null ? null : readSessionUser(row, SESSION_COLUMNS.length);
    return { session: toRecord(row), user };
  }

  /**
   * Renews a live session; no-op for unknown, expired or rotated-out ids. The commit does not
   * empty this connection's near caches: the renewing engine updates its entry, and another's
   * older `lastSeenAt` only makes its entry look idle sooner, and an idle-looking hit is re-read.
   */
  async touch(id: string, touch: SessionTouch): Promise<void> {
    try {
      neutralCommit(this.#db, () =>
        this.#touch.run(touch.lastSeenAt, touch.expiresAt, id, this.#now()),
      );
    } catch (error) {
      throw failure('touch', error);
    }
  }

  /** One IMMEDIATE transaction: tombstone the live previous session, then insert `next`. */
  async rotate(args: {
    previousId: string;
    next: SessionRecord;
    graceUntil: number;
    tombstoneExpiresAt: number;
  }): Promise<boolean> {
    const db = this.#db;
    try {
      return inWriteTransaction(db, () => {
        const { changes } = this.#tombstone.run(
          args.next.id,
          args.graceUntil,
          args.tombstoneExpiresAt,
          args.previousId,
          this.#now(),
        );
        if (Number(changes) === 0) {
          db.exec('ROLLBACK');
          return false;
        }
        this.#insert.run(...params(args.next));
        return true;
      });
    } catch (error) {
      throw failure('rotate', error);
    } finally {
      await noteCommit(db);
    }
  }

  /** Deletes the record (live or tombstone); what it was, or null when absent. */
  async delete(id: string): Promise<DeletedSession | null> {
    try {
      const row = this.#delete.get(id, this.#now());
      if (row === undefined) return null;
      return { unexpired: row.unexpired === 1, replacedBy: row.replaced_by as string | null };
    } catch (error) {
      throw failure('delete', error);
    } finally {
      await noteCommit(this.#db);
    }
  }

  /** One DELETE: all of the user's rows (tombstones too) but `exceptId`; counts live ones. */
  async deleteByUser(args: { userId: string; exceptId?: string }): Promise<number> {
    try {
      const rows = this.#deleteByUser.all(args.userId, args.exceptId ?? null, this.#now());
      return rows.filter((row) => row.live === 1).length;
    } catch (error) {
      throw failure('deleteByUser', error);
    } finally {
      await noteCommit(this.#db);
    }
  }

  /** Live sessions only, by `lastSeenAt` desc, then `createdAt` desc, then id. */
  async listByUser(userId: string): Promise<SessionRecord[]> {
    try {
      return (this.#listByUser.all(userId, this.#now()) as unknown as Row[]).map(toRecord);
    } catch (error) {
      throw failure('listByUser', error);
    }
  }

  /** Deletes every row with `expiresAt <= now`; returns how many. */
  async sweep(now: number): Promise<number> {
    try {
      return Number(this.#sweep.run(now).changes);
    } catch (error) {
      throw failure('sweep', error);
    }
  }

  /** Closes the shared database connection. Idempotent. */
  async close(): Promise<void> {
    try {
      stopWatching(this.#db);
      if (this.#db.isOpen) this.#db.close();
    } catch (error) {
      throw failure('close', error);
    }
  }
}

function params(r: SessionRecord) {
  return [
    r.id,
    r.secretHash,
    r.userId,
    r.createdAt,
    r.lastSeenAt,
    r.authenticatedAt,
    r.persistent ? 1 : 0,
    r.expiresAt,
    r.ip,
    r.userAgent,
    r.device,
    r.replacedBy,
    r.graceUntil,
  ] as const;
}

function toRecord(row: Row): SessionRecord {
  return {
    id: row[0] as string,
    // Copied into its own ArrayBuffer: a small Buffer.from() is a view into Node's shared pool.
    secretHash: new Uint8Array(Buffer.from(row[1] as string, 'hex')),
    userId: row[2] as string,
    createdAt: row[3] as number,
    lastSeenAt: row[4] as number,
    authenticatedAt: row[5] as number,
    persistent: row[6] === 1,
    expiresAt: row[7] as number,
    ip: row[8] as string | null,
    userAgent: row[9] as string | null,
    device: row[10] as string,
    replacedBy: row[11] as string | null,
    graceUntil: row[12] as number | null,
  };
}
