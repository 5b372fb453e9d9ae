import type { ClientInfo, SessionEngine } from '../core/engine.ts';
import type { AuditEvent, AuditEventType, AuditLog } from '../core/store.ts';
import type { UserStore } from './user-store.ts';

/** Longest user agent kept in an audit event. */
const MAX_AUDIT_USER_AGENT = 256;

/** What an audit event says beyond its type and time. Never a token, a password or a hash. */
export interface EventFields {
  readonly userId: string | null;
  readonly client?: ClientInfo | undefined;
  readonly sessionId?: string | null;
  readonly detail?: Record<string, string | number | boolean | null>;
}

/** The dependencies the account flows (accounts.ts, admin.ts) share. Internal. */
export interface AccountsContext {
  readonly users: UserStore;
  readonly engine: SessionEngine;
  readonly now: () => number;
  /** Appends one audit event stamped with `now()`; the client's ip and user agent included. */
  readonly record: (type: AuditEventType, fields: EventFields) => Promise<void>;
}

/** Builds the `record` function of a context: one event per call, with time, user and ip. */
export function eventRecorder(audit: AuditLog, now: () => number): AccountsContext['record'] {
  return (type, fields) => {
    const userAgent = fields.client?.userAgent ?? null;
    const event: AuditEvent = {
      type,
      at: now(),
      userId: fields.userId,
      ip: fields.client?.ip ?? null,
      sessionId: fields.sessionId ?? null,
      detail: {
        ...fields.detail,
        ...(userAgent === null ? {} : { userAgent: userAgent.slice(0, MAX_AUDIT_USER_AGENT) }),
      },
    };
    return audit.record(event);
  };
}
