import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { createDownloadServer, type ListeningDownloadServer } from '../../src/download/server.ts';
import { RETIREMENT_SECONDS } from '../../src/tokens/keys.ts';
import {
  assertProblem,
  DOWNLOAD_ORIGIN,
  downloadSettings,
  type Harness,
  startServer,
  type TestUser,
} from './harness.ts';

// POST /auth/download-tokens against the real app, and the download server reading the app's
// real /.well-known/jwks.json: signed-in users only, same-origin only, own folder only, ≤ 300 s,
// the token never in a log; and key rotation as a verifier sees it.

/** Fills a download root: a report in each user's folder and a public handbook. */
function fillRoot(root: string, userIds: readonly string[]): void {
  mkdirSync(join(root, 'public'));
  writeFileSync(join(root, 'public', 'handbook.txt'), 'public handbook');
  for (const id of userIds) {
    mkdirSync(join(root, 'users', id), { recursive: true });
    writeFileSync(join(root, 'users', id, 'report.txt'), `report of ${id}`);
  }
}

describe('POST /auth/download-tokens', () => {
  let h: Harness;
  let ada: TestUser;
  let bob: TestUser;
  let root: string;
  let files: ListeningDownloadServer;
  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'coatcheck-root-'));
    h = await startServer({ download: downloadSettings(root) });
    ada = await h.createUser();
    bob = await h.createUser();
    fillRoot(root, [ada.id, bob.id]);
    files = await createDownloadServer({
      root,
      issuer: h.base, // no public URL configured: the app signs with the origin it was reached at
      audience: DOWNLOAD_ORIGIN,
      jwksUrl: `${h.base}/.well-known/jwks.json`,
      jwksCooldownMs: 0,
      now: () => h.clock.now,
    }).listen({ port: 0 });
  });
  after(async () => {
    await files.close();
    await h.close();
    rmSync(root, { recursive: true, force: true });
  });

  const mint = (user: TestUser, resource: unknown, headers: Record<string, string> = {}) =>
    h.request('/auth/download-tokens', { cookie: user.token, json: { resource }, headers });
  /** GET the grant's URL at the real download server. */
  const download = (url: string) => {
    const { pathname, search } = new URL(url);
    return fetch(`${files.url}${pathname}${search}`);
  };

  test('201 {url, token, expiresAt}; the link downloads once', async () => {
    const res = await mint(ada, `users/${ada.id}/report.txt`);
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const body = (await res.json()) as { url: string; token: string; expiresAt: string };
    assert.deepEqual(Object.keys(body).sort(), ['expiresAt', 'token', 'url']);
    assert.equal(
      body.url,
      `${DOWNLOAD_ORIGIN}/files/users/${ada.id}/report.txt?token=${body.token}`,
    );
    const first = await download(body.url);
    assert.equal(first.status, 200);
    assert.equal(await first.text(), `report of ${ada.id}`);
    assert.equal((await download(body.url)).status, 401);
  });

  test('the token: EdDSA, typ download+jwt, aud = the download server, exp ≤ 300 s', async () => {
    const { token, expiresAt } = (await (await mint(ada, 'public/handbook.txt')).json()) as {
      token: string;
      expiresAt: string;
    };
    assert.equal(decodeProtectedHeader(token).typ, 'download+jwt');
    const claims = decodeJwt(token);
    assert.equal(claims.aud, DOWNLOAD_ORIGIN);
    assert.equal(claims.iss, h.base);
    assert.equal(claims.sub, ada.id);
    const lifetime = (claims.exp ?? 0) - (claims.iat ?? 0);
    assert.equal(lifetime, 120);
    assert.ok(lifetime <= 300);
    assert.equal(Date.parse(expiresAt), (claims.exp ?? 0) * 1000);
  });

  test('signed out: 401, nothing minted', async () => {
    const res = await h.request('/auth/download-tokens', {
      json: { resource: 'public/handbook.txt' },
    });
    await assertProblem(res, 401, 'unauthenticated');
  });

  test('a cross-site POST is refused (403) before anything is minted', async () => {
    const before = h.logs.length;
    const res = await mint(ada, 'public/handbook.txt', {
      'sec-fetch-site': 'cross-site',
      origin: 'https://evil.example',
    });
    await assertProblem(res, 403, 'cross_origin_rejected');
    assert.equal(
      h.logs.slice(before).some((l) => l.includes('download_token_issued')),
      false,
    );
  });

  test("another user's folder: 403", async () => {
    await assertProblem(await mint(ada, `users/${bob.id}/report.txt`), 403, 'forbidden');
    await assertProblem(await mint(ada, 'users/report.txt'), 403, 'forbidden');
  });

  test('traversal, absolute paths, lone surrogates and non-strings are refused at issue time (400)', async () => {
    for (const resource of [
      `users/${ada.id}/../${bob.id}/report.txt`,
      '../etc/passwd',
      '/etc/passwd',
      `users\\${ada.id}\\report.txt`,
      'public/a\u0000b',
      'public/\ud800x',
      42,
      null,
    ]) {
      await assertProblem(await mint(ada, resource), 400, 'invalid_input');
    }
  });

  test('only JSON bodies (415)', async () => {
    const res = await h.request('/auth/download-tokens', {
      cookie: ada.token,
      body: 'resource=public/handbook.txt',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    await assertProblem(res, 415, 'unsupported_media_type');
  });

  test('a download token is no credential for the app itself (401 as cookie or bearer)', async () => {
    const { token } = (await (await mint(ada, 'public/handbook.txt')).json()) as { token: string };
    const asCookie = await h.request('/auth/session', { cookie: token });
    await assertProblem(asCookie, 401, 'unauthenticated');
    const asBearer = await h.request('/auth/session', {
      headers: { authorization: `Bearer ${token}` },
    });
    await assertProblem(asBearer, 401, 'unauthenticated');
  });

  test('the token never reaches a log line', async () => {
    const { token } = (await (await mint(ada, 'public/handbook.txt')).json()) as { token: string };
    const text = h.logs.join('');
    assert.equal(text.includes(token), false);
    assert.equal(text.includes(token.split('.')[2] as string), false);
    assert.match(text, /download_token_issued/);
  });

  test('GET /.well-known/jwks.json: public keys with kid, alg and use; cacheable briefly', async () => {
    const res = await h.request('/.well-known/jwks.json');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'public, max-age=60');
    const { keys } = (await res.json()) as { keys: Record<string, string>[] };
    assert.ok(keys.length >= 1);
    for (const key of keys) {
      assert.deepEqual(Object.keys(key).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x']);
      assert.equal(key.alg, 'EdDSA');
      assert.equal(key.use, 'sig');
    }
  });

  test('rotation: old tokens verify until exp, new ones carry the new kid, the JWKS lists both then drops the old', async () => {
    const kids = async () => {
      const { keys } = (await (await h.request('/.well-known/jwks.json')).json()) as {
        keys: { kid: string }[];
      };
      return keys.map((k) => k.kid).sort();
    };
    const old = (await (await mint(ada, 'public/handbook.txt')).json()) as {
      url: string;
      token: string;
    };
    const oldKid = decodeProtectedHeader(old.token).kid as string;
    const { kid: newKid } = await h.services.keys.rotate();
    const fresh = (await (await mint(ada, `users/${ada.id}/report.txt`)).json()) as {
      url: string;
      token: string;
    };
    assert.equal(decodeProtectedHeader(fresh.token).kid, newKid);
    assert.deepEqual(await kids(), [oldKid, newKid].sort());
    assert.equal((await download(fresh.url)).status, 200); // a verifier picks the new kid up
    h.clock.now += 100_000; // the old token is 100 s old: still within its 120 s
    assert.equal((await download(old.url)).status, 200);
    h.clock.now += (RETIREMENT_SECONDS + 1) * 1000 - 100_000;
    assert.deepEqual(await kids(), [newKid]);
  });
});

describe('download tokens switched off', () => {
  let h: Harness;
  before(async () => {
    h = await startServer();
  });
  after(() => h.close());

  test('without a download URL the route is 404 and the account page has no Files', async () => {
    const u = await h.createUser();
    const res = await h.request('/auth/download-tokens', {
      cookie: u.token,
      json: { resource: 'public/a.txt' },
    });
    await assertProblem(res, 404, 'not_found');
    const page = await (await h.request('/account', { cookie: u.token })).text();
    assert.equal(page.includes('id="files-heading"'), false);
  });
});
