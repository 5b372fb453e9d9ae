import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { type Context, Hono } from 'hono';
import { type CoatcheckEnv, coatcheck, type HandlerOptions } from '../../src/adapters/hono.ts';
import { csrfTokenFor } from '../../src/core/csrf.ts';
import { SessionEngine } from '../../src/core/engine.ts';
import { ConfigError, ForbiddenError, UnauthenticatedError } from '../../src/core/errors.ts';
import { MemorySessionStore, MemoryUserStore } from '../../src/stores/memory.ts';
import { adapterContract, COOKIE, failure, type StartApp } from './contract.ts';
import { adapterFixture } from './fixture.ts';

/**
 * The adapter contract on Hono over @hono/node-server, in both forms: the middleware with guard
 * middleware, and each route's handler wrapped by `handler()` with no middleware at all.
 */

type Form = 'middleware' | 'handler';
type Route = (c: Context<CoatcheckEnv>) => Response | Promise<Response>;

const startWith =
  (form: Form): StartApp =>
  async (fx, hits) => {
    const auth = coatcheck({
      engine: fx.engine,
      accounts: fx.accounts,
      clientIp: (c) => getConnInfo(c).remote.address ?? null,
      onError: fx.onError,
    });
    const app = new Hono<CoatcheckEnv>();
    if (form === 'middleware') app.use(auth.middleware);
    app.onError(auth.errorHandler);
    /** A route with its guards: as guard middleware, or as the options of `handler()`. */
    const route = (method: 'GET' | 'POST', path: string, fn: Route, guards?: HandlerOptions) => {
      if (form === 'handler') {
        app.on(method, path, auth.handler(fn, guards));
      } else if (guards?.requireRole) {
        app.on(method, path, auth.requireRole(...guards.requireRole), fn);
      } else if (guards?.requireAuth) {
        app.on(method, path, auth.requireAuth({ redirectTo: guards.redirectTo }), fn);
      } else {
        app.on(method, path, fn);
      }
    };
    route('GET', '/whoami', (c) => c.json({ email: c.get('auth')?.user.email ?? null }));
    route('GET', '/private', (c) => c.json({ user: c.var.auth?.user }), { requireAuth: true });
    route('GET', '/page', (c) => c.text('page'), { requireAuth: true, redirectTo: '/login' });
    route('GET', '/admin', (c) => c.json({ ok: true }), { requireRole: ['admin'] });
    route('GET', '/token', (c) => c.json({ token: auth.csrfToken(c) }));
    route('POST', '/login', async (c) => {
      const json = c.req.header('content-type')?.startsWith('application/json');
      const user = await auth.signIn(c, json ? await c.req.json() : await c.req.parseBody());
      return c.json({ email: user.email });
    });
    route('POST', '/start', async (c) => {
      const { userId } = await c.req.json();
      const user = await fx.users.findById(String(userId));
      if (!user) throw new UnauthenticatedError();
      return c.json({ user: (await auth.startSession(c, user)).user });
    });
    route('POST', '/logout', async (c) => {
      await auth.signOut(c);
      return c.body(null, 204);
    });
    route('POST', '/logout-everywhere', async (c) =>
      c.json({ revoked: await auth.signOutEverywhere(c) }),
    );
    route('POST', '/action', (c) => {
      hits.count++;
      return c.json({ done: true });
    });
    route('POST', '/fail', async (c) => {
      const { email, password, error } = await c.req.json();
      if (email) await auth.signIn(c, { email, password });
      throw failure(error);
    });
    const server = await new Promise<Server>((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () =>
        resolve(s as Server),
      );
    });
    const { port } = server.address() as AddressInfo;
    return {
      base: `http://127.0.0.1:${port}`,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  };

adapterContract('hono', startWith('middleware'));
adapterContract('hono handler()', startWith('handler'));

describe('hono adapter, beyond the contract', () => {
  const fx = adapterFixture();
  const auth = coatcheck({ engine: fx.engine, onError: fx.onError });
  const post = (app: Hono<CoatcheckEnv>, path: string, headers: Record<string, string> = {}) =>
    app.request(`http://app.example${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: '{}',
    });

  test('puts a helper’s cookie on a Response the handler built without c, never on a 5xx', async () => {
    const user = await fx.createUser();
    const app = new Hono<CoatcheckEnv>();
    app.use(auth.middleware);
    app.post('/start', async (c) => {
      await auth.startSession(c, user);
      return new Response('ok');
    });
    app.post('/start-redirect', async (c) => {
      await auth.startSession(c, user);
      return Response.redirect('http://app.example/', 303); // immutable headers
    });
    app.post('/start-fail', async (c) => {
      await auth.startSession(c, user);
      return new Response('down', { status: 500 });
    });
    app.post('/out', async (c) => {
      await auth.signOut(c);
      return new Response(null, { status: 204 });
    });
    for (const path of ['/start', '/start-redirect']) {
      const res = await post(app, path);
      const lines = res.headers.getSetCookie();
      assert.equal(lines.length, 1, path);
      assert.match(lines[0] ?? '', /^__Host-coatcheck=ccs_/, path);
      assert.equal(res.headers.get('cache-control'), 'no-store', path);
    }
    assert.deepEqual((await post(app, '/start-fail')).headers.getSetCookie(), []);
    const cookie = `${COOKIE}=${await fx.tokenFor(user)}`;
    const out = await post(app, '/out', { cookie });
    assert.equal(out.status, 204);
    assert.deepEqual(out.headers.getSetCookie(), [
      `${COOKIE}=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax`,
    ]);
  });

  test('a helper called by an outer middleware after the response was built still sets its cookie', async () => {
    const user = await fx.createUser();
    const app = new Hono<CoatcheckEnv>();
    app.use(async (c, next) => {
      await next();
      if (c.res.status === 418) await auth.signOut(c);
    });
    app.use(auth.middleware);
    app.post('/teapot', (c) => c.text('short and stout', 418));
    const res = await post(app, '/teapot', { cookie: `${COOKIE}=${await fx.tokenFor(user)}` });
    assert.equal(res.status, 418);
    assert.deepEqual(res.headers.getSetCookie(), [
      `${COOKIE}=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax`,
    ]);
  });

  test('sets no cookie on a 500 from Hono’s own error handler (no app.onError)', async () => {
    const user = await fx.createUser();
    const app = new Hono<CoatcheckEnv>();
    app.use(auth.middleware);
    app.post('/fail', async (c) => {
      await auth.startSession(c, user);
      throw new Error('test: handler failed (logged by Hono)');
    });
    const cases: Record<string, string>[] = [{}, { cookie: `${COOKIE}=garbage` }];
    for (const headers of cases) {
      const res = await post(app, '/fail', headers);
      assert.equal(res.status, 500);
      assert.deepEqual(res.headers.getSetCookie(), []);
    }
  });

  test('errorHandler sets no cookie when an outer middleware fails after the response was built', async () => {
    const user = await fx.createUser();
    const app = new Hono<CoatcheckEnv>();
    app.onError(auth.errorHandler);
    app.use(async (_c, next) => {
      await next();
      throw new Error('test: outer middleware failed');
    });
    app.use(auth.middleware);
    app.post('/start', async (c) => {
      await auth.startSession(c, user);
      return c.text('ok');
    });
    const res = await post(app, '/start');
    assert.equal(res.status, 500);
    assert.deepEqual(res.headers.getSetCookie(), []);
  });

  test('clears a refused cookie even on an immutable Response.redirect; a 5xx says nothing', async () => {
    const app = new Hono<CoatcheckEnv>();
    app.use(auth.middleware);
    app.get('/go', () => Response.redirect('http://app.example/', 302));
    app.get('/fail', (c) => c.text('down', 503));
    const headers = { cookie: `${COOKIE}=garbage` };
    const res = await app.request('http://app.example/go', { headers });
    assert.equal(res.status, 302);
    assert.deepEqual(res.headers.getSetCookie(), [
      `${COOKIE}=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax`,
    ]);
    const failed = await app.request('http://app.example/fail', { headers });
    assert.deepEqual(failed.headers.getSetCookie(), []);
  });

  const session = async () => {
    const token = await fx.tokenFor(await fx.createUser());
    const check = await fx.engine.validate(token);
    assert.ok(check.ok);
    return { token, csrf: csrfTokenFor(check.session) };
  };
  /** A form POST, streamed (no Content-Length unless `headers` declares one). */
  const formPost = (token: string, body: string, headers: Record<string, string> = {}) =>
    new Request('http://app.example/x', {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        cookie: `${COOKIE}=${token}`,
        ...headers,
      },
      body: new Blob([body]).stream(),
      duplex: 'half',
    } as RequestInit);

  test('reads at most maxFormBytes of a form to find its token: 413 before the handler runs', async () => {
    const { token, csrf } = await session();
    let ran = false;
    const small = coatcheck({ engine: fx.engine, maxFormBytes: 100 });
    const app = new Hono<CoatcheckEnv>();
    app.use(small.middleware);
    app.post('/x', (c) => {
      ran = true;
      return c.text('ok');
    });
    const body = new URLSearchParams({ csrf_token: csrf, pad: 'x'.repeat(200) }).toString();
    const declared: Record<string, string>[] = [{}, { 'content-length': String(body.length) }];
    for (const headers of declared) {
      const res = await app.request(formPost(token, body, headers));
      assert.equal(res.status, 413);
      assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
      assert.equal((await res.json()).code, 'payload_too_large');
    }
    // The default is 64 KiB: a 1 MiB form is refused, not buffered whole.
    const app2 = new Hono<CoatcheckEnv>();
    app2.use(auth.middleware);
    app2.post('/x', (c) => c.text('ok'));
    const huge = `csrf_token=${csrf}&pad=${'x'.repeat(1 << 20)}`;
    assert.equal((await app2.request(formPost(token, huge))).status, 413);
    assert.equal(ran, false);
  });

  test('leaves the form it checked for the handler to read', async () => {
    const { token, csrf } = await session();
    const app = new Hono<CoatcheckEnv>();
    app.use(auth.middleware);
    app.post('/x', async (c) => c.json(await c.req.parseBody()));
    const body = new URLSearchParams({ csrf_token: csrf, note: 'ünïcode ✓' }).toString();
    const res = await app.request(formPost(token, body));
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { csrf_token: csrf, note: 'ünïcode ✓' });
    const refused = await app.request(formPost(token, 'note=no-token'));
    assert.equal(refused.status, 403);
  });

  test('a guard without the middleware is an error, never an open door', async () => {
    const app = new Hono<CoatcheckEnv>();
    app.get('/private', auth.requireAuth(), (c) => c.text('secret'));
    const res = await app.request('http://app.example/private');
    assert.equal(res.status, 500);
  });
});

describe('hono handler()', () => {
  const users = new MemoryUserStore();
  const engine = new SessionEngine({ store: new MemorySessionStore(), users });
  const auth = coatcheck({ engine });
  /** A stored user (memory store) and a live session token for it. */
  const tokenFor = async (id: string) => {
    const user = { id, email: `${id}@example.com`, name: null, roles: ['user'], locked: false };
    const at = Date.now();
    await users.create({ ...user, passwordHash: 'x', passwordChangedAt: at, createdAt: at });
    return (await engine.create(user)).token;
  };
  const request = (cookie?: string) =>
    new Request('http://app.example/me', { headers: cookie ? { cookie } : {} });

  test('answers without a promise when the store does (memory): Hono skips compose', async () => {
    const token = await tokenFor('u1');
    const app = new Hono<CoatcheckEnv>();
    app.get(
      '/me',
      auth.handler((c) => c.json({ id: c.var.auth?.user.id }), { requireAuth: true }),
    );
    const signedIn = app.fetch(request(`${COOKIE}=${token}`));
    assert.ok(signedIn instanceof Response, 'signed in: a Response, not a promise');
    assert.deepEqual(await signedIn.json(), { id: 'u1' });
    const signedOut = app.fetch(request());
    assert.ok(signedOut instanceof Response, 'signed out: a Response');
    assert.equal(signedOut.status, 401);
    const refused = app.fetch(request(`${COOKIE}=garbage`));
    assert.ok(refused instanceof Response, 'refused: a Response');
    assert.equal(refused.status, 401);
    assert.deepEqual(refused.headers.getSetCookie(), [
      `${COOKIE}=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax`,
    ]);
    // The middleware form always answers through compose's promise.
    const behind = new Hono<CoatcheckEnv>();
    behind.use(auth.middleware);
    behind.get('/me', (c) => c.text('ok'));
    assert.ok(behind.fetch(request(`${COOKIE}=${token}`)) instanceof Promise);
  });

  test('behind the middleware it applies only the guards: one clearing cookie, one check', async () => {
    const token = await tokenFor('u2');
    let checks = 0;
    const counting = coatcheck({
      engine: new Proxy(engine, {
        get: (target, key) =>
          key === 'check'
            ? (...args: Parameters<SessionEngine['check']>) => {
                checks++;
                return target.check(...args);
              }
            : Reflect.get(target, key),
      }),
    });
    const app = new Hono<CoatcheckEnv>();
    app.use(counting.middleware);
    app.get(
      '/admin',
      counting.handler((c) => c.text('secret'), { requireRole: ['admin'] }),
    );
    app.get(
      '/me',
      counting.handler((c) => c.text(c.var.auth?.user.id ?? 'nobody')),
    );
    const me = await app.request('http://app.example/me', {
      headers: { cookie: `${COOKIE}=${token}` },
    });
    assert.equal(await me.text(), 'u2');
    const admin = await app.request('http://app.example/admin', {
      headers: { cookie: `${COOKIE}=${token}` },
    });
    assert.equal(admin.status, 403);
    assert.equal(checks, 2, 'one session check per request');
    const refused = await app.request('http://app.example/me', {
      headers: { cookie: `${COOKIE}=garbage` },
    });
    assert.equal(await refused.text(), 'nobody');
    assert.equal(refused.headers.getSetCookie().length, 1, 'one clearing cookie');
  });

  test('a CoatcheckError thrown by fn is its problem; other errors reach app.onError', async () => {
    const app = new Hono<CoatcheckEnv>();
    const seen: unknown[] = [];
    app.onError((error, c) => {
      seen.push(error);
      return c.text('handled', 500);
    });
    app.get(
      '/forbidden',
      auth.handler(() => {
        throw new ForbiddenError();
      }),
    );
    app.get(
      '/bug',
      auth.handler(async () => {
        throw new TypeError('test: a bug');
      }),
    );
    const forbidden = await app.request('http://app.example/forbidden');
    assert.equal(forbidden.status, 403);
    assert.equal((await forbidden.json()).code, 'forbidden');
    const bug = await app.request('http://app.example/bug');
    assert.equal(await bug.text(), 'handled');
    assert.ok(seen[0] instanceof TypeError);
    assert.equal(seen.length, 1);
  });

  test('a role list is checked when the handler is built', () => {
    assert.throws(() => auth.handler((c) => c.text('x'), { requireRole: [] }), ConfigError);
  });
});
