import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type ServerConfig, testConfig } from '../../src/server/config.ts';
import { type Harness, startServer, type TestUser } from './harness.ts';

// GET /auth/session builds its response with the final header set up front (a fast path, see
// src/server/http/complete-response.ts). If that set ever drifted from what the middleware adds
// to every other response, a security header could silently go missing on the busiest route.

/** Every header but the per-response ones, lower-cased names, sorted. */
function headerSet(res: Response): [string, string][] {
  const varying = new Set(['x-request-id', 'content-length', 'date', 'connection', 'keep-alive']);
  return [...res.headers].filter(([name]) => !varying.has(name)).sort();
}

const CONFIGS: [string, Partial<ServerConfig>][] = [
  ['over plain HTTP', { trustedOrigins: ['https://app.example'] }],
  [
    'behind HTTPS with downloads on',
    {
      publicUrl: new URL('https://auth.example'),
      trustedOrigins: ['https://app.example'],
      download: { ...testConfig().download, url: new URL('https://files.example') },
    },
  ],
];

for (const [label, overrides] of CONFIGS) {
  describe(`GET /auth/session's prebuilt headers, ${label}`, () => {
    let h: Harness;
    let u: TestUser;
    before(async () => {
      h = await startServer(overrides);
      u = await h.createUser();
    });
    after(() => h.close());

    test('are exactly the headers the middleware puts on another JSON route', async () => {
      const fast = await h.request('/auth/session', { cookie: u.token });
      const usual = await h.request('/auth/sessions', { cookie: u.token });
      assert.equal(fast.status, 200);
      assert.equal(usual.status, 200);
      assert.deepEqual(headerSet(fast), headerSet(usual));
      assert.match(fast.headers.get('x-request-id') ?? '', /^[\w-]{16}$/);
    });

    test('a trusted origin still gets its CORS headers, another origin none', async () => {
      const trusted = await h.request('/auth/session', {
        cookie: u.token,
        headers: { origin: 'https://app.example' },
      });
      assert.equal(trusted.headers.get('access-control-allow-origin'), 'https://app.example');
      assert.equal(trusted.headers.get('access-control-allow-credentials'), 'true');
      assert.equal(trusted.headers.get('vary'), 'Origin');
      const other = await h.request('/auth/session', {
        cookie: u.token,
        headers: { origin: 'https://nobody.example' },
      });
      assert.equal(other.headers.get('access-control-allow-origin'), null);
      assert.equal(other.headers.get('vary'), 'Origin');
    });

    test('a HEAD request carries the same headers', async () => {
      const head = await h.request('/auth/session', { cookie: u.token, method: 'HEAD' });
      const get = await h.request('/auth/session', { cookie: u.token });
      assert.deepEqual(headerSet(head), headerSet(get));
    });
  });
}
