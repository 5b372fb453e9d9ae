import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import Fastify from 'fastify';
import { coatcheck, coatcheckErrorHandler } from '../../src/adapters/fastify.ts';
import { ConfigError, UnauthenticatedError } from '../../src/core/errors.ts';
import { adapterContract, COOKIE, failure, type StartApp } from './contract.ts';
import { adapterFixture } from './fixture.ts';

/** The adapter contract on Fastify 5 (the plugin registered at the root, as users do). */

const start: StartApp = async (fx, hits) => {
  const app = Fastify();
  // Fastify parses JSON and text/plain; forms need a parser (or @fastify/formbody).
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(String(body)))),
  );
  await app.register(coatcheck, { engine: fx.engine, accounts: fx.accounts, onError: fx.onError });
  app.setErrorHandler(coatcheckErrorHandler);
  app.get('/whoami', async (request) => ({ email: request.auth?.user.email ?? null }));
  app.get('/private', { onRequest: app.requireAuth() }, async (request) => ({
    user: request.auth?.user,
  }));
  app.get('/page', { onRequest: app.requireAuth({ redirectTo: '/login' }) }, async () => 'page');
  app.get('/admin', { preHandler: app.requireRole('admin') }, async () => ({ ok: true }));
  app.get('/token', async (request) => ({ token: request.csrfToken() }));
  app.post('/login', async (request, reply) => {
    const user = await reply.signIn(request.body);
    return { email: user.email };
  });
  app.post<{ Body: { userId?: string } }>('/start', async (request, reply) => {
    const user = await fx.users.findById(String(request.body?.userId));
    if (!user) throw new UnauthenticatedError();
    const auth = await reply.startSession(user);
    return { user: auth.user };
  });
  app.post('/logout', async (_request, reply) => {
    await reply.signOut();
    return reply.code(204).send();
  });
  app.post('/logout-everywhere', async (_request, reply) => ({
    revoked: await reply.signOutEverywhere(),
  }));
  app.post('/action', async () => {
    hits.count++;
    return { done: true };
  });
  app.post<{ Body: { email?: string; password?: string; error?: string } }>(
    '/fail',
    async (request, reply) => {
      const { email, password, error } = request.body;
      if (email) await reply.signIn({ email, password });
      throw failure(error);
    },
  );
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  return { base, close: () => app.close() };
};

adapterContract('fastify', start);

describe('fastify adapter, beyond the contract', () => {
  const fx = adapterFixture();

  test('routes of encapsulated child plugins are protected too (fastify-plugin)', async () => {
    const app = Fastify();
    await app.register(coatcheck, { engine: fx.engine });
    let ran = false;
    await app.register(
      async (child) => {
        child.get('/me', async (request) => ({ id: request.auth?.user.id ?? null }));
        child.post('/action', async () => {
          ran = true;
          return 'done';
        });
      },
      { prefix: '/child' },
    );
    const user = await fx.createUser();
    const cookie = `${COOKIE}=${await fx.tokenFor(user)}`;
    const me = await app.inject({ url: '/child/me', headers: { cookie } });
    assert.deepEqual(me.json(), { id: user.id });
    const cross = { cookie, 'sec-fetch-site': 'cross-site', 'content-type': 'application/json' };
    const res = await app.inject({
      method: 'POST',
      url: '/child/action',
      headers: cross,
      payload: '{}',
    });
    assert.equal(res.statusCode, 403);
    assert.equal(ran, false);
    await app.close();
  });

  test('throttles by the socket address, or by X-Forwarded-For only under trustProxy', async () => {
    const user = await fx.createUser();
    const cookie = `${COOKIE}=${await fx.tokenFor(user)}`;
    const headers = { cookie, 'x-forwarded-for': '203.0.113.7' };
    for (const [trustProxy, expected] of [
      [false, '127.0.0.1'],
      [true, '203.0.113.7'],
    ] as const) {
      const app = Fastify({ trustProxy });
      await app.register(coatcheck, { engine: fx.engine });
      app.get('/me', async (request) => ({ id: request.auth?.user.id ?? null }));
      const base = await app.listen({ port: 0, host: '127.0.0.1' });
      fx.limiter.keys.length = 0;
      const res = await fetch(`${base}/me`, { headers });
      assert.deepEqual(await res.json(), { id: user.id });
      assert.deepEqual(fx.limiter.keys, [expected]);
      await app.close();
    }
  });

  test('registering with bad options fails at start-up with ConfigError', async () => {
    const app = Fastify();
    // @ts-expect-error: no engine, as from untyped JavaScript
    app.register(coatcheck, {});
    await assert.rejects(async () => {
      await app.ready();
    }, ConfigError);
  });
});
