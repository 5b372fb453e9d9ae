import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertProblem, type Harness, PW, startServer, type TestUser } from './harness.ts';

// The admin API: only a signed-in admin with a fresh session may use it, and every change (role,
// lock, revocation) is effective on the target's very next request.

let h: Harness;
let admin: TestUser;
before(async () => {
  h = await startServer();
});
after(() => h.close());

const MINUTE = 60_000;
const status = async (token: string, path = '/auth/session') =>
  (await h.request(path, { cookie: token })).status;
/** A freshly signed-in admin (the fresh window is measured from sign-in). */
const freshAdmin = () => h.createUser({ roles: ['user', 'admin'] });

const routes = (id: string): [string, string, unknown][] => [
  ['GET', '/admin/users', undefined],
  ['GET', `/admin/users/${id}/sessions`, undefined],
  ['PATCH', `/admin/users/${id}`, { locked: true }],
  ['DELETE', `/admin/users/${id}/sessions`, undefined],
  ['DELETE', '/admin/sessions', undefined],
];

describe('who may use it', () => {
  test('signed out: 401 on every admin route', async () => {
    const target = await h.createUser();
    for (const [method, path, json] of routes(target.id)) {
      const res = await h.request(path, { method, ...(json ? { json } : {}) });
      await assertProblem(res, 401, 'unauthenticated');
    }
  });

  test('a signed-in non-admin: 403 on every admin route, and nothing changes', async () => {
    const user = await h.createUser();
    const target = await h.createUser();
    for (const [method, path, json] of routes(target.id)) {
      const res = await h.request(path, { method, cookie: user.token, ...(json ? { json } : {}) });
      await assertProblem(res, 403, 'forbidden');
    }
    assert.equal(await status(target.token), 200, 'the target was not locked or revoked');
  });

  test('an admin past the fresh window: 401 reauth_required everywhere, until reauth', async () => {
    admin = await freshAdmin();
    const target = await h.createUser();
    h.clock.now += 11 * MINUTE;
    for (const [method, path, json] of routes(target.id)) {
      const res = await h.request(path, { method, cookie: admin.token, ...(json ? { json } : {}) });
      await assertProblem(res, 401, 'reauth_required');
    }
    assert.equal(await status(target.token), 200);
    const reauth = await h.request('/auth/reauth', { json: { password: PW }, cookie: admin.token });
    const token = /coatcheck=([^;]+)/.exec(reauth.headers.get('set-cookie') ?? '')?.[1] ?? '';
    assert.equal(await status(token, '/admin/users'), 200);
  });
});

describe('reading', () => {
  test('GET /admin/users lists public user fields only, paginated', async () => {
    admin = await freshAdmin();
    const res = await h.request('/admin/users?limit=2&offset=0', { cookie: admin.token });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const text = await res.text();
    assert.equal(text.includes('argon2'), false);
    assert.equal(text.includes('passwordHash'), false);
    const body = JSON.parse(text) as { users: Record<string, unknown>[]; limit: number };
    assert.equal(body.users.length, 2);
    assert.equal(body.limit, 2);
    assert.deepEqual(Object.keys(body.users[0] ?? {}).sort(), [
      'createdAt',
      'email',
      'id',
      'locked',
      'name',
      'passwordChangedAt',
      'roles',
    ]);
  });

  test('bad pagination is 400, not a 500 or a full table scan', async () => {
    admin = await freshAdmin();
    for (const query of [
      'limit=0',
      'limit=201',
      'limit=-1',
      'limit=abc',
      'offset=1e3',
      'limit=1.5',
    ]) {
      const res = await h.request(`/admin/users?${query}`, { cookie: admin.token });
      await assertProblem(res, 400, 'invalid_input');
    }
  });

  test("GET /admin/users/:id/sessions lists the target's sessions; an unknown id is 404", async () => {
    admin = await freshAdmin();
    const target = await h.createUser();
    const res = await h.request(`/admin/users/${target.id}/sessions`, { cookie: admin.token });
    assert.equal(res.status, 200);
    const { sessions } = (await res.json()) as { sessions: { id: string; current: boolean }[] };
    assert.equal(sessions.length, 1);
    assert.equal(sessions[0]?.current, false);
    assert.equal(target.token.includes(sessions[0]?.id ?? '-'), true);
    const unknown = await h.request('/admin/users/nope/sessions', { cookie: admin.token });
    await assertProblem(unknown, 404, 'not_found');
    const long = await h.request(`/admin/users/${'x'.repeat(500)}/sessions`, {
      cookie: admin.token,
    });
    await assertProblem(long, 404, 'not_found');
  });
});

describe('changing', () => {
  test('locking a user ends their sessions at once and refuses their sign-in; unlocking restores it', async () => {
    admin = await freshAdmin();
    const target = await h.createUser();
    const lock = await h.request(`/admin/users/${target.id}`, {
      method: 'PATCH',
      cookie: admin.token,
      json: { locked: true },
    });
    assert.equal(lock.status, 200);
    assert.equal(((await lock.json()) as { user: { locked: boolean } }).user.locked, true);
    assert.equal(await status(target.token), 401);
    assert.equal(await status(target.token, '/auth/verify'), 401);
    const login = await h.request('/auth/login', { json: { email: target.email, password: PW } });
    await assertProblem(login, 403, 'account_locked');
    const unlock = await h.request(`/admin/users/${target.id}`, {
      method: 'PATCH',
      cookie: admin.token,
      json: { locked: false },
    });
    assert.equal(unlock.status, 200);
    const again = await h.request('/auth/login', { json: { email: target.email, password: PW } });
    assert.equal(again.status, 200);
  });

  test('a demoted admin loses admin access on their very next request', async () => {
    admin = await freshAdmin();
    const other = await freshAdmin();
    assert.equal(await status(other.token, '/admin/users'), 200);
    const res = await h.request(`/admin/users/${other.id}`, {
      method: 'PATCH',
      cookie: admin.token,
      json: { roles: ['user'] },
    });
    assert.equal(res.status, 200);
    assert.deepEqual(((await res.json()) as { user: { roles: string[] } }).user.roles, ['user']);
    await assertProblem(await h.request('/admin/users', { cookie: other.token }), 403, 'forbidden');
    assert.equal(await status(other.token), 200, 'still signed in, just not an admin');
  });

  test('a promotion ends the target sessions (new id at the next sign-in)', async () => {
    admin = await freshAdmin();
    const target = await h.createUser();
    const res = await h.request(`/admin/users/${target.id}`, {
      method: 'PATCH',
      cookie: admin.token,
      json: { roles: ['user', 'admin'] },
    });
    assert.equal(res.status, 200);
    assert.equal(await status(target.token), 401);
  });

  test('bad PATCH bodies are 400; an unknown user is 404; an admin cannot lock themselves', async () => {
    admin = await freshAdmin();
    const target = await h.createUser();
    const patch = (id: string, json: unknown) =>
      h.request(`/admin/users/${id}`, { method: 'PATCH', cookie: admin.token, json });
    for (const body of [
      {},
      { roles: 'admin' },
      { roles: [] },
      { roles: ['Admin!'] },
      { locked: 'yes' },
      { locked: 1 },
    ]) {
      await assertProblem(await patch(target.id, body), 400, 'invalid_input');
    }
    await assertProblem(await patch('nope', { locked: true }), 404, 'not_found');
    await assertProblem(await patch(admin.id, { locked: true }), 400, 'invalid_input');
    assert.equal(await status(target.token), 200);
  });

  test('a PATCH whose lock half is refused changes no roles either (found by the fuzz test)', async () => {
    admin = await freshAdmin();
    const target = await h.createUser();
    const patch = (id: string, json: unknown) =>
      h.request(`/admin/users/${id}`, { method: 'PATCH', cookie: admin.token, json });
    const roles = async (id: string) => (await h.services.users.findById(id))?.roles;
    const before = await roles(target.id);
    const bad = { roles: ['user', 'auditor'], locked: 'yes' };
    await assertProblem(await patch(target.id, bad), 400, 'invalid_input');
    assert.deepEqual(await roles(target.id), before);
    assert.equal(await status(target.token), 200, 'no role gained, so no sessions ended');
    // An admin demoting and locking themselves in one request: refused whole.
    await assertProblem(
      await patch(admin.id, { roles: ['user'], locked: true }),
      400,
      'invalid_input',
    );
    assert.deepEqual(await roles(admin.id), ['user', 'admin']);
    assert.equal(await status(admin.token), 200);
  });

  test('DELETE /admin/users/:id/sessions ends every session of the target: {revoked: n}', async () => {
    admin = await freshAdmin();
    const target = await h.createUser();
    const second = await h.request('/auth/login', { json: { email: target.email, password: PW } });
    assert.equal(second.status, 200);
    const res = await h.request(`/admin/users/${target.id}/sessions`, {
      method: 'DELETE',
      cookie: admin.token,
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { revoked: 2 });
    assert.equal(await status(target.token), 401);
    assert.equal(await status(admin.token), 200);
  });

  test('a cross-site PATCH from an admin browser is 403 and the roles stay', async () => {
    admin = await freshAdmin();
    const target = await h.createUser();
    const res = await h.request(`/admin/users/${target.id}`, {
      method: 'PATCH',
      cookie: admin.token,
      headers: { 'sec-fetch-site': 'cross-site' },
      json: { roles: ['user', 'admin'] },
    });
    await assertProblem(res, 403, 'cross_origin_rejected');
    assert.deepEqual((await h.services.users.findById(target.id))?.roles, ['user']);
    assert.equal(await status(target.token), 200);
  });
});

// Last in this file: it ends the sessions every test above created.
describe("ending everyone's sessions", () => {
  test('DELETE /admin/sessions ends every session of every user but the caller’s: each token 401', async () => {
    admin = await freshAdmin();
    const signIn = (email: string) => h.request('/auth/login', { json: { email, password: PW } });
    const adminElsewhere = await signIn(admin.email);
    const elsewhereToken = /coatcheck=([^;]+)/.exec(adminElsewhere.headers.get('set-cookie') ?? '');
    assert.ok(elsewhereToken?.[1]);
    const user = await h.createUser();
    const otherAdmin = await h.createUser({ roles: ['user', 'admin'] });
    const liveSessions = async () => {
      let live = 0;
      for (const u of await h.services.users.list({ limit: 1000, offset: 0 })) {
        live += (await h.services.engine.list(u.id)).length;
      }
      return live;
    };
    const before = await liveSessions();
    assert.ok(before >= 4);

    const res = await h.request('/admin/sessions', { method: 'DELETE', cookie: admin.token });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { revoked: before - 1 });
    for (const token of [user.token, otherAdmin.token, elsewhereToken[1]]) {
      assert.equal(await status(token), 401);
    }
    assert.equal(await status(admin.token), 200, 'the admin who asked stays signed in');
    assert.equal(await liveSessions(), 1);
    const [event] = await h.services.audit.list({ limit: 1 });
    assert.equal(event?.type, 'session.revoked_all');
    assert.deepEqual(
      { userId: event?.userId, scope: event?.detail?.scope, count: event?.detail?.count },
      { userId: null, scope: 'everyone', count: before - 1 },
    );
  });
});
