import { deviceLabel, MAX_USER_AGENT_LENGTH } from './device.ts';
import { isoTime } from './iso-time.ts';
import {
  type CacheEntry,
  type Invalidation,
  NearCache,
  type NearCacheOptions,
} from './near-cache.ts';
import {
  cookieMaxAge,
  expiryReason,
  isFresh,
  type Policy,
  type PolicyOptions,
  renewalDue,
  resolvePolicy,
  storeExpiry,
} from './policy.ts';
import {
  type AuditLog,
  type MaybePromise,
  type SessionRecord,
  type SessionStore,
  type SessionUser,
  toSessionUser,
  type UserLookup,
} from './store.ts';
import { generateToken, parseToken, type RandomBytes, secretMatches } from './token.ts';

/** Why a token was refused. For logs and metrics; HTTP callers answer 401 for all of them. */
export type InvalidReason =
  | 'malformed'
  | 'unknown'
  | 'secret_mismatch'
  | 'expired_idle'
  | 'expired_absolute'
  | 'rotated_reuse'
  | 'user_missing'
  | 'user_locked'
  | 'throttled';

/**
 * Outcome of `validate`: never throws for attacker input, only for store failures. `user` holds
 * exactly the SessionUser fields (never a password hash), frozen.
 */
export type ValidateResult =
  | { readonly ok: true; readonly session: SessionRecord; readonly user: SessionUser }
  | { readonly ok: false; readonly reason: InvalidReason; readonly retryAfterSeconds?: number };

/** A session as shown to its owner: an opaque handle and metadata, never the token or its hash. */
export interface SessionView {
  readonly id: string;
  readonly current: boolean;
  readonly createdAt: string;
  readonly lastSeenAt: string;
  readonly expiresAt: string;
  readonly ip: string | null;
  readonly userAgent: string | null;
  readonly device: string;
}

/**
 * Limits guessing: the engine reports each invalid token per key (client IP) and refuses every
 * token, valid or not, from a key while `blockedForSeconds` is positive.
 */
export interface GuessLimiter {
  /** Seconds the key must wait; 0 when it may proceed. */
  blockedForSeconds(key: string, now: number): number;
  recordFailure(key: string, now: number): void;
}

/** Engine options. Only `store` and `users` are required. */
export interface EngineOptions {
  store: SessionStore;
  users: UserLookup;
  /** Receives theft and eviction events. */
  audit?: AuditLog;
  policy?: PolicyOptions;
  guessLimiter?: GuessLimiter;
  /**
   * Caches validated sessions in-process (core/near-cache.ts has the rules), invalidated by a push
   * feed shared by every node (Redis), or by the store's own change probe (SQLite: any commit to
   * the file, by any process, empties it). By default on exactly when the store offers a probe
   * and `users` is its `colocatedUsers`; `false` turns it off.
   */
  nearCache?: NearCacheOptions | false;
  /** Clock in epoch ms. @default Date.now */
  now?: () => number;
  /** CSPRNG. @default crypto.randomBytes */
  random?: RandomBytes;
}

/** Where a request comes from, recorded on new sessions and used for throttling. */
export interface ClientInfo {
  readonly ip?: string | null | undefined;
  readonly userAgent?: string | null | undefined;
}

/** A new session and the token for the cookie (the only time the token exists in memory). */
export interface IssuedSession {
  readonly token: string;
  readonly session: SessionRecord;
  /** Cookie Max-Age in seconds, or undefined for a browser-session cookie. */
  readonly cookieMaxAge: number | undefined;
}

/** What one validation carries from the store read to the checks after it. */
interface Read {
  readonly secret: string;
  readonly now: number;
  readonly client: ClientInfo;
  /** The near cache's epoch before the store read: a fill after an invalidation is dropped. */
  readonly epoch: number;
}

const MAX_IP_LENGTH = 64;
/** A rotated chain longer than this is treated as broken (each hop is a store read). */
const MAX_ROTATION_HOPS = 8;

/**
 * The session engine: creates, validates, rotates and revokes sessions. Framework-agnostic.
 * Validation reads the store and the user afresh, or hits a near cache that every change empties
 * first, so revocations, locks and role changes take effect on the very next request.
 */
export class SessionEngine {
  readonly policy: Policy;
  readonly #store: SessionStore;
  readonly #users: UserLookup;
  readonly #audit: AuditLog | undefined;
  readonly #limiter: GuessLimiter | undefined;
  readonly #now: () => number;
  readonly #random: RandomBytes | undefined;
  /** True when the store can read a session and its user in one go from the same `users`. */
  readonly #joined: boolean;
  readonly #cache: NearCache | null;
  readonly #feed: NearCacheOptions['feed'] | null;

  constructor(options: EngineOptions) {
    this.policy = resolvePolicy(options.policy);
    this.#store = options.store;
    this.#users = options.users;
    this.#audit = options.audit;
    this.#limiter = options.guessLimiter;
    this.#now = options.now ?? Date.now;
    this.#random = options.random;
    this.#joined =
      options.store.getWithUser !== undefined && options.store.colocatedUsers === options.users;
    this.#cache = nearCache(options, this.#joined);
    this.#feed = options.nearCache ? (options.nearCache.feed ?? null) : null;
  }

  /** The near cache, when enabled (for metrics and tests). */
  get nearCache(): NearCache | null {
    return this.#cache;
  }

  /** Signs a user in: always a brand-new id and secret (no fixation). Enforces the session cap. */
  async create(
    user: SessionUser,
    args: ClientInfo & {
      remember?: boolean | undefined;
      authenticatedAt?: number | undefined;
    } = {},
  ): Promise<IssuedSession> {
    const now = this.#now();
    const persistent = args.remember ?? false;
    const { token, id, secretHash } = generateToken(this.#random);
    const userAgent = args.userAgent ? args.userAgent.slice(0, MAX_USER_AGENT_LENGTH) : null;
    const session: SessionRecord = {
      id,
      secretHash,
      userId: user.id,
      createdAt: now,
      lastSeenAt: now,
      authenticatedAt: args.authenticatedAt ?? now,
      persistent,
      expiresAt: storeExpiry(this.policy, { createdAt: now, persistent }, user.roles, now),
      ip: args.ip ? args.ip.slice(0, MAX_IP_LENGTH) : null,
      userAgent,
      device: deviceLabel(userAgent),
      replacedBy: null,
      graceUntil: null,
    };
    await this.#store.create(session);
    await this.#enforceCap(user, args.ip ?? null, now);
    return { token, session, cookieMaxAge: cookieMaxAge(this.policy, session, user.roles, now) };
  }

  /**
   * Checks a presented token against the store and the user's current state. The hot path:
   * one session read, one user read, and a store write at most once per renewal interval.
   */
  async validate(token: unknown, client: ClientInfo = {}): Promise<ValidateResult> {
    return this.check(token, client);
  }

  /**
   * `validate`, answering without a promise when nothing has to be waited for: the reads answer
   * synchronously (memory and SQLite stores, a near-cache hit) and no renewal write or deletion
   * is due. For adapters, where a promise and its microtask turns per request cost a bare route
   * several percent of its throughput. Never throws: store failures reject the returned promise.
   */
  check(token: unknown, client: ClientInfo = {}): MaybePromise<ValidateResult> {
    try {
      return this.#throttledCheck(token, client);
    } catch (error) {
      return Promise.reject(error); // a synchronous store failed: fail closed, as an async one
    }
  }

  /** The guess limiter around #check: a blocked client is refused, each refusal counted. */
  #throttledCheck(token: unknown, client: ClientInfo): MaybePromise<ValidateResult> {
    const now = this.#now();
    const key = client.ip ?? null;
    const limiter = this.#limiter;
    if (key === null || limiter === undefined) return this.#check(token, now, client);
    const wait = limiter.blockedForSeconds(key, now);
    if (wait > 0) return { ok: false, reason: 'throttled', retryAfterSeconds: wait };
    const result = this.#check(token, now, client);
    const counted = (r: ValidateResult) => {
      if (!r.ok) limiter.recordFailure(key, now);
      return r;
    };
    return result instanceof Promise ? result.then(counted) : counted(result);
  }

  #check(token: unknown, now: number, client: ClientInfo): MaybePromise<ValidateResult> {
    const parsed = parseToken(token);
    if (parsed === null) return { ok: false, reason: 'malformed' };
    const cache = this.#cache;
    const hit = cache?.get(parsed.id, now);
    if (hit) {
      // Another node's renewal does not invalidate caches, so a cached lastSeenAt may be older
      // than the store's: an idle-looking hit is re-read from the store before anything is deleted.
      if (expiryReason(this.policy, hit.session, hit.user.roles, now) !== 'expired_idle') {
        return this.#checkCached(hit, parsed.secret, now);
      }
      cache?.invalidate({ sessionIds: [parsed.id] });
    }
    const read: Read = { secret: parsed.secret, now, client, epoch: cache?.epoch() ?? 0 };
    if (this.#joined && this.#store.getWithUser) {
      const found = this.#store.getWithUser(parsed.id);
      if (found instanceof Promise) {
        return found.then((f) => this.#checkSession(read, f?.session ?? null, f?.user));
      }
      return this.#checkSession(read, found?.session ?? null, found?.user);
    }
    const found = this.#store.get(parsed.id);
    if (found instanceof Promise) return found.then((f) => this.#checkSession(read, f, undefined));
    return this.#checkSession(read, found, undefined);
  }

  /** The stored session against the secret, then its user (`undefined`: not read yet). */
  #checkSession(
    read: Read,
    session: SessionRecord | null,
    user: SessionUser | null | undefined,
  ): MaybePromise<ValidateResult> {
    if (session === null) return { ok: false, reason: 'unknown' };
    if (!secretMatches(read.secret, session.secretHash)) {
      return { ok: false, reason: 'secret_mismatch' };
    }
    if (session.replacedBy !== null) return this.#checkRotated(read, session, user);
    if (user !== undefined) return this.#checkUser(read, session, user);
    const found = this.#users.findById(session.userId);
    if (found instanceof Promise) return found.then((u) => this.#checkUser(read, session, u));
    return this.#checkUser(read, session, found);
  }

  /** A rotated-out token: valid only within its grace window, as the session that replaced it. */
  async #checkRotated(
    read: Read,
    tombstone: SessionRecord,
    user: SessionUser | null | undefined,
  ): Promise<ValidateResult> {
    const current = await this.#followRotation(tombstone, read.now, read.client);
    if (current === null) return { ok: false, reason: 'rotated_reuse' };
    // Same user: rotation never changes userId.
    const owner = user !== undefined ? user : await this.#users.findById(current.userId);
    return this.#checkUser(read, current, owner);
  }

  /** The user's lock and the session's expiry (by the user's current roles); fills the cache. */
  #checkUser(
    read: Read,
    session: SessionRecord,
    user: SessionUser | null,
  ): MaybePromise<ValidateResult> {
    if (user === null) {
      return this.#delete(session.id).then(() => ({ ok: false, reason: 'user_missing' }) as const);
    }
    if (user.locked) return { ok: false, reason: 'user_locked' };
    const result = this.#checkTimes(session, toSessionUser(user), read.now);
    const cache = this.#cache;
    if (cache === null) return result;
    const fill = (r: ValidateResult) => {
      if (r.ok) cache.fill(read.epoch, r.session, r.user, read.now);
      return r;
    };
    return result instanceof Promise ? result.then(fill) : fill(result);
  }

  /** A near-cache hit: the secret, the lock and both expiries are still checked. */
  #checkCached(hit: CacheEntry, secret: string, now: number): MaybePromise<ValidateResult> {
    if (!secretMatches(secret, hit.session.secretHash)) {
      return { ok: false, reason: 'secret_mismatch' };
    }
    if (hit.user.locked) return { ok: false, reason: 'user_locked' };
    const result = this.#checkTimes(hit.session, hit.user, now);
    if (!(result instanceof Promise)) return result; // unchanged: nothing to update
    return result.then((r) => {
      if (r.ok && r.session !== hit.session) this.#cache?.update(r.session);
      return r;
    });
  }

  /** Idle and absolute expiry (from the user's current roles), then the throttled renewal write. */
  #checkTimes(
    session: SessionRecord,
    user: SessionUser,
    now: number,
  ): MaybePromise<ValidateResult> {
    const expired = expiryReason(this.policy, session, user.roles, now);
    if (expired !== null) {
      return this.#delete(session.id).then(() => ({ ok: false, reason: expired }) as const);
    }
    if (renewalDue(this.policy, session, now)) {
      const touch = {
        lastSeenAt: now,
        expiresAt: storeExpiry(this.policy, session, user.roles, now),
      };
      const renewed = { ...session, ...touch };
      return this.#store
        .touch(session.id, touch)
        .then(() => ({ ok: true, session: renewed, user }));
    }
    return { ok: true, session, user };
  }

  /** Deletes a session and what it was rotated into; whether it existed unexpired. */
  async #delete(sessionId: string): Promise<boolean> {
    return (await this.#deleteChain(sessionId)).existed;
  }

  /**
   * Deletes a record, then the one that replaced it, and so on to the live session, evicting each
   * here and on every node; returns the ids. Following `replacedBy` after each delete is what
   * keeps a revoke racing a rotation from missing the successor, on any store: each store call is
   * atomic on its record, so either the rotation committed first (the delete finds the tombstone
   * and follows it) or it finds its previous gone and writes nothing.
   */
  async #deleteChain(sessionId: string): Promise<{ existed: boolean; ids: string[] }> {
    const ids: string[] = [];
    let existed = false;
    // Ids are fresh, so a chain has no cycle; the check only keeps a faulty store from looping.
    for (let id: string | null = sessionId; id !== null && !ids.includes(id); ) {
      const current: string = id;
      ids.push(current);
      const deleted = await this.#changeThenInvalidate(() => this.#store.delete(current), {
        sessionIds: [current],
      });
      if (current === sessionId) existed = deleted?.unexpired === true;
      id = deleted?.replacedBy ?? null;
    }
    return { existed, ids };
  }

  /**
   * Runs a store change, then invalidates. When the change fails part-way (a store outage in the
   * middle of a revoke-all), caches are still told, best effort, before the error is rethrown:
   * whatever was deleted must not live on in another node's cache.
   */
  async #changeThenInvalidate<T>(change: () => Promise<T>, invalidation: Invalidation): Promise<T> {
    let result: T;
    try {
      result = await change();
    } catch (error) {
      await this.#invalidate(invalidation).catch(() => {});
      throw error;
    }
    await this.#invalidate(invalidation);
    return result;
  }

  /**
   * Evicts locally (synchronously, so this node never serves it again) and tells every other node.
   * A failed publish rejects: the change is stored, but the caller must learn that other nodes'
   * caches may not have heard (their own feed outage makes them bypass their caches anyway).
   */
  async #invalidate(invalidation: Invalidation): Promise<void> {
    if (this.#cache === null) return;
    this.#cache.invalidate(invalidation);
    await this.#feed?.publish(invalidation);
  }

  /** Call after changing a user's roles, lock or identity: every node re-reads them at once. */
  invalidateUser(userId: string): Promise<void> {
    return this.#invalidate({ userIds: [userId] });
  }

  /** Stops the near cache's feed. */
  async close(): Promise<void> {
    await this.#feed?.close();
  }

  /**
   * A rotated-out token: within its grace window it stands for the session that replaced it;
   * after it, its use means someone kept an old token, so the whole chain is revoked.
   */
  async #followRotation(
    tombstone: SessionRecord,
    now: number,
    client: ClientInfo,
  ): Promise<SessionRecord | null> {
    let record: SessionRecord | null = tombstone;
    const chain: string[] = [];
    for (let hop = 0; record?.replacedBy != null && hop < MAX_ROTATION_HOPS; hop++) {
      chain.push(record.id);
      if (record.graceUntil === null || now >= record.graceUntil) {
        await this.#revokeChain(tombstone, now, client);
        return null;
      }
      record = await this.#store.get(record.replacedBy);
    }
    if (record === null || record.replacedBy !== null) return null;
    return record;
  }

  /** Revokes the whole chain and audits the theft with the address the old token came from. */
  async #revokeChain(tombstone: SessionRecord, now: number, client: ClientInfo): Promise<void> {
    const revoked = (await this.#deleteChain(tombstone.id)).ids;
    await this.#audit?.record({
      type: 'session.theft_suspected',
      at: now,
      userId: tombstone.userId,
      ip: client.ip ? client.ip.slice(0, MAX_IP_LENGTH) : null,
      sessionId: tombstone.id,
      detail: { revoked: revoked.join(',') },
    });
  }

  /**
   * Replaces a live session with a new id and secret (privilege change, re-auth, password
   * change). The old token keeps working for the grace window only. Returns null when the
   * session is gone or was already rotated by a concurrent request.
   */
  async rotate(
    session: SessionRecord,
    user: SessionUser,
    args: { authenticatedAt?: number } = {},
  ): Promise<IssuedSession | null> {
    const now = this.#now();
    const { token, id, secretHash } = generateToken(this.#random);
    const next: SessionRecord = {
      ...session,
      id,
      secretHash,
      lastSeenAt: now,
      authenticatedAt: args.authenticatedAt ?? session.authenticatedAt,
      expiresAt: storeExpiry(this.policy, session, user.roles, now),
      replacedBy: null,
      graceUntil: null,
    };
    const rotated = await this.#store.rotate({
      previousId: session.id,
      next,
      graceUntil: now + this.policy.graceMs,
      // Kept until the session could have expired anyway, so late reuse is still detected.
      tombstoneExpiresAt: Math.max(next.expiresAt, now + this.policy.graceMs),
    });
    if (!rotated) return null;
    await this.#invalidate({ sessionIds: [session.id] });
    return { token, session: next, cookieMaxAge: cookieMaxAge(this.policy, next, user.roles, now) };
  }

  /** Deletes one session. Returns whether it existed. */
  revoke(sessionId: string): Promise<boolean> {
    return this.#delete(sessionId);
  }

  /** Deletes all of a user's sessions, except `exceptId` when given. Returns how many. */
  revokeAll(userId: string, args: { exceptId?: string } = {}): Promise<number> {
    return this.#changeThenInvalidate(() => this.#store.deleteByUser({ userId, ...args }), {
      userIds: [userId],
    });
  }

  /** A user's live sessions, most recently used first, as safe views. */
  async list(userId: string, currentId?: string): Promise<SessionView[]> {
    const sessions = await this.#store.listByUser(userId);
    return sessions.map((s) => toView(s, currentId));
  }

  /** True while sensitive operations are allowed without re-entering the password. */
  isFresh(session: SessionRecord): boolean {
    return isFresh(this.policy, session, this.#now());
  }

  /** Removes expired sessions from stores that need it (others rely on TTL). */
  sweep(): Promise<number> {
    return this.#store.sweep(this.#now());
  }

  async #enforceCap(user: SessionUser, ip: string | null, now: number): Promise<void> {
    const max = this.policy.maxSessionsPerUser;
    if (max === null) return;
    // After the create, not before: concurrent sign-ins that each listed first all saw room. Every
    // sign-in keeps the same `max` most recent (one order), so the one whose create lands last,
    // listing every session, leaves exactly `max`, and none evicts more.
    const sessions = await this.#store.listByUser(user.id); // most recently used first
    for (const evicted of sessions.slice(max)) {
      await this.#delete(evicted.id);
      await this.#audit?.record({
        type: 'session.evicted',
        at: now,
        userId: user.id,
        ip,
        sessionId: evicted.id,
        detail: { reason: 'max_sessions', max },
      });
    }
  }
}

/** The owner's view of a session: never includes the secret hash. */
export function toView(session: SessionRecord, currentId?: string): SessionView {
  return {
    id: session.id,
    current: session.id === currentId,
    createdAt: isoTime(session.createdAt),
    lastSeenAt: isoTime(session.lastSeenAt),
    expiresAt: isoTime(session.expiresAt),
    ip: session.ip,
    userAgent: session.userAgent,
    device: session.device,
  };
}

/** The engine's near cache: as configured, else on a store's probe when it covers the users too. */
function nearCache(options: EngineOptions, joined: boolean): NearCache | null {
  if (options.nearCache === false) return null;
  if (options.nearCache?.feed || options.nearCache?.probe) return new NearCache(options.nearCache);
  const probe = joined ? options.store.changeProbe?.() : null;
  return probe ? new NearCache({ ...options.nearCache, probe }) : null;
}
