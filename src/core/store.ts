/**
 * The storage interfaces the engine depends on. Every SessionStore passes the same contract suite
 * (test/stores/contract.ts) against a real backend. All times are epoch milliseconds.
 */

/** One server-side session. The raw token is never stored: only SHA-256 of its secret. */
export interface SessionRecord {
  /** Public id (the token's first half). Safe to show and log. */
  readonly id: string;
  readonly secretHash: Uint8Array;
  readonly userId: string;
  readonly createdAt: number;
  /** Last time a request used this session, written at most once per renewal interval. */
  readonly lastSeenAt: number;
  /** When the password was last entered for this session (sign-in or re-auth). */
  readonly authenticatedAt: number;
  /** Remember-me: a persistent cookie (true) or a browser-session cookie (false). */
  readonly persistent: boolean;
  /** When the store may forget this record (TTL or sweep). The engine still checks expiry itself. */
  readonly expiresAt: number;
  readonly ip: string | null;
  readonly userAgent: string | null;
  /** Readable label such as "Firefox 131 on Linux". */
  readonly device: string;
  /**
   * Set when this record was rotated out: the id of the session that replaced it. A replaced
   * record is a tombstone: valid only until `graceUntil`, then its use signals theft.
   */
  readonly replacedBy: string | null;
  readonly graceUntil: number | null;
}

/** What `SessionStore.delete` removed. */
export interface DeletedSession {
  /** It was not past `expiresAt` (a live session or a tombstone). */
  readonly unexpired: boolean;
  /** Set when it was a tombstone: the session that replaced it. */
  readonly replacedBy: string | null;
}

/** Fields a renewal may change. */
export interface SessionTouch {
  readonly lastSeenAt: number;
  readonly expiresAt: number;
}

/**
 * A value, or a promise of it. The reads on the validation path (`get`, `getWithUser`,
 * `findById`) may answer synchronously, as the memory and SQLite stores do: the engine then
 * validates without a promise (see SessionEngine.check).
 */
export type MaybePromise<T> = T | Promise<T>;

/**
 * Where sessions live. Implementations must make each method atomic. A synchronous read that
 * fails may throw: the engine turns that into a rejection, as from an async store.
 */
export interface SessionStore {
  /** Inserts a new session. The id is fresh (128 random bits); collisions are not handled. */
  create(record: SessionRecord): Promise<void>;
  /** The record, tombstones included, or null when absent or past `expiresAt`. */
  get(id: string): MaybePromise<SessionRecord | null>;
  /** Renews a live session; a no-op when it no longer exists. */
  touch(id: string, touch: SessionTouch): Promise<void>;
  /**
   * Atomically inserts `next` and turns `previousId` into a tombstone pointing at `next.id`,
   * valid until `graceUntil` and kept until `tombstoneExpiresAt` (to detect later reuse).
   * Returns false (and writes nothing) when `previousId` is absent or already a tombstone.
   */
  rotate(args: {
    previousId: string;
    next: SessionRecord;
    graceUntil: number;
    tombstoneExpiresAt: number;
  }): Promise<boolean>;
  /**
   * Deletes one record (live or tombstone) and says what it was, or null when absent. Only that
   * record: the engine follows `replacedBy` itself, so a delete racing a rotation (which commits
   * first, or finds its previous gone and fails) never leaves the successor alive.
   */
  delete(id: string): Promise<DeletedSession | null>;
  /**
   * Deletes every record of a user, tombstones included, except `exceptId` when given.
   * Returns the number of live (non-tombstone) sessions deleted.
   */
  deleteByUser(args: { userId: string; exceptId?: string }): Promise<number>;
  /** A user's live sessions (no tombstones, none past `expiresAt`), most recently used first. */
  listByUser(userId: string): Promise<SessionRecord[]>;
  /** Removes records past `expiresAt`; returns how many. Stores with native TTL may return 0. */
  sweep(now: number): Promise<number>;
  /** Releases connections and handles. */
  close(): Promise<void>;
  /**
   * Optional fast path for a store that holds the users too: the session and its user in one
   * read (a JOIN). The engine uses it only when its `users` is this store's `colocatedUsers`.
   */
  getWithUser?(
    id: string,
  ): MaybePromise<{ session: SessionRecord; user: SessionUser | null } | null>;
  /** The user lookup that `getWithUser` reads from. */
  readonly colocatedUsers?: UserLookup;
  /**
   * Optional, for a store that other processes write directly (SQLite): a new probe of whether
   * anything, `colocatedUsers` included, changed since that probe's previous call; null when the
   * store cannot tell. With it (and `colocatedUsers`), the engine keeps a near cache without a
   * feed (core/near-cache.ts). A new one per caller: each remembers what it has seen.
   */
  changeProbe?(): ChangeProbe | null;
}

/**
 * A pull-based alternative to an invalidation feed: a cheap, synchronous check a near cache makes
 * before every lookup.
 */
export interface ChangeProbe {
  /** Whether anything may have been committed to the store since the previous call. */
  changed(): boolean;
}

/** The user fields the engine needs on every validate, and all it returns of a user. */
export interface SessionUser {
  readonly id: string;
  readonly email: string;
  readonly name: string | null;
  readonly roles: readonly string[];
  readonly locked: boolean;
}

/**
 * Exactly the SessionUser fields of a user record, copied and frozen (roles too): what the engine
 * hands to callers, so a password hash never rides along into app code or a JSON response, and no
 * caller can change a user that a near cache shares between requests.
 */
export function toSessionUser(user: SessionUser): SessionUser {
  return Object.freeze({
    id: user.id,
    email: user.email,
    name: user.name,
    roles: Object.freeze([...user.roles]),
    locked: user.locked,
  });
}

/** Reads users by id. Implemented by every user store. */
export interface UserLookup {
  findById(id: string): MaybePromise<SessionUser | null>;
}

/** Security-relevant events, kept with time, user and ip (ASVS V16). */
export type AuditEventType =
  | 'login.succeeded'
  | 'login.failed'
  | 'login.throttled'
  | 'logout'
  | 'signup'
  | 'session.revoked'
  | 'session.revoked_all'
  | 'session.evicted'
  | 'session.theft_suspected'
  | 'session.guessing_throttled'
  | 'password.changed'
  | 'reauth.succeeded'
  | 'reauth.failed'
  | 'user.roles_changed'
  | 'user.locked'
  | 'user.unlocked';

/** One audit event. `detail` holds extra, non-secret facts (never tokens or passwords). */
export interface AuditEvent {
  readonly type: AuditEventType;
  readonly at: number;
  readonly userId: string | null;
  readonly ip: string | null;
  readonly sessionId: string | null;
  readonly detail: Readonly<Record<string, string | number | boolean | null>> | null;
}

/** Append-only audit trail. */
export interface AuditLog {
  record(event: AuditEvent): Promise<void>;
  /** Newest first. */
  list(args: { userId?: string; limit: number }): Promise<AuditEvent[]>;
}
