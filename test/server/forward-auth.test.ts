import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { createDownloadServer, type ListeningDownloadServer } from '../../src/download/server.ts';
import { assertProblem, type Harness, startServer, type TestUser } from './harness.ts';

// GET /auth/verify as nginx auth_request, Traefik ForwardAuth and Caddy forward_auth use it: the
// optional signed identity for internal services, the sign-in URL for signed-out page requests,
// and nginx's X-Original-* headers in the forwarded cross-origin check.

const AUDIENCE = 'https://internal.example.test';

describe('X-Auth-Identity', () => {
  let h: Harness;
  let u: TestUser;
  let root: string;
  let files: ListeningDownloadServer;
  before(async () => {
    h = await startServer({ identityAudience: AUDIENCE });
    u = await h.createUser({ roles: ['user', 'editor'] });
    root = mkdtempSync(join(tmpdir(), 'coatcheck-root-'));
    files = await createDownloadServer({
      root,
      issuer: h.base,
      audience: AUDIENCE, // even a download server sharing the identity audience refuses it
      jwksUrl: `${h.base}/.well-known/jwks.json`,
    }).listen({ port: 0 });
  });
  after(async () => {
    await files.close();
    await h.close();
    rmSync(root, { recursive: true, force: true });
  });

  const identity = async () => {
    const res = await h.request('/auth/verify', { cookie: u.token });
    assert.equal(res.status, 200);
    const token = res.headers.get('x-auth-identity');
    assert.ok(token);
    return token;
  };

  test('a 60 s EdDSA JWT (typ identity+jwt) for the configured audience, verifiable with the JWKS', async () => {
    const token = await identity();
    assert.equal(decodeProtectedHeader(token).typ, 'identity+jwt');
    const jwks = await (await h.request('/.well-known/jwks.json')).json();
    const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), {
      algorithms: ['EdDSA'],
      typ: 'identity+jwt',
      issuer: h.base,
      audience: AUDIENCE,
      currentDate: new Date(h.clock.now),
    });
    assert.equal(payload.sub, u.id);
    assert.equal(payload.email, u.email);
    assert.deepEqual(payload.roles, ['user', 'editor']);
    assert.equal((payload.exp ?? 0) - (payload.iat ?? 0), 60);
  });

  test('it is not a download token: the download server refuses it (typ)', async () => {
    const res = await fetch(`${files.url}/files/report.txt?token=${await identity()}`);
    assert.equal(res.status, 401);
  });

  test('signed out: no identity', async () => {
    const res = await h.request('/auth/verify');
    assert.equal(res.headers.get('x-auth-identity'), null);
    await assertProblem(res, 401, 'unauthenticated');
  });

  test('the identity JWT never reaches a log line', async () => {
    const token = await identity();
    assert.equal(h.logs.join('').includes(token), false);
  });
});

describe('forward-auth for proxies', () => {
  let h: Harness;
  let u: TestUser;
  before(async () => {
    h = await startServer({ trustedProxies: ['127.0.0.1'] });
    u = await h.createUser();
  });
  after(() => h.close());

  const verify = (headers: Record<string, string>, cookie?: string) =>
    h.request('/auth/verify', { headers, ...(cookie === undefined ? {} : { cookie }) });

  test('no identity header unless configured', async () => {
    const res = await verify({}, u.token);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-auth-identity'), null);
  });

  test('a signed-out page request gets 401 with the sign-in URL coming back to the page', async () => {
    const res = await verify({
      accept: 'text/html,application/xhtml+xml',
      'x-original-uri': '/reports/2026?q=a b',
    });
    assert.equal(
      res.headers.get('x-auth-login-url'),
      '/login?next=%2Freports%2F2026%3Fq%3Da%2520b',
    );
    assert.equal(res.headers.get('cache-control'), 'no-store');
    await assertProblem(res, 401, 'unauthenticated');
    const traefik = await verify({ accept: 'text/html', 'x-forwarded-uri': '/app/' });
    assert.equal(traefik.headers.get('x-auth-login-url'), '/login?next=%2Fapp%2F');
  });

  test('?redirect=1 (Traefik, Caddy): a signed-out page request is answered with the redirect', async () => {
    const res = await h.request('/auth/verify?redirect=1', {
      headers: { accept: 'text/html', 'x-forwarded-uri': '/app/x', 'x-forwarded-method': 'GET' },
    });
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), '/login?next=%2Fapp%2Fx');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const api = await h.request('/auth/verify?redirect=1', {
      headers: { accept: 'application/json' },
    });
    await assertProblem(api, 401, 'unauthenticated');
    const signedIn = await h.request('/auth/verify?redirect=1', {
      cookie: u.token,
      headers: { accept: 'text/html' },
    });
    assert.equal(signedIn.status, 200);
  });

  test('the return path is same-origin only; API calls and unsafe methods get no sign-in URL', async () => {
    const foreign = await verify({ accept: 'text/html', 'x-original-uri': '//evil.example/x' });
    assert.equal(foreign.headers.get('x-auth-login-url'), '/login?next=%2F');
    const api = await verify({ accept: 'application/json', 'x-original-uri': '/api/x' });
    assert.equal(api.headers.get('x-auth-login-url'), null);
    const post = await verify({ accept: 'text/html', 'x-original-method': 'POST' });
    assert.equal(post.headers.get('x-auth-login-url'), null);
  });

  test("nginx's X-Original-Method: a proxied cross-site POST is refused (403)", async () => {
    const res = await verify(
      {
        'x-original-method': 'POST',
        'sec-fetch-site': 'cross-site',
        origin: 'https://evil.example',
      },
      u.token,
    );
    await assertProblem(res, 403, 'cross_origin_rejected');
    assert.equal(res.headers.get('x-auth-user-id'), null);
    const same = await verify(
      { 'x-original-method': 'POST', 'sec-fetch-site': 'same-origin' },
      u.token,
    );
    assert.equal(same.status, 200);
  });
});
