import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createRedisReplayGuard } from '../../src/download/index.ts';
import type { ReplayGuard } from '../../src/download/replay.ts';
import { createDownloadServer } from '../../src/download/server.ts';
import { type RedisServer, requireRedisBinaries, startRedis } from '../support/redis.ts';
import { AUDIENCE, ISSUER, pathOf, REPORT, startDownloadFixture } from './fixture.ts';

// Several download nodes share one replay guard in Redis: a token is served once in total, not
// once per node. Against a real redis-server.

describe('Redis replay guard', () => {
  let redis: RedisServer;
  const guards: ReplayGuard[] = [];
  const guard = async () => {
    const g = await createRedisReplayGuard(redis.url, { prefix: `t${guards.length}:` });
    guards.push(g);
    return g;
  };
  before(async () => {
    requireRedisBinaries();
    redis = await startRedis();
  });
  after(async () => {
    for (const g of guards) await g.close?.();
    await redis.stop();
  });

  test('a (iss, jti) is accepted once across every node; exactly one wins a race', async () => {
    const a = await createRedisReplayGuard(redis.url);
    const b = await createRedisReplayGuard(redis.url);
    guards.push(a, b);
    const entry = { issuer: ISSUER, jti: 'race-jti', expiresAt: Date.now() + 60_000 };
    const results = await Promise.all([a, b, a, b].map((g) => g.claim(entry)));
    assert.equal(results.filter(Boolean).length, 1);
    assert.equal(await a.claim({ ...entry, jti: 'other' }), true);
    assert.equal(await b.claim({ ...entry, issuer: 'https://other.example' }), true);
  });

  test('the entry expires with the token', async () => {
    const g = await guard();
    const entry = { issuer: ISSUER, jti: 'short', expiresAt: Date.now() + 200 };
    assert.equal(await g.claim(entry), true);
    assert.equal(await g.claim(entry), false);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(await g.claim({ ...entry, expiresAt: Date.now() + 60_000 }), true);
  });

  test('a node whose clock is behind Redis still remembers a claim until the token expires', async () => {
    // The node's clock 20 s behind Redis's: an absolute expiry (PXAT) would already be past there.
    const behind = await createRedisReplayGuard(redis.url, {
      prefix: 'skew:',
      now: () => Date.now() - 20_000,
    });
    guards.push(behind);
    const entry = { issuer: ISSUER, jti: 'skewed', expiresAt: Date.now() - 20_000 + 10_000 };
    assert.equal(await behind.claim(entry), true);
    assert.equal(await behind.claim(entry), false, 'the second use is refused');
  });

  test('two download nodes sharing the guard: the second refuses a token the first served', async () => {
    const shared = { prefix: 'nodes:' };
    const nodeA = await createRedisReplayGuard(redis.url, shared);
    const nodeB = await createRedisReplayGuard(redis.url, shared);
    guards.push(nodeA, nodeB);
    const f = await startDownloadFixture({ replay: nodeA });
    try {
      const second = await createDownloadServer({
        root: f.root,
        issuer: ISSUER,
        audience: AUDIENCE,
        keys: await f.keys.jwks(),
        replay: nodeB,
      }).listen({ port: 0 });
      try {
        const grant = await f.mint('users/u1/report.txt');
        const first = await f.get(pathOf(grant));
        assert.equal(first.body.toString(), REPORT);
        const { pathname, search } = new URL(grant.url);
        const res = await fetch(`${second.url}${pathname}${search}`);
        assert.equal(res.status, 401);
        assert.equal((await res.text()).includes(REPORT), false);
      } finally {
        await second.close();
      }
    } finally {
      await f.close();
    }
  });

  test('Redis down: claims reject, so the server answers 503 (fail closed)', async () => {
    const g = await guard();
    await redis.stop(); // the last test: the server stays down
    await assert.rejects(g.claim({ issuer: ISSUER, jti: 'down', expiresAt: Date.now() + 60_000 }));
  });
});
