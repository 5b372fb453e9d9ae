import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertProblem, type Harness, PW, startServer } from './harness.ts';

// Liveness, readiness and Prometheus metrics; and login throttling as an operator sees it.
// Who may scrape /metrics is in metrics.test.ts.

const METRICS_TOKEN = 'health-test-metrics-token-0123456789abcdef';
const SCRAPE = { headers: { authorization: `Bearer ${METRICS_TOKEN}` } };

let h: Harness;
before(async () => {
  h = await startServer({ metricsToken: METRICS_TOKEN });
});
after(() => h.close());

describe('health', () => {
  test('GET /healthz and /readyz answer 200 while the store is up', async () => {
    assert.deepEqual(await (await h.request('/healthz')).json(), { status: 'ok' });
    assert.deepEqual(await (await h.request('/readyz')).json(), { status: 'ready' });
  });

  test('a probe sending a cookie is not a session check: no store read, no clearing, no throttle', async () => {
    for (const path of ['/healthz', '/readyz']) {
      const res = await h.request(path, { cookie: 'ccs_garbage.garbage' });
      assert.equal(res.status, 200);
      assert.equal(res.headers.getSetCookie().length, 0, path);
    }
  });

  test('POST /healthz is 405, not a hidden state change', async () => {
    await assertProblem(await h.request('/healthz', { method: 'POST' }), 405, 'method_not_allowed');
  });
});

describe('metrics', () => {
  test('GET /metrics is Prometheus text with logins, validations, revocations and latency', async () => {
    const u = await h.createUser();
    await h.request('/auth/login', { json: { email: u.email, password: PW } });
    await h.request('/auth/login', { json: { email: u.email, password: 'wrong wrong wrong' } });
    await h.request('/auth/session', { cookie: u.token });
    await h.request('/auth/session', { cookie: 'garbage' });
    await h.request('/auth/logout', { method: 'POST', cookie: u.token });
    const res = await h.request('/metrics', SCRAPE);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await res.text();
    assert.match(text, /coatcheck_logins_total\{outcome="ok"\} 1/);
    assert.match(text, /coatcheck_logins_total\{outcome="invalid_credentials"\} 1/);
    assert.match(text, /coatcheck_session_validations_total\{outcome="ok"\} \d+/);
    assert.match(text, /coatcheck_session_validations_total\{outcome="malformed"\} 1/);
    assert.match(text, /coatcheck_session_revocations_total\{kind="logout"\} 1/);
    assert.match(
      text,
      /coatcheck_http_request_duration_seconds_count\{method="POST",route="\/auth\/login",status="200"\} 1/,
    );
  });

  test('a password change counts the other sessions it revoked', async () => {
    const u = await h.createUser();
    for (let i = 0; i < 2; i++) {
      const login = await h.request('/auth/login', { json: { email: u.email, password: PW } });
      assert.equal(login.status, 200);
    }
    const change = await h.request('/auth/password', {
      cookie: u.token,
      json: { currentPassword: PW, newPassword: 'an entirely new passphrase' },
    });
    assert.equal(change.status, 200, await change.text());
    const text = await (await h.request('/metrics', SCRAPE)).text();
    assert.match(text, /coatcheck_session_revocations_total\{kind="password_change"\} 2/);
  });
});

describe('login throttling', () => {
  test('repeated wrong passwords for one account end in 429 with Retry-After, then no hashing', async () => {
    const u = await h.createUser();
    let throttled: Response | null = null;
    for (let i = 0; i < 12 && throttled === null; i++) {
      const res = await h.request('/auth/login', {
        json: { email: u.email, password: `wrong guess ${i}` },
      });
      if (res.status === 429) throttled = res;
      else await assertProblem(res, 401, 'invalid_credentials');
    }
    assert.ok(throttled, 'the account was throttled');
    const retryAfter = Number(throttled.headers.get('retry-after'));
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1);
    const problem = await assertProblem(throttled, 429, 'too_many_requests');
    assert.equal(problem.retryAfter, retryAfter);
    // Even the right password waits: the throttle is checked before the password.
    const right = await h.request('/auth/login', { json: { email: u.email, password: PW } });
    await assertProblem(right, 429, 'too_many_requests');
    // After the delay, the right password works again (the lock-out is bounded).
    h.clock.now += (retryAfter + 1) * 1000;
    const later = await h.request('/auth/login', { json: { email: u.email, password: PW } });
    assert.equal(later.status, 200);
    const metrics = await (await h.request('/metrics', SCRAPE)).text();
    assert.match(metrics, /coatcheck_logins_total\{outcome="throttled"\} [1-9]/);
  });
});
