import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { StoreUnavailableError } from '../../src/core/errors.ts';
import { assertProblem, type Harness, PW, startServer, type TestUser } from './harness.ts';

// Fail closed: when a store fails, the answer is 503 problem+json. Never signed in, and never
// signed out either: no Set-Cookie (the cookie is not cleared), no Clear-Site-Data.

const FORGED = `ccs_${'A'.repeat(22)}.${'B'.repeat(32)}`;

function assertNoCookie(res: Response) {
  assert.deepEqual(res.headers.getSetCookie(), [], 'a 503 never sets or clears a cookie');
  assert.equal(res.headers.get('clear-site-data'), null);
}

describe('one store operation fails', () => {
  let h: Harness;
  let u: TestUser;
  before(async () => {
    h = await startServer();
    u = await h.createUser();
  });
  after(() => h.close());

  /**
   * Makes one kind of session-store operation throw StoreUnavailableError while `run` runs
   * (`get` covers both reads the engine may use: get, and the SQLite store's getWithUser JOIN;
   * a probe that cannot read the file counts as a change, test/stores/sqlite-changes.test.ts).
   */
  async function failing<T>(kind: 'delete' | 'create' | 'get', run: () => Promise<T>): Promise<T> {
    const store = h.services.sessions as unknown as Record<string, unknown>;
    const methods = kind === 'get' ? ['get', 'getWithUser'] : [kind];
    for (const method of methods) {
      store[method] = async () => {
        throw new StoreUnavailableError('injected failure');
      };
    }
    // Nothing of the user cached, as after any commit to the file: the read has to happen.
    if (kind === 'get') h.services.engine.nearCache?.invalidate({ userIds: [u.id] });
    try {
      return await run();
    } finally {
      for (const method of methods) delete store[method];
    }
  }

  test('logout while the store cannot delete: 503, the cookie is kept, the session lives on', async () => {
    const res = await failing('delete', () =>
      h.request('/auth/logout', { method: 'POST', cookie: u.token }),
    );
    assertNoCookie(res);
    await assertProblem(res, 503, 'store_unavailable');
    assert.equal((await h.request('/auth/session', { cookie: u.token })).status, 200);
  });

  test('login while the store cannot create: 503 and no cookie, even a clearing one for a bad old cookie', async () => {
    const res = await failing('create', () =>
      h.request('/auth/login', { json: { email: u.email, password: PW }, cookie: FORGED }),
    );
    assertNoCookie(res);
    await assertProblem(res, 503, 'store_unavailable');
  });

  test('validation while the store cannot read: 503, not 401, and the cookie is not cleared', async () => {
    for (const cookie of [u.token, FORGED]) {
      for (const path of ['/auth/session', '/auth/verify', '/auth/sessions', '/admin/users']) {
        const res = await failing('get', () => h.request(path, { cookie }));
        assertNoCookie(res);
        await assertProblem(res, 503, 'store_unavailable');
      }
    }
  });

  test('the failure is logged at error with its cause; the response reveals nothing of it', async () => {
    const res = await failing('get', () => h.request('/auth/session', { cookie: u.token }));
    const text = await res.text();
    assert.equal(text.includes('injected'), false);
    const line = h.logs.map((l) => JSON.parse(l)).findLast((l) => l.code === 'store_unavailable');
    assert.equal(line?.level, 50);
    assert.match(JSON.stringify(line?.err), /injected failure/);
  });
});

describe('the database is gone', () => {
  let h: Harness;
  let u: TestUser;
  before(async () => {
    h = await startServer();
    u = await h.createUser();
    await h.services.close();
  });
  after(() => h.close());

  test('every session-bearing request is 503 with no Set-Cookie', async () => {
    for (const [path, init] of [
      ['/auth/session', { cookie: u.token }],
      ['/auth/session', { cookie: FORGED }],
      ['/auth/verify', { cookie: u.token }],
      ['/auth/login', { json: { email: u.email, password: PW } }],
      ['/auth/signup', { json: { email: 'new@example.test', password: PW } }],
      ['/auth/logout', { method: 'POST', cookie: u.token }],
    ] as const) {
      const res = await h.request(path, init);
      assertNoCookie(res);
      await assertProblem(res, 503, 'store_unavailable');
    }
  });

  test('readiness says 503; liveness still answers 200', async () => {
    await assertProblem(await h.request('/readyz'), 503, 'store_unavailable');
    assert.equal((await h.request('/healthz')).status, 200);
  });
});
