/**
 * Redis-specific behaviour of the session store, beyond the shared contract: TTLs, pruning, memory,
 * invalidations (the races are in ./redis-races.ts). Registered for a standalone server and for a
 * Cluster.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SessionRecord } from '../../src/core/store.ts';
import type {
  RedisConnection,
  RedisSessionStore,
  RedisSessionStoreOptions,
} from '../../src/stores/redis.ts';
import { sessionKey, userIndexKey } from '../../src/stores/redis-layout.ts';
import { makeSession } from './contract.ts';
import { assertIndexesConsistent, type RawRedis, storedSessions } from './redis-checks.ts';

const HOUR = 3_600_000;

/** How a behaviour case gets a store (on a fresh key prefix) and raw access to the same Redis. */
export interface RedisFixture {
  store(options?: RedisSessionStoreOptions): Promise<{ store: RedisSessionStore; prefix: string }>;
  raw(): RawRedis;
  /** A connected node-redis connection of the topology under test (for a hand-built store). */
  connect(): Promise<RedisConnection>;
  /** Subscribes to a channel; returns the messages seen so far and a way to stop. */
  subscribe(channel: string): Promise<{ messages: string[]; stop(): Promise<void> }>;
}

/** Registers the Redis behaviour cases under `describe(name)`. */
export function redisBehaviour(name: string, fixture: RedisFixture): void {
  const withStore =
    (fn: (store: RedisSessionStore, prefix: string) => Promise<void>, opts = {}) =>
    async () => {
      const { store, prefix } = await fixture.store(opts);
      try {
        await fn(store, prefix);
      } finally {
        await store.close();
      }
    };

  describe(`Redis session store: ${name}`, () => {
    it(
      'sets a TTL on every key: sessions at expiresAt, tombstones later, the index at its max',
      withStore(async (store, prefix) => {
        const raw = fixture.raw();
        const near = makeSession('alice', { expiresAt: Date.now() + HOUR }).record;
        const far = makeSession('alice', { expiresAt: Date.now() + 3 * HOUR }).record;
        await store.create(near);
        await store.create(far);
        const next = makeSession('alice', { expiresAt: Date.now() + 2 * HOUR }).record;
        const tombstoneExpiresAt = Date.now() + 4 * HOUR;
        await store.rotate({
          previousId: near.id,
          next,
          graceUntil: Date.now(),
          tombstoneExpiresAt,
        });
        const ttl = (key: string) => raw.pTTL(key);
        const close = (actual: number, expectedAt: number) =>
          assert.ok(Math.abs(actual - (expectedAt - Date.now())) < 2000, `${actual}`);
        close(await ttl(sessionKey(prefix, far.id)), far.expiresAt);
        close(await ttl(sessionKey(prefix, next.id)), next.expiresAt);
        close(await ttl(sessionKey(prefix, near.id)), tombstoneExpiresAt);
        close(await ttl(userIndexKey(prefix, 'alice')), tombstoneExpiresAt);
        const renewed = Date.now() + 5 * HOUR;
        await store.touch(far.id, { lastSeenAt: Date.now(), expiresAt: renewed });
        close(await ttl(sessionKey(prefix, far.id)), renewed);
        close(await ttl(userIndexKey(prefix, 'alice')), renewed);
        for (const key of await raw.keys(`${prefix}*`)) assert.ok((await ttl(key)) > 0, key);
        await assertIndexesConsistent(raw, prefix);
      }),
    );

    it(
      'lets Redis expire sessions and their index by TTL',
      withStore(async (store, prefix) => {
        const raw = fixture.raw();
        const { record } = makeSession('alice', { expiresAt: Date.now() + 300 });
        await store.create(record);
        assert.equal((await store.get(record.id))?.id, record.id);
        await sleep(450);
        assert.deepEqual(await raw.keys(`${prefix}*`), []);
        assert.equal(await store.get(record.id), null);
      }),
    );

    it(
      'prunes index entries of expired sessions on create, and of vanished ones on list',
      withStore(async (store, prefix) => {
        const raw = fixture.raw();
        const index = userIndexKey(prefix, 'alice');
        const short = [1, 2, 3].map(
          () => makeSession('alice', { expiresAt: Date.now() + 200 }).record,
        );
        const long = makeSession('alice').record;
        for (const r of [...short, long]) await store.create(r);
        await sleep(300);
        assert.equal((await raw.zRange(index)).length, 4, 'entries outlive their keys until read');
        const another = makeSession('alice').record;
        await store.create(another);
        assert.deepEqual((await raw.zRange(index)).sort(), [long.id, another.id].sort());
        // A key removed behind the store's back (eviction, FLUSH): list drops its entry.
        await raw.del(sessionKey(prefix, long.id));
        assert.deepEqual(
          (await store.listByUser('alice')).map((s) => s.id),
          [another.id],
        );
        assert.deepEqual(await raw.zRange(index), [another.id]);
        await assertIndexesConsistent(raw, prefix);
      }),
    );

    it(
      'revoke-all follows a tombstone to its replacement even when its index read missed it',
      withStore(async (store, prefix) => {
        const raw = fixture.raw();
        const previous = makeSession('alice').record;
        const next = makeSession('alice').record;
        await store.create(previous);
        await store.rotate({
          previousId: previous.id,
          next,
          graceUntil: Date.now() + 1000,
          tombstoneExpiresAt: Date.now() + HOUR,
        });
        // What a revoke sees when it read the index just before the rotation indexed `next`.
        await raw.zRem(userIndexKey(prefix, 'alice'), next.id);
        assert.equal(await store.deleteByUser({ userId: 'alice' }), 1);
        assert.equal(await store.get(next.id), null, 'the replacement survived revoke-all');
        assert.equal((await storedSessions(raw, prefix)).size, 0);
      }),
    );

    it(
      'keeps a session small: MEMORY USAGE per session and per index entry',
      withStore(async (store, prefix) => {
        const raw = fixture.raw();
        const userId = makeSession('x').record.id; // a realistic 22-character user id
        const sessions = Array.from({ length: 10 }, () => makeSession(userId).record);
        for (const r of sessions) await store.create(r);
        const bytes = (await raw.memoryUsage(sessionKey(prefix, sessions[0]?.id ?? ''))) ?? 0;
        const index = (await raw.memoryUsage(userIndexKey(prefix, userId))) ?? 0;
        console.log(
          `# ${name}: ${bytes} bytes per session key (User-Agent ${sessions[0]?.userAgent?.length} chars), ` +
            `index of 10 sessions ${index} bytes (${Math.round(index / 10)} per session)`,
        );
        assert.ok(bytes > 0 && bytes < 512, `${bytes} bytes per session`);
        assert.ok(index / 10 < 128, `${index} bytes for an index of 10`);
      }),
    );

    it(
      'publishes the ids it invalidates on <prefix>inv, unless told not to',
      withStore(async (store, prefix) => {
        const feed = await fixture.subscribe(`${prefix}inv`);
        try {
          const [a, b, c, next] = [0, 1, 2, 3].map(() => makeSession('alice').record) as [
            SessionRecord,
            SessionRecord,
            SessionRecord,
            SessionRecord,
          ];
          for (const r of [a, b, c]) await store.create(r);
          await store.delete(a.id);
          const tombstoneExpiresAt = Date.now() + HOUR;
          await store.rotate({ previousId: b.id, next, graceUntil: 0, tombstoneExpiresAt });
          await store.deleteByUser({ userId: 'alice', exceptId: next.id });
          await waitUntil(() => feed.messages.length >= 3);
          // In any order: on a Cluster each PUBLISH may go through another node, and messages
          // sent through different nodes can overtake each other (the feed copes, see redis-feed).
          const byIds = (ids: string[][]) => ids.map((m) => m.sort().join()).sort();
          const published = feed.messages.map((m) => JSON.parse(m).sessionIds);
          assert.deepEqual(byIds(published), byIds([[a.id], [b.id], [b.id, c.id]]));
          const { store: quiet } = await fixture.store({
            keyPrefix: prefix,
            publishInvalidations: false,
          });
          await quiet.delete(next.id);
          await quiet.close();
          await sleep(100);
          assert.equal(feed.messages.length, 3);
        } finally {
          await feed.stop();
        }
      }),
    );
  });
}

async function waitUntil(check: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(10);
  }
}
