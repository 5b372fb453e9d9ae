import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SessionEngine } from '../../src/core/engine.ts';
import { StoreUnavailableError } from '../../src/core/errors.ts';
import { MemoryUserStore } from '../../src/stores/memory.ts';
import { createRedisSessionStore } from '../../src/stores/redis.ts';
import { RedisInvalidationFeed } from '../../src/stores/redis-feed.ts';
import { startRedis } from '../support/redis.ts';

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

/** Two "nodes": each its own store connection, feed and engine; one Redis, one user table. */
async function twoNodes() {
  const keyPrefix = `feed${++cases}:`;
  const users = new MemoryUserStore();
  await users.create(user);
  const node = async () => {
    const store = await createRedisSessionStore(server.url, { keyPrefix });
    const feed = new RedisInvalidationFeed(server.url, {
      keyPrefix,
      heartbeatMs: 50,
      deadlineMs: 300,
    });
    const engine = new SessionEngine({ store, users, nearCache: { feed } });
    closers.push(
      () => engine.close(),
      () => store.close(),
    );
    return engine;
  };
  const a = await node();
  const b = await node();
  await until(() => a.nearCache?.live === true && b.nearCache?.live === true, 'feeds live');
  return { a, b, users };
}

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 3000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await sleep(5);
  }
}

describe('near cache over Redis pub/sub', () => {
  it('rejects on node B, within milliseconds, a session revoked on node A that B had cached', async () => {
    const { a, b } = await twoNodes();
    const { token, session } = await a.create(user);
    assert.ok((await b.validate(token)).ok);
    assert.equal(b.nearCache?.size, 1);
    await a.revoke(session.id);
    const revokedAt = performance.now();
    await until(async () => !(await b.validate(token)).ok, 'B rejects', 100);
    assert.ok(performance.now() - revokedAt < 100);
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
