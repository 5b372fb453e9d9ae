import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startCaddy } from '../support/caddy.ts';
import { docConfig, forwardAuthContract } from './forward-auth-contract.ts';

// A real Caddy (Debian package) in front of a demo upstream, asking Coatcheck's /auth/verify with
// forward_auth. The Caddyfile is read from docs/forward-auth.md itself: only its host and ports
// are replaced by the test's.

forwardAuthContract('Caddy forward_auth', {
  async start(coatcheck, upstream) {
    const caddy = await startCaddy(
      docConfig('Caddy', 'caddyfile', [
        // A plain-HTTP site on the test's port: auto_https is off, and fetch cannot set Host.
        ['app.example.com', 'http://127.0.0.1:{{PORT}}'],
        ['127.0.0.1:3000', coatcheck],
        ['127.0.0.1:8080', upstream],
      ]),
    );
    return { url: caddy.url, log: () => caddy.log(), stop: () => caddy.stop() };
  },
  // `/auth/verify?redirect=1` answers a signed-out page with its own 302, which forward_auth passes on.
  signInRedirectStatus: 302,
  extra({ through, user, upstreamHeaders }) {
    test('every client X-Auth-* header is removed, not only the ones Coatcheck sets', async () => {
      // `request_header -X-Auth-*` runs before forward_auth copies the real ones.
      const res = await through('/app/spoof-5', {
        cookie: user().token,
        headers: { 'x-auth-anything': 'x' },
      });
      assert.equal(res.status, 200);
      assert.equal(upstreamHeaders('/app/spoof-5')['x-auth-anything'], undefined);
    });
  },
});
