import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Caddy, startCaddy } from '../support/caddy.ts';
import { fetchThrough, startUpstream, type Upstream } from '../support/proxy-upstream.ts';
import { type Harness, PW, setCookieValue, startServer, type TestUser } from './harness.ts';

// A real Caddy (Debian package) in front of a demo upstream, asking Coatcheck's /auth/verify with
// forward_auth. The Caddyfile is read from docs/forward-auth.md itself, so the doc is what is
// tested: only its host and ports are replaced by the test's.

const DOC = join(import.meta.dirname, '..', '..', 'docs', 'forward-auth.md');

/** The ```caddyfile block of the doc's Caddy section, with the test's addresses. */
function forwardAuthCaddyfile(coatcheck: string, upstream: string): string {
  const doc = readFileSync(DOC, 'utf8');
  const section = doc.slice(doc.indexOf('## Caddy ('));
  const block = /```caddyfile\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(block, 'docs/forward-auth.md: a ```caddyfile block in the Caddy section');
  const substitutions: [string, string][] = [
    // A plain-HTTP site on the test's port: auto_https is off, and fetch cannot set Host.
    ['app.example.com', 'http://127.0.0.1:{{PORT}}'],
    ['127.0.0.1:3000', coatcheck],
    ['127.0.0.1:8080', upstream],
  ];
  let caddyfile = block;
  for (const [from, to] of substitutions) {
    assert.ok(caddyfile.includes(from), `the doc's Caddyfile mentions ${from}`);
    caddyfile = caddyfile.replaceAll(from, to);
  }
  return caddyfile;
}

describe('Caddy forward_auth in front of an upstream', () => {
  let h: Harness;
  let upstream: Upstream;
  let caddy: Caddy;
  let u: TestUser;
  before(async () => {
    h = await startServer({ trustedProxies: ['127.0.0.1'] });
    upstream = await startUpstream();
    caddy = await startCaddy(forwardAuthCaddyfile(new URL(h.base).host, upstream.address));
    u = await h.createUser({ roles: ['user', 'editor'] });
  });
  after(async () => {
    await caddy?.stop();
    upstream?.server.close();
    await h?.close();
  });

  const through = fetchThrough(() => caddy.url);
  const callsTo = (path: string) => upstream.callsTo(path);

  test('a signed-in request reaches the upstream with X-Auth-User-Id, email and roles', async () => {
    const res = await through('/app/page', { cookie: u.token });
    assert.equal(res.status, 200, caddy.log());
    assert.deepEqual(await res.json(), { userId: u.id, email: u.email, roles: 'user,editor' });
  });

  test('a client-supplied X-Auth-User-Id never reaches the upstream', async () => {
    // Signed in: `route` runs `request_header -X-Auth-*` before forward_auth copies the real ones.
    const spoof = { 'x-auth-user-id': 'admin', 'x-auth-user-roles': 'admin' };
    const res = await through('/app/spoof-1', { cookie: u.token, headers: spoof });
    assert.deepEqual(await res.json(), { userId: u.id, email: u.email, roles: 'user,editor' });
    // Signed out: refused before the upstream, whatever the client claims.
    const anonymous = await through('/app/spoof-2', {
      headers: { ...spoof, accept: 'application/json' },
    });
    assert.equal(anonymous.status, 401);
    assert.equal(callsTo('/app/spoof-2'), 0);
  });

  test('a client copy of a header Coatcheck does not send is removed too (X-Auth-Identity)', async () => {
    // No identity audience is configured, so the answer has no X-Auth-Identity to copy over the
    // client's: only the `request_header -X-Auth-*` line stands between it and the upstream.
    const res = await through('/app/spoof-3', {
      cookie: u.token,
      headers: { 'x-auth-identity': 'forged.jwt.value', 'x-auth-anything': 'x' },
    });
    assert.equal(res.status, 200);
    const [call] = upstream.calls.filter((c) => c.url === '/app/spoof-3');
    assert.equal(call?.headers['x-auth-identity'], undefined);
    assert.equal(call?.headers['x-auth-anything'], undefined);
  });

  test('an underscore spelling (X_Auth_User_Id) never reaches the upstream either', async () => {
    // Caddy passes header names with underscores on (nginx drops them); CGI-style apps would read
    // X_Auth_User_Id as HTTP_X_AUTH_USER_ID, the name of the real header. `request_header -*_*`.
    const res = await through('/app/spoof-4', {
      cookie: u.token,
      headers: { x_auth_user_id: 'admin', 'x-auth_user-roles': 'admin', x_forwarded_user: 'admin' },
    });
    assert.equal(res.status, 200);
    const [call] = upstream.calls.filter((c) => c.url === '/app/spoof-4');
    assert.ok(call);
    assert.deepEqual(
      Object.keys(call.headers).filter((name) => name.includes('_')),
      [],
    );
  });

  test('signed out: 401 for API calls, a 302 to the sign-in page for pages', async () => {
    const api = await through('/app/api', { headers: { accept: 'application/json' } });
    assert.equal(api.status, 401);
    const page = await through('/app/page?x=1', { headers: { accept: 'text/html' } });
    assert.equal(page.status, 302);
    assert.match(page.headers.get('location') ?? '', /^\/login\?next=%2Fapp%2Fpage%3Fx%3D1$/);
    assert.equal(callsTo('/app/api') + callsTo('/app/page?x=1'), 0);
    // ... and the sign-in page itself is served by Coatcheck through the same Caddy.
    const login = await through('/login?next=%2Fapp%2Fpage');
    assert.equal(login.status, 200);
    assert.match(await login.text(), /<form/);
  });

  test('signing in through the proxy, then a revoked session is refused on its next request', async () => {
    const signIn = await fetch(`${caddy.url}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: caddy.url },
      body: JSON.stringify({ email: u.email, password: PW }),
    });
    assert.equal(signIn.status, 200, await signIn.clone().text());
    const token = setCookieValue(signIn, 'coatcheck');
    assert.ok(token);
    assert.equal((await through('/app/revoke-1', { cookie: token })).status, 200);
    const { session } = (await signIn.json()) as { session: { id: string } };
    const revoke = await through(`/auth/sessions/${session.id}`, {
      method: 'DELETE',
      cookie: u.token,
      headers: { origin: caddy.url },
    });
    assert.equal(revoke.status, 204);
    const refused = await through('/app/revoke-2', {
      cookie: token,
      headers: { accept: 'application/json' },
    });
    assert.equal(refused.status, 401);
    assert.equal(callsTo('/app/revoke-2'), 0);
  });

  test('a cross-site POST through the proxy is refused (403) and the upstream is not called', async () => {
    const res = await through('/app/transfer', {
      method: 'POST',
      cookie: u.token,
      headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
    });
    assert.equal(res.status, 403);
    assert.equal(callsTo('/app/transfer'), 0);
    const same = await through('/app/transfer', {
      method: 'POST',
      cookie: u.token,
      headers: { origin: caddy.url, 'sec-fetch-site': 'same-origin' },
    });
    assert.equal(same.status, 200);
    assert.equal(callsTo('/app/transfer'), 1);
  });

  test('a client-supplied X-Forwarded-Method cannot pass a cross-site POST off as a GET', async () => {
    // forward_auth sets X-Forwarded-Method from the real method, over the client's copy.
    const res = await through('/app/transfer-2', {
      method: 'POST',
      cookie: u.token,
      headers: {
        origin: 'https://evil.example',
        'sec-fetch-site': 'cross-site',
        'x-forwarded-method': 'GET',
      },
    });
    assert.equal(res.status, 403);
    assert.equal(callsTo('/app/transfer-2'), 0);
  });
});
