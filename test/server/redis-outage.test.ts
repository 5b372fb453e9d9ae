import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  assertHealthyProcess,
  assertUnavailable,
  PW,
  signIn,
  signUp,
  whoAmI,
} from '../multinode/stack.ts';
import { eventually, type ServerNode, startNode } from '../support/nodes.ts';
import {
  type RedisSentinel,
  type RedisServer,
  redisCli,
  startRedis,
  startRedisSentinel,
} from '../support/redis.ts';

// Fail closed when the whole Redis goes away under one server process (sessions in a standalone
// Redis, near cache on, users in the embedded SQLite): every request that needs a session answers
// 503 problem+json and keeps the cookie (never a 401 that would sign the user out, never a
// cleared cookie), /readyz says not ready, the log says so once, and the process lives on. When
// Redis is back (AOF with `appendfsync always`: every acknowledged session survives its SIGKILL)
// the same cookie works again, without restarting the server.

const STORE = 'redis';
const FEED = 'redis pub/sub (near cache)';

describe('one server on a standalone Redis that dies and comes back', { timeout: 60_000 }, () => {
  let redis: RedisServer;
  let node: ServerNode;

  before(async () => {
    redis = await startRedis({ appendonly: true });
    node = await startNode('redis-outage', {
      COATCHECK_SESSION_STORE: redis.url,
      COATCHECK_NEAR_CACHE: 'true',
    });
    await eventually(async () => (await node.request('/readyz')).status === 200, '/readyz 200');
  });

  after(async () => {
    await node?.stop();
    await redis?.stop();
  });

  /** Where the log stood when the outage began. */
  let mark = 0;
  const since = (event: string, store: string) =>
    node.logs.slice(mark).filter((l) => l.event === event && l.store === store);

  /** One store_down per connection for the whole outage, `ups` store_up, no other error line. */
  function assertLoggedOnce(ups: 0 | 1) {
    for (const store of [STORE, FEED]) {
      assert.equal(since('store_down', store).length, 1, `one store_down for ${store}`);
      assert.equal(since('store_up', store).length, ups, `${ups} store_up for ${store}`);
    }
    const errors = node.logs.filter((l) => Number(l.level) >= 50 && l.event !== 'store_down');
    assert.deepEqual(errors, [], 'no error line per failed request');
  }

  it('Redis killed: 503 without Set-Cookie (never 401), /readyz 503, logged once, no crash; restarted: the same cookie works again', async () => {
    const email = `redis-outage-${process.pid}@example.test`;
    const first = await signUp(node, email);
    const second = await signIn(node, email);
    // Validated twice: in the near cache, which must not outlive its feed.
    for (let i = 0; i < 2; i++) assert.equal((await whoAmI(node, first.cookie)).status, 200);

    mark = node.logs.length;
    await redis.kill();
    try {
      await eventually(async () => (await node.request('/readyz')).status === 503, '/readyz 503');
      // Both connections notice (the feed by its missing heartbeats); then nothing is cached.
      await eventually(() => since('store_down', FEED).length === 1, 'the feed store_down');
      for (let round = 0; round < 3; round++) {
        for (const s of [first, second]) {
          const me = await whoAmI(node, s.cookie);
          assertUnavailable(me.res, me.text, `GET /auth/session, round ${round}`);
        }
        const login = await node.request('/auth/login', { json: { email, password: PW } });
        assertUnavailable(login, await login.text(), 'sign-in');
        const out = await node.request('/auth/logout', { method: 'POST', cookie: second.cookie });
        assertUnavailable(out, await out.text(), 'sign-out');
        const ready = await node.request('/readyz');
        assertUnavailable(ready, await ready.text(), '/readyz');
      }
      assertLoggedOnce(0);
      assertHealthyProcess(node);
    } finally {
      await redis.restart(); // also when an assertion failed: `after` needs it
    }

    // The server reconnects by itself: same process, same cookies.
    await eventually(async () => (await node.request('/readyz')).status === 200, '/readyz 200');
    for (const s of [first, second]) {
      // Never a 401 on the way back either: 503 until Redis answers, then 200.
      let me = await whoAmI(node, s.cookie);
      await eventually(async () => {
        me = await whoAmI(node, s.cookie);
        return me.status !== 503;
      }, `session ${s.sessionId} after the restart`);
      assert.equal(me.status, 200, me.text);
      assert.equal(me.userId, first.userId);
    }
    await eventually(
      () => since('store_up', STORE).length === 1 && since('store_up', FEED).length === 1,
      'store_up for both connections',
    );
    assertLoggedOnce(1);
    // Writes work again: sign-out revokes at once, sign-in issues a new session.
    const out = await node.request('/auth/logout', { method: 'POST', cookie: second.cookie });
    assert.equal(out.status, 204, await out.text());
    assert.equal((await whoAmI(node, second.cookie)).status, 401);
    await signIn(node, email);
    assertHealthyProcess(node);
  });
});

describe('a server on Redis behind a Sentinel (redis+sentinel://)', { timeout: 60_000 }, () => {
  let sentinel: RedisSentinel;
  let node: ServerNode;

  before(async () => {
    sentinel = await startRedisSentinel('coatcheck-test', { replicas: 1 });
    node = await startNode('sentinel', {
      COATCHECK_SESSION_STORE: sentinel.url,
      COATCHECK_NEAR_CACHE: 'true',
    });
  });

  after(async () => {
    await node?.stop();
    await sentinel?.stop();
  });

  it('signs in and validates through the master the Sentinel names', async () => {
    await eventually(async () => (await node.request('/readyz')).status === 200, '/readyz 200');
    const email = `sentinel-${process.pid}@example.test`;
    const session = await signUp(node, email);
    const me = await whoAmI(node, session.cookie);
    assert.equal(me.status, 200, me.text);
    assert.equal(me.userId, session.userId);
    // The session lives on the master the Sentinel monitors.
    const exists = await redisCli(sentinel.master.port, 'EXISTS', `cc:s:${session.sessionId}`);
    assert.equal(exists, '1');
    const out = await node.request('/auth/logout', { method: 'POST', cookie: session.cookie });
    assert.equal(out.status, 204, await out.text());
    assert.equal((await whoAmI(node, session.cookie)).status, 401);
    assertHealthyProcess(node);
  });
});
