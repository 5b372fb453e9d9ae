import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { headerSafe } from '../../src/server/routes/verify.ts';
import { assertProblem, type Harness, startServer, type TestUser } from './harness.ts';

// Forward-auth: a reverse proxy asks GET /auth/verify before passing a request upstream. The
// identity it gets back comes only from the validated session, and the answer is never cached.

describe('GET /auth/verify', () => {
  let h: Harness;
  let u: TestUser;
  before(async () => {
    h = await startServer();
    u = await h.createUser({ roles: ['user', 'editor'] });
  });
  after(() => h.close());

  test('a valid session: 200 with X-Auth-User-Id, -Email and -Roles, not cacheable', async () => {
    const res = await h.request('/auth/verify', { cookie: u.token });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-auth-user-id'), u.id);
    assert.equal(res.headers.get('x-auth-user-email'), u.email);
    assert.equal(res.headers.get('x-auth-user-roles'), 'user,editor');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(await res.text(), '');
  });

  test('HEAD works like GET (some proxies probe with it)', async () => {
    const res = await h.request('/auth/verify', { method: 'HEAD', cookie: u.token });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-auth-user-id'), u.id);
  });

  test('identity headers sent by the client are never echoed: signed out is 401 without them', async () => {
    const res = await h.request('/auth/verify', {
      headers: {
        'x-auth-user-id': 'admin',
        'x-auth-user-roles': 'admin',
        'x-auth-user-email': 'root@x',
      },
    });
    assert.equal(res.headers.get('x-auth-user-id'), null);
    assert.equal(res.headers.get('x-auth-user-roles'), null);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    await assertProblem(res, 401, 'unauthenticated');
  });

  test('a unicode email is sent percent-encoded (header values are bytes), never a 500', async () => {
    const unicode = await h.createUser({ email: 'jörg@exämple.test' });
    const res = await h.request('/auth/verify', { cookie: unicode.token });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-auth-user-email'), 'j%C3%B6rg@ex%C3%A4mple.test');
    assert.equal(
      decodeURIComponent(res.headers.get('x-auth-user-email') ?? ''),
      'jörg@exämple.test',
    );
  });

  test('POST /auth/verify is 405', async () => {
    const res = await h.request('/auth/verify', { method: 'POST', cookie: u.token });
    assert.equal(res.headers.get('allow'), 'GET, HEAD');
    await assertProblem(res, 405, 'method_not_allowed');
  });
});

describe('forwarded cross-origin check (proxied unsafe requests)', () => {
  let h: Harness;
  let u: TestUser;
  before(async () => {
    h = await startServer({ trustedProxies: ['127.0.0.1'] });
    u = await h.createUser();
  });
  after(() => h.close());

  const forwarded = (headers: Record<string, string>) =>
    h.request('/auth/verify', { cookie: u.token, headers });

  test('a proxied cross-site POST is refused (403) so the upstream is never called', async () => {
    const res = await forwarded({ 'x-forwarded-method': 'POST', 'sec-fetch-site': 'cross-site' });
    await assertProblem(res, 403, 'cross_origin_rejected');
    const event = h.events('csrf_reject').at(-1);
    assert.equal(event?.forwarded, true);
  });

  test('a proxied same-origin POST, or a cross-site GET, passes', async () => {
    const host = 'app.example';
    const same = await forwarded({
      'x-forwarded-method': 'POST',
      'x-forwarded-host': host,
      origin: `https://${host}`,
    });
    assert.equal(same.status, 200);
    const get = await forwarded({ 'x-forwarded-method': 'GET', 'sec-fetch-site': 'cross-site' });
    assert.equal(get.status, 200);
  });

  test("a client's copy of the other proxy's method header cannot pass a POST off as a GET", async () => {
    // nginx sets X-Original-Method and passes the client's X-Forwarded-Method on; Traefik and
    // Caddy the other way round. Either way the unsafe method is the one checked.
    for (const [fake, real] of [
      ['x-forwarded-method', 'x-original-method'],
      ['x-original-method', 'x-forwarded-method'],
    ] as const) {
      const res = await forwarded({
        [fake]: 'GET',
        [real]: 'POST',
        'sec-fetch-site': 'cross-site',
      });
      await assertProblem(res, 403, 'cross_origin_rejected');
    }
    const both = { 'x-forwarded-method': 'get', 'x-original-method': 'HEAD' };
    assert.equal((await forwarded({ ...both, 'sec-fetch-site': 'cross-site' })).status, 200);
  });

  test('without trusted proxies, a proxied cross-site POST is still refused: the method can only refuse', async () => {
    const g = await startServer();
    try {
      const v = await g.createUser();
      const ask = (headers: Record<string, string>) =>
        g.request('/auth/verify', { cookie: v.token, headers });
      const crossSite = await ask({ 'x-forwarded-method': 'POST', 'sec-fetch-site': 'cross-site' });
      await assertProblem(crossSite, 403, 'cross_origin_rejected');
      const sameOrigin = await ask({
        'x-forwarded-method': 'POST',
        'sec-fetch-site': 'same-origin',
      });
      assert.equal(sameOrigin.status, 200);
      // X-Forwarded-Host is not believed from this peer: it cannot make a foreign Origin match.
      const spoofed = await ask({
        'x-forwarded-method': 'POST',
        'x-forwarded-host': 'evil.example',
        origin: 'https://evil.example',
      });
      await assertProblem(spoofed, 403, 'cross_origin_rejected');
    } finally {
      await g.close();
    }
  });
});

test('headerSafe keeps visible ASCII and percent-encodes everything else, % included', () => {
  assert.equal(headerSafe('ann@example.test'), 'ann@example.test');
  assert.equal(headerSafe('a%b@x'), 'a%25b@x');
  assert.equal(headerSafe('a b\r\n'), 'a%20b%0D%0A');
  assert.equal(headerSafe('🧥'), '%F0%9F%A7%A5');
});
