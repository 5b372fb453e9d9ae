import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createCluster } from 'redis';
import { StoreUnavailableError } from '../../src/core/errors.ts';
import { createRedisSessionStore, sessionKey, userIndexKey } from '../../src/stores/redis.ts';
import { redisCli, startRedisCluster } from '../support/redis.ts';
import { makeSession, sessionStoreContract } from './contract.ts';
import { type RedisFixture, redisBehaviour } from './redis-behaviour.ts';
import { rawCluster } from './redis-checks.ts';
import { redisRaces } from './redis-races.ts';

const cluster = await startRedisCluster({ masters: 3 });
const ports = cluster.nodes.map((node) => node.port);
const raw = await rawCluster(ports);
after(async () => {
  await raw.close();
  await cluster.stop();
});

const connectCluster = async () => {
  const connection = createCluster({
    rootNodes: ports.map((port) => ({ socket: { host: '127.0.0.1', port } })),
  });
  connection.on('error', () => {});
  await connection.connect();
  return connection;
};

let cases = 0;
const fresh = async (options = {}) => {
  const prefix = `c${++cases}:`;
  const store = await createRedisSessionStore(cluster.url, { keyPrefix: prefix, ...options });
  return { store, prefix };
};

sessionStoreContract(
  'redis cluster',
  async () => {
    const { store } = await fresh();
    return { store, cleanup: () => store.close() };
  },
  { sweepsByTtl: true },
);

const fixture: RedisFixture = {
  store: fresh,
  raw: () => raw,
  connect: connectCluster,
  subscribe: async (channel) => {
    const subscriber = await connectCluster();
    const messages: string[] = [];
    await subscriber.subscribe(channel, (message) => messages.push(message));
    return { messages, stop: () => subscriber.close() };
  },
};
redisBehaviour('3-master Cluster', fixture);
redisRaces('3-master Cluster', fixture);

const slot = async (key: string) =>
  Number(await redisCli(ports[0] ?? 0, 'CLUSTER', 'KEYSLOT', key));

describe('Redis session store: Cluster slots', () => {
  it("keeps each user's keys on the user's hash-tag slot, odd user ids included", async () => {
    for (const userId of ['alice', 'a}b', '{x}', 'ユーザー', '']) {
      const tag = await slot(`{u:${userId}}`.replace(/}.*$/, '}'));
      assert.equal(await slot(userIndexKey('cc:', userId)), tag, userId);
      // Any other per-user key added later (e.g. a generation counter) would share it.
      assert.equal(await slot(`cc:{u:${userId}}:anything-else`), tag, userId);
    }
  });

  it('spreads sessions over the masters: no slot, and no node, holds a user hostage', async () => {
    const { store, prefix } = await fresh();
    const sessions = Array.from({ length: 30 }, () => makeSession('alice').record);
    for (const r of sessions) await store.create(r);
    const slots = new Set(await Promise.all(sessions.map((r) => slot(sessionKey(prefix, r.id)))));
    assert.ok(slots.size > 20, `${slots.size} slots`);
    const owners = new Set<number>();
    for (const node of cluster.nodes) {
      const found = await redisCli(node.port, '--scan', '--pattern', `${prefix}s:*`);
      if (found !== '') owners.add(node.port);
    }
    assert.equal(owners.size, 3);
    assert.equal(await store.deleteByUser({ userId: 'alice' }), 30);
    await store.close();
  });
});

describe('Redis session store: Cluster outage', () => {
  it('rejects promptly for a dead master, never crashes, and recovers when it rejoins', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const { store, prefix } = await fresh();
    try {
      // A session whose key lives on node 0 (elsewhere node 0 answers MOVED).
      const port = ports[0] ?? 0;
      let record = makeSession('alice').record;
      for (;;) {
        await store.create(record);
        const here = await redisCli(port, 'EXISTS', sessionKey(prefix, record.id)).catch(() => '');
        if (here === '1') break;
        record = makeSession('alice').record;
      }
      await cluster.killNode(0);
      for (let i = 0; i < 3; i++) {
        const started = Date.now();
        await assert.rejects(store.get(record.id), StoreUnavailableError);
        assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
        await sleep(100);
      }
      await cluster.nodes[0]?.restart();
      const deadline = Date.now() + 15_000;
      let answered = false;
      while (!answered && Date.now() < deadline) {
        answered = await store.get(record.id).then(
          () => true,
          () => false,
        );
        if (!answered) await sleep(100);
      }
      assert.ok(answered, 'the store answers again once the master is back');
      await sleep(10);
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await store.close();
    }
  });
});
