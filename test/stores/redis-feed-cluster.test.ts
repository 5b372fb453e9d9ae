import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SessionEngine } from '../../src/core/engine.ts';
import { MemoryUserStore } from '../../src/stores/memory.ts';
import { createRedisSessionStore } from '../../src/stores/redis.ts';
import { RedisInvalidationFeed } from '../../src/stores/redis-feed.ts';
import { redisCli, startRedisCluster } from '../support/redis.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';

// The feed's subscriber in a Cluster, cut off without a sound (a partition that sends no RST).
// Each Cluster node sits behind a TCP proxy and announces the proxy's port (cluster-announce-port),
// so every client connection, the feed's subscriber included, runs through a proxy that can drop
// what Redis sends to it.

const cluster = await startRedisCluster();
const proxies = await Promise.all(cluster.nodes.map((node) => startTcpProxy(node.port)));
const closers: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
  for (const p of proxies) p.close();
  await cluster.stop();
});
for (const [i, node] of cluster.nodes.entries()) {
  await redisCli(node.port, 'CONFIG', 'SET', 'cluster-announce-port', String(proxies[i]?.port));
}
await until(
  async () => {
    const slots = await Promise.all(cluster.nodes.map((n) => redisCli(n.port, 'CLUSTER', 'SLOTS')));
    return slots.every((s) => proxies.every((p) => s.includes(String(p.port))));
  },
  'every node announcing its proxy',
  10_000,
);
const url = `redis+cluster://${proxies.map((p) => `127.0.0.1:${p.port}`).join(',')}`;

const user = {
  id: 'u1',
  email: 'u1@example.com',
  name: null,
  roles: ['user'],
  locked: false,
  passwordHash: 'x',
  passwordChangedAt: 0,
  createdAt: 0,
};

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 3000) {
  const deadline = Date.now() + ms;
  while (
    !(await Promise.resolve()
      .then(check)
      .catch(() => false))
  ) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await sleep(5);
  }
}

describe('near cache over Redis Cluster pub/sub', () => {
  it('replaces a subscription that went silent (no RST), and is live again by itself', async () => {
    // Nothing errors on a connection that merely stops delivering; without an idle timeout on
    // the Cluster subscriber, the node would bypass its cache, and wait out every revocation,
    // until restarted.
    const keyPrefix = 'silent:';
    const users = new MemoryUserStore();
    await users.create(user);
    const store = await createRedisSessionStore(url, { keyPrefix });
    const feed = new RedisInvalidationFeed(url, { keyPrefix, heartbeatMs: 50, deadlineMs: 300 });
    const engine = new SessionEngine({ store, users, nearCache: { feed } });
    closers.push(
      () => engine.close(),
      () => store.close(),
    );
    await until(() => engine.nearCache?.live === true, 'feed live');
    const { token } = await engine.create(user);
    assert.ok((await engine.validate(token)).ok);
    assert.equal(engine.nearCache?.size, 1);

    for (const p of proxies) p.silenceSubscribers();
    await until(() => engine.nearCache?.live === false, 'feed down within the deadline', 1000);
    assert.equal(engine.nearCache?.size, 0, 'cache flushed');
    assert.ok((await engine.validate(token)).ok);
    assert.equal(engine.nearCache?.size, 0, 'cache bypassed while down');

    // Replaced after 2 × 300 ms of silence, then live at the next heartbeat.
    await until(() => engine.nearCache?.live === true, 'feed live again', 5000);
    assert.ok((await engine.validate(token)).ok);
    assert.equal(engine.nearCache?.size, 1, 'caches again');
  });

  it('notices a frozen pub/sub node (SIGSTOP) within the deadline, and is live again once it resumes', async () => {
    const keyPrefix = 'frozen:';
    let live = false;
    const feed = new RedisInvalidationFeed(url, { keyPrefix, heartbeatMs: 50, deadlineMs: 300 });
    closers.push(() => feed.close());
    feed.subscribe({
      onMessage() {},
      onState: (state) => {
        live = state;
      },
    });
    await until(() => live, 'feed live');
    const counts = await Promise.all(
      cluster.nodes.map((n) => redisCli(n.port, 'PUBSUB', 'NUMSUB', `${keyPrefix}inv`)),
    );
    const frozen = cluster.nodes[counts.findIndex((c) => c.endsWith('\n1'))];
    assert.ok(frozen, 'the node holding the subscription');
    frozen.pause();
    try {
      await until(() => !live, 'feed down on a frozen node', 1000);
      await sleep(1000); // the subscriber's 600 ms idle timeout fires meanwhile
      assert.equal(live, false);
    } finally {
      frozen.resume();
    }
    await until(() => live, 'feed live again', 10_000);
  });
});
