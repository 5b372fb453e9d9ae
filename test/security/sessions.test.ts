import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/server/config.ts';
import {
  assertProblem,
  type Harness,
  PW,
  setCookieLine,
  setCookieValue,
  startServer,
} from '../server/harness.ts';

// Session rows of the security checklist (docs/security.md) that had no test of their own: each
// test is named after the attack it proves is refused, against the real app on real SQLite.

const NAME = 'coatcheck';
const SECOND = 1000;

async function signIn(h: Harness, email: string): Promise<{ id: string; token: string }> {
  const res = await h.request('/auth/login', { json: { email, password: PW } });
  assert.equal(res.status, 200);
  const { session } = (await res.json()) as { session: { id: string } };
  const token = setCookieValue(res, h.config.cookie.name);
  assert.ok(token);
  return { id: session.id, token };
}

const status = async (h: Harness, token: string, path = '/auth/session') =>
  (await h.request(path, { cookie: token })).status;

describe('account disabling and expiry (ASVS 7.4.2, 7.3.1, SM-CS "Idle Timeout")', () => {
  let h: Harness;
  before(async () => {
    h = await startServer({ session: { idleTimeoutSeconds: 900 } });
  });
  after(() => h.close());

  test('locking an account kills every one of its sessions at once, on every route', async () => {
    const admin = await h.createUser({ roles: ['user', 'admin'] });
    const target = await h.createUser();
    const laptop = await signIn(h, target.email);
    for (const token of [target.token, laptop.token]) assert.equal(await status(h, token), 200);

    const lock = await h.request(`/admin/users/${target.id}`, {
      method: 'PATCH',
      cookie: admin.token,
      json: { locked: true },
    });
    assert.equal(lock.status, 200);

    for (const token of [target.token, laptop.token]) {
      assert.equal(await status(h, token), 401, 'the session is refused on the next request');
      assert.equal(await status(h, token, '/auth/verify'), 401, 'forward-auth refuses it too');
    }
    assert.deepEqual(await h.services.sessions.listByUser(target.id), [], 'the store holds none');
  });

  test('a stolen cookie replayed after the idle timeout is refused by the server, whatever the store still holds', async () => {
    const u = await h.createUser();
    const id = u.token.slice(4, 26);
    // Activity just inside the idle timeout keeps the session alive (sliding expiry).
    for (let i = 0; i < 3; i++) {
      h.clock.now += 899 * SECOND;
      assert.equal(await status(h, u.token), 200, `active after ${i + 1} × 899 s`);
    }
    h.clock.now += 901 * SECOND;
    // The store judges its own TTL by wall time and still has the record: the engine decides.
    assert.ok(await h.services.sessions.get(id), 'the store has not dropped the record yet');
    const replay = await h.request('/auth/session', { cookie: u.token });
    await assertProblem(replay, 401, 'unauthenticated');
    assert.match(setCookieLine(replay, NAME) ?? '', /^coatcheck=; Max-Age=0;/);
    assert.equal(await h.services.sessions.get(id), null, 'and the record is deleted');
  });
});

describe('where the token may travel (ASVS 14.2.1, 3.3.1, 3.3.3, 16.2.5)', () => {
  let h: Harness;
  before(async () => {
    h = await startServer();
  });
  after(() => h.close());

  test('a session token smuggled in a JSON field or a form field is never read as a credential', async () => {
    const u = await h.createUser();
    const fields = { coatcheck: u.token, sid: u.token, session: u.token, token: u.token };
    const json = await h.request('/auth/reauth', { json: { password: PW, ...fields } });
    await assertProblem(json, 401, 'unauthenticated');

    const form = await h.request('/account/password', {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'sec-fetch-site': 'same-origin',
      },
      body: new URLSearchParams({
        ...fields,
        current_password: PW,
        new_password: 'attacker chosen passphrase',
      }).toString(),
    });
    assert.equal(form.status, 303, 'a signed-out form post is sent to sign-in');
    assert.equal(form.headers.get('location'), '/login?next=%2Faccount');
    await signIn(h, u.email); // the old password still works: nothing was changed
  });

  test('the device list gives away no token, no secret and no hash of either', async () => {
    const u = await h.createUser();
    const other = await signIn(h, u.email);
    const res = await h.request('/auth/sessions', { cookie: u.token });
    assert.equal(res.status, 200);
    const text = await res.text();
    for (const token of [u.token, other.token]) {
      const secret = token.split('.')[1] ?? '';
      const forbidden = [token, secret];
      for (const value of [token, secret]) {
        const digest = createHash('sha256').update(value).digest();
        forbidden.push(digest.toString('hex'), digest.toString('base64'));
        forbidden.push(digest.toString('base64url'));
      }
      for (const value of forbidden) assert.equal(text.includes(value), false, value);
    }
  });

  test('over https the session cookie is __Host- with Secure, Path=/ and no Domain, and an unprefixed copy is not read', async () => {
    const loaded = loadConfig({ env: { COATCHECK_PUBLIC_URL: 'https://auth.example' } });
    const s = await startServer({ publicUrl: loaded.publicUrl, cookie: loaded.cookie });
    try {
      const u = await s.createUser();
      const res = await s.request('/auth/login', { json: { email: u.email, password: PW } });
      assert.equal(res.status, 200);
      const line = setCookieLine(res, '__Host-coatcheck') ?? '';
      assert.match(
        line,
        /^__Host-coatcheck=ccs_[\w-]+\.[\w-]+; Path=\/; HttpOnly; Secure; SameSite=Lax$/,
      );
      assert.doesNotMatch(line, /Domain=/i);
      const token = setCookieValue(res, '__Host-coatcheck') ?? '';
      const signedIn = await s.request('/auth/session', {
        headers: { cookie: `__Host-coatcheck=${token}` },
      });
      assert.equal(signedIn.status, 200);
      const unprefixed = await s.request('/auth/session', {
        headers: { cookie: `coatcheck=${token}` },
      });
      await assertProblem(unprefixed, 401, 'unauthenticated');
    } finally {
      await s.close();
    }
  });
});
