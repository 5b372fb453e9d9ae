import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fetchThrough, startUpstream, type Upstream } from '../support/proxy-upstream.ts';
import { type Harness, PW, setCookieValue, startServer, type TestUser } from './harness.ts';

/**
 * One forward-auth suite for every reverse proxy docs/forward-auth.md configures, run against the
 * real proxy binary in front of a real Coatcheck and a demo upstream. Each proxy's configuration
 * is read from the doc itself (`docConfig`), so the doc is what is tested.
 */

const DOC = join(import.meta.dirname, '..', '..', 'docs', 'forward-auth.md');

/**
 * The first ````lang` block of the doc's `## <heading> (` section, each `from` replaced by its
 * `to` (every `from` must occur: a doc edit that drops one fails here, not silently).
 */
export function docConfig(heading: string, lang: string, substitutions: [string, string][]) {
  const doc = readFileSync(DOC, 'utf8');
  const at = doc.indexOf(`## ${heading} (`);
  assert.ok(at >= 0, `docs/forward-auth.md: a "## ${heading} (" section`);
  const block = new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``).exec(doc.slice(at))?.[1];
  assert.ok(block, `docs/forward-auth.md: a \`\`\`${lang} block in the ${heading} section`);
  let text = block;
  for (const [from, to] of substitutions) {
    assert.ok(text.includes(from), `the doc's ${heading} configuration mentions ${from}`);
    text = text.replaceAll(from, to);
  }
  return text;
}

/** A started proxy. */
export interface RunningProxy {
  readonly url: string;
  /** The proxy's own log so far, for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

/** What the proxy-specific cases of a suite can reach. */
export interface ForwardAuthEnv {
  readonly through: ReturnType<typeof fetchThrough>;
  /** A signed-in user with roles user and editor. */
  readonly user: () => TestUser;
  /** The headers the upstream received for its one call to `path`. */
  readonly upstreamHeaders: (path: string) => Record<string, string | string[] | undefined>;
}

/** How one proxy is started and where it differs. */
export interface ForwardAuthProxy {
  /** Starts the proxy in front of Coatcheck at `coatcheck` (host:port) and the upstream. */
  start(coatcheck: string, upstream: string): Promise<RunningProxy>;
  /** Status of the redirect a signed-out page visit gets (nginx 303, Caddy 302). */
  readonly signInRedirectStatus: number;
  /** Cases only this proxy passes (or needs). */
  extra?(env: ForwardAuthEnv): void;
}

/** Registers the suite under `describe(name)`. */
export function forwardAuthContract(name: string, proxy: ForwardAuthProxy): void {
  describe(`${name} in front of an upstream`, () => {
    let h: Harness;
    let upstream: Upstream;
    let running: RunningProxy;
    let u: TestUser;
    before(async () => {
      h = await startServer({ trustedProxies: ['127.0.0.1'] });
      upstream = await startUpstream();
      running = await proxy.start(new URL(h.base).host, upstream.address);
      u = await h.createUser({ roles: ['user', 'editor'] });
    });
    after(async () => {
      await running?.stop();
      upstream?.server.close();
      await h?.close();
    });

    const through = fetchThrough(() => running.url);
    const callsTo = (path: string) => upstream.callsTo(path);
    const upstreamHeaders = (path: string) => {
      const calls = upstream.calls.filter((c) => c.url === path);
      assert.equal(calls.length, 1, `one upstream call to ${path}`);
      return calls[0]?.headers ?? {};
    };

    test('a signed-in request reaches the upstream with X-Auth-User-Id, email and roles', async () => {
      const res = await through('/app/page', { cookie: u.token });
      assert.equal(res.status, 200, running.log());
      assert.deepEqual(await res.json(), { userId: u.id, email: u.email, roles: 'user,editor' });
    });

    test('a client-supplied X-Auth-User-Id never reaches the upstream', async () => {
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

    test('a client copy of X-Auth-Identity is removed although Coatcheck sends none here', async () => {
      // No identity audience is configured, so the answer has no X-Auth-Identity to copy over
      // the client's: only the proxy configuration stands between it and the upstream.
      const res = await through('/app/spoof-3', {
        cookie: u.token,
        headers: { 'x-auth-identity': 'forged.jwt.value' },
      });
      assert.equal(res.status, 200);
      assert.equal(upstreamHeaders('/app/spoof-3')['x-auth-identity'], undefined);
    });

    test('an underscore spelling (X_Auth_User_Id) never reaches the upstream', async () => {
      // CGI-style apps read X_Auth_User_Id as HTTP_X_AUTH_USER_ID, the name of the real header.
      const res = await through('/app/spoof-4', {
        cookie: u.token,
        headers: { x_auth_user_id: 'admin', 'x-auth_user-roles': 'admin', x_forwarded_user: 'a' },
      });
      assert.equal(res.status, 200);
      const names = Object.keys(upstreamHeaders('/app/spoof-4'));
      assert.deepEqual(
        names.filter((n) => n.includes('_')),
        [],
      );
    });

    test('signed out: 401 for API calls, a redirect to the sign-in page for pages', async () => {
      const api = await through('/app/api', { headers: { accept: 'application/json' } });
      assert.equal(api.status, 401);
      const page = await through('/app/page?x=1', { headers: { accept: 'text/html' } });
      assert.equal(page.status, proxy.signInRedirectStatus);
      assert.match(page.headers.get('location') ?? '', /\/login\?next=%2Fapp%2Fpage%3Fx%3D1$/);
      assert.equal(callsTo('/app/api') + callsTo('/app/page?x=1'), 0);
      // ... and the sign-in page itself is served by Coatcheck through the same proxy.
      const login = await through('/login?next=%2Fapp%2Fpage');
      assert.equal(login.status, 200);
      assert.match(await login.text(), /<form/);
    });

    test('signing in through the proxy, then a revoked session is refused on its next request', async () => {
      const signIn = await fetch(`${running.url}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: running.url },
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
        headers: { origin: running.url },
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
        headers: { origin: running.url, 'sec-fetch-site': 'same-origin' },
      });
      assert.equal(same.status, 200);
      assert.equal(callsTo('/app/transfer'), 1);
    });

    test('a client-supplied method header cannot pass a cross-site POST off as a GET', async () => {
      // The proxy tells Coatcheck the real method, over any copy the client sent.
      const res = await through('/app/transfer-2', {
        method: 'POST',
        cookie: u.token,
        headers: {
          origin: 'https://evil.example',
          'sec-fetch-site': 'cross-site',
          'x-forwarded-method': 'GET',
          'x-original-method': 'GET',
        },
      });
      assert.equal(res.status, 403);
      assert.equal(callsTo('/app/transfer-2'), 0);
    });

    test('verify answers are never cached: a signed-in then an anonymous request', async () => {
      assert.equal((await through('/app/cache', { cookie: u.token })).status, 200);
      const anonymous = await through('/app/cache', { headers: { accept: 'application/json' } });
      assert.equal(anonymous.status, 401);
    });

    proxy.extra?.({ through, user: () => u, upstreamHeaders });
  });
}
