import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'redis';
import { SessionEngine } from '../../src/core/engine.ts';
import { StoreUnavailableError } from '../../src/core/errors.ts';
import type { Invalidation } from '../../src/core/near-cache.ts';
import { MemoryUserStore } from '../../src/stores/memory.ts';
import { createRedisSessionStore } from '../../src/stores/redis.ts';
import { RedisInvalidationFeed } from '../../src/stores/redis-feed.ts';
import { invalidationChannel } from '../../src/stores/redis-layout.ts';
import { startRedis, startRedisSentinel } from '../support/redis.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';

const server = await startRedis();
const closers: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
  await server.stop();
});

let cases = 0;
const user = {
  id: 'u1',
  email: 'u1@example.com',
  name: null,
  roles: ['admin', 'user'],
  locked: false,
  passwordHash: 'x',
  passwordChangedAt: 0,
  createdAt: 0,
};

/**
 * Two "nodes": each its own store connection, feed and engine; one Redis, one user table. Each
 * feed may reach Redis through its own link (`feedUrlA`, `feedUrlB`: a proxy). Returns once both
 * feeds are live and know each other.
 */
async function twoNodes(options: { url?: string; feedUrlA?: string; feedUrlB?: string } = {}) {
  const url = options.url ?? server.url;
  const keyPrefix = `feed${++cases}:`;
  const users = new MemoryUserStore();
  await users.create(user);
  const node = async (feedUrl: string) => {
    const store = await createRedisSessionStore(url, { keyPrefix });
    const feed = new RedisInvalidationFeed(feedUrl, {
      keyPrefix,
      heartbeatMs: 50,
      deadlineMs: 300,
    });
    const engine = new SessionEngine({ store, users, nearCache: { feed } });
    closers.push(
      () => engine.close(),
      () => store.close(),
    );
    return { engine, feed };
  };
  const a = await node(options.feedUrlA ?? url);
  const b = await node(options.feedUrlB ?? url);
  await until(
    () => a.engine.nearCache?.live === true && b.engine.nearCache?.live === true,
    'feeds live',
  );
  await until(() => a.feed.peers === 1 && b.feed.peers === 1, 'feeds know each other');
  return { a: a.engine, b: b.engine, feedA: a.feed, users, keyPrefix, url };
}

/**
 * A session of A's, cached by B, then deleted behind the feeds' backs: an invalidation B never
 * hears. Returns its token.
 */
async function cachedOnBThenLost(nodes: {
  a: SessionEngine;
  b: SessionEngine;
  keyPrefix: string;
  url: string;
}) {
  const { token, session } = await nodes.a.create(user);
  assert.ok((await nodes.b.validate(token)).ok);
  assert.equal(nodes.b.nearCache?.size, 1);
  const { keyPrefix, url } = nodes;
  const quiet = await createRedisSessionStore(url, { keyPrefix, publishInvalidations: false });
  closers.push(() => quiet.close());
  await quiet.delete(session.id);
  return token;
}

/**
 * Another node as the feed sees it, played by hand: numbered heartbeats published on the channel,
 * some of them never sent (lost on the way), or sent out of order.
 */
async function ghostNode(url: string, keyPrefix: string) {
  const client = createClient({ url });
  client.on('error', () => {}); // a later test restarts Redis
  await client.connect();
  closers.push(() => client.close());
  const channel = invalidationChannel(keyPrefix);
  return (n: number, peer: { acks: 0 | 1; deadline?: number } = { acks: 0 }) =>
    client.publish(channel, JSON.stringify({ beat: 'ghost', ...peer, n }));
}

/** A node's link to the test Redis, through a TCP proxy that holds back what Redis sends. */
async function proxyLink(delayMs = 0) {
  const proxy = await startTcpProxy(Number(new URL(server.url).port), { delayMs });
  closers.push(async () => proxy.close());
  return { ...proxy, url: `redis://127.0.0.1:${proxy.port}` };
}

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 3000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await sleep(5);
  }
}

describe('near cache over Redis pub/sub', () => {
  it('rejects on node B, at its very next request, a session revoked on node A that B had cached', async () => {
    const { a, b } = await twoNodes();
    const { token, session } = await a.create(user);
    assert.ok((await b.validate(token)).ok);
    assert.equal(b.nearCache?.size, 1);
    await a.revoke(session.id);
    assert.equal((await b.validate(token)).ok, false);
  });

  it('goes down, flushing its cache, when a message of another node never arrives though later ones do', async () => {
    // A swapped subscription (Sentinel switchover) or a dropped Cluster bus message loses
    // messages without silencing the feed: B's own heartbeats still come back.
    const nodes = await twoNodes();
    const { b, keyPrefix, url } = nodes;
    const token = await cachedOnBThenLost(nodes);
    assert.ok((await b.validate(token)).ok, 'served from the cache (the premise)');
    const ghost = await ghostNode(url, keyPrefix);
    await ghost(0);
    await ghost(2); // 1 never arrives
    // Down at B's next heartbeat after the gap was seen a heartbeat long: the cache is flushed.
    // (Live again a moment later, when the heartbeat it sends then comes back.)
    await until(async () => !(await b.validate(token)).ok, 'B refuses the session', 1000);
    await until(() => b.nearCache?.live === true, 'B live again by itself');
    assert.equal((await b.validate(token)).ok, false);
  });

  it('stays live when messages of a node arrive out of order (sent through different nodes)', async () => {
    const { b, keyPrefix, url } = await twoNodes();
    const states: boolean[] = [];
    const ghost = await ghostNode(url, keyPrefix);
    await ghost(0);
    await ghost(2);
    await ghost(1);
    await ghost(3);
    const watch = setInterval(() => states.push(b.nearCache?.live === true), 5);
    await sleep(400); // 8 heartbeat periods
    clearInterval(watch);
    assert.ok(states.length > 0 && states.every(Boolean), 'B stayed live');
  });

  it('acknowledges a revocation only once a node that hears of it late has evicted it', async () => {
    // B's feed hears everything 100 ms late. Without acks, A's revoke would return at once and
    // B would serve the session from its cache for those 100 ms.
    const { a, b } = await twoNodes({ feedUrlB: (await proxyLink(100)).url });
    const { token, session } = await a.create(user);
    assert.ok((await b.validate(token)).ok);
    assert.equal(b.nearCache?.size, 1);
    const started = performance.now();
    await a.revoke(session.id);
    assert.ok(performance.now() - started >= 90, 'the revoke waited for B');
    assert.equal(b.nearCache?.size, 0);
    assert.equal((await b.validate(token)).ok, false);
  });

  it('goes down while a node it heard is silent, though it hears itself, until that node is forgotten', async () => {
    // Through Sentinel each connection moves to the new master on its own: for a while B's
    // publisher and subscriber can both be on the old one (B hears itself) while A's publisher is
    // on the new one, so B misses A's invalidations and A's heartbeats alike.
    const { a, b, keyPrefix, url } = await twoNodes();
    const ghost = await ghostNode(url, keyPrefix);
    for (let n = 0; n < 4; n++) {
      await ghost(n, { acks: 1, deadline: 300 });
      await sleep(50);
    }
    const token = await cachedOnBThenLost({ a, b, keyPrefix, url }); // the ghost's invalidation
    const silentSince = performance.now();
    await until(() => b.nearCache?.live === false, 'B down: the ghost went silent', 1000);
    // Past the ghost's 300 ms deadline, checked every 50 ms; before a publish's 400 ms window.
    assert.ok(performance.now() - silentSince < 400);
    assert.equal((await b.validate(token)).ok, false);
    // Forgotten after ten of its deadlines (a crash): live again without it.
    await until(() => b.nearCache?.live === true, 'B live again', 5000);
    assert.ok(performance.now() - silentSince >= 2500, 'stayed down while the ghost counted');
  });

  it('does not wait for, nor go down over, a node that closed (it says goodbye)', async () => {
    const { a, b, feedA } = await twoNodes();
    const { session } = await a.create(user);
    await sleep(400); // past A's start-up window (300 + 50 ms), when a publish waits regardless
    await b.close(); // B stops answering and heartbeating, but A heard it a moment ago
    const started = performance.now();
    await a.revoke(session.id);
    const waited = performance.now() - started;
    assert.ok(waited < 100, `waited ${Math.round(waited)} ms for a node that said goodbye`);
    assert.equal(feedA.peers, 0);
    await sleep(500); // past B's deadline
    assert.equal(a.nearCache?.live, true);
    const { session: next } = await a.create(user);
    const again = performance.now();
    await a.revoke(next.id);
    assert.ok(performance.now() - again < 100, 'no peer left to wait for');
  });

  it('with its own subscription silently dead, acknowledges a revocation only after the silent window', async () => {
    // A's subscriber hears nothing more while its publisher works: A's feed goes down and, after
    // the window, A forgets B. A cannot hear B's ack, so it waits until B, 100 ms late on its
    // link, has heard the revocation; the old code answered at once and B served the session.
    const linkA = await proxyLink();
    const { a, b, feedA } = await twoNodes({
      feedUrlA: linkA.url,
      feedUrlB: (await proxyLink(100)).url,
    });
    linkA.silenceSubscribers();
    await until(() => a.nearCache?.live === false && feedA.peers === 0, 'A down, B forgotten');
    const { token, session } = await a.create(user);
    assert.ok((await b.validate(token)).ok);
    assert.equal(b.nearCache?.size, 1);
    const started = performance.now();
    await a.revoke(session.id);
    assert.equal(b.nearCache?.size, 0, 'B evicted before A answered');
    assert.equal((await b.validate(token)).ok, false);
    assert.ok(performance.now() - started >= 400, 'the silent window: 300 + 2 × 50 ms');
  });

  it('replaces a subscription that went silent, and is live again by itself', async () => {
    // Nothing errors on a connection that merely stops delivering; without a replacement the
    // node would bypass its cache, and wait out every revocation, until restarted.
    const linkA = await proxyLink();
    const { a, b, feedA } = await twoNodes({ feedUrlA: linkA.url });
    linkA.silenceSubscribers();
    await until(() => a.nearCache?.live === false, 'A down');
    await until(() => a.nearCache?.live === true && feedA.peers === 1, 'A live again', 5000);
    const { token, session } = await a.create(user);
    assert.ok((await a.validate(token)).ok);
    assert.equal(a.nearCache?.size, 1, 'A caches again');
    assert.ok((await b.validate(token)).ok);
    const started = performance.now();
    await b.revoke(session.id);
    assert.ok(performance.now() - started < 300, 'B heard A ack again');
    assert.equal((await a.validate(token)).ok, false);
  });

  it('waits, right after going live, for a peer it has not heard from yet', async () => {
    const keyPrefix = `feed${++cases}:`;
    // B hears everything 100 ms late and heartbeats every 2 s only: A, started after B's first
    // heartbeat, goes live without knowing B, and B has not evicted by the time A publishes.
    const heardByB: Invalidation[] = [];
    let liveB = false;
    const feedB = new RedisInvalidationFeed((await proxyLink(100)).url, {
      keyPrefix,
      heartbeatMs: 2000,
      deadlineMs: 5000,
    });
    closers.push(() => feedB.close());
    feedB.subscribe({
      onMessage: (invalidation) => heardByB.push(invalidation),
      onState: (live) => {
        liveB = live;
      },
    });
    await until(() => liveB, 'B live');
    const feedA = new RedisInvalidationFeed(server.url, {
      keyPrefix,
      heartbeatMs: 50,
      deadlineMs: 300,
    });
    closers.push(() => feedA.close());
    let peersOfA = -1;
    const published = new Promise<void>((resolve, reject) => {
      feedA.subscribe({
        onMessage() {},
        onState: (live) => {
          if (!live || peersOfA !== -1) return;
          peersOfA = feedA.peers;
          feedA.publish({ sessionIds: ['s1'] }).then(resolve, reject);
        },
      });
    });
    await published;
    assert.equal(peersOfA, 0, 'A published before hearing of B');
    assert.deepEqual(
      heardByB.map((invalidation) => invalidation.sessionIds),
      [['s1']],
      'B evicted before A resolved',
    );
  });

  it('when its feed goes down while waiting for acks, answers after the silent window', async () => {
    const linkA = await proxyLink();
    // B hears 200 ms late: A's revoke is still waiting for B's ack when A's link drops, and B
    // has not evicted yet.
    const { a, b } = await twoNodes({ feedUrlA: linkA.url, feedUrlB: (await proxyLink(200)).url });
    const { token, session } = await a.create(user);
    assert.ok((await b.validate(token)).ok);
    const revoked = a.revoke(session.id);
    await sleep(50);
    linkA.drop();
    await revoked;
    assert.equal(b.nearCache?.size, 0, 'B evicted before A answered');
    assert.equal((await b.validate(token)).ok, false);
  });

  it('shows a role change made on node A at the next request on node B', async () => {
    const { a, b, users } = await twoNodes();
    const { token } = await a.create(user);
    assert.ok((await b.validate(token)).ok);
    await users.update('u1', { roles: ['user'] });
    await a.invalidateUser('u1');
    await until(
      async () => {
        const r = await b.validate(token);
        return r.ok && !r.user.roles.includes('admin');
      },
      'B sees the demotion',
      100,
    );
    await users.update('u1', { roles: user.roles });
  });

  it('goes down, flushes and fails closed when Redis dies; recovers by itself', async () => {
    const { a, b } = await twoNodes();
    const { token } = await a.create(user);
    assert.ok((await b.validate(token)).ok);
    await server.kill();
    await until(() => b.nearCache?.live === false, 'feed down');
    assert.equal(b.nearCache?.size, 0);
    await assert.rejects(b.validate(token), StoreUnavailableError);
    await server.restart();
    await until(() => b.nearCache?.live === true, 'feed live again', 10_000);
    // Without AOF the restarted server lost the session: refused, never served from a cache. The
    // store's own connection may reconnect a moment after the feed's: until then it fails closed.
    await until(
      async () => (await b.validate(token).catch(() => ({ ok: 'retry' }))).ok === false,
      'the store answers again, refusing the lost session',
      10_000,
    );
  });

  it('notices a hung server within the heartbeat deadline and stops serving from the cache', async () => {
    const { a, b } = await twoNodes();
    const { token } = await a.create(user);
    assert.ok((await b.validate(token)).ok);
    server.pause();
    try {
      await until(() => b.nearCache?.live === false, 'feed down on a hung server', 2000);
      assert.equal(b.nearCache?.size, 0);
    } finally {
      server.resume();
    }
    await until(() => b.nearCache?.live === true, 'feed live again', 5000);
  });

  it('works through Sentinel: live, and a revocation is refused on the other node at once', async () => {
    const sentinel = await startRedisSentinel('coatcheck-feed', { replicas: 1 });
    closers.push(() => sentinel.stop());
    const { a, b } = await twoNodes({ url: sentinel.url });
    const { token, session } = await a.create(user);
    assert.ok((await b.validate(token)).ok);
    assert.equal(b.nearCache?.size, 1);
    await a.revoke(session.id);
    assert.equal((await b.validate(token)).ok, false);
  });

  it('through Sentinel too, replaces a subscription that went silent, and is live again by itself', async () => {
    // The Sentinel names a proxy as the master, so the proxy can silence every subscription.
    const sentinel = await startRedisSentinel('coatcheck-silent', { proxied: true, replicas: 1 });
    closers.push(() => sentinel.stop());
    const { a, b, feedA } = await twoNodes({ url: sentinel.url });
    sentinel.proxy?.silenceSubscribers();
    await until(() => a.nearCache?.live === false, 'A down');
    await until(
      () => a.nearCache?.live === true && b.nearCache?.live === true && feedA.peers === 1,
      'both live again',
      5000,
    );
    await sleep(500); // past the silent window: a feed just live also waits for peers unheard yet
    const { token, session } = await a.create(user);
    assert.ok((await b.validate(token)).ok);
    assert.equal(b.nearCache?.size, 1, 'B caches again');
    const started = performance.now();
    await a.revoke(session.id);
    assert.ok(
      performance.now() - started < 300,
      `A heard B ack again: ${performance.now() - started} ms`,
    );
    assert.equal((await b.validate(token)).ok, false);
  });

  it('refuses to publish while Redis is unreachable', async () => {
    const feed = new RedisInvalidationFeed(server.url, {
      keyPrefix: 'pub:',
      connectTimeoutMs: 200,
    });
    closers.push(() => feed.close());
    feed.subscribe({ onMessage() {}, onState() {} });
    await server.kill();
    await assert.rejects(feed.publish({ sessionIds: ['x'] }), StoreUnavailableError);
    await server.restart();
  });
});
