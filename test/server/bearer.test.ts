import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  assertProblem,
  type Harness,
  PW,
  setCookieLine,
  startServer,
  type TestUser,
} from './harness.ts';

// Opt-in bearer transport for native clients: the same opaque token, in the body once at login
// and then in `Authorization: Bearer`. Never a cookie, and a cookie never rides on it.

describe('bearer transport on', () => {
  let h: Harness;
  let u: TestUser;
  before(async () => {
    h = await startServer({ bearerTransport: true });
    u = await h.createUser();
  });
  after(() => h.close());

  const bearerLogin = async () => {
    const res = await h.request('/auth/login', {
      json: { email: u.email, password: PW, transport: 'bearer' },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.getSetCookie().length, 0, 'no cookie for a bearer login');
    const body = (await res.json()) as { token: string; session: { id: string }; user: unknown };
    assert.ok(body.user);
    assert.equal(body.token.startsWith(`ccs_${body.session.id}.`), true);
    return body.token;
  };
  const auth = (token: string) => ({ authorization: `Bearer ${token}` });

  test('login with transport "bearer" returns {user, session, token} and sets no cookie', async () => {
    const token = await bearerLogin();
    const res = await h.request('/auth/session', { headers: auth(token) });
    assert.equal(res.status, 200);
    const verify = await h.request('/auth/verify', {
      headers: { authorization: `bearer ${token}` },
    });
    assert.equal(verify.status, 200, 'the scheme is case-insensitive');
  });

  test('a bad bearer token is 401 and no cookie is touched', async () => {
    const res = await h.request('/auth/session', { headers: auth('ccs_nope.nope') });
    assert.equal(res.headers.getSetCookie().length, 0);
    await assertProblem(res, 401, 'unauthenticated');
  });

  test('with a bearer header the cookie is ignored, so the CSRF exemption cannot carry a cookie', async () => {
    const res = await h.request('/auth/sessions', {
      method: 'DELETE',
      headers: { ...auth('garbage'), 'sec-fetch-site': 'cross-site' },
      cookie: u.token,
    });
    await assertProblem(res, 401, 'unauthenticated');
    assert.equal((await h.request('/auth/session', { cookie: u.token })).status, 200);
  });

  test('a bearer sign-out, even with a bad token, leaves cookies alone: no Set-Cookie, no Clear-Site-Data', async () => {
    for (const token of ['garbage', await bearerLogin()]) {
      const res = await h.request('/auth/logout', {
        method: 'POST',
        headers: { ...auth(token), 'sec-fetch-site': 'cross-site' },
        cookie: u.token,
      });
      assert.equal(res.status, 204);
      assert.equal(res.headers.getSetCookie().length, 0, token);
      assert.equal(res.headers.get('clear-site-data'), null, token);
    }
    assert.equal((await h.request('/auth/session', { cookie: u.token })).status, 200);
  });

  test('a bearer client is not subject to the browser cross-origin check', async () => {
    const token = await bearerLogin();
    const res = await h.request('/auth/logout', {
      method: 'POST',
      headers: { ...auth(token), 'sec-fetch-site': 'cross-site' },
    });
    assert.equal(res.status, 204);
    await assertProblem(
      await h.request('/auth/session', { headers: auth(token) }),
      401,
      'unauthenticated',
    );
  });

  test('cookie requests still pass the cross-origin check when bearer is on', async () => {
    const res = await h.request('/auth/logout', {
      method: 'POST',
      headers: { 'sec-fetch-site': 'cross-site' },
      cookie: u.token,
    });
    await assertProblem(res, 403, 'cross_origin_rejected');
  });

  test('reauth over bearer returns the rotated token in the body, not a cookie', async () => {
    const token = await bearerLogin();
    const res = await h.request('/auth/reauth', { headers: auth(token), json: { password: PW } });
    assert.equal(res.status, 200);
    assert.equal(setCookieLine(res, 'coatcheck'), null);
    const body = (await res.json()) as { token: string };
    assert.ok(body.token && body.token !== token);
    assert.equal((await h.request('/auth/session', { headers: auth(body.token) })).status, 200);
  });

  test('the CORS preflight of a trusted origin allows the Authorization header', async () => {
    const g = await startServer({ bearerTransport: true, trustedOrigins: ['https://app.example'] });
    try {
      const res = await g.request('/auth/session', {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' },
      });
      assert.equal(res.headers.get('access-control-allow-headers'), 'Content-Type, Authorization');
    } finally {
      await g.close();
    }
  });
});

describe('bearer transport off (the default)', () => {
  let h: Harness;
  before(async () => {
    h = await startServer();
  });
  after(() => h.close());

  test('asking for transport "bearer" is 400 and no token is issued', async () => {
    const u = await h.createUser();
    const res = await h.request('/auth/login', {
      json: { email: u.email, password: PW, transport: 'bearer' },
    });
    assert.equal(res.headers.getSetCookie().length, 0);
    const problem = await assertProblem(res, 400, 'invalid_input');
    assert.equal((problem.errors as { field: string }[])[0]?.field, 'transport');
  });

  test('an Authorization: Bearer header does not exempt a cross-site cookie request', async () => {
    const u = await h.createUser();
    const res = await h.request('/auth/logout', {
      method: 'POST',
      headers: { authorization: `Bearer ${u.token}`, 'sec-fetch-site': 'cross-site' },
      cookie: u.token,
    });
    await assertProblem(res, 403, 'cross_origin_rejected');
  });
});
