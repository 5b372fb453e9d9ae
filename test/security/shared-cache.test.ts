import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Harness, startServer, type TestUser } from '../server/harness.ts';
import { type Nginx, startNginx } from '../support/nginx.ts';

// ASVS 5.0 V14.2.2 / V14.3.2 through a real shared cache: a (real) nginx with proxy_cache in front
// of Coatcheck, keyed on the URL only, as a careless CDN or proxy would be. A control route that
// allows caching proves the cache is live; the auth answers must still never be served from it.

function cachingProxyConf(coatcheck: string): string {
  return `
  proxy_cache_path {{DIR}}/cache keys_zone=shared:1m;
  server {
    listen 127.0.0.1:{{PORT}};
    location / {
      proxy_pass http://${coatcheck};
      proxy_cache shared;
      proxy_cache_key $scheme$host$request_uri;
      proxy_cache_valid 200 401 302 10m;
      add_header X-Cache $upstream_cache_status always;
    }
  }`;
}

describe('behind a shared cache keyed on the URL alone (ASVS 14.2.2)', () => {
  let h: Harness;
  let nginx: Nginx;
  let user: TestUser;
  let controlCalls = 0;
  before(async () => {
    h = await startServer(
      {},
      {
        extend: (app) => {
          app.get('/test/cacheable', (c) => {
            controlCalls++;
            c.header('Cache-Control', 'public, max-age=600');
            return c.text(`call ${controlCalls}`);
          });
        },
      },
    );
    nginx = await startNginx(cachingProxyConf(new URL(h.base).host));
    user = await h.createUser();
  });
  after(async () => {
    await nginx?.stop();
    await h?.close();
  });

  const through = (path: string, cookie?: string) =>
    fetch(`${nginx.url}${path}`, {
      headers: cookie ? { cookie: `coatcheck=${cookie}` } : {},
      redirect: 'manual',
    });

  test('the cache is live: a response that allows caching is served from it', async () => {
    const first = await through('/test/cacheable');
    const second = await through('/test/cacheable');
    assert.equal(await first.text(), 'call 1', nginx.errors());
    assert.equal(second.headers.get('x-cache'), 'HIT');
    assert.equal(await second.text(), 'call 1');
    assert.equal(controlCalls, 1);
  });

  test("one user's verify or session answer is never served from a shared cache to another, in either order", async () => {
    for (const path of ['/auth/verify', '/auth/session', '/auth/sessions']) {
      const signedIn = await through(path, user.token);
      assert.equal(signedIn.status, 200, `${path}: ${nginx.errors()}`);
      assert.equal(signedIn.headers.get('cache-control'), 'no-store');
      const body = await signedIn.text();
      const anonymous = await through(path);
      assert.equal(anonymous.status, 401, path);
      assert.notEqual(anonymous.headers.get('x-cache'), 'HIT', path);
      assert.equal(anonymous.headers.get('x-auth-user-id'), null, path);
      const leaked = await anonymous.text();
      if (body !== '') assert.equal(leaked.includes(user.email), false, path);
      const again = await through(path, user.token);
      assert.equal(again.status, 200, `${path}: a cached 401 was served to the signed-in user`);
      await again.body?.cancel();
    }
  });
});
