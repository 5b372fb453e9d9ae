import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import express from 'express';
import { coatcheck } from '../../src/adapters/express.ts';
import { UnauthenticatedError } from '../../src/core/errors.ts';
import { adapterContract, COOKIE, failure, type StartApp } from './contract.ts';
import { adapterFixture } from './fixture.ts';

/** The adapter contract on Express 5, plus what only Express can get wrong. */

const start: StartApp = async (fx, hits) => {
  const auth = coatcheck({ engine: fx.engine, accounts: fx.accounts, onError: fx.onError });
  const app = express();
  app.use(express.json(), express.urlencoded({ extended: false }), express.text());
  app.use(auth.middleware);
  app.get('/whoami', (req, res) => {
    res.json({ email: req.auth?.user.email ?? null });
  });
  app.get('/private', auth.requireAuth(), (req, res) => {
    res.json({ user: req.auth?.user });
  });
  app.get('/page', auth.requireAuth({ redirectTo: '/login' }), (_req, res) => {
    res.send('page');
  });
  app.get('/admin', auth.requireRole('admin'), (_req, res) => {
    res.json({ ok: true });
  });
  app.get('/token', (req, res) => {
    res.json({ token: auth.csrfToken(req) });
  });
  app.post('/login', async (req, res) => {
    const user = await auth.signIn(req, res, req.body);
    res.json({ email: user.email });
  });
  app.post('/start', async (req, res) => {
    const user = await fx.users.findById(String(req.body?.userId));
    if (!user) throw new UnauthenticatedError();
    await auth.startSession(req, res, user);
    res.json({ user: req.auth?.user });
  });
  app.post('/logout', async (req, res) => {
    await auth.signOut(req, res);
    res.status(204).end();
  });
  app.post('/logout-everywhere', async (req, res) => {
    res.json({ revoked: await auth.signOutEverywhere(req, res) });
  });
  app.post('/action', (_req, res) => {
    hits.count++;
    res.json({ done: true });
  });
  app.post('/fail', async (req, res) => {
    const { email, password, error } = req.body;
    if (email) await auth.signIn(req, res, { email, password });
    throw failure(error);
  });
  app.use(auth.errorHandler);
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
};

adapterContract('express', start);

describe('express adapter, beyond the contract', () => {
  const fx = adapterFixture();
  const listen = async (app: express.Express) => {
    const server: Server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    after(() => server.close());
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };

  test('a guard without the middleware is a 500, never an open door', async () => {
    const auth = coatcheck({ engine: fx.engine });
    const app = express();
    let ran = false;
    app.get('/private', auth.requireAuth(), (_req, res) => {
      ran = true;
      res.send('secret');
    });
    const base = await listen(app);
    const res = await fetch(`${base}/private`);
    assert.equal(res.status, 500);
    assert.equal(ran, false);
  });

  test('mounted before the body parser, a signed-in form post is refused (fails closed)', async () => {
    const auth = coatcheck({ engine: fx.engine });
    const app = express();
    app.use(auth.middleware, express.urlencoded({ extended: false }));
    app.get('/token', (req, res) => {
      res.json({ token: auth.csrfToken(req) });
    });
    app.post('/action', (_req, res) => {
      res.send('done');
    });
    const base = await listen(app);
    const token = await fx.tokenFor(await fx.createUser());
    const cookie = `${COOKIE}=${token}`;
    const { token: csrf } = await (await fetch(`${base}/token`, { headers: { cookie } })).json();
    const res = await fetch(`${base}/action`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: `csrf_token=${csrf}`,
    });
    assert.equal(res.status, 403);
  });

  test('throttles by the socket address, or by X-Forwarded-For only under trust proxy (sub-apps inherit it)', async () => {
    const user = await fx.createUser();
    const cookie = `${COOKIE}=${await fx.tokenFor(user)}`;
    const headers = { cookie, 'x-forwarded-for': '203.0.113.7' };
    const auth = coatcheck({ engine: fx.engine });
    for (const [trustProxy, mounted, expected] of [
      [false, false, '127.0.0.1'],
      [true, false, '203.0.113.7'],
      ['loopback', true, '203.0.113.7'],
      [false, true, '127.0.0.1'],
    ] as const) {
      const app = express();
      app.set('trust proxy', trustProxy);
      const sub = mounted ? express() : app;
      sub.use(auth.middleware);
      sub.get('/me', (req, res) => {
        res.json({ id: req.auth?.user.id ?? null, ip: req.ip });
      });
      if (mounted) app.use('/sub', sub);
      const base = await listen(app);
      fx.limiter.keys.length = 0;
      const res = await fetch(`${base}${mounted ? '/sub' : ''}/me`, { headers });
      const body = await res.json();
      assert.deepEqual(body, { id: user.id, ip: expected }, `${trustProxy} ${mounted}`);
      assert.deepEqual(fx.limiter.keys, [expected], 'the same IP as req.ip');
    }
  });
});
