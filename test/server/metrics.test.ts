import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { assertProblem, type Harness, startServer } from './harness.ts';

// Who may scrape GET /metrics (ASVS 5.0 13.4.5: monitoring endpoints are not exposed unless
// intended). Off unless COATCHECK_METRICS_TOKEN is set; with it, only `Authorization: Bearer
// <token>` opens it. The attacker is anyone who can reach the main port: a visitor, a crawler, a
// signed-in user, or someone guessing the token.

const TOKEN = randomBytes(32).toString('base64url');
const SCRAPE = { headers: { authorization: `Bearer ${TOKEN}` } };

/** The token with its last character changed: same length, wrong value. */
function flipLast(token: string): string {
  return token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');
}

describe('metrics off without a token (the default)', () => {
  let h: Harness;
  before(async () => {
    h = await startServer();
  });
  after(() => h.close());

  test('without COATCHECK_METRICS_TOKEN, /metrics is a 404 problem like any unknown path, whatever is sent', async () => {
    const unknown = await assertProblem(await h.request('/no/such/path'), 404, 'not_found');
    for (const [method, headers] of [
      ['GET', {}],
      ['GET', { authorization: `Bearer ${TOKEN}` }],
      ['GET', { authorization: 'Bearer ' }],
      ['POST', {}],
    ] as const) {
      const res = await h.request('/metrics', { method, headers });
      assert.deepEqual(await assertProblem(res, 404, 'not_found'), unknown, method);
      assert.equal(res.headers.get('www-authenticate'), null);
    }
    const head = await h.request('/metrics', { method: 'HEAD' });
    assert.equal(head.status, 404);
  });
});

describe('metrics behind a bearer token', () => {
  let h: Harness;
  before(async () => {
    h = await startServer({ metricsToken: TOKEN });
  });
  after(() => h.close());

  const refused: [string, () => Promise<{ authorization?: string; cookie?: string }>][] = [
    ['no Authorization header', async () => ({})],
    [
      'a wrong token of the same length',
      async () => ({ authorization: `Bearer ${flipLast(TOKEN)}` }),
    ],
    ['the token plus one character', async () => ({ authorization: `Bearer ${TOKEN}x` })],
    [
      'the token less its last character',
      async () => ({ authorization: `Bearer ${TOKEN.slice(0, -1)}` }),
    ],
    ['an empty Bearer credential', async () => ({ authorization: 'Bearer ' })],
    [
      'the token under the Basic scheme',
      async () => ({ authorization: `Basic ${btoa(`x:${TOKEN}`)}` }),
    ],
    ['the token under another scheme', async () => ({ authorization: `Token ${TOKEN}` })],
    ['the token with no scheme', async () => ({ authorization: TOKEN })],
    [
      'a signed-in admin session cookie',
      async () => ({ cookie: (await h.createUser({ roles: ['user', 'admin'] })).token }),
    ],
  ];
  for (const [label, credentials] of refused) {
    test(`a scrape with ${label} is 401 with WWW-Authenticate: Bearer and shows no metric`, async () => {
      const { authorization, cookie } = await credentials();
      const res = await h.request('/metrics', {
        headers: authorization === undefined ? {} : { authorization },
        ...(cookie === undefined ? {} : { cookie }),
      });
      assert.equal(res.headers.get('www-authenticate'), 'Bearer');
      assert.equal(res.headers.get('cache-control'), 'no-store');
      const problem = await assertProblem(res, 401, 'unauthenticated');
      assert.equal(JSON.stringify(problem).includes('coatcheck_'), false);
    });
  }

  test('the right token gets Prometheus text, whatever the case of the Bearer scheme', async () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      const res = await h.request('/metrics', { headers: { authorization: `${scheme} ${TOKEN}` } });
      assert.equal(res.status, 200, scheme);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.match(await res.text(), /coatcheck_logins_total/);
    }
    // Scrapes are measured under their route pattern, refused ones included.
    await (await h.request('/metrics')).body?.cancel();
    const text = await (await h.request('/metrics', SCRAPE)).text();
    assert.match(
      text,
      /coatcheck_http_request_duration_seconds_count\{method="GET",route="\/metrics",status="200"\} [3-9]/,
    );
    assert.match(text, /route="\/metrics",status="401"/);
  });

  test('a wrong token is logged as metrics_token_rejected, and no token, right or wrong, reaches a log line', async () => {
    const wrong = flipLast(TOKEN);
    const rejectedBefore = h.events('metrics_token_rejected').length;
    await assertProblem(
      await h.request('/metrics', { headers: { authorization: `Bearer ${wrong}` } }),
      401,
      'unauthenticated',
    );
    assert.equal((await h.request('/metrics', SCRAPE)).status, 200);
    const rejected = h.events('metrics_token_rejected');
    assert.equal(rejected.length, rejectedBefore + 1);
    assert.equal(rejected.at(-1)?.path, '/metrics');
    const logs = h.logs.join('\n');
    assert.equal(logs.includes(TOKEN), false, 'the metrics token is in a log line');
    assert.equal(logs.includes(wrong), false, 'a refused token is in a log line');
  });
});

describe('metrics with bearer transport on', () => {
  let h: Harness;
  before(async () => {
    h = await startServer({ metricsToken: TOKEN, bearerTransport: true });
  });
  after(() => h.close());

  test('a scrape is no session validation: a frequent scraper is never throttled as a token guesser', async () => {
    // The guessing throttle lets 100 refused tokens per IP through; the harness clock stands
    // still, so nothing decays. A scrape read as a session token would be refused and counted.
    for (let i = 0; i < 120; i++) {
      const res = await h.request('/metrics', SCRAPE);
      assert.equal(res.status, 200, `scrape ${i}`);
      await res.body?.cancel();
    }
    const text = await (await h.request('/metrics', SCRAPE)).text();
    assert.doesNotMatch(text, /coatcheck_session_validations_total\{outcome=/);
  });
});
