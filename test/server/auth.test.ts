import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  assertProblem,
  type Harness,
  PW,
  setCookieLine,
  setCookieValue,
  startServer,
} from './harness.ts';

// The JSON auth API end to end over HTTP: sign-up, sign-in, the current session, re-auth,
// password change and sign-out, with the token living only in Set-Cookie.

let h: Harness;
const NAME = 'coatcheck';
before(async () => {
  h = await startServer();
});
after(() => h.close());

/** Every JSON body a test saw, to check the token never appears in one. */
const bodies: string[] = [];
async function json(res: Response): Promise<Record<string, unknown>> {
  const text = await res.text();
  bodies.push(text);
  return JSON.parse(text) as Record<string, unknown>;
}

async function login(email: string, password = PW, cookie?: string) {
  const res = await h.request('/auth/login', {
    json: { email, password },
    ...(cookie === undefined ? {} : { cookie }),
  });
  const body = await json(res);
  assert.equal(res.status, 200, JSON.stringify(body));
  const token = setCookieValue(res, NAME);
  assert.ok(token, 'login sets the session cookie');
  return { res, body, token };
}

describe('sign-up and sign-in', () => {
  test('sign-up answers 201 {user}, sets a Secure HttpOnly SameSite=Lax host-only cookie', async () => {
    const res = await h.request('/auth/signup', {
      json: { email: 'Ann@Example.TEST', password: PW, name: 'Ann' },
    });
    assert.equal(res.status, 201);
    const body = await json(res);
    const user = body.user as Record<string, unknown>;
    assert.equal(user.email, 'ann@example.test');
    assert.equal(user.name, 'Ann');
    assert.deepEqual(Object.keys(body), ['user']);
    const line = setCookieLine(res, NAME);
    assert.match(
      line ?? '',
      /^coatcheck=ccs_[\w-]+\.[\w-]+; Path=\/; HttpOnly; Secure; SameSite=Lax$/,
    );
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const token = setCookieValue(res, NAME) ?? '';
    const session = await h.request('/auth/session', { cookie: token });
    assert.equal(session.status, 200);
    assert.equal(((await json(session)).user as { email: string }).email, 'ann@example.test');
  });

  test('sign-up while signed in ends the session the new cookie replaces', async () => {
    const before = await h.createUser();
    const res = await h.request('/auth/signup', {
      json: { email: 'second-account@example.test', password: PW },
      cookie: before.token,
    });
    assert.equal(res.status, 201);
    await json(res);
    const old = await h.request('/auth/session', { cookie: before.token });
    await assertProblem(old, 401, 'unauthenticated');
  });

  test('sign-up with a taken email (any letter case) is 409 email_taken, no cookie', async () => {
    const res = await h.request('/auth/signup', {
      json: { email: 'ANN@example.test', password: PW },
    });
    assert.equal(setCookieLine(res, NAME), null);
    await assertProblem(res, 409, 'email_taken');
  });

  test('sign-up with a common password is 400 weak_password', async () => {
    const res = await h.request('/auth/signup', {
      json: { email: 'weak@example.test', password: 'password123' },
    });
    await assertProblem(res, 400, 'weak_password');
  });

  test('login answers {user, session} with a public session id only, and a fresh cookie', async () => {
    const { body, token } = await login('ann@example.test');
    assert.deepEqual(Object.keys(body).sort(), ['session', 'user']);
    const session = body.session as Record<string, unknown>;
    assert.equal(session.current, true);
    assert.equal(token.startsWith(`ccs_${session.id}.`), true, 'session.id is the public half');
    assert.equal('secretHash' in session, false);
    assert.equal('passwordHash' in (body.user as object), false);
  });

  test('the cookie is a browser-session cookie unless "remember" asks for Max-Age ≤ the lifetime', async () => {
    const plain = await login('ann@example.test');
    assert.doesNotMatch(setCookieLine(plain.res, NAME) ?? '', /Max-Age|Expires/);
    const res = await h.request('/auth/login', {
      json: { email: 'ann@example.test', password: PW, remember: true },
    });
    assert.equal(res.status, 200);
    const maxAge = Number(/Max-Age=(\d+)/.exec(setCookieLine(res, NAME) ?? '')?.[1]);
    assert.ok(maxAge > 0 && maxAge <= 30 * 86_400, `Max-Age ${maxAge}`);
    await json(res);
  });

  test('an unknown email and a wrong password get the same 401 invalid_credentials', async () => {
    const unknown = await h.request('/auth/login', {
      json: { email: 'nobody@example.test', password: PW },
    });
    const wrong = await h.request('/auth/login', {
      json: { email: 'ann@example.test', password: `${PW}!` },
    });
    const a = await assertProblem(unknown, 401, 'invalid_credentials');
    const b = await assertProblem(wrong, 401, 'invalid_credentials');
    assert.deepEqual(a, b);
    assert.equal(setCookieLine(unknown, NAME), null);
  });

  test('login rotates: every login is a new token, and the one presented during login dies', async () => {
    const first = await login('ann@example.test');
    const second = await login('ann@example.test', PW, first.token);
    assert.notEqual(first.token, second.token);
    await assertProblem(
      await h.request('/auth/session', { cookie: first.token }),
      401,
      'unauthenticated',
    );
    assert.equal((await h.request('/auth/session', { cookie: second.token })).status, 200);
  });

  test('a planted pre-login cookie is not upgraded: login issues a different id (fixation)', async () => {
    const planted = 'ccs_AAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB';
    const { token } = await login('ann@example.test', PW, planted);
    assert.notEqual(token, planted);
  });
});

describe('the current session', () => {
  test('GET /auth/session gives {user, session, csrfToken}, no-store, and 401 when signed out', async () => {
    const { token } = await login('ann@example.test');
    const res = await h.request('/auth/session', { cookie: token });
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const body = await json(res);
    assert.deepEqual(Object.keys(body).sort(), ['csrfToken', 'session', 'user']);
    assert.match(body.csrfToken as string, /^[\w-]{43}$/);
    assert.deepEqual(Object.keys(body.user as object).sort(), ['email', 'id', 'name', 'roles']);
    const signedOut = await h.request('/auth/session');
    assert.equal(signedOut.headers.get('cache-control'), 'no-store');
    assert.equal(setCookieLine(signedOut, NAME), null, 'no cookie presented: nothing to clear');
    await assertProblem(signedOut, 401, 'unauthenticated');
  });

  test('a token in the query string (?sid=) is never read', async () => {
    const { token } = await login('ann@example.test');
    const res = await h.request(`/auth/session?sid=${token}&${NAME}=${token}`);
    await assertProblem(res, 401, 'unauthenticated');
  });

  test('a token in a custom header or an Authorization header is ignored (bearer off)', async () => {
    const { token } = await login('ann@example.test');
    const res = await h.request('/auth/session', {
      headers: { authorization: `Bearer ${token}`, 'x-session': token },
    });
    await assertProblem(res, 401, 'unauthenticated');
  });
});

describe('sign-out', () => {
  test('logout is 204, ends the session server-side, clears the cookie and site data', async () => {
    const { token } = await login('ann@example.test');
    const res = await h.request('/auth/logout', { method: 'POST', cookie: token });
    assert.equal(res.status, 204);
    assert.equal(
      setCookieLine(res, NAME),
      'coatcheck=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax',
    );
    assert.equal(res.headers.get('clear-site-data'), '"cache", "cookies", "storage"');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    // Replaying the captured cookie after logout: refused on every protected route.
    await assertProblem(
      await h.request('/auth/session', { cookie: token }),
      401,
      'unauthenticated',
    );
    await assertProblem(await h.request('/auth/verify', { cookie: token }), 401, 'unauthenticated');
    await assertProblem(
      await h.request('/auth/sessions', { cookie: token }),
      401,
      'unauthenticated',
    );
  });

  test('logout when signed out is still 204 with a clearing cookie (idempotent)', async () => {
    const res = await h.request('/auth/logout', { method: 'POST' });
    assert.equal(res.status, 204);
    assert.match(setCookieLine(res, NAME) ?? '', /^coatcheck=; Max-Age=0;/);
  });

  test('GET /auth/logout is 405 with Allow: POST and changes nothing', async () => {
    const { token } = await login('ann@example.test');
    const res = await h.request('/auth/logout', { cookie: token });
    assert.equal(res.headers.get('allow'), 'POST');
    await assertProblem(res, 405, 'method_not_allowed');
    assert.equal((await h.request('/auth/session', { cookie: token })).status, 200);
  });
});

describe('re-auth and password change', () => {
  test('reauth with the right password rotates the session; a wrong one is 401', async () => {
    const { token } = await login('ann@example.test');
    const wrong = await h.request('/auth/reauth', {
      json: { password: 'nope nope nope' },
      cookie: token,
    });
    await assertProblem(wrong, 401, 'invalid_credentials');
    const res = await h.request('/auth/reauth', { json: { password: PW }, cookie: token });
    assert.equal(res.status, 200);
    const rotated = setCookieValue(res, NAME);
    assert.ok(rotated && rotated !== token);
    const body = await json(res);
    assert.deepEqual(Object.keys(body).sort(), ['session', 'user']);
    assert.equal((await h.request('/auth/session', { cookie: rotated })).status, 200);
  });

  test('reauth signed out is 401', async () => {
    await assertProblem(
      await h.request('/auth/reauth', { json: { password: PW } }),
      401,
      'unauthenticated',
    );
  });

  test('password change needs the current password; a wrong one changes nothing', async () => {
    const { token } = await login('ann@example.test');
    const missing = await h.request('/auth/password', {
      json: { newPassword: 'a brand new passphrase' },
      cookie: token,
    });
    await assertProblem(missing, 400, 'invalid_input');
    const wrong = await h.request('/auth/password', {
      json: { currentPassword: 'not my password', newPassword: 'a brand new passphrase' },
      cookie: token,
    });
    await assertProblem(wrong, 401, 'invalid_credentials');
    await login('ann@example.test', PW); // still the old password
  });

  test('password change kills the other sessions; this one continues with a rotated cookie', async () => {
    const a = await login('ann@example.test');
    const b = await login('ann@example.test');
    const res = await h.request('/auth/password', {
      json: { currentPassword: PW, newPassword: 'a brand new passphrase' },
      cookie: a.token,
    });
    assert.equal(res.status, 200, await res.clone().text());
    const rotated = setCookieValue(res, NAME);
    assert.ok(rotated && rotated !== a.token);
    await json(res);
    await assertProblem(
      await h.request('/auth/session', { cookie: b.token }),
      401,
      'unauthenticated',
    );
    assert.equal((await h.request('/auth/session', { cookie: rotated })).status, 200);
    // Old password refused, new one works.
    const old = await h.request('/auth/login', {
      json: { email: 'ann@example.test', password: PW },
    });
    await assertProblem(old, 401, 'invalid_credentials');
    const fresh = await login('ann@example.test', 'a brand new passphrase');
    // The rotated-out cookie replayed after the grace window reads as theft: the session ends.
    h.clock.now += 31_000;
    await assertProblem(
      await h.request('/auth/session', { cookie: a.token }),
      401,
      'unauthenticated',
    );
    assert.equal(h.events('rotated_reuse').length, 1);
    await assertProblem(
      await h.request('/auth/session', { cookie: rotated }),
      401,
      'unauthenticated',
    );
    assert.equal((await h.request('/auth/session', { cookie: fresh.token })).status, 200);
  });
});

describe('secrets stay out of bodies and logs', () => {
  test('no JSON body the API returned contains a session token, and no log line does', async () => {
    const { token } = await login('ann@example.test', 'a brand new passphrase');
    const session = await json(await h.request('/auth/session', { cookie: token }));
    await json(await h.request('/auth/sessions', { cookie: token }));
    assert.ok(session.user);
    const secretOf = (t: string) => t.split('.')[1] ?? t;
    for (const body of bodies) {
      assert.equal(body.includes(secretOf(token)), false, `token secret leaked in ${body}`);
      assert.equal(/ccs_[\w-]+\.[\w-]{20,}/.test(body), false, `a token leaked in ${body}`);
      assert.equal(body.includes('passwordHash'), false);
      assert.equal(body.includes('$argon2id$'), false);
    }
    const logs = h.logs.join('');
    assert.equal(/ccs_[\w-]+\.[\w-]{20,}/.test(logs), false, 'a token reached the logs');
    assert.equal(logs.includes(PW), false, 'a password reached the logs');
  });
});
