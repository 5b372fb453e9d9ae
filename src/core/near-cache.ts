import { ConfigError } from './errors.ts';
import type { ChangeProbe, SessionRecord, SessionUser } from './store.ts';

/** What changed: sessions by id, and users (every session of theirs) by id. */
export interface Invalidation {
  readonly sessionIds?: readonly string[];
  readonly userIds?: readonly string[];
}

/** Callbacks a feed drives. */
export interface FeedHandlers {
  /** Every invalidation published by any node, this one included. */
  onMessage(invalidation: Invalidation): void;
  /**
   * Whether the feed is connected AND subscribed. While false a near cache must hold nothing:
   * a message missed during an outage could otherwise let a revoked session through.
   */
  onState(live: boolean): void;
}

/** A push channel of invalidations shared by every node (Redis pub/sub, or in-process). */
export interface InvalidationFeed {
  /** Starts delivering to `handlers`. Reports `onState(true)` only once subscribed. */
  subscribe(handlers: FeedHandlers): void;
  /**
   * Sends to every subscribed node and resolves once the other live nodes have applied it (the
   * Redis feed waits for their acks), so the next request anywhere sees it. Rejects when the feed
   * is down.
   */
  publish(invalidation: Invalidation): Promise<void>;
  /** Stops delivering and releases the connection. */
  close(): Promise<void>;
}

/** Near-cache options: exactly one of `feed` and `probe`. */
export interface NearCacheOptions {
  /** Invalidations pushed by every node (Redis pub/sub). */
  readonly feed?: InvalidationFeed;
  /** Asked before every lookup; any change (or a throw) empties the cache. */
  readonly probe?: ChangeProbe;
  /** Most sessions kept; the oldest entry is dropped beyond it. @default 10000 */
  readonly maxEntries?: number;
  /**
   * Longest an entry is trusted without a store read, as a bound on staleness even if the feed
   * misbehaved without disconnecting. @default 60
   */
  readonly maxAgeSeconds?: number;
}

/** A cached, validated session and its user as read from the stores. */
export interface CacheEntry {
  readonly session: SessionRecord;
  readonly user: SessionUser;
  readonly cachedAt: number;
}

/**
 * In-process cache of validated sessions, correct under concurrent invalidation:
 * - it holds nothing while the feed is down (flushed on every state change);
 * - with a probe instead of a feed, it is emptied whenever the store changed since the previous
 *   lookup, and that lookup precedes the store read whose result it caches;
 * - a read that raced an invalidation is not cached: `fill` needs the epoch taken before the read,
 *   and every invalidation or state change moves the epoch on;
 * - entries expire after `maxAgeSeconds` whatever the feed says.
 * Expiry (idle/absolute) and the secret are still checked by the engine on every hit.
 */
export class NearCache {
  readonly #entries = new Map<string, CacheEntry>();
  readonly #byUser = new Map<string, Set<string>>();
  readonly #maxEntries: number;
  readonly #maxAgeMs: number;
  readonly #probe: ChangeProbe | undefined;
  #live = false;
  #epoch = 0;

  constructor(options: NearCacheOptions) {
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#maxAgeMs = (options.maxAgeSeconds ?? 60) * 1000;
    this.#probe = options.probe;
    if (options.feed && options.probe)
      throw new ConfigError('A near cache takes a feed or a probe, not both.');
    if (options.probe) this.#live = true;
    options.feed?.subscribe({
      onMessage: (invalidation) => this.invalidate(invalidation),
      onState: (live) => this.#setLive(live),
    });
  }

  /** True while the feed is connected and subscribed (so entries may be served). */
  get live(): boolean {
    return this.#live;
  }

  /** Number of cached sessions. */
  get size(): number {
    return this.#entries.size;
  }

  /** Take before a store read; pass to `fill` after it. */
  epoch(): number {
    return this.#epoch;
  }

  /**
   * The entry for a live, fresh session id, or undefined. Never serves while the feed is down, or
   * after the probe saw a change (call before every store read: it marks what a `fill` may keep).
   */
  get(sessionId: string, now: number): CacheEntry | undefined {
    if (this.#probe !== undefined && this.#changed(this.#probe)) return undefined;
    if (!this.#live) return undefined;
    const entry = this.#entries.get(sessionId);
    if (entry === undefined) return undefined;
    if (now - entry.cachedAt >= this.#maxAgeMs) {
      this.#remove(sessionId, entry.user.id);
      return undefined;
    }
    return entry;
  }

  /** Caches a validated session unless the feed is down or anything was invalidated since `epoch`. */
  fill(epoch: number, session: SessionRecord, user: SessionUser, now: number): void {
    if (!this.#live || epoch !== this.#epoch || session.replacedBy !== null) return;
    if (this.#entries.size >= this.#maxEntries && !this.#entries.has(session.id)) {
      const oldest = this.#entries.entries().next().value;
      if (oldest) this.#remove(oldest[0], oldest[1].user.id);
    }
    // Frozen because every hit hands the same objects to another request's code.
    this.#entries.set(session.id, { session: Object.freeze(session), user, cachedAt: now });
    const ids = this.#byUser.get(user.id);
    if (ids) ids.add(session.id);
    else this.#byUser.set(user.id, new Set([session.id]));
  }

  /** Replaces a cached session's record after a renewal write (same id, same user). */
  update(session: SessionRecord): void {
    const entry = this.#entries.get(session.id);
    if (entry) this.#entries.set(session.id, { ...entry, session: Object.freeze(session) });
  }

  /** Drops the named sessions and every session of the named users; synchronous. */
  invalidate(invalidation: Invalidation): void {
    this.#epoch++;
    for (const id of invalidation.sessionIds ?? []) {
      const entry = this.#entries.get(id);
      if (entry) this.#remove(id, entry.user.id);
    }
    for (const userId of invalidation.userIds ?? []) {
      for (const id of this.#byUser.get(userId) ?? []) this.#entries.delete(id);
      this.#byUser.delete(userId);
    }
  }

  /** Asks the probe; on a change, or when it cannot tell, everything cached goes. */
  #changed(probe: ChangeProbe): boolean {
    let changed = true;
    try {
      changed = probe.changed();
    } catch {
      // Cannot tell (an I/O error): treated as a change, so this lookup goes to the store.
    }
    if (changed) this.#setLive(true);
    return changed;
  }

  #setLive(live: boolean): void {
    this.#epoch++;
    this.#entries.clear();
    this.#byUser.clear();
    this.#live = live;
  }

  #remove(sessionId: string, userId: string): void {
    this.#entries.delete(sessionId);
    const ids = this.#byUser.get(userId);
    ids?.delete(sessionId);
    if (ids?.size === 0) this.#byUser.delete(userId);
  }
}

/**
 * An in-process feed: every engine subscribed to the same instance sees every publish. For one
 * process with several engines (tests, or a single node that wants the cache); always live.
 */
export class LocalInvalidationFeed implements InvalidationFeed {
  readonly #subscribers = new Set<FeedHandlers>();

  subscribe(handlers: FeedHandlers): void {
    this.#subscribers.add(handlers);
    handlers.onState(true);
  }

  async publish(invalidation: Invalidation): Promise<void> {
    for (const s of this.#subscribers) s.onMessage(invalidation);
  }

  async close(): Promise<void> {
    for (const s of this.#subscribers) s.onState(false);
    this.#subscribers.clear();
  }
}
