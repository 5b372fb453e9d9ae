import type { DatabaseSync, SQLOutputValue, StatementSync } from 'node:sqlite';
import type { AuditEvent, AuditEventType, AuditLog } from '../core/store.ts';
import { neutralCommit } from './sqlite-changes.ts';
import { failure } from './sqlite-db.ts';

const COLUMNS = 'type, at, user_id, ip, session_id, detail';

type Row = Record<string, SQLOutputValue>;

/**
 * Append-only audit trail in the `audit_events` table of a database from openSqliteDatabase.
 * `detail` is stored as JSON text. Every database failure surfaces as StoreUnavailableError.
 */
export class SqliteAuditLog implements AuditLog {
  readonly #db: DatabaseSync;
  readonly #insert: StatementSync;
  readonly #list: StatementSync;
  readonly #listByUser: StatementSync;

  /** Prepares every statement once. */
  constructor(db: DatabaseSync) {
    this.#db = db;
    try {
      this.#insert = db.prepare(`INSERT INTO audit_events (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)`);
      this.#list = db.prepare(
        `SELECT ${COLUMNS} FROM audit_events ORDER BY at DESC, seq DESC LIMIT ?`,
      );
      this.#listByUser = db.prepare(
        `SELECT ${COLUMNS} FROM audit_events WHERE user_id = ? ORDER BY at DESC, seq DESC LIMIT ?`,
      );
    } catch (error) {
      throw failure('prepare', error);
    }
  }

  /** Appends the event; no near cache holds events, so the commit does not empty one. */
  async record(event: AuditEvent): Promise<void> {
    try {
      neutralCommit(this.#db, () =>
        this.#insert.run(
          event.type,
          event.at,
          event.userId,
          event.ip,
          event.sessionId,
          event.detail === null ? null : JSON.stringify(event.detail),
        ),
      );
    } catch (error) {
      throw failure('audit record', error);
    }
  }

  /** Newest first (by `at`, then by recording order), optionally one user's, at most `limit`. */
  async list(args: { userId?: string; limit: number }): Promise<AuditEvent[]> {
    const limit = Math.max(0, Math.floor(args.limit));
    try {
      const rows =
        args.userId === undefined
          ? this.#list.all(limit)
          : this.#listByUser.all(args.userId, limit);
      return rows.map(toEvent);
    } catch (error) {
      throw failure('audit list', error);
    }
  }
}

function toEvent(row: Row): AuditEvent {
  return {
    type: row.type as AuditEventType,
    at: row.at as number,
    userId: row.user_id as string | null,
    ip: row.ip as string | null,
    sessionId: row.session_id as string | null,
    detail: row.detail === null ? null : (JSON.parse(row.detail as string) as AuditEvent['detail']),
  };
}
