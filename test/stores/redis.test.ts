import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'redis';
import { StoreUnavailableError } from '../../src/core/errors.ts';
import { createRedisSessionStore, RedisSessionStore } from '../../src/stores/redis.ts';
import { parseRedisUrl } from '../../src/stores/redis-connect.ts';
import { sessionKey } from '../../src/stores/redis-layout.ts';
import { freePort } from '../support/processes.ts';
import { redisCli, startRedis, startRedisSentinel } from '../support/redis.ts';
import { makeSession, sessionStoreContract } from './contract.ts';
import { type RedisFixture, redisBehaviour } from './redis-behaviour.ts';
import { rawStandalone } from './redis-checks.ts';
import { redisRaces } from './redis-races.ts';

const server = await startRedis();
// With a replica: through Sentinel a revocation resolves once a replica holds it (WAIT).
const sentinel = await startRedisSentinel('coatcheck', { replicas: 1 });
const raw = await rawStandalone(server.url);
after(async () => {
  await raw.close();
  await server.stop();
  await sentinel.stop();
});

let cases = 0;
/** Each case gets its own key prefix: no FLUSHALL, no interference between cases. */
const fresh = async (options = {}) => {
  const prefix = `t${++cases}:`;
  const store = await createRedisSessionStore(server.url, { keyPrefix: prefix, ...options });
  return { store, prefix };
};

sessionStoreContract(
  'redis',
  async () => {
    const { store } = await fresh();
    return { store, cleanup: () => store.close() };
  },
  { sweepsByTtl: true },
);

// Through createSentinel: the Sentinel names the master, the store talks to it.
sessionStoreContract(
  'redis sentinel',
  async () => {
    const store = await createRedisSessionStore(sentinel.url, { keyPrefix: `t${++cases}:` });
    return { store, cleanup: () => store.close() };
  },
  { sweepsByTtl: true },
);

const fixture: RedisFixture = {
  store: fresh,
  raw: () => raw,
  connect: async () => {
    const client = createClient({ url: server.url });
    await client.connect();
    return client;
  },
  subscribe: async (channel) => {
    const subscriber = createClient({ url: server.url });
    await subscriber.connect();
    const messages: string[] = [];
    await subscriber.subscribe(channel, (message) => messages.push(message));
    return { messages, stop: () => subscriber.close() };
  },
};
redisBehaviour('standalone', fixture);
redisRaces('standalone', fixture);

describe('Redis session store: standalone specifics', () => {
  it('stores the secret hash, never the secret or the token', async () => {
    const { store, prefix } = await fresh();
    const { record, secret, token } = makeSession('alice');
    await store.create(record);
    const stored = (await raw.get(sessionKey(prefix, record.id))) ?? '';
    assert.ok(stored.includes(Buffer.from(record.secretHash).toString('base64url')));
    assert.ok(!stored.includes(secret) && !stored.includes(token));
    await store.close();
  });

  it('reloads its scripts after SCRIPT FLUSH (EVALSHA → NOSCRIPT → EVAL)', async () => {
    const { store } = await fresh();
    const { record } = makeSession('alice');
    await store.create(record);
    await redisCli(server.port, 'SCRIPT', 'FLUSH');
    await store.touch(record.id, { lastSeenAt: Date.now(), expiresAt: Date.now() + 60_000 });
    assert.equal(await store.deleteByUser({ userId: 'alice' }), 1);
    await store.close();
  });

  it('refuses to rotate a session into another user, writing nothing', async () => {
    const { store } = await fresh();
    const previous = makeSession('alice').record;
    const next = makeSession('mallory').record;
    await store.create(previous);
    const args = { previousId: previous.id, next, graceUntil: 0, tombstoneExpiresAt: 0 };
    assert.equal(await store.rotate(args), false);
    assert.equal(await store.get(next.id), null);
    assert.equal((await store.get(previous.id))?.replacedBy, null);
    await store.close();
  });

  it('fails fast with store_unavailable when nothing listens at creation', async () => {
    for (const scheme of ['redis', 'redis+cluster']) {
      const started = Date.now();
      const url = `${scheme}://127.0.0.1:${await freePort()}`;
      await assert.rejects(createRedisSessionStore(url), StoreUnavailableError);
      assert.ok(Date.now() - started < 2000, scheme);
    }
  });

  it('takes an existing client, and closes it', async () => {
    const client = createClient({ url: server.url });
    await client.connect();
    const store = new RedisSessionStore(client, { keyPrefix: `t${++cases}:` });
    const { record } = makeSession('alice');
    await store.create(record);
    assert.equal((await store.get(record.id))?.id, record.id);
    await store.close();
    await store.close();
    assert.equal(client.isOpen, false);
    await assert.rejects(store.get(record.id), { code: 'store_unavailable' });
  });
});

describe('Redis session store: revocations through Sentinel', () => {
  const key = (prefix: string, id: string) => sessionKey(prefix, id);
  const storeOnSentinel = async () => {
    const prefix = `t${++cases}:`;
    const statuses: boolean[] = [];
    const store = await createRedisSessionStore(sentinel.url, {
      keyPrefix: prefix,
      timeoutMs: 400,
      onStatus: ({ up }) => statuses.push(up),
    });
    return { store, prefix, statuses };
  };

  it('resolves a revocation once the replica holds it', async () => {
    const { store, prefix } = await storeOnSentinel();
    try {
      const [replica] = sentinel.replicas;
      assert.ok(replica);
      const records = ['u-one', 'u-all', 'u-one'].map((user) => makeSession(user).record);
      for (const r of records) await store.create(r);
      await store.delete(records[0]?.id as string);
      await store.deleteByUser({ userId: 'u-all' });
      const gone = [records[0]?.id, records[1]?.id].map((id) => key(prefix, id as string));
      assert.equal(await redisCli(replica.port, 'EXISTS', ...gone), '0');
      assert.equal(
        await redisCli(replica.port, 'EXISTS', key(prefix, records[2]?.id as string)),
        '1',
      );
    } finally {
      await store.close();
    }
  });

  it('fails a revocation no replica acknowledges (the master may be deposed), with no outage', async () => {
    const { store, statuses } = await storeOnSentinel();
    const [replica] = sentinel.replicas;
    assert.ok(replica);
    const record = makeSession('u-one').record;
    const other = makeSession('u-other').record;
    const kept = makeSession('u-kept').record;
    try {
      for (const r of [record, other, kept]) await store.create(r);
      replica.pause(); // SIGSTOP: connected, but it never acknowledges
      try {
        await assert.rejects(store.delete(record.id), (error: unknown) => {
          assert.ok(error instanceof StoreUnavailableError);
          assert.match(error.message, /not confirmed: 0 of 1 replicas/);
          return true;
        });
        await assert.rejects(store.deleteByUser({ userId: other.userId }), StoreUnavailableError);
        // Reads and other writes go on meanwhile: the master answers. (The unconfirmed deletes
        // may well have happened: unconfirmed is not undone.)
        assert.equal((await store.get(kept.id))?.id, kept.id);
        await store.create(makeSession('u-one').record);
      } finally {
        replica.resume();
      }
      assert.deepEqual(statuses, [], 'no outage reported: Redis answered throughout');
      await store.delete(record.id); // a retry once the replica answers again
      assert.equal(await store.get(record.id), null);
    } finally {
      await store.close();
    }
  });
});

describe('Redis session store: outage', () => {
  it('rejects promptly while Redis is down, never crashes, and recovers with AOF data intact', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const durable = await startRedis({ appendonly: true });
    const statuses: boolean[] = [];
    const store = await createRedisSessionStore(durable.url, {
      onStatus: (status) => statuses.push(status.up),
    });
    try {
      const { record } = makeSession('alice');
      await store.create(record);
      const inFlight = store.listByUser('alice').catch((error: unknown) => error);
      await durable.kill();
      await inFlight;
      for (let i = 0; i < 3; i++) {
        const started = Date.now();
        await assert.rejects(store.get(record.id), (error: StoreUnavailableError) => {
          assert.equal(error.code, 'store_unavailable');
          assert.ok(error.cause instanceof Error, 'the cause is kept');
          return true;
        });
        assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
        await assert.rejects(store.create(makeSession('bob').record), StoreUnavailableError);
        // The server's periodic sweep asks Redis nothing (keys expire by TTL): it must not pass
        // for a sign that Redis is back.
        assert.equal(await store.sweep(Date.now()), 0);
        await sleep(100);
      }
      assert.deepEqual(statuses, [false], 'one status change per outage');
      await durable.restart();
      const deadline = Date.now() + 5000;
      let recovered = null;
      while (recovered === null && Date.now() < deadline) {
        recovered = await store.get(record.id).catch(() => null);
        if (recovered === null) await sleep(50);
      }
      assert.equal(recovered?.id, record.id, 'the acknowledged session survived (AOF)');
      assert.deepEqual(statuses, [false, true]);
      assert.equal(await store.deleteByUser({ userId: 'alice' }), 1);
      await sleep(10);
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await store.close();
      await durable.stop();
    }
  });
});

describe('Redis session store: hung server', () => {
  it('rejects calls to a hung server after timeoutMs, and works again once it answers', async () => {
    const hung = await startRedis();
    const statuses: boolean[] = [];
    const store = await createRedisSessionStore(hung.url, {
      timeoutMs: 300,
      onStatus: (status) => statuses.push(status.up),
    });
    try {
      const { record } = makeSession('alice');
      await store.create(record);
      hung.pause();
      const started = Date.now();
      const calls = [store.get(record.id), store.deleteByUser({ userId: 'alice' })];
      for (const call of calls) await assert.rejects(call, { code: 'store_unavailable' });
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 290 && elapsed < 600, `took ${elapsed} ms`);
      hung.resume();
      // A timed-out call is not undone: its queued commands (the revoke) still run, in order.
      const deadline = Date.now() + 2000;
      while ((await store.get(record.id)) !== null && Date.now() < deadline) await sleep(20);
      assert.equal(await store.get(record.id), null);
      assert.deepEqual(statuses, [false, true]);
    } finally {
      hung.resume();
      await store.close();
      await hung.stop();
    }
  });
});

describe('parseRedisUrl', () => {
  it('reads the three topologies, credentials and TLS', () => {
    assert.deepEqual(parseRedisUrl('rediss://u:p@h:6380/2'), {
      kind: 'standalone',
      url: 'rediss://u:p@h:6380/2',
    });
    assert.deepEqual(parseRedisUrl('redis+sentinel://:s%40cret@a:26379,b/mymaster'), {
      kind: 'sentinel',
      tls: false,
      hosts: [
        { host: 'a', port: 26379 },
        { host: 'b', port: 26379 },
      ],
      name: 'mymaster',
      password: 's@cret',
    });
    assert.deepEqual(parseRedisUrl('rediss+cluster://app:a:b@[::1]:7000,10.0.0.2:7001'), {
      kind: 'cluster',
      tls: true,
      hosts: [
        { host: '::1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
      ],
      name: '',
      username: 'app',
      password: 'a:b',
    });
  });

  it('refuses malformed URLs with invalid_config, never echoing a password', () => {
    for (const url of [
      'http://h',
      'redis+sentinel://h:1',
      'redis+cluster://',
      'redis+cluster://h:port',
      'redis+cluster://user:hunter2@h:1:2',
    ]) {
      assert.throws(
        () => parseRedisUrl(url),
        (error: Error & { code?: string }) =>
          error.code === 'invalid_config' && !error.message.includes('hunter2'),
        url,
      );
    }
  });
});
