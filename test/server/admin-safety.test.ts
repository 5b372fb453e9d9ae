import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { UserStore } from '../../src/accounts/user-store.ts';
import { assertProblem, type Harness, PW, setCookieValue, startServer } from './harness.ts';
import { tokensIn } from './pages-fixture.ts';

// Found by a black-box audit of the admin surface, through the real server over HTTP:
// - an admin whose fresh window had passed still saw every user on GET /admin, while the API
//   (GET /admin/users) answered 401 reauth_required;
// - an admin could remove their own admin role (API and page form), even as the last admin.

/** COATCHECK_FRESH_WINDOW=6, as in the audit's reproduction. */
const FRESH_WINDOW_SECONDS = 6;

let h: Harness;
before(async () => {
  h = await startServer({ session: { freshWindowSeconds: FRESH_WINDOW_SECONDS } });
});
after(() => h.close());

/** A same-origin form post, as a browser sends it. */
const postForm = (path: string, cookie: string, fields: Record<string, string>) =>
  h.request(path, {
    cookie,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'sec-fetch-site': 'same-origin',
    },
    body: new URLSearchParams(fields).toString(),
  });

const rolesOf = async (id: string) => (await h.services.users.findById(id))?.roles;

describe('a stale admin sees no user data on the admin page', () => {
  test('GET /admin past the fresh window is the password prompt (401), not the user list; re-auth lands back on /admin', async () => {
    const admin = await h.createUser({ roles: ['user', 'admin'] });
    const other = await h.createUser();
    const fresh = await h.request('/admin', { cookie: admin.token });
    assert.equal(fresh.status, 200);
    assert.ok((await fresh.text()).includes(other.email), 'a fresh admin sees the list');

    h.clock.now += (FRESH_WINDOW_SECONDS + 1) * 1000;
    await assertProblem(
      await h.request('/admin/users', { cookie: admin.token }),
      401,
      'reauth_required',
    );
    for (const path of ['/admin', '/admin?page=1', '/admin?page=2&notice=roles_changed']) {
      const stale = await h.request(path, { cookie: admin.token });
      assert.equal(stale.status, 401, `${path}: like the API's reauth_required`);
      assert.equal(stale.headers.get('cache-control'), 'no-store');
      const prompt = await stale.text();
      assert.equal(prompt.includes(other.email), false, `${path} shows no other user's email`);
      assert.equal(prompt.includes('/admin/users/'), false, `${path} shows no per-user forms`);
      assert.match(prompt, /Confirm it’s you/);
      assert.match(prompt, /action="\/account\/reauth"/);
      assert.match(prompt, /name="next" value="\/admin"/);
    }

    const prompt = await (await h.request('/admin', { cookie: admin.token })).text();
    const reauth = await postForm('/account/reauth', admin.token, {
      csrf_token: tokensIn(prompt)[0] ?? '',
      password: PW,
      next: '/admin',
    });
    assert.equal(reauth.status, 303);
    assert.equal(reauth.headers.get('location'), '/admin?notice=reauthenticated');
    const token = setCookieValue(reauth, h.config.cookie.name);
    assert.ok(token, 're-auth rotates the session');
    const back = await h.request('/admin?notice=reauthenticated', { cookie: token });
    assert.equal(back.status, 200);
    assert.ok((await back.text()).includes(other.email));
  });

  test('a non-admin still gets the 403 page, stale or not (no hint about freshness)', async () => {
    const user = await h.createUser();
    h.clock.now += (FRESH_WINDOW_SECONDS + 1) * 1000;
    const res = await h.request('/admin', { cookie: user.token });
    assert.equal(res.status, 403);
    assert.match(await res.text(), /for administrators/);
  });
});

describe('an admin cannot remove their own admin role', () => {
  test('PATCH /admin/users/<own id> {roles:["user"]} is 400 invalid_input, roles unchanged', async () => {
    const admin = await h.createUser({ roles: ['user', 'admin'] });
    const res = await h.request(`/admin/users/${admin.id}`, {
      method: 'PATCH',
      cookie: admin.token,
      json: { roles: ['user'] },
    });
    const problem = await assertProblem(res, 400, 'invalid_input');
    assert.deepEqual(problem.errors, [
      { field: 'roles', message: 'you cannot remove your own admin role' },
    ]);
    assert.deepEqual(await rolesOf(admin.id), ['user', 'admin']);
    const still = await h.request('/admin/users', { cookie: admin.token });
    assert.equal(still.status, 200, 'still an admin');
    // Keeping the admin role while changing the others stays allowed.
    const keep = await h.request(`/admin/users/${admin.id}`, {
      method: 'PATCH',
      cookie: admin.token,
      json: { roles: ['admin'] },
    });
    assert.equal(keep.status, 200);
    assert.deepEqual(await rolesOf(admin.id), ['admin']);
  });

  test('the page form POST /admin/users/<own id>/roles roles=user is refused in words (400)', async () => {
    const admin = await h.createUser({ roles: ['user', 'admin'] });
    const csrf = tokensIn(await (await h.request('/admin', { cookie: admin.token })).text())[0];
    assert.ok(csrf);
    const res = await postForm(`/admin/users/${admin.id}/roles`, admin.token, {
      csrf_token: csrf,
      roles: 'user',
    });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /Roles you cannot remove your own admin role\./);
    assert.deepEqual(await rolesOf(admin.id), ['user', 'admin']);
  });

  test('another admin may still demote an admin (the actor stays admin, so one always remains)', async () => {
    const admin = await h.createUser({ roles: ['user', 'admin'] });
    const other = await h.createUser({ roles: ['user', 'admin'] });
    const res = await h.request(`/admin/users/${other.id}`, {
      method: 'PATCH',
      cookie: admin.token,
      json: { roles: ['user'] },
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await rolesOf(other.id), ['user']);
    const back = await h.request(`/admin/users/${admin.id}`, {
      method: 'PATCH',
      cookie: other.token,
      json: { roles: ['user'] },
    });
    await assertProblem(back, 403, 'forbidden');
    assert.deepEqual(await rolesOf(admin.id), ['user', 'admin']);
  });
});

/**
 * Holds every user-store write until `count` of them are waiting, then lets them all go: two
 * requests are both authorised before either writes, the interleaving that loses the last admin
 * when the check and the write are separate steps. Returns the undo.
 */
function holdWrites(users: UserStore, count: number): () => void {
  const store = users as { update: unknown; updateAuthorised?: unknown };
  const saved = { update: store.update, updateAuthorised: store.updateAuthorised };
  let waiting: (() => void)[] = [];
  const gate = () =>
    new Promise<void>((resolve) => {
      waiting.push(resolve);
      if (waiting.length < count) return;
      for (const release of waiting) release();
      waiting = [];
    });
  const held =
    (write: unknown) =>
    async (...args: unknown[]) => {
      await gate();
      return (write as (...a: unknown[]) => unknown).apply(users, args);
    };
  store.update = held(saved.update);
  if (saved.updateAuthorised !== undefined) store.updateAuthorised = held(saved.updateAuthorised);
  return () => {
    delete (store as Record<string, unknown>).update;
    delete (store as Record<string, unknown>).updateAuthorised;
  };
}

describe('two admins demoting or locking each other at once leave one admin', () => {
  // Both requests are authorised (each admin read fresh by validate) before either write lands;
  // the store re-checks the actor in the same atomic step as the write, so the second one is
  // refused just as if it had arrived a moment later: 403 forbidden, problem+json.
  const bodies: [string, unknown, unknown][] = [
    ['demote each other', { roles: ['user'] }, { roles: ['user'] }],
    ['lock each other', { locked: true }, { locked: true }],
    ['demote and lock each other', { roles: ['user'] }, { locked: true }],
  ];
  for (const [title, towardB, towardA] of bodies) {
    test(`PATCH /admin/users/:id: two admins ${title} concurrently: one 200, one 403 forbidden, one admin remains`, async () => {
      for (let round = 0; round < 3; round++) {
        const a = await h.createUser({ roles: ['user', 'admin'] });
        const b = await h.createUser({ roles: ['user', 'admin'] });
        const patch = (actor: typeof a, target: typeof a, json: unknown) =>
          h.request(`/admin/users/${target.id}`, { method: 'PATCH', cookie: actor.token, json });
        const release = holdWrites(h.services.users, 2);
        let answers: Response[];
        try {
          answers = await Promise.all([patch(a, b, towardB), patch(b, a, towardA)]);
        } finally {
          release();
        }
        const statuses = answers.map((res) => res.status);
        assert.deepEqual([...statuses].sort(), [200, 403], `round ${round}`);
        const refused = answers.find((res) => res.status === 403) as Response;
        const problem = await assertProblem(refused, 403, 'forbidden');
        assert.equal(problem.type, 'https://coatcheck.dev/problems/forbidden');
        const winner = statuses[0] === 200 ? a : b;
        const active = [];
        for (const user of [a, b]) {
          const now = await h.services.users.findById(user.id);
          if (now && !now.locked && now.roles.includes('admin')) active.push(user.id);
        }
        assert.deepEqual(active, [winner.id], `round ${round}: the winner is still an admin`);
        const still = await h.request('/admin/users', { cookie: winner.token });
        assert.equal(still.status, 200, 'and can still administer');
      }
    });
  }
});
