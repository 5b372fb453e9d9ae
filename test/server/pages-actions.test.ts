import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  Client,
  clock,
  newUser,
  PW,
  services,
  sessionCount,
  setupPagesApp,
  signIn,
  tokenOf,
  tokensIn,
} from './pages-fixture.ts';

// What the buttons of /account and /admin do, end to end through the real app: every action
// redirects (303, POST-redirect-GET), refusals are pages in words with the API's status.

setupPagesApp();

/** Past the fresh window (10 min by default) but well inside every idle timeout. */
const STALE_MS = 11 * 60_000;

async function makeAdmin() {
  const admin = await newUser('Ada Admin');
  await services().users.update(admin.user.id, { roles: ['user', 'admin'] });
  return admin;
}

describe('account actions', () => {
  test('revoking another device ends it; that device is sent to sign-in', async () => {
    const { client, email } = await newUser();
    const other = await signIn(email);
    const page = await (await client.get('/account')).text();
    const target = /action="\/account\/sessions\/([^"/]+)\/revoke"/.exec(page)?.[1];
    assert.ok(target);
    const res = await client.post(`/account/sessions/${target}/revoke`, {
      csrf_token: tokensIn(page)[0] ?? '',
    });
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), '/account?notice=session_revoked');
    const shown = await (await client.get('/account?notice=session_revoked')).text();
    assert.match(shown, /That device was signed out\./);
    assert.doesNotMatch(shown, />Revoke</);
    const bounced = await other.get('/account');
    assert.equal(bounced.headers.get('location'), '/login?next=%2Faccount');
  });

  test('"sign out everywhere else" keeps only this device', async () => {
    const { client, email, user } = await newUser();
    await signIn(email);
    await signIn(email);
    const res = await client.post('/account/sessions/revoke-others', {
      csrf_token: await tokenOf(client),
    });
    assert.equal(res.headers.get('location'), '/account?notice=others_revoked');
    assert.equal(await sessionCount(user.id), 1);
    assert.equal((await client.get('/account')).status, 200);
  });

  test('a stale session is asked for its password, then may revoke', async () => {
    const { client, email, user } = await newUser();
    await signIn(email);
    clock.now += STALE_MS;
    const asked = await client.post('/account/sessions/revoke-others', {
      csrf_token: await tokenOf(client),
    });
    assert.equal(asked.status, 401);
    const prompt = await asked.text();
    assert.match(prompt, /Confirm it’s you/);
    assert.match(prompt, /action="\/account\/reauth"/);
    assert.equal(await sessionCount(user.id), 2);

    const wrong = await client.post('/account/reauth', {
      csrf_token: tokensIn(prompt)[0] ?? '',
      password: 'not my password',
      next: '/account',
    });
    assert.equal(wrong.status, 401);
    assert.match(await wrong.text(), /The email or password is incorrect\./);

    const before = client.cookie;
    const ok = await client.post('/account/reauth', {
      csrf_token: tokensIn(prompt)[0] ?? '',
      password: PW,
      next: 'https://evil.example',
    });
    assert.equal(ok.status, 303);
    assert.equal(ok.headers.get('location'), '/account?notice=reauthenticated');
    assert.notEqual(client.cookie, before, 're-auth rotates the session');
    const done = await client.post('/account/sessions/revoke-others', {
      csrf_token: await tokenOf(client),
    });
    assert.equal(done.status, 303);
    assert.equal(await sessionCount(user.id), 1);
  });

  test('changing the password rotates this session and ends the others', async () => {
    const { client, email, user } = await newUser();
    const other = await signIn(email);
    const before = client.cookie;
    const wrong = await client.post('/account/password', {
      csrf_token: await tokenOf(client),
      current_password: 'not my password',
      new_password: 'a brand new passphrase',
    });
    assert.equal(wrong.status, 401);
    assert.match(await wrong.text(), /The email or password is incorrect\./);
    const weak = await client.post('/account/password', {
      csrf_token: await tokenOf(client),
      current_password: PW,
      new_password: 'password123',
    });
    assert.equal(weak.status, 400);
    assert.match(await weak.text(), /most commonly used/);
    const res = await client.post('/account/password', {
      csrf_token: await tokenOf(client),
      current_password: PW,
      new_password: 'a brand new passphrase',
    });
    assert.equal(res.headers.get('location'), '/account?notice=password_changed');
    assert.notEqual(client.cookie, before);
    assert.equal(await sessionCount(user.id), 1);
    assert.equal((await other.get('/account')).status, 303);
    await signIn(email, 'a brand new passphrase');
  });

  test('sign-out ends the session, clears the cookie and the site data', async () => {
    const { client, user } = await newUser();
    const res = await client.post('/logout', { csrf_token: await tokenOf(client) });
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), '/login?notice=signed_out');
    assert.equal(res.headers.get('clear-site-data'), '"cache", "cookies", "storage"');
    assert.ok(res.headers.getSetCookie().some((l) => /^coatcheck=; Max-Age=0; Path=\//.test(l)));
    assert.equal(await sessionCount(user.id), 0);
    assert.match(await (await client.get('/login?notice=signed_out')).text(), /You are signed out/);
  });
});

describe('admin page', () => {
  test('a signed-in non-admin gets 403 in words, and admin actions are refused', async () => {
    const { client } = await newUser();
    const victim = await newUser();
    const res = await client.get('/admin');
    assert.equal(res.status, 403);
    assert.match(await res.text(), /for administrators/);
    const lock = await client.post(`/admin/users/${victim.user.id}/lock`, {
      csrf_token: await tokenOf(client),
    });
    assert.equal(lock.status, 403);
    assert.equal((await services().users.findById(victim.user.id))?.locked, false);
  });

  test('lists users with roles, lock state and forms carrying the token', async () => {
    const admin = await makeAdmin();
    const other = await newUser('<b>Bob</b>');
    const body = await (await admin.client.get('/admin')).text();
    assert.ok(body.includes(other.email));
    assert.ok(body.includes('&lt;b&gt;Bob&lt;/b&gt;'));
    assert.ok(body.includes(`action="/admin/users/${other.user.id}/lock"`));
    assert.ok(body.includes(`action="/admin/users/${other.user.id}/roles"`));
    const forms = body.match(/<form[^>]*method="post"[\s\S]*?<\/form>/g) ?? [];
    for (const form of forms) assert.match(form, /name="csrf_token"/);
  });

  test('lock, unlock, roles and revoke act at once on the target', async () => {
    const admin = await makeAdmin();
    const target = await newUser();
    const id = target.user.id;
    const post = async (action: string, fields: Record<string, string> = {}) =>
      admin.client.post(`/admin/users/${id}/${action}`, {
        csrf_token: await tokenOf(admin.client),
        ...fields,
      });

    assert.equal((await post('lock')).headers.get('location'), '/admin?notice=user_locked');
    assert.equal((await target.client.get('/account')).status, 303);
    assert.equal((await post('unlock')).headers.get('location'), '/admin?notice=user_unlocked');
    await signIn(target.email);

    const roles = await post('roles', { roles: 'user, auditor' });
    assert.equal(roles.headers.get('location'), '/admin?notice=roles_changed');
    assert.deepEqual((await services().users.findById(id))?.roles, ['user', 'auditor']);
    const bad = await post('roles', { roles: 'Not A Role!' });
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /Roles each role must match/);

    await signIn(target.email);
    assert.equal((await post('revoke')).headers.get('location'), '/admin?notice=user_revoked');
    assert.equal(await sessionCount(id), 0);
    assert.equal((await post('revoke')).status, 303);
    const missing = await admin.client.post('/admin/users/nobody/lock', {
      csrf_token: await tokenOf(admin.client),
    });
    assert.equal(missing.status, 404);
    assert.match(await missing.text(), /No such user\./);
  });

  test('a stale admin session gets the password prompt, returning to /admin', async () => {
    const admin = await makeAdmin();
    const target = await newUser();
    clock.now += STALE_MS;
    const res = await admin.client.post(`/admin/users/${target.user.id}/lock`, {
      csrf_token: await tokenOf(admin.client),
    });
    assert.equal(res.status, 401);
    const prompt = await res.text();
    assert.match(prompt, /name="next" value="\/admin"/);
    assert.equal((await services().users.findById(target.user.id))?.locked, false);
    const ok = await admin.client.post('/account/reauth', {
      csrf_token: tokensIn(prompt)[0] ?? '',
      password: PW,
      next: '/admin',
    });
    assert.equal(ok.headers.get('location'), '/admin?notice=reauthenticated');
  });
});

// After the admin page's other tests: it ends the sessions they created.
test('the admin page signs out every user but the admin, with the token and a fresh session', async () => {
  const admin = await makeAdmin();
  const others = [await newUser(), await newUser()];
  const page = await (await admin.client.get('/admin')).text();
  assert.match(page, /action="\/admin\/sessions\/revoke-everyone"/);
  const refused = await admin.client.post('/admin/sessions/revoke-everyone', {
    csrf_token: 'guess',
  });
  assert.equal(refused.status, 403);
  for (const other of others) assert.equal((await other.client.get('/account')).status, 200);

  clock.now += STALE_MS;
  const stale = await admin.client.post('/admin/sessions/revoke-everyone', {
    csrf_token: await tokenOf(admin.client),
  });
  assert.equal(stale.status, 401, 'a stale admin session is asked for its password first');
  for (const other of others) assert.equal((await other.client.get('/account')).status, 200);

  const fresh = await makeAdmin();
  const done = await fresh.client.post('/admin/sessions/revoke-everyone', {
    csrf_token: await tokenOf(fresh.client),
  });
  assert.equal(done.headers.get('location'), '/admin?notice=everyone_revoked');
  for (const other of [...others, admin]) {
    assert.equal((await other.client.get('/account')).status, 303, 'sent to sign in');
  }
  assert.equal((await fresh.client.get('/admin')).status, 200, 'the admin who asked stays');
});

test('a signed-out form post changes nothing and goes to sign-in', async () => {
  const res = await new Client().post('/account/password', {
    current_password: PW,
    new_password: 'whatever passphrase',
  });
  assert.equal(res.status, 303);
  assert.equal(res.headers.get('location'), '/login?next=%2Faccount');
});
