import { StoreUnavailableError } from '../core/errors.ts';
import type { DeletedSession, SessionRecord, SessionStore, SessionTouch } from '../core/store.ts';

export { MemoryAuditLog, type MemoryAuditLogOptions } from './memory-audit.ts';
export { MemoryUserStore } from './memory-users.ts';

/**
 * In-process stores for tests and ephemeral development. Nothing survives a restart and nothing is
 * shared between processes: never use these behind more than one node.
 */

/** Options of the memory stores. */
export interface MemoryStoreOptions {
  /** Clock deciding expiry on read; pass the engine's clock in tests. @default Date.now */
  now?: () => number;
}

/** Sessions in a Map plus a per-user index, so user-wide operations never scan every session. */
export class MemorySessionStore implements SessionStore {
  readonly #sessions = new Map<string, SessionRecord>();
  readonly #byUser = new Map<string, Set<string>>();
  readonly #now: () => number;
  #closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    this.#now = options.now ?? Date.now;
  }

  /** Stores a frozen copy; later changes to the caller's object (or its hash bytes) don't leak in. */
  async create(record: SessionRecord): Promise<void> {
    this.#open();
    if (this.#sessions.has(record.id))
      throw new StoreUnavailableError('Session id already exists.');
    this.#put(freezeSession(record));
  }

  /**
   * Hot path: one Map lookup, no copy, no promise (the engine then validates synchronously). The
   * returned record is frozen (its hash bytes are not). Throws once closed.
   */
  get(id: string): SessionRecord | null {
    this.#open();
    const record = this.#sessions.get(id);
    if (record === undefined) return null;
    if (record.expiresAt <= this.#now()) {
      this.#remove(record);
      return null;
    }
    return record;
  }

  /** Renews a live session; no-op for unknown, expired or rotated-out (tombstone) ids. */
  async touch(id: string, touch: SessionTouch): Promise<void> {
    this.#open();
    const record = this.#live(id);
    if (record === null || record.replacedBy !== null) return;
    this.#sessions.set(
      id,
      Object.freeze({ ...record, lastSeenAt: touch.lastSeenAt, expiresAt: touch.expiresAt }),
    );
  }

  /** Atomic (single-threaded): at most one caller turns a given live session into a tombstone. */
  async rotate(args: {
    previousId: string;
    next: SessionRecord;
    graceUntil: number;
    tombstoneExpiresAt: number;
  }): Promise<boolean> {
    this.#open();
    const previous = this.#live(args.previousId);
    if (previous === null || previous.replacedBy !== null) return false;
    if (this.#sessions.has(args.next.id))
      throw new StoreUnavailableError('Session id already exists.');
    this.#sessions.set(
      previous.id,
      Object.freeze({
        ...previous,
        replacedBy: args.next.id,
        graceUntil: args.graceUntil,
        expiresAt: args.tombstoneExpiresAt,
      }),
    );
    this.#put(freezeSession(args.next));
    return true;
  }

  /** Deletes the record (live or tombstone); what it was, or null when absent. */
  async delete(id: string): Promise<DeletedSession | null> {
    this.#open();
    const record = this.#sessions.get(id);
    if (record === undefined) return null;
    this.#remove(record);
    return { unexpired: record.expiresAt > this.#now(), replacedBy: record.replacedBy };
  }

  /** Removes all of the user's records (tombstones too) but `exceptId`; counts live ones. */
  async deleteByUser(args: { userId: string; exceptId?: string }): Promise<number> {
    this.#open();
    const ids = this.#byUser.get(args.userId);
    if (ids === undefined) return 0;
    const now = this.#now();
    let live = 0;
    for (const id of [...ids]) {
      if (id === args.exceptId) continue;
      const record = this.#sessions.get(id);
      if (record === undefined) continue;
      if (record.replacedBy === null && record.expiresAt > now) live++;
      this.#remove(record);
    }
    return live;
  }

  /** Live sessions only, by `lastSeenAt` desc, then `createdAt` desc, then id. */
  async listByUser(userId: string): Promise<SessionRecord[]> {
    this.#open();
    const ids = this.#byUser.get(userId);
    if (ids === undefined) return [];
    const now = this.#now();
    const list: SessionRecord[] = [];
    for (const id of ids) {
      const record = this.#sessions.get(id);
      if (record !== undefined && record.replacedBy === null && record.expiresAt > now) {
        list.push(record);
      }
    }
    return list.sort(byMostRecentlyUsed);
  }

  /** Removes every record with `expiresAt <= now`; returns how many. */
  async sweep(now: number): Promise<number> {
    this.#open();
    let removed = 0;
    for (const record of this.#sessions.values()) {
      if (record.expiresAt <= now) {
        this.#remove(record);
        removed++;
      }
    }
    return removed;
  }

  /** Drops every record; later calls reject with StoreUnavailableError. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#sessions.clear();
    this.#byUser.clear();
  }

  #live(id: string): SessionRecord | null {
    const record = this.#sessions.get(id);
    return record !== undefined && record.expiresAt > this.#now() ? record : null;
  }

  #put(record: SessionRecord): void {
    this.#sessions.set(record.id, record);
    let ids = this.#byUser.get(record.userId);
    if (ids === undefined) {
      ids = new Set();
      this.#byUser.set(record.userId, ids);
    }
    ids.add(record.id);
  }

  #remove(record: SessionRecord): void {
    this.#sessions.delete(record.id);
    const ids = this.#byUser.get(record.userId);
    if (ids === undefined) return;
    ids.delete(record.id);
    if (ids.size === 0) this.#byUser.delete(record.userId);
  }

  #open(): void {
    if (this.#closed) throw closedError();
  }
}

function freezeSession(record: SessionRecord): SessionRecord {
  return Object.freeze({ ...record, secretHash: new Uint8Array(record.secretHash) });
}

function byMostRecentlyUsed(a: SessionRecord, b: SessionRecord): number {
  return b.lastSeenAt - a.lastSeenAt || b.createdAt - a.createdAt || compare(a.id, b.id);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function closedError(): StoreUnavailableError {
  return new StoreUnavailableError('The session store is closed.');
}
