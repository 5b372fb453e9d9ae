import type { UserPatch, UserRecord, UserStore } from '../accounts/user-store.ts';
import { StoreUnavailableError } from '../core/errors.ts';
import type {
  AuditEvent,
  AuditLog,
  SessionRecord,
  SessionStore,
  SessionTouch,
} from '../core/store.ts';

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

  /** Hot path: one Map lookup, no copy. The returned record is frozen (its hash bytes are not). */
  get(id: string): Promise<SessionRecord | null> {
    if (this.#closed) return Promise.reject(closedError());
    const record = this.#sessions.get(id);
    if (record === undefined) return Promise.resolve(null);
    if (record.expiresAt <= this.#now()) {
      this.#remove(record);
      return Promise.resolve(null);
    }
    return Promise.resolve(record);
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

  /** True when a record (live or tombstone) not past `expiresAt` was deleted. */
  async delete(id: string): Promise<boolean> {
    this.#open();
    const record = this.#sessions.get(id);
    if (record === undefined) return false;
    this.#remove(record);
    return record.expiresAt > this.#now();
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

/** Users in a Map with a unique email index (emails arrive normalised from accounts.ts). */
export class MemoryUserStore implements UserStore {
  readonly #users = new Map<string, UserRecord>();
  readonly #idByEmail = new Map<string, string>();

  /** The stored frozen record, or null. */
  async findById(id: string): Promise<UserRecord | null> {
    return this.#users.get(id) ?? null;
  }

  /** Exact match on the normalised email. */
  async findByEmail(email: string): Promise<UserRecord | null> {
    const id = this.#idByEmail.get(email);
    return id === undefined ? null : (this.#users.get(id) ?? null);
  }

  /** False (nothing written) when the email is taken. */
  async create(user: UserRecord): Promise<boolean> {
    if (this.#idByEmail.has(user.email)) return false;
    if (this.#users.has(user.id)) throw new StoreUnavailableError('User id already exists.');
    this.#users.set(user.id, freezeUser(user));
    this.#idByEmail.set(user.email, user.id);
    return true;
  }

  /** Applies the defined fields of the patch; null for an unknown id. */
  async update(id: string, patch: UserPatch): Promise<UserRecord | null> {
    const current = this.#users.get(id);
    if (current === undefined) return null;
    const updated = freezeUser({ ...current, ...definedPatch(patch) });
    this.#users.set(id, updated);
    return updated;
  }

  /** Ordered by email, then id. */
  async list(args: { limit: number; offset: number }): Promise<UserRecord[]> {
    const sorted = [...this.#users.values()].sort(byEmail);
    const offset = Math.max(0, Math.floor(args.offset));
    return sorted.slice(offset, offset + Math.max(0, Math.floor(args.limit)));
  }

  async count(): Promise<number> {
    return this.#users.size;
  }
}

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

function freezeSession(record: SessionRecord): SessionRecord {
  return Object.freeze({ ...record, secretHash: new Uint8Array(record.secretHash) });
}

function freezeUser(user: UserRecord): UserRecord {
  return Object.freeze({ ...user, roles: Object.freeze([...user.roles]) });
}

/** Only the patchable fields, and only those given: a stray `id` or `email` never gets through. */
function definedPatch(patch: UserPatch): UserPatch {
  const out: { -readonly [K in keyof UserPatch]: UserPatch[K] } = {};
  if (patch.name !== undefined) out.name = patch.name;
  if (patch.roles !== undefined) out.roles = patch.roles;
  if (patch.locked !== undefined) out.locked = patch.locked;
  if (patch.passwordHash !== undefined) out.passwordHash = patch.passwordHash;
  if (patch.passwordChangedAt !== undefined) out.passwordChangedAt = patch.passwordChangedAt;
  return out;
}

function byMostRecentlyUsed(a: SessionRecord, b: SessionRecord): number {
  return b.lastSeenAt - a.lastSeenAt || b.createdAt - a.createdAt || compare(a.id, b.id);
}

function byEmail(a: UserRecord, b: UserRecord): number {
  return compare(a.email, b.email) || compare(a.id, b.id);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function closedError(): StoreUnavailableError {
  return new StoreUnavailableError('The session store is closed.');
}
