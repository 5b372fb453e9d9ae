import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import {
  DOWNLOAD_ORIGIN,
  downloadSettings,
  type Harness,
  startServer,
  type TestUser,
} from './harness.ts';

// The account page's "Files": the user's own folder and the public one, each file behind a POST
// form with the synchronizer token that mints a single-use link and redirects to it.

describe('account page: Files', () => {
  let h: Harness;
  let ada: TestUser;
  let bob: TestUser;
  let root: string;
  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'coatcheck-root-'));
    h = await startServer({ download: downloadSettings(root, 180) });
    ada = await h.createUser();
    bob = await h.createUser();
    for (const [id, name] of [
      [ada.id, 'ada-notes.txt'],
      [bob.id, 'bob-secret.txt'],
    ] as const) {
      mkdirSync(join(root, 'users', id, 'sub'), { recursive: true });
      writeFileSync(join(root, 'users', id, name), 'x'.repeat(2048));
      writeFileSync(join(root, 'users', id, 'sub', `${id}-nested <b>.txt`), 'n');
    }
    mkdirSync(join(root, 'public'));
    writeFileSync(join(root, 'public', 'handbook.pdf'), 'pdf');
    writeFileSync(join(root, 'public', '.hidden'), 'h');
    symlinkSync('/etc/passwd', join(root, 'public', 'passwd'));
  });
  after(async () => {
    await h.close();
    rmSync(root, { recursive: true, force: true });
  });

  const csrfOf = async (user: TestUser) =>
    (
      (await (await h.request('/auth/session', { cookie: user.token })).json()) as {
        csrfToken: string;
      }
    ).csrfToken;
  const post = (user: TestUser, fields: Record<string, string>, headers = {}) =>
    h.request('/account/files/download', {
      method: 'POST',
      cookie: user.token,
      body: new URLSearchParams(fields).toString(),
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'sec-fetch-site': 'same-origin',
        ...headers,
      },
    });

  test('lists the own folder and public files, not another user’s, hidden files or symlinks', async () => {
    const page = await (await h.request('/account', { cookie: ada.token })).text();
    assert.match(page, /id="files-heading">Files</);
    assert.match(page, /ada-notes\.txt/);
    assert.match(page, /2\.0 KB/);
    assert.match(page, /handbook\.pdf/);
    assert.ok(page.includes(`value="users/${ada.id}/sub/${ada.id}-nested &lt;b&gt;.txt"`));
    assert.equal(page.includes('bob-secret'), false);
    assert.equal(page.includes('.hidden'), false);
    assert.equal(page.includes('passwd'), false);
    assert.match(page, /works once, for 3 minutes/);
    assert.equal(page.includes('?token='), false); // links are minted on click, never in the page
  });

  test('a click mints a token and 303s to the download URL', async () => {
    const resource = `users/${ada.id}/ada-notes.txt`;
    const res = await post(ada, { csrf_token: await csrfOf(ada), resource });
    assert.equal(res.status, 303);
    const location = new URL(res.headers.get('location') ?? '');
    assert.equal(location.origin, DOWNLOAD_ORIGIN);
    assert.equal(location.pathname, `/files/${resource}`);
    const claims = decodeJwt(location.searchParams.get('token') ?? '');
    assert.equal(claims.resource, resource);
    assert.equal((claims.exp ?? 0) - (claims.iat ?? 0), 180);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
  });

  test('the page CSP lets forms redirect to the download server and nowhere else', async () => {
    const res = await h.request('/account', { cookie: ada.token });
    assert.match(
      res.headers.get('content-security-policy') ?? '',
      new RegExp(`form-action 'self' ${DOWNLOAD_ORIGIN};`),
    );
  });

  test('without the synchronizer token: 403, nothing minted', async () => {
    const res = await post(ada, { resource: `users/${ada.id}/ada-notes.txt` });
    assert.equal(res.status, 403);
    assert.equal(res.headers.get('location'), null);
    const wrong = await post(ada, {
      csrf_token: await csrfOf(bob),
      resource: 'public/handbook.pdf',
    });
    assert.equal(wrong.status, 403);
  });

  test('a cross-site form post is refused before the form is read', async () => {
    const res = await post(
      ada,
      { csrf_token: await csrfOf(ada), resource: 'public/handbook.pdf' },
      { 'sec-fetch-site': 'cross-site' },
    );
    assert.equal(res.status, 403);
    assert.equal(res.headers.get('location'), null);
  });

  test("another user's file: a 403 page in words; traversal: 400", async () => {
    const forbidden = await post(ada, {
      csrf_token: await csrfOf(ada),
      resource: `users/${bob.id}/bob-secret.txt`,
    });
    assert.equal(forbidden.status, 403);
    assert.match(await forbidden.text(), /You may not download this file/);
    const traversal = await post(ada, {
      csrf_token: await csrfOf(ada),
      resource: `users/${ada.id}/../${bob.id}/bob-secret.txt`,
    });
    assert.equal(traversal.status, 400);
    assert.match(await traversal.text(), /File must be a relative file path/);
  });

  test('signed out: back to sign-in, nothing minted', async () => {
    const res = await h.request('/account/files/download', {
      method: 'POST',
      body: 'resource=public/handbook.pdf',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(res.status, 303);
    assert.match(res.headers.get('location') ?? '', /^\/login/);
  });
});
