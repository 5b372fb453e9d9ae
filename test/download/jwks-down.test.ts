import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type DownloadFixture, pathOf, REPORT, startDownloadFixture } from './fixture.ts';

// The download server reads its keys from the app's JWKS URL. When that endpoint is broken (a 500,
// a 404, an HTML error page, a body that is no key set) the keys are unavailable: the answer is a
// 503 and the token is not spent, exactly as when the app is unreachable. A key set that loads
// but lacks the token's kid is still the token's fault: 401.

/** What the stand-in JWKS endpoint answers next. */
let answer: { status: number; type: string; body: string } = {
  status: 500,
  type: 'text/plain',
  body: 'boom',
};

describe('download server with its JWKS endpoint broken', () => {
  let jwks: Server;
  let f: DownloadFixture;
  before(async () => {
    jwks = createServer((_req, res) => {
      res.writeHead(answer.status, { 'content-type': answer.type });
      res.end(answer.body);
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    const { port } = jwks.address() as AddressInfo;
    f = await startDownloadFixture({ jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json` });
  });
  after(async () => {
    await f.close();
    await new Promise((resolve) => jwks.close(resolve));
  });

  for (const [label, broken] of [
    ['HTTP 500', { status: 500, type: 'application/problem+json', body: '{"status":500}' }],
    ['HTTP 404', { status: 404, type: 'text/plain', body: 'not found' }],
    ['an HTML page with 200', { status: 200, type: 'text/html', body: '<html>login</html>' }],
    ['JSON that is no key set', { status: 200, type: 'application/json', body: '{"a":1}' }],
  ] as const) {
    test(`${label} from the JWKS: 503 store_unavailable, and the token still works afterwards`, async () => {
      // A fresh kid: the verifier must fetch the key set (it caches a good one for minutes).
      await f.keys.rotate();
      const grant = await f.mint('users/u1/report.txt');
      answer = broken;
      f.logs.length = 0;
      const res = await f.get(pathOf(grant));
      assert.equal(res.status, 503);
      assert.equal(JSON.parse(res.body.toString()).code, 'store_unavailable');
      assert.equal(f.logs[0]?.reason, 'keys_unavailable');

      // The keys are back: the same token is served (it was not consumed by the refusal).
      answer = { status: 200, type: 'application/json', body: JSON.stringify(await f.keys.jwks()) };
      const again = await f.get(pathOf(grant));
      assert.equal(again.status, 200);
      assert.equal(again.body.toString(), REPORT);
    });
  }

  test('a key set that loads but lacks the token kid: 401 (the token is refused)', async () => {
    await f.keys.rotate();
    const grant = await f.mint('users/u1/report.txt');
    answer = { status: 200, type: 'application/json', body: '{"keys":[]}' };
    f.logs.length = 0;
    const res = await f.get(pathOf(grant));
    assert.equal(res.status, 401);
    assert.equal(f.logs[0]?.reason, 'jwks_no_matching_key');
  });
});
