import type { JSONValue, Row, Sql } from 'postgres';
import type { AuditEvent, AuditEventType, AuditLog } from '../core/store.ts';
import { attempt } from './postgres-breaker.ts';
import { defaultQueryTimeoutMs, type PostgresQueryOptions } from './postgres-db.ts';

const COLUMNS = ['type', 'at', 'user_id', 'ip', 'session_id', 'detail'] as const;

/**
 * Append-only audit trail in the `audit_events` table of a database migrated by migratePostgres.
 * `detail` is stored as jsonb; `seq` (an identity column) breaks ties between equal times.
 * Every failure, and no answer within `queryTimeoutMs`, surfaces as StoreUnavailableError.
 */
export class PostgresAuditLog implements AuditLog {
  readonly #sql: Sql;
  readonly #timeoutMs: number;

  /** Uses the pool `sql` (shared with the other PostgreSQL stores; closing is theirs). */
  constructor(sql: Sql, options: PostgresQueryOptions = {}) {
    this.#sql = sql;
    this.#timeoutMs = options.queryTimeoutMs ?? defaultQueryTimeoutMs();
  }

  /** Appends the event. */
  async record(event: AuditEvent): Promise<void> {
    const sql = this.#sql;
    const row = {
      type: event.type,
      at: event.at,
      user_id: event.userId,
      ip: event.ip,
      session_id: event.sessionId,
      detail: event.detail === null ? null : sql.json(event.detail as JSONValue),
    };
    await attempt(sql, 'audit record', this.#timeoutMs, async () => {
      await sql`INSERT INTO audit_events ${sql(row)}`;
    });
  }

  /** Newest first (by `at`, then by recording order), optionally one user's, at most `limit`. */
  async list(args: { userId?: string; limit: number }): Promise<AuditEvent[]> {
    const sql = this.#sql;
    const limit = Math.max(0, Math.floor(args.limit));
    const { userId } = args;
    const rows = await attempt(sql, 'audit list', this.#timeoutMs, async () =>
      userId === undefined
        ? sql`SELECT ${sql(COLUMNS)} FROM audit_events ORDER BY at DESC, seq DESC LIMIT ${limit}`
        : sql`SELECT ${sql(COLUMNS)} FROM audit_events WHERE user_id = ${userId}
            ORDER BY at DESC, seq DESC LIMIT ${limit}`,
    );
    return rows.map(toEvent);
  }
}

function toEvent(row: Row): AuditEvent {
  return {
    type: row.type as AuditEventType,
    at: Number(row.at),
    userId: row.user_id as string | null,
    ip: row.ip as string | null,
    sessionId: row.session_id as string | null,
    detail: row.detail as AuditEvent['detail'],
  };
}
