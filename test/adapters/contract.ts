import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { StoreUnavailableError } from '../../src/core/errors.ts';
import type { SessionUser } from '../../src/core/store.ts';
import { type AdapterFixture, adapterFixture, PW } from './fixture.ts';

/**
 * One behavioural suite every adapter passes over real HTTP, like the store contract. Each adapter
 * test starts an app with these routes, built the way that framework's users would:
 *
 *   GET  /whoami             200 { email | null }
 *   GET  /private            requireAuth → 200 { user: auth.user }
 *   GET  /page               requireAuth redirecting to /login → 200 text
 *   GET  /admin              requireRole('admin') → 200 { ok: true }
 *   GET  /token              200 { token: csrf token | null }
 *   POST /login              JSON or form { email, password } → signIn → 200 { email }
 *   POST /start              JSON { userId } → startSession → 200 { user: auth.user }
 *   POST /logout             signOut → 204
 *   POST /logout-everywhere  signOutEverywhere → 200 { revoked }
 *   POST /action             any body → hits.count++ → 200 { done: true }
 *   POST /fail               JSON { email?, password?, error } → signIn when `email` is given,
 *                            then throws failure(error)
 *
 * CoatcheckErrors thrown by handlers go through the adapter's error handler (problem+json); other
 * errors go on to the framework's (or the runtime's) own 500. `onError` is the fixture's.
 */

export const COOKIE = '__Host-coatcheck';

/** What /fail throws: a store failure (`'store'`) or a plain Error, as a bug would. */
export function failure(kind: unknown): Error {
  const message = 'test: handler failed';
  return kind === 'store' ? new StoreUnavailableError(message) : new Error(message);
}

/** Counts handler runs, so "refused before the handler" is an exact assertion. */
export interface Hits {
  count: number;
}

/** A started app. */
export interface RunningApp {
  readonly base: string;
  close(): Promise<void>;
}

export type StartApp = (fx: AdapterFixture, hits: Hits) => Promise<RunningApp>;

interface Send {
  method?: string;
  cookie?: string;
  json?: unknown;
  form?: Record<string, string>;
  body?: string;
  headers?: Record<string, string>;
}

/** What `auth.user` holds of a user record: the SessionUser fields, nothing else. */
function shown({ id, email, name, roles, locked }: SessionUser): SessionUser {
  return { id, email, name, roles, locked };
}

/** Runs the suite against the app `start` builds. */
export function adapterContract(name: string, start: StartApp): void {
  describe(`${name} adapter`, () => {
    const fx = adapterFixture();
    const hits: Hits = { count: 0 };
    let app: RunningApp;
    before(async () => {
      app = await start(fx, hits);
    });
    after(() => app.close());

    const send = (path: string, s: Send = {}) => {
      const headers: Record<string, string> = { ...s.headers };
      let body: string | undefined = s.body;
      if (s.json !== undefined) {
        headers['content-type'] = 'application/json';
        body = JSON.stringify(s.json);
      } else if (s.form !== undefined) {
        headers['content-type'] = 'application/x-www-form-urlencoded';
        body = new URLSearchParams(s.form).toString();
      }
      if (s.cookie !== undefined) headers.cookie = `${COOKIE}=${s.cookie}`;
      const method = s.method ?? (body === undefined ? 'GET' : 'POST');
      return fetch(app.base + path, { method, headers, body, redirect: 'manual' });
    };
    const signedIn = async (roles?: string[]) => {
      const user = await fx.createUser(roles);
      return { user, token: await fx.tokenFor(user) };
    };
    /** The form token of the session `token`, as a page would embed it. */
    const csrfOf = async (token: string): Promise<string> =>
      (await (await send('/token', { cookie: token })).json()).token;
    const problem = async (res: Response, status: number, code: string) => {
      assert.equal(res.status, status);
      assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
      assert.equal((await res.json()).code, code);
    };
    /** Runs `fn` and asserts it did not reach the handler of /action. */
    const refusedBeforeHandler = async (fn: () => Promise<void>) => {
      const before = hits.count;
      await fn();
      assert.equal(hits.count, before, 'the handler must not run');
    };

    test('sign-in sets exactly HttpOnly; Secure; SameSite=Lax; Path=/ on a __Host- cookie', async () => {
      const user = await fx.createUser();
      const res = await send('/login', { json: { email: user.email, password: PW } });
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { email: user.email });
      const [line, ...rest] = res.headers.getSetCookie();
      assert.deepEqual(rest, []);
      assert.match(
        line ?? '',
        /^__Host-coatcheck=ccs_[\w-]{22}\.[\w-]{32}; Path=\/; HttpOnly; Secure; SameSite=Lax$/,
      );
      assert.equal(res.headers.get('cache-control'), 'no-store');
      const token = (line ?? '').split(';')[0]?.split('=')[1] ?? '';
      const me = await send('/private', { cookie: token });
      assert.deepEqual(await me.json(), { user: shown(user) }, 'no password hash');
    });

    test('a wrong password gets 401 invalid_credentials and no cookie', async () => {
      const user = await fx.createUser();
      const res = await send('/login', { json: { email: user.email, password: `${PW}!` } });
      assert.deepEqual(res.headers.getSetCookie(), []);
      await problem(res, 401, 'invalid_credentials');
    });

    test('a signed-out request to a guarded route gets 401 problem+json', async () => {
      await problem(await send('/private'), 401, 'unauthenticated');
      const whoami = await send('/whoami');
      assert.deepEqual(await whoami.json(), { email: null });
    });

    test('a signed-out page visit is redirected to sign-in with 303', async () => {
      const res = await send('/page');
      assert.equal(res.status, 303);
      assert.equal(res.headers.get('location'), '/login');
    });

    test('a user without the role gets 403; an admin passes', async () => {
      await problem(await send('/admin', { cookie: (await signedIn()).token }), 403, 'forbidden');
      await problem(await send('/admin'), 401, 'unauthenticated');
      const admin = await signedIn(['user', 'admin']);
      assert.equal((await send('/admin', { cookie: admin.token })).status, 200);
    });

    test('refuses a cross-site POST (Sec-Fetch-Site: cross-site) before the handler runs', async () => {
      const { token } = await signedIn();
      await refusedBeforeHandler(async () => {
        // attacker.example: <form action="http://app/action" method="post"> auto-submitted
        const headers = { 'sec-fetch-site': 'cross-site', origin: 'https://attacker.example' };
        const res = await send('/action', { cookie: token, form: { a: '1' }, headers });
        await problem(res, 403, 'cross_origin_rejected');
      });
    });

    test('refuses a POST from another origin without fetch metadata, and Origin: null', async () => {
      const { token } = await signedIn();
      await refusedBeforeHandler(async () => {
        for (const origin of ['https://attacker.example', 'null', 'http://127.0.0.1:1']) {
          const res = await send('/action', { cookie: token, json: {}, headers: { origin } });
          await problem(res, 403, 'cross_origin_rejected');
        }
      });
    });

    test('refuses a cross-site sign-in (login CSRF) and a same-site sibling', async () => {
      const user = await fx.createUser();
      const json = { email: user.email, password: PW };
      for (const site of ['cross-site', 'same-site']) {
        const res = await send('/login', { json, headers: { 'sec-fetch-site': site } });
        assert.deepEqual(res.headers.getSetCookie(), []);
        await problem(res, 403, 'cross_origin_rejected');
      }
    });

    test('allows same-origin and metadata-less non-browser POSTs', async () => {
      const { token } = await signedIn();
      const origin = app.base;
      const variants: Record<string, string>[] = [
        { 'sec-fetch-site': 'same-origin' },
        { origin },
        {},
      ];
      for (const headers of variants) {
        const res = await send('/action', { cookie: token, json: {}, headers });
        assert.equal(res.status, 200);
      }
    });

    test('refuses a signed-in form POST without its form token, or with another session’s', async () => {
      const { token } = await signedIn();
      const other = await signedIn();
      const otherToken = { token: await csrfOf(other.token) };
      await refusedBeforeHandler(async () => {
        const forms: Record<string, string>[] = [
          { a: '1' },
          { csrf_token: otherToken.token },
          { csrf_token: '' },
        ];
        for (const form of forms) {
          await problem(await send('/action', { cookie: token, form }), 403, 'csrf_token_invalid');
        }
        // text/plain and bodiless POSTs can be sent cross-site without a preflight too
        const plain = { 'content-type': 'text/plain' };
        const res = await send('/action', { cookie: token, body: 'csrf_token=x', headers: plain });
        await problem(res, 403, 'csrf_token_invalid');
        await problem(
          await send('/action', { cookie: token, method: 'POST' }),
          403,
          'csrf_token_invalid',
        );
        // A form body that cannot be parsed carries no token: refused (403, or the framework's own
        // 400/415), never a 500 and never the handler.
        for (const type of ['multipart/form-data', 'multipart/form-data; boundary=']) {
          const res = await send('/action', {
            cookie: token,
            body: 'csrf_token=x',
            headers: { 'content-type': type },
          });
          assert.ok(res.status >= 400 && res.status < 500, `${type}: ${res.status}`);
        }
      });
    });

    test('accepts a form POST carrying the session’s token, in the field or the header', async () => {
      const { token } = await signedIn();
      const csrf = await csrfOf(token);
      assert.match(csrf, /^[\w-]{43}$/);
      const res = await send('/action', { cookie: token, form: { csrf_token: csrf, a: '1' } });
      assert.equal(res.status, 200);
      const headers = { 'x-csrf-token': csrf };
      assert.equal((await send('/action', { cookie: token, method: 'POST', headers })).status, 200);
      assert.equal((await send('/action', { cookie: token, json: { a: 1 } })).status, 200);
    });

    test('a signed-out form POST needs no token (nothing to bind it to)', async () => {
      assert.equal((await send('/action', { form: { a: '1' } })).status, 200);
    });

    test('clears a garbage or duplicated session cookie and treats the request as signed out', async () => {
      const { token } = await signedIn();
      const cases = [
        { cookie: `${COOKIE}=garbage` },
        { cookie: `${COOKIE}=${token}; ${COOKIE}=${token}` }, // cookie tossing: neither is used
      ];
      for (const headers of cases) {
        const res = await send('/whoami', { headers });
        assert.deepEqual(await res.json(), { email: null });
        assert.deepEqual(res.headers.getSetCookie(), [
          `${COOKIE}=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax`,
        ]);
      }
    });

    test('a sign-in over a refused cookie sends only the new cookie', async () => {
      const user = await fx.createUser();
      const json = { email: user.email, password: PW };
      const res = await send('/login', { json, cookie: 'garbage' });
      const lines = res.headers.getSetCookie();
      assert.equal(lines.length, 1);
      assert.match(lines[0] ?? '', /^__Host-coatcheck=ccs_/);
    });

    test('fails closed when the store is down: 503, no Set-Cookie, not signed out', async () => {
      const { token } = await signedIn();
      const user = await fx.createUser();
      fx.store.down = true;
      try {
        await refusedBeforeHandler(async () => {
          for (const path of ['/whoami', '/private']) {
            const res = await send(path, { cookie: token });
            assert.deepEqual(res.headers.getSetCookie(), []);
            await problem(res, 503, 'store_unavailable');
          }
          const res = await send('/action', { cookie: token, json: {} });
          await problem(res, 503, 'store_unavailable');
        });
        const login = await send('/login', { json: { email: user.email, password: PW } });
        assert.deepEqual(login.headers.getSetCookie(), []);
        const body = await login.json();
        assert.equal(login.status, 503);
        assert.doesNotMatch(JSON.stringify(body), /switched off/); // the cause stays server-side
      } finally {
        fx.store.down = false;
      }
      assert.equal((await send('/private', { cookie: token })).status, 200);
    });

    test('a request that fails (5xx) sets no cookie: not the session it signed in, not a clearing', async () => {
      const user = await fx.createUser();
      const signIn = { email: user.email, password: PW };
      for (const error of ['plain', 'store']) {
        const cases: [string, Send][] = [
          ['signed in, then failed', { json: { ...signIn, error } }],
          ['refused cookie', { json: { error }, cookie: 'garbage' }],
        ];
        for (const [label, s] of cases) {
          const res = await send('/fail', s);
          assert.equal(res.status, error === 'store' ? 503 : 500, `${error}: ${label}`);
          assert.deepEqual(res.headers.getSetCookie(), [], `${error}: ${label}`);
        }
      }
    });

    test('a store failure thrown by a handler is a 503 problem, told to onError once', async () => {
      const before = fx.errors.length;
      await problem(await send('/fail', { json: { error: 'store' } }), 503, 'store_unavailable');
      const heard = fx.errors.slice(before);
      assert.equal(heard.length, 1);
      assert.ok(heard[0] instanceof StoreUnavailableError);
      assert.equal(heard[0].message, 'test: handler failed');
    });

    test('clears a refused cookie, with no-store, on every answer short of a 5xx', async () => {
      const user = await fx.createUser();
      const cases: [string, Send, number][] = [
        ['/whoami', {}, 200],
        ['/private', {}, 401], // requireAuth
        ['/page', {}, 303], // requireAuth redirecting
        ['/admin', {}, 401], // requireRole
        ['/login', { json: { email: user.email, password: `${PW}!` } }, 401],
        ['/logout-everywhere', { method: 'POST' }, 401],
      ];
      for (const [path, s, status] of cases) {
        const res = await send(path, { ...s, cookie: 'garbage' });
        assert.equal(res.status, status, path);
        assert.deepEqual(
          res.headers.getSetCookie(),
          [`${COOKIE}=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax`],
          path,
        );
        assert.equal(res.headers.get('cache-control'), 'no-store', path);
      }
    });

    test('a client IP blocked for token guessing gets 429 with Retry-After', async () => {
      const { token } = await signedIn();
      fx.limiter.blockedSeconds = 42;
      try {
        const res = await send('/private', { cookie: token });
        assert.equal(res.headers.get('retry-after'), '42');
        await problem(res, 429, 'too_many_requests');
      } finally {
        fx.limiter.blockedSeconds = 0;
      }
      assert.ok(
        fx.limiter.keys.some((k) => k.includes('127.0.0.1')),
        'the client IP is the key',
      );
    });

    test('sign-out ends the session server-side and clears the cookie', async () => {
      const { token } = await signedIn();
      await problem(
        await send('/logout', { cookie: token, method: 'POST' }),
        403,
        'csrf_token_invalid',
      );
      const form = { csrf_token: await csrfOf(token) };
      const res = await send('/logout', { cookie: token, form });
      assert.equal(res.status, 204);
      assert.deepEqual(res.headers.getSetCookie(), [
        `${COOKIE}=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax`,
      ]);
      assert.equal((await fx.engine.validate(token)).ok, false);
    });

    test('sign-out everywhere ends every session of the user, this one included', async () => {
      const { user, token } = await signedIn();
      const laptop = await fx.tokenFor(user);
      const bystander = await signedIn();
      const form = { csrf_token: await csrfOf(token) };
      const res = await send('/logout-everywhere', { cookie: token, form });
      assert.deepEqual(await res.json(), { revoked: 1 });
      assert.match(res.headers.getSetCookie()[0] ?? '', /^__Host-coatcheck=; Max-Age=0/);
      assert.equal((await fx.engine.validate(token)).ok, false);
      assert.equal((await fx.engine.validate(laptop)).ok, false);
      assert.equal((await fx.engine.validate(bystander.token)).ok, true);
      await problem(await send('/logout-everywhere', { method: 'POST' }), 401, 'unauthenticated');
    });

    test('sign-in while signed in revokes the previous session (fixation)', async () => {
      const { user, token } = await signedIn();
      const res = await send('/login', {
        cookie: token,
        json: { email: user.email, password: PW },
      });
      assert.equal(res.status, 200);
      assert.equal((await fx.engine.validate(token)).ok, false);
    });

    test('startSession signs in a user the app authenticated, revoking the presented session', async () => {
      const { token } = await signedIn();
      const user = await fx.createUser();
      // The app hands startSession its whole user record, password hash included.
      const res = await send('/start', { cookie: token, json: { userId: user.id } });
      assert.deepEqual(await res.json(), { user: shown(user) }, 'no password hash');
      assert.match(res.headers.getSetCookie()[0] ?? '', /^__Host-coatcheck=ccs_/);
      assert.equal((await fx.engine.validate(token)).ok, false);
    });
  });
}
