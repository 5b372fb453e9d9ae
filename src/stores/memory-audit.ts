import type { AuditEvent, AuditLog } from '../core/store.ts';

/** Options of the memory audit log. */
export interface MemoryAuditLogOptions {
  /** Oldest events are dropped beyond this many, so a long-running dev server stays bounded. @default 10000 */
  maxEvents?: number;
}

/** Append-only, bounded list of events. */
export class MemoryAuditLog implements AuditLog {
  readonly #events: AuditEvent[] = [];
  readonly #max: number;

  constructor(options: MemoryAuditLogOptions = {}) {
    this.#max = options.maxEvents ?? 10_000;
  }

  /** Stores a frozen copy of the event. */
  async record(event: AuditEvent): Promise<void> {
    const detail = event.detail === null ? null : Object.freeze({ ...event.detail });
    this.#events.push(Object.freeze({ ...event, detail }));
    if (this.#events.length > this.#max) this.#events.splice(0, this.#events.length - this.#max);
  }

  /** Newest first (by `at`, then by recording order), optionally one user's, at most `limit`. */
  async list(args: { userId?: string; limit: number }): Promise<AuditEvent[]> {
    const limit = Math.max(0, Math.floor(args.limit));
    const matching: { event: AuditEvent; seq: number }[] = [];
    this.#events.forEach((event, seq) => {
      if (args.userId === undefined || event.userId === args.userId) matching.push({ event, seq });
    });
    matching.sort((a, b) => b.event.at - a.event.at || b.seq - a.seq);
    return matching.slice(0, limit).map((m) => m.event);
  }
}
