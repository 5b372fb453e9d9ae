import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  assertProblem,
  type Harness,
  PW,
  setCookieLine,
  setCookieValue,
  startServer,
  type TestUser,
} from './harness.ts';

// "Your devices": a user lists their sessions and revokes them. Another user's session is not
// theirs to see or end (404, same as unknown), and ending others needs a fresh session.

let h: Harness;
before(async () => {
  h = await startServer();
});
after(() => h.close());

const MINUTE = 60_000;
interface View {
  id: string;
  current: boolean;
  ip: string | null;
  userAgent: string | null;
  device: string;
}

async function secondSession(
  u: TestUser,
  userAgent = 'Mozilla/5.0 (X11; Linux x86_64) Firefox/131.0',
) {
  const res = await h.request('/auth/login', {
    json: { email: u.email, password: PW },
    headers: { 'user-agent': userAgent },
  });
  assert.equal(res.status, 200);
  const { session } = (await res.json()) as { session: View };
  return { id: session.id, token: setCookieValue(res, 'coatcheck') ?? '' };
}

async function list(token: string): Promise<View[]> {
  const res = await h.request('/auth/sessions', { cookie: token });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  return ((await res.json()) as { sessions: View[] }).sessions;
}

const status = async (token: string) =>
  (await h.request('/auth/session', { cookie: token })).status;

describe('listing', () => {
  test('GET /auth/sessions lists opaque handles and metadata, the current one marked', async () => {
    const u = await h.createUser();
    const other = await secondSession(u);
    const res = await h.request('/auth/sessions', { cookie: u.token });
    const text = await res.text();
    const { sessions } = JSON.parse(text) as { sessions: View[] };
    assert.equal(sessions.length, 2);
    for (const s of sessions) {
      assert.deepEqual(Object.keys(s).sort(), [
        'createdAt',
        'current',
        'device',
        'expiresAt',
        'id',
        'ip',
        'lastSeenAt',
        'userAgent',
      ]);
    }
    assert.equal(sessions.filter((s) => s.current).length, 1);
    const firefox = sessions.find((s) => s.id === other.id);
    assert.match(firefox?.device ?? '', /Firefox/);
    assert.equal(firefox?.ip, '127.0.0.1');
    for (const token of [u.token, other.token]) {
      assert.equal(text.includes(token.split('.')[1] ?? '-'), false, 'no secret in the listing');
    }
  });

  test('a listed handle presented as a cookie is not a session', async () => {
    const u = await h.createUser();
    const [view] = await list(u.token);
    assert.ok(view);
    await assertProblem(
      await h.request('/auth/session', { cookie: view.id }),
      401,
      'unauthenticated',
    );
    await assertProblem(
      await h.request('/auth/session', { cookie: `ccs_${view.id}` }),
      401,
      'unauthenticated',
    );
  });

  test('signed out, the session routes are 401', async () => {
    await assertProblem(await h.request('/auth/sessions'), 401, 'unauthenticated');
    await assertProblem(
      await h.request('/auth/sessions', { method: 'DELETE' }),
      401,
      'unauthenticated',
    );
    await assertProblem(
      await h.request('/auth/sessions/abc', { method: 'DELETE' }),
      401,
      'unauthenticated',
    );
  });
});

describe('revoking one session', () => {
  test('DELETE /auth/sessions/:id ends that session at once (204)', async () => {
    const u = await h.createUser();
    const other = await secondSession(u);
    const res = await h.request(`/auth/sessions/${other.id}`, {
      method: 'DELETE',
      cookie: u.token,
    });
    assert.equal(res.status, 204);
    assert.equal(setCookieLine(res, 'coatcheck'), null, 'the caller keeps their own cookie');
    assert.equal(await status(other.token), 401);
    assert.equal(await status(u.token), 200);
  });

  test("another user's session id is 404, exactly like an unknown one, and it lives", async () => {
    const mallory = await h.createUser();
    const victim = await h.createUser();
    const [target] = await list(victim.token);
    assert.ok(target);
    const theirs = await h.request(`/auth/sessions/${target.id}`, {
      method: 'DELETE',
      cookie: mallory.token,
    });
    const unknown = await h.request('/auth/sessions/AAAAAAAAAAAAAAAAAAAAAA', {
      method: 'DELETE',
      cookie: mallory.token,
    });
    const a = await assertProblem(theirs, 404, 'not_found');
    const b = await assertProblem(unknown, 404, 'not_found');
    assert.deepEqual(a, b);
    assert.equal(await status(victim.token), 200);
  });

  test('revoking the current session is a sign-out: 204, a clearing cookie and Clear-Site-Data', async () => {
    const u = await h.createUser();
    const [current] = await list(u.token);
    assert.ok(current?.current);
    const res = await h.request(`/auth/sessions/${current.id}`, {
      method: 'DELETE',
      cookie: u.token,
    });
    assert.equal(res.status, 204);
    assert.match(setCookieLine(res, 'coatcheck') ?? '', /^coatcheck=; Max-Age=0/);
    assert.equal(res.headers.get('clear-site-data'), '"cache", "cookies", "storage"');
    assert.equal(await status(u.token), 401);
  });

  test('a stale session (past the fresh window) must re-enter the password first', async () => {
    const u = await h.createUser();
    const other = await secondSession(u);
    h.clock.now += 11 * MINUTE;
    const stale = await h.request(`/auth/sessions/${other.id}`, {
      method: 'DELETE',
      cookie: u.token,
    });
    await assertProblem(stale, 401, 'reauth_required');
    assert.equal(await status(other.token), 200);
    const reauth = await h.request('/auth/reauth', { json: { password: PW }, cookie: u.token });
    assert.equal(reauth.status, 200);
    const fresh = setCookieValue(reauth, 'coatcheck') ?? '';
    const res = await h.request(`/auth/sessions/${other.id}`, { method: 'DELETE', cookie: fresh });
    assert.equal(res.status, 204);
    assert.equal(await status(other.token), 401);
  });
});

describe('revoking all other sessions', () => {
  test('DELETE /auth/sessions answers {revoked: n}; the others die, this one lives', async () => {
    const u = await h.createUser();
    const a = await secondSession(u);
    const b = await secondSession(u);
    const res = await h.request('/auth/sessions', { method: 'DELETE', cookie: u.token });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { revoked: 2 });
    assert.equal(await status(a.token), 401);
    assert.equal(await status(b.token), 401);
    assert.equal(await status(u.token), 200);
    assert.equal((await list(u.token)).length, 1);
  });

  test('from a stale session it is 401 reauth_required and nothing is revoked', async () => {
    const u = await h.createUser();
    const a = await secondSession(u);
    h.clock.now += 11 * MINUTE;
    const res = await h.request('/auth/sessions', { method: 'DELETE', cookie: u.token });
    await assertProblem(res, 401, 'reauth_required');
    assert.equal(await status(a.token), 200);
  });
});
