import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Nginx, startNginx } from '../support/nginx.ts';
import { fetchThrough, startUpstream, type Upstream } from '../support/proxy-upstream.ts';
import { type Harness, PW, setCookieValue, startServer, type TestUser } from './harness.ts';

// A real nginx (Debian package) in front of a demo upstream, asking Coatcheck's /auth/verify with
// auth_request: the configuration of docs/forward-auth.md, end to end.

/** The nginx `http {}` body of docs/forward-auth.md, with the test's ports. */
function forwardAuthConf(coatcheck: string, upstream: string): string {
  return `
  upstream coatcheck { server ${coatcheck}; }
  upstream app { server ${upstream}; }
  server {
    listen 127.0.0.1:{{PORT}};
    server_name localhost;

    # Coatcheck's pages and API live on the same host as the apps it protects (its session
    # cookie is host-only).
    location ~ ^/(login|signup|logout|account|admin|auth/|\\.well-known/|assets/) {
      proxy_pass http://coatcheck;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
    }

    # The subrequest: a GET without the body, describing the original request.
    location = /_coatcheck/verify {
      internal;
      proxy_pass http://coatcheck/auth/verify;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Forwarded-Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }

    location / {
      auth_request /_coatcheck/verify;
      auth_request_set $auth_user_id $upstream_http_x_auth_user_id;
      auth_request_set $auth_user_email $upstream_http_x_auth_user_email;
      auth_request_set $auth_user_roles $upstream_http_x_auth_user_roles;
      auth_request_set $auth_login_url $upstream_http_x_auth_login_url;
      error_page 401 = @signin;
      # Always set: whatever the client sent under these names is replaced.
      proxy_set_header X-Auth-User-Id $auth_user_id;
      proxy_set_header X-Auth-User-Email $auth_user_email;
      proxy_set_header X-Auth-User-Roles $auth_user_roles;
      proxy_set_header X-Auth-Identity "";
      proxy_pass http://app;
    }

    # Signed out: pages go to the sign-in page, everything else gets the 401.
    location @signin {
      if ($auth_login_url) { return 303 $auth_login_url; }
      return 401;
    }
  }`;
}

describe('nginx auth_request in front of an upstream', () => {
  let h: Harness;
  let upstream: Upstream;
  let nginx: Nginx;
  let u: TestUser;
  before(async () => {
    h = await startServer({ trustedProxies: ['127.0.0.1'] });
    upstream = await startUpstream();
    nginx = await startNginx(forwardAuthConf(new URL(h.base).host, upstream.address));
    u = await h.createUser({ roles: ['user', 'editor'] });
  });
  after(async () => {
    await nginx?.stop();
    upstream?.server.close();
    await h?.close();
  });

  const through = fetchThrough(() => nginx.url);
  const callsTo = (path: string) => upstream.callsTo(path);

  test('a signed-in request reaches the upstream with X-Auth-User-Id', async () => {
    const res = await through('/app/page', { cookie: u.token });
    assert.equal(res.status, 200, nginx.errors());
    assert.deepEqual(await res.json(), { userId: u.id, email: u.email, roles: 'user,editor' });
  });

  test('a client-supplied X-Auth-User-Id never reaches the upstream', async () => {
    const spoof = { 'x-auth-user-id': 'admin', 'x-auth-user-roles': 'admin' };
    const res = await through('/app/spoof-1', { cookie: u.token, headers: spoof });
    assert.deepEqual(await res.json(), { userId: u.id, email: u.email, roles: 'user,editor' });
    const anonymous = await through('/app/spoof-2', {
      headers: { ...spoof, accept: 'application/json' },
    });
    assert.equal(anonymous.status, 401);
    assert.equal(callsTo('/app/spoof-2'), 0);
  });

  test('signed out: 401 for API calls, a redirect to the sign-in page for pages', async () => {
    const api = await through('/app/api', { headers: { accept: 'application/json' } });
    assert.equal(api.status, 401);
    const page = await through('/app/page?x=1', { headers: { accept: 'text/html' } });
    assert.equal(page.status, 303);
    assert.match(page.headers.get('location') ?? '', /\/login\?next=%2Fapp%2Fpage%3Fx%3D1$/);
    assert.equal(callsTo('/app/api') + callsTo('/app/page?x=1'), 0);
    // ... and the sign-in page itself is served by Coatcheck through the same nginx.
    const login = await through('/login?next=%2Fapp%2Fpage');
    assert.equal(login.status, 200);
    assert.match(await login.text(), /<form/);
  });

  test('signing in through the proxy, then a revoked session is refused on its next request', async () => {
    const signIn = await fetch(`${nginx.url}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: nginx.url },
      body: JSON.stringify({ email: u.email, password: PW }),
    });
    assert.equal(signIn.status, 200, await signIn.clone().text());
    const token = setCookieValue(signIn, 'coatcheck');
    assert.ok(token);
    assert.equal((await through('/app/revoke-1', { cookie: token })).status, 200);
    const { session } = (await signIn.json()) as { session: { id: string } };
    const sessionId = session.id;
    const revoke = await through(`/auth/sessions/${sessionId}`, {
      method: 'DELETE',
      cookie: u.token,
      headers: { origin: nginx.url },
    });
    assert.equal(revoke.status, 204);
    const after = await through('/app/revoke-2', {
      cookie: token,
      headers: { accept: 'application/json' },
    });
    assert.equal(after.status, 401);
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
      headers: { origin: nginx.url, 'sec-fetch-site': 'same-origin' },
    });
    assert.equal(same.status, 200);
    assert.equal(callsTo('/app/transfer'), 1);
  });

  test('verify answers are never cached: a signed-in then an anonymous request', async () => {
    assert.equal((await through('/app/cache', { cookie: u.token })).status, 200);
    const anonymous = await through('/app/cache', { headers: { accept: 'application/json' } });
    assert.equal(anonymous.status, 401);
  });
});
