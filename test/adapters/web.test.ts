import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { serve } from '@hono/node-server';
import type { UserRecord } from '../../src/accounts/user-store.ts';
import { coatcheck } from '../../src/adapters/web.ts';
import { csrfTokenFor } from '../../src/core/csrf.ts';
import { SessionEngine } from '../../src/core/engine.ts';
import { StoreUnavailableError, UnauthenticatedError } from '../../src/core/errors.ts';
import { MemorySessionStore, MemoryUserStore } from '../../src/stores/memory.ts';
import { adapterContract, COOKIE, failure, type StartApp } from './contract.ts';
import { adapterFixture, PW } from './fixture.ts';

/**
 * The adapter contract on bare Web Request/Response handlers (as Next.js route handlers, Bun and
 * Deno see them), served by @hono/node-server's Request/Response bridge with a plain path table.
 */

const start: StartApp = async (fx, hits) => {
  const auth = coatcheck({
    engine: fx.engine,
    accounts: fx.accounts,
    clientIp: () => '127.0.0.1', // a test stand-in for the runtime's peer address
    onError: fx.onError,
  });
  const json = (value: unknown) => Response.json(value);
  const routes: Record<string, (request: Request) => Response | Promise<Response>> = {
    'GET /whoami': auth.handler((_r, ctx) => json({ email: ctx.auth?.user.email ?? null })),
    'GET /private': auth.handler((_r, ctx) => json({ user: ctx.auth?.user }), {
      requireAuth: true,
    }),
    'GET /page': auth.handler(() => new Response('page'), {
      requireAuth: true,
      redirectTo: '/login',
    }),
    'GET /admin': auth.handler(() => json({ ok: true }), { requireRole: ['admin'] }),
    'GET /token': auth.handler((_r, ctx) => json({ token: ctx.csrfToken() })),
    'POST /login': auth.handler(async (request, ctx) => {
      const form = request.headers.get('content-type')?.startsWith('application/json');
      const input = form ? await request.json() : Object.fromEntries(await ctx.form());
      return json({ email: (await ctx.signIn(input)).email });
    }),
    'POST /start': auth.handler(async (request, ctx) => {
      const { userId } = await request.json();
      const user = await fx.users.findById(String(userId));
      if (!user) throw new UnauthenticatedError();
      return json({ user: (await ctx.startSession(user)).user });
    }),
    'POST /logout': auth.handler(async (_r, ctx) => {
      await ctx.signOut();
      return new Response(null, { status: 204 });
    }),
    'POST /logout-everywhere': auth.handler(async (_r, ctx) =>
      json({ revoked: await ctx.signOutEverywhere() }),
    ),
    'POST /action': auth.handler(() => {
      hits.count++;
      return json({ done: true });
    }),
    'POST /fail': auth.handler(async (request, ctx) => {
      const { email, password, error } = await request.json();
      if (email) await ctx.signIn({ email, password });
      throw failure(error);
    }),
  };
  const fetch = (request: Request) => {
    const route = routes[`${request.method} ${new URL(request.url).pathname}`];
    return route ? route(request) : new Response('not found', { status: 404 });
  };
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s as Server));
  });
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
};

adapterContract('web', start);

describe('web adapter, beyond the contract', () => {
  const fx = adapterFixture();
  const auth = coatcheck({ engine: fx.engine, accounts: fx.accounts, onError: () => {} });
  const url = 'http://app.example/x';
  const session = async () => {
    const user = await fx.createUser();
    const token = await fx.tokenFor(user);
    const check = await fx.engine.validate(token);
    assert.ok(check.ok);
    return { user, token, csrf: csrfTokenFor(check.session) };
  };

  test('refuses a signed-in form body over the limit with 413 before the handler runs', async () => {
    const { token, csrf } = await session();
    let ran = false;
    const small = coatcheck({ engine: fx.engine, maxFormBytes: 100 });
    const handle = small.handler(() => {
      ran = true;
      return new Response('ok');
    });
    const body = new URLSearchParams({ csrf_token: csrf, pad: 'x'.repeat(200) }).toString();
    for (const headers of [
      { 'content-type': 'application/x-www-form-urlencoded' },
      { 'content-type': 'application/x-www-form-urlencoded', 'content-length': '9999' },
    ]) {
      const stream = new Blob([body]).stream(); // no Content-Length unless declared
      const request = new Request(url, {
        method: 'POST',
        headers: { ...headers, cookie: `${COOKIE}=${token}` },
        body: stream,
        duplex: 'half',
      } as RequestInit);
      const res = await handle(request);
      assert.equal(res.status, 413);
    }
    assert.equal(ran, false);
  });

  test('puts the cookie on an immutable Response.redirect, and never on a 5xx', async () => {
    const user = await fx.createUser();
    const login = (status: number) =>
      auth.handler(async (_request, ctx) => {
        await ctx.signIn({ email: user.email, password: PW });
        return status === 303 ? Response.redirect(url, 303) : new Response(null, { status });
      });
    const post = () =>
      new Request(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
    const redirected = await login(303)(post());
    assert.equal(redirected.status, 303);
    assert.match(redirected.headers.getSetCookie()[0] ?? '', /^__Host-coatcheck=ccs_/);
    assert.equal(redirected.headers.get('cache-control'), 'no-store');
    const failed = await login(500)(post());
    assert.deepEqual(failed.headers.getSetCookie(), []);
  });

  test('authenticate reads a server component’s headers and fails closed', async () => {
    const { user, token } = await session();
    const headers = new Headers({ cookie: `${COOKIE}=${token}` });
    assert.equal((await auth.authenticate(headers))?.user.id, user.id);
    assert.equal(await auth.authenticate(new Headers({ cookie: `${COOKIE}=nope` })), null);
    assert.equal(await auth.authenticate(new Request(url)), null);
    fx.store.down = true;
    try {
      await assert.rejects(auth.authenticate(headers), StoreUnavailableError);
    } finally {
      fx.store.down = false;
    }
  });

  test('checkOrigin alone (for proxy.ts) refuses a cross-site POST and passes a GET', async () => {
    const cross = { 'sec-fetch-site': 'cross-site' };
    const refused = auth.checkOrigin(new Request(url, { method: 'POST', headers: cross }));
    assert.equal(refused?.status, 403);
    assert.equal(auth.checkOrigin(new Request(url, { headers: cross })), null);
  });

  test('errors that are not Coatcheck’s propagate to the runtime untouched', async () => {
    const boom = new Error('boom');
    // A synchronous handler: thrown synchronously (the wrapper answers without a promise when it can).
    const handle = auth.handler(() => {
      throw boom;
    });
    assert.throws(
      () => handle(new Request(url)),
      (error) => error === boom,
    );
    // An async handler: the promise rejects with it.
    const handleAsync = auth.handler(async () => {
      throw boom;
    });
    await assert.rejects(Promise.resolve(handleAsync(new Request(url))), (error) => error === boom);
  });

  test('answers without a promise when the store and the handler do (memory store)', async () => {
    // The fixture's store answers with promises (as Redis does); the memory store does not.
    const users = new MemoryUserStore();
    const user: UserRecord = await fx.createUser();
    await users.create(user);
    const engine = new SessionEngine({ store: new MemorySessionStore(), users });
    const sync = coatcheck({ engine });
    const handle = sync.handler((_r, ctx) => Response.json({ signedIn: ctx.auth !== null }));
    const signedOut = handle(new Request(url));
    assert.ok(signedOut instanceof Response);
    const { token } = await engine.create(user);
    const signedIn = handle(
      new Request(url, { headers: { cookie: `${auth.cookieName}=${token}` } }),
    );
    assert.ok(signedIn instanceof Response, 'a value, not a promise');
    assert.deepEqual(await signedIn.json(), { signedIn: true });
  });
});

describe('web adapter: the origin is compared with the Host the browser addressed', () => {
  const fx = adapterFixture();
  const auth = coatcheck({ engine: fx.engine });

  test('allows a same-origin POST when the framework rewrote request.url (Next.js: localhost)', () => {
    // Browser at http://127.0.0.1:3000 posts; the framework hands over http://localhost:3000/…
    const headers = { host: '127.0.0.1:3000', origin: 'http://127.0.0.1:3000' };
    const request = new Request('http://localhost:3000/api/x', { method: 'POST', headers });
    assert.equal(auth.checkOrigin(request), null);
  });

  test('still refuses an Origin that matches only the rewritten URL', () => {
    const headers = { host: '127.0.0.1:3000', origin: 'http://localhost:3000' };
    const request = new Request('http://localhost:3000/api/x', { method: 'POST', headers });
    assert.equal(auth.checkOrigin(request)?.status, 403);
  });
});
