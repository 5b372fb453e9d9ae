/**
 * Sessions in Redis ≥ 7 (or Valkey): standalone, Sentinel or Cluster, through node-redis.
 *
 * Design. `get(id)` knows only the session id, so a session must live under a key derived from
 * the id alone: `cc:s:<id>`, a JSON string with PXAT expiresAt (./redis-layout.ts says why not a
 * HASH: 328 bytes against 896, measured). A user's sessions are found through `cc:{u:<userId>}:i`,
 * a ZSET of ids on the user's hash-tag slot. The two keys are on different slots and no hash tag
 * can fix that (the id does not reveal its user), so in Cluster no write spanning both can be
 * atomic. Instead every Lua script touches ONE key (atomic on its node), and the steps are ordered
 * so that these invariants hold at every instant, a crash between two steps included:
 * 1. A session key is written before its index entry and deleted before it, so a finished create
 *    (or rotate) is always visible to deleteByUser; a half-done one was never handed to a client.
 * 2. An index score is ≥ its session key's expiry (raised BEFORE a touch or rotate extends the
 *    key), so pruning `score < server TIME` only drops entries whose keys are already gone, and
 *    the index key (PEXPIREAT its top score) never expires before a member. Pruning runs on every
 *    index write and read, and listByUser drops entries whose key is missing: no entry points
 *    nowhere for longer than its session's own lifetime.
 * 3. rotate writes `next` (key, then index entry) BEFORE it tombstones `previous` with a one-key
 *    compare-and-set (exactly one concurrent rotation wins; losers delete their `next`). A revoke
 *    racing it either deletes `previous` first (the tombstoning fails) or finds the tombstone and
 *    follows its `replacedBy` to `next`: a revoked session never lives on through a rotation.
 * Rejected: a per-user generation counter checked on read (O(1) revoke-all) makes `get` read a
 * second key, on the user's slot, known only after the first read: two sequential round trips on
 * the hot path (measured: 2× the latency of one GET), to speed up a rare call whose size the
 * session cap bounds anyway.
 * Round trips: get 1 (one GET); create 2; touch 3 (read owner, raise index, renew); rotate 4;
 * delete 2; deleteByUser 3 + one per rotation-chain link; listByUser 2 (the GETs are pipelined).
 * Through Sentinel, a revoking write (delete, deleteByUser, rotate's tombstone) adds a WAIT.
 *
 * Durability of revocations. Replication is asynchronous: a write a master acknowledged is lost
 * when a replica that lacks it is promoted, and in a Sentinel switchover the old master goes on
 * taking writes until the clients move (up to a second or more), all of them lost when it turns
 * replica. A lost revocation brings a session back. So through Sentinel a revoking write resolves
 * only once `revocationReplicas` replicas hold it: WAIT, on a master connection leased for the
 * store's life (WAIT blocks the connection it is sent on; node-redis builds a whole command class
 * per lease, measured at 20-50 ms, so one lease is kept rather than one taken per revocation). A
 * deposed master has no replica left and cannot confirm: the revocation fails
 * (StoreUnavailableError, a 503) and a retry goes to the new master.
 */
import { StoreUnavailableError } from '../core/errors.ts';
import type { DeletedSession, SessionRecord, SessionStore, SessionTouch } from '../core/store.ts';
import {
  ConnectionGuard,
  publishAnywhere,
  type RedisConnection,
  type RedisStatusListener,
} from './redis-connect.ts';
import * as L from './redis-layout.ts';
import * as S from './redis-scripts.ts';

/** Options of the Redis session store. */
export interface RedisSessionStoreOptions {
  /** Prefix of every key and of the invalidation channel. @default 'cc:' */
  keyPrefix?: string;
  /** Clock deciding expiry on read; pass the engine's clock in tests. @default Date.now */
  now?: () => number;
  /**
   * PUBLISH `{"sessionIds":[...]}` on `<prefix>inv` after delete, deleteByUser and rotate (the
   * near cache's feed, ./redis-feed.ts, subscribes to it). A failed publish fails the call: the
   * write stands, and a retry publishes again. @default true
   */
  publishInvalidations?: boolean;
  /**
   * A call (all its round trips) unanswered this long rejects with StoreUnavailableError: the
   * store fails closed on a hung or partitioned server, not only on a closed connection.
   * @default 1000
   */
  timeoutMs?: number;
  /** Called on each change between reachable and unreachable (once per outage, not per call). */
  onStatus?: RedisStatusListener;
  /**
   * Through Sentinel: how many replicas must hold a revocation before it resolves (design above);
   * fewer within `timeoutMs / 2` fails it with StoreUnavailableError. 0 accepts losing revocations
   * in a failover. Above 0 the store leases one master connection for good, so a connection of
   * your own needs `masterPoolSize: 2, reserveClient: true` (createRedisSessionStore's have it, and
   * default this to 1). Ignored elsewhere. @default 0
   */
  revocationReplicas?: number;
}

/**
 * A SessionStore on Redis (design above): its writes keep the invariants under any interleaving
 * and crash, every failure rejects with StoreUnavailableError (cause kept), and the connection
 * recovers by itself: no call waits on an unreachable Redis, none crashes the process.
 */
export class RedisSessionStore implements SessionStore {
  readonly #redis: RedisConnection;
  readonly #prefix: string;
  readonly #now: () => number;
  readonly #channel: string | null;
  readonly #guard: ConnectionGuard;
  /** Replicas a revocation waits for, on `#lease`; only through Sentinel (else no lease). */
  readonly #replicas: number;
  readonly #waitMs: number;
  #lease: Promise<S.ScriptRunner & LeasedClient> | undefined;

  /** Uses a node-redis client, Cluster or Sentinel connection; `close()` closes it. */
  constructor(connection: RedisConnection, options: RedisSessionStoreOptions = {}) {
    this.#redis = connection;
    this.#prefix = options.keyPrefix ?? 'cc:';
    this.#now = options.now ?? Date.now;
    this.#channel =
      options.publishInvalidations === false ? null : L.invalidationChannel(this.#prefix);
    const timeoutMs = options.timeoutMs ?? 1000;
    this.#replicas = options.revocationReplicas ?? 0;
    // Leased now, not at the first revocation: building a lease takes 20-50 ms (measured).
    if (this.#replicas > 0 && isSentinel(connection)) {
      this.#lease = connection.acquire();
      this.#lease.catch(() => {}); // a failure is the first revocation's to report
    }
    this.#waitMs = Math.max(1, Math.floor(timeoutMs / 2)); // WAIT 0 would wait for ever
    this.#guard = new ConnectionGuard(
      connection,
      timeoutMs,
      options.onStatus,
      isCluster(connection) ? () => pingMasters(connection) : undefined,
    );
  }

  /** Inserts the record; a duplicate id rejects (ids are 128 random bits). */
  create(record: SessionRecord): Promise<void> {
    return this.#run('create', () => this.#insert(record));
  }

  /** Hot path: one GET. Null when absent or past `expiresAt` (by this store's clock). */
  get(id: string): Promise<SessionRecord | null> {
    return this.#run('get', () =>
      this.#redis.get(this.#key(id)).then((text) => {
        const record = L.decodeSession(id, text);
        return record !== null && record.expiresAt > this.#now() ? record : null;
      }),
    );
  }

  /** Renews a live session; no-op for unknown, expired or rotated-out ids. */
  touch(id: string, touch: SessionTouch): Promise<void> {
    return this.#run('touch', async () => {
      const current = await this.#read(id);
      if (current === null || !this.#isLive(current)) return;
      // The index score goes up before the key's expiry does (invariant 2).
      await this.#index(current.userId, { raise: { id, until: touch.expiresAt } });
      await S.touchSession(this.#redis, this.#key(id), this.#now(), touch);
    });
  }

  /**
   * Exactly one of concurrent rotations of a session wins; false (nothing written) when
   * `previousId` is absent, expired, a tombstone, or of another user than `next`.
   */
  rotate(args: {
    previousId: string;
    next: SessionRecord;
    graceUntil: number;
    tombstoneExpiresAt: number;
  }): Promise<boolean> {
    const { previousId, next, graceUntil, tombstoneExpiresAt } = args;
    return this.#run('rotate', async () => {
      const previous = await this.#read(previousId);
      if (previous === null || previous.userId !== next.userId || !this.#isLive(previous)) {
        return false;
      }
      // `next` is stored and indexed before `previous` points at it (invariant 3).
      await this.#insert(next, { id: previousId, until: tombstoneExpiresAt });
      const won = await this.#durably((redis) =>
        S.tombstoneSession(redis, this.#key(previousId), this.#now(), {
          userId: next.userId,
          nextId: next.id,
          graceUntil,
          tombstoneExpiresAt,
        }),
      );
      if (!won) {
        await S.deleteSession(this.#redis, this.#key(next.id), this.#now());
        await this.#index(next.userId, { remove: [next.id] });
        return false;
      }
      await this.#publish([previousId]);
      return true;
    });
  }

  /** Deletes the record (live or tombstone), then its index entry; what it was, or null. */
  delete(id: string): Promise<DeletedSession | null> {
    return this.#run('delete', async () => {
      const deleted = await this.#durably((redis) =>
        S.deleteSession(redis, this.#key(id), this.#now()),
      );
      if (deleted === null) return null;
      await this.#index(deleted.userId, { remove: [id] });
      await this.#publish([id]);
      return { unexpired: deleted.unexpired, replacedBy: deleted.replacedBy };
    });
  }

  /**
   * Deletes all of the user's records (tombstones too) but `exceptId`, following each tombstone to
   * its replacement (invariant 3); returns how many live sessions were deleted.
   */
  deleteByUser(args: { userId: string; exceptId?: string }): Promise<number> {
    const { userId, exceptId } = args;
    return this.#run('deleteByUser', async () => {
      const members = await S.indexMembers(this.#redis, this.#userKey(userId));
      const seen = new Set<string>();
      const deleted: string[] = [];
      let live = 0;
      await this.#durably(async (redis) => {
        let batch = members.filter((id) => id !== exceptId);
        while (batch.length > 0) {
          for (const id of batch) seen.add(id);
          const now = this.#now();
          const results = await Promise.all(
            batch.map((id) => S.deleteSession(redis, this.#key(id), now, userId)),
          );
          const successors: string[] = [];
          results.forEach((result, i) => {
            if (result === null) return;
            deleted.push(batch[i] as string);
            if (result.live) live++;
            const next = result.replacedBy;
            if (next !== null && next !== exceptId && !seen.has(next)) successors.push(next);
          });
          batch = successors;
        }
      });
      if (seen.size > 0) await this.#index(userId, { remove: seen });
      await this.#publish(deleted);
      return live;
    });
  }

  /** Live sessions only, by `lastSeenAt` desc, then `createdAt` desc, then id. */
  listByUser(userId: string): Promise<SessionRecord[]> {
    return this.#run('listByUser', async () => {
      const ids = await S.indexMembers(this.#redis, this.#userKey(userId));
      const records = await Promise.all(ids.map((id) => this.#read(id)));
      const list: SessionRecord[] = [];
      const stray: string[] = [];
      records.forEach((record, i) => {
        if (record === null || record.userId !== userId) stray.push(ids[i] as string);
        else if (this.#isLive(record)) list.push(record);
      });
      // A missing key never comes back (ids are fresh), so its entry can go now.
      if (stray.length > 0) await this.#index(userId, { remove: stray });
      return list.sort(byMostRecentlyUsed);
    });
  }

  /**
   * Returns 0: keys expire by TTL, and index entries are pruned as they are read. Asks Redis
   * nothing, so it does not go through the guard: a success there would count as a recovery.
   */
  async sweep(_now: number): Promise<number> {
    this.#guard.assertOpen();
    return 0;
  }

  /**
   * Resolves when Redis answers; for readiness probes. A Cluster answers only when every master
   * does: each holds a share of the sessions (one GET would ask the one master owning its slot).
   */
  ping(): Promise<void> {
    return this.#run('ping', async () => {
      if (isCluster(this.#redis)) await pingMasters(this.#redis);
      else await this.#redis.get(this.#key('~ping'));
    });
  }

  /** Closes the connection; later calls reject with StoreUnavailableError. Idempotent. */
  close(): Promise<void> {
    return this.#guard.close();
  }

  async #read(id: string): Promise<SessionRecord | null> {
    return L.decodeSession(id, await this.#redis.get(this.#key(id)));
  }

  #isLive(record: SessionRecord): boolean {
    return record.replacedBy === null && record.expiresAt > this.#now();
  }

  /** Session key, then index entry (invariant 1); `raise` lifts another entry's score meanwhile. */
  async #insert(record: SessionRecord, raise?: S.IndexChange['raise']): Promise<void> {
    const stored = L.encodeSession(record);
    if (!(await S.createSession(this.#redis, this.#key(record.id), stored, record.expiresAt))) {
      throw new StoreUnavailableError('Session id already exists.');
    }
    const add = { id: record.id, until: record.expiresAt };
    await this.#index(record.userId, raise ? { add, raise } : { add });
  }

  /**
   * `write`'s result once `#replicas` replicas hold what it wrote (design above): run on the
   * leased master connection, then WAIT there. Without replicas to wait for, `write` as is.
   */
  async #durably<T>(write: (redis: S.ScriptRunner) => Promise<T>): Promise<T> {
    const redis = this.#redis;
    if (this.#lease === undefined) return write(redis);
    const lease = await this.#lease;
    const result = await write(lease);
    // Covers this write: WAIT counts up to the connection's latest write, whoever's it was.
    const acknowledged = await lease.wait(this.#replicas, this.#waitMs);
    if (acknowledged < this.#replicas) {
      // Not the guard's outage signal: the master answers, it only cannot vouch for the write.
      throw new StoreUnavailableError(
        `Redis revocation not confirmed: ${acknowledged} of ${this.#replicas} replicas ` +
          `acknowledged it within ${this.#waitMs} ms (a failover, or no replica connected).`,
      );
    }
    return result;
  }

  #index(userId: string, change: S.IndexChange): Promise<void> {
    return S.updateIndex(this.#redis, this.#userKey(userId), change);
  }

  async #publish(sessionIds: string[]): Promise<void> {
    if (this.#channel === null || sessionIds.length === 0) return;
    await publishAnywhere(this.#redis, this.#channel, JSON.stringify({ sessionIds }));
  }

  #run<T>(operation: string, body: () => Promise<T>): Promise<T> {
    return this.#guard.run(operation, body);
  }

  #key(id: string): string {
    return L.sessionKey(this.#prefix, id);
  }

  #userKey(userId: string): string {
    return L.userIndexKey(this.#prefix, userId);
  }
}

/** What a node-redis Cluster connection offers for reaching each master (absent elsewhere). */
interface ClusterNodes {
  readonly masters: readonly unknown[];
  nodeClient(node: unknown): Promise<{ ping(): Promise<unknown> }>;
}

function isCluster(connection: RedisConnection): connection is RedisConnection & ClusterNodes {
  const nodes = connection as Partial<ClusterNodes>;
  return Array.isArray(nodes.masters) && typeof nodes.nodeClient === 'function';
}

/** What a node-redis Sentinel connection offers for an exclusive master connection. */
interface SentinelLease {
  acquire(): Promise<S.ScriptRunner & LeasedClient>;
}
interface LeasedClient {
  wait(replicas: number, timeoutMs: number): Promise<number>;
}

function isSentinel(connection: RedisConnection): connection is RedisConnection & SentinelLease {
  const sentinel = connection as Partial<SentinelLease> & { getMasterNode?: unknown };
  return typeof sentinel.acquire === 'function' && typeof sentinel.getMasterNode === 'function';
}

/** PING on every master: resolves only when each answers. */
async function pingMasters(cluster: ClusterNodes): Promise<void> {
  await Promise.all(cluster.masters.map(async (node) => (await cluster.nodeClient(node)).ping()));
}

function byMostRecentlyUsed(a: SessionRecord, b: SessionRecord): number {
  return b.lastSeenAt - a.lastSeenAt || b.createdAt - a.createdAt || (a.id < b.id ? -1 : 1);
}
