import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CONTENT_SECURITY_POLICY } from '../../src/server/http/security-headers.ts';
import { assertProblem, type Harness, startServer, type TestUser } from './harness.ts';

// Security headers on every response — success, 401, 404, 405, 413, 500 — because an error page
// can be framed, sniffed or cached as easily as a success. Unexpected errors leak nothing.

const SECRET_CAUSE = 'connection string postgres://admin:hunter2@db';
const METRICS_TOKEN = 'headers-test-metrics-token-0123456789abcdef';
const SCRAPE = { headers: { authorization: `Bearer ${METRICS_TOKEN}` } };
const EXPECTED: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
};

function assertSecurityHeaders(res: Response, label: string) {
  for (const [name, value] of Object.entries(EXPECTED)) {
    assert.equal(res.headers.get(name), value, `${label}: ${name}`);
  }
  assert.match(res.headers.get('x-request-id') ?? '', /^[\w-]{16}$/, `${label}: x-request-id`);
}

describe('over plain HTTP (development)', () => {
  let h: Harness;
  let u: TestUser;
  before(async () => {
    h = await startServer(
      { bodyLimitBytes: 64, metricsToken: METRICS_TOKEN },
      {
        extend: (app) => {
          app.get('/test/boom', () => {
            throw new Error(SECRET_CAUSE);
          });
          app.get('/test/redirect', () => Response.redirect('http://127.0.0.1/elsewhere', 302));
        },
      },
    );
    u = await h.createUser();
  });
  after(() => h.close());

  const cases: [string, () => Promise<Response>, number][] = [
    ['200', () => h.request('/auth/session', { cookie: u.token }), 200],
    ['204', () => h.request('/auth/logout', { method: 'POST' }), 204],
    ['401', () => h.request('/auth/session'), 401],
    ['403', () => h.request('/auth/logout', { method: 'POST', headers: { origin: 'null' } }), 403],
    ['404', () => h.request('/no/such/path'), 404],
    ['405', () => h.request('/auth/logout'), 405],
    ['413', () => h.request('/auth/login', { json: { pad: 'x'.repeat(100) } }), 413],
    [
      '415',
      () => h.request('/auth/login', { body: 'x', headers: { 'content-type': 'text/plain' } }),
      415,
    ],
    ['500', () => h.request('/test/boom'), 500],
    ['immutable redirect', () => h.request('/test/redirect'), 302],
    ['healthz', () => h.request('/healthz'), 200],
    ['metrics', () => h.request('/metrics', SCRAPE), 200],
    ['metrics without its token', () => h.request('/metrics'), 401],
  ];
  for (const [label, send, status] of cases) {
    test(`a ${label} response carries every security header and no-store`, async () => {
      const res = await send();
      assert.equal(res.status, status);
      assertSecurityHeaders(res, label);
      assert.equal(res.headers.get('strict-transport-security'), null, 'no HSTS over plain HTTP');
    });
  }

  test('an unexpected error is a bare 500 problem; the cause is only in the log, with its stack', async () => {
    const res = await h.request('/test/boom');
    const text = await res.text();
    assert.equal(text.includes('hunter2'), false);
    const problem = JSON.parse(text) as Record<string, unknown>;
    assert.equal(problem.code, 'internal_error');
    assert.equal(problem.detail, 'Something went wrong on our side.');
    assert.equal(res.headers.get('content-type'), 'application/problem+json');
    const line = h.logs.map((l) => JSON.parse(l)).findLast((l) => l.msg === 'request failed');
    assert.equal(line?.level, 50);
    assert.match(line?.err?.stack ?? '', /hunter2/);
    assert.equal(line?.requestId, res.headers.get('x-request-id'));
  });

  test('every response gets its own random request id, matching its access-log line', async () => {
    const a = await h.request('/healthz');
    const b = await h.request('/healthz');
    const idA = a.headers.get('x-request-id');
    assert.notEqual(idA, b.headers.get('x-request-id'));
    const line = h.logs
      .map((l) => JSON.parse(l))
      .find((l) => l.requestId === idA && l.msg === 'request');
    assert.deepEqual(
      { method: line?.method, route: line?.route, status: line?.status, ip: line?.ip },
      { method: 'GET', route: '/healthz', status: 200, ip: '127.0.0.1' },
    );
    assert.equal(typeof line?.ms, 'number');
  });

  test('a client-supplied X-Request-Id is not adopted (no log forging)', async () => {
    const res = await h.request('/healthz', { headers: { 'x-request-id': 'forged-id-123456' } });
    assert.notEqual(res.headers.get('x-request-id'), 'forged-id-123456');
  });

  test('access-log lines carry no cookie, no token and no body', async () => {
    await h.request('/auth/session', {
      cookie: u.token,
      headers: { authorization: `Bearer ${u.token}` },
    });
    const logs = h.logs.join('\n');
    assert.equal(logs.includes(u.token.split('.')[1] ?? '-'), false);
  });

  test('unknown paths are labelled "unmatched" in metrics, never by their raw path', async () => {
    await h.request('/probe/aaaa-1234');
    const text = await (await h.request('/metrics', SCRAPE)).text();
    assert.equal(text.includes('aaaa-1234'), false);
    assert.match(text, /route="unmatched"/);
  });
});

describe('behind HTTPS (public URL https://auth.example)', () => {
  let h: Harness;
  before(async () => {
    h = await startServer({ publicUrl: new URL('https://auth.example') });
  });
  after(() => h.close());

  test('HSTS (one year, subdomains) is on every response, errors included', async () => {
    for (const res of [
      await h.request('/healthz'),
      await h.request('/auth/session'),
      await h.request('/nope'),
      await h.request('/auth/verify'),
    ]) {
      assert.equal(
        res.headers.get('strict-transport-security'),
        'max-age=31536000; includeSubDomains',
      );
    }
  });

  test('origin checks compare with the public origin, scheme included, not the raw Host', async () => {
    const ok = await h.request('/auth/logout', {
      method: 'POST',
      headers: { origin: 'https://auth.example' },
    });
    assert.equal(ok.status, 204);
    const downgraded = await h.request('/auth/logout', {
      method: 'POST',
      headers: { origin: 'http://auth.example' },
    });
    await assertProblem(downgraded, 403, 'cross_origin_rejected');
    const rawHost = await h.request('/auth/logout', {
      method: 'POST',
      headers: { origin: h.base },
    });
    await assertProblem(rawHost, 403, 'cross_origin_rejected');
  });
});
