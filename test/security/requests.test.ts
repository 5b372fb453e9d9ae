import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createApp } from '../../src/server/app.ts';
import { assertProblem, type Harness, PW, startServer } from '../server/harness.ts';

// Request-level rows of the security checklist (docs/security.md) that had no test of their own:
// safe methods, spoofed client addresses, enumeration through headers, and log forging. Each test
// is named after the attack it proves is refused, against the real app on real SQLite.

const CROSS_SITE = { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' };

/**
 * Every GET route of the app, reviewed as read-only. A new GET route makes the inventory test
 * fail until it is added here, after checking it changes nothing (ASVS 5.0 V3.5.3).
 */
const READ_ONLY_GET_ROUTES = [
  '/',
  '/.well-known/jwks.json',
  '/account',
  '/admin',
  '/admin/users',
  '/admin/users/:id/sessions',
  '/assets/app.css',
  '/auth/session',
  '/auth/sessions',
  '/auth/verify',
  '/healthz',
  '/login',
  '/metrics',
  '/readyz',
  '/signup',
];

describe('safe methods (ASVS 3.5.3, Go CrossOriginProtection step 1)', () => {
  let h: Harness;
  before(async () => {
    // With a metrics token, so /metrics exists and is in the inventory (without one it is off).
    h = await startServer({ metricsToken: randomBytes(32).toString('base64url') });
  });
  after(() => h.close());

  test('a cross-site page making a signed-in admin GET or HEAD every route changes no user, session or audit record', async () => {
    const routes = [
      ...new Set(
        createApp(h.services)
          .routes.filter((r) => r.method === 'GET')
          .map((r) => r.path),
      ),
    ].sort();
    assert.deepEqual(
      routes,
      READ_ONLY_GET_ROUTES,
      'a GET route was added: review it, then list it',
    );

    const admin = await h.createUser({ roles: ['user', 'admin'] });
    const target = await h.createUser();
    const snapshot = async () => ({
      users: await h.services.users.list({ limit: 100, offset: 0 }),
      sessions: [
        (await h.services.sessions.listByUser(admin.id)).map((s) => s.id),
        (await h.services.sessions.listByUser(target.id)).map((s) => s.id),
      ],
      audit: await h.services.audit.list({ limit: 1000 }),
    });
    const before = await snapshot();
    const statuses: Record<string, number> = {};
    for (const route of routes) {
      const path = route.replace(':id', target.id);
      for (const method of ['GET', 'HEAD']) {
        const res = await h.request(path, { method, cookie: admin.token, headers: CROSS_SITE });
        statuses[`${method} ${route}`] = res.status;
        await res.body?.cancel();
      }
    }
    // The visits were signed in (not vacuous refusals), and none of them changed anything.
    for (const signedIn of [
      '/account',
      '/admin',
      '/admin/users',
      '/auth/sessions',
      '/auth/verify',
    ]) {
      assert.equal(statuses[`GET ${signedIn}`], 200, signedIn);
    }
    assert.ok(
      Object.values(statuses).every((s) => s < 500),
      JSON.stringify(statuses),
    );
    assert.deepEqual(await snapshot(), before);
    assert.equal((await h.request('/auth/session', { cookie: target.token })).status, 200);
  });
});

describe('client addresses (ASVS 15.3.4)', () => {
  let h: Harness;
  before(async () => {
    h = await startServer();
  });
  after(() => h.close());

  test('a token guesser cannot escape the per-IP throttle by sending a new X-Forwarded-For each time', async () => {
    const victim = await h.createUser();
    let throttled: Response | null = null;
    for (let i = 0; i < 150 && throttled === null; i++) {
      const res = await h.request('/auth/session', {
        cookie: randomBytes(20).toString('base64url'),
        headers: { 'x-forwarded-for': `203.0.113.${i % 250}, 10.0.0.${i % 250}` },
      });
      if (res.status === 429) throttled = res;
      else await res.body?.cancel();
    }
    assert.ok(throttled, 'the guessing was throttled although every request named another IP');
    await assertProblem(throttled, 429, 'too_many_requests');
    const fresh = await h.request('/auth/session', {
      cookie: victim.token,
      headers: { 'x-forwarded-for': '198.51.100.200' },
    });
    assert.equal(fresh.status, 429, 'still the socket address that is blocked');
    const events = h.events('token_guessing_throttled');
    assert.ok(events.length >= 1);
    assert.ok(events.every((e) => e.ip === '127.0.0.1'));
  });
});

describe('account enumeration (ASVS 6.3.8)', () => {
  let h: Harness;
  before(async () => {
    h = await startServer();
  });
  after(() => h.close());

  test('an unknown email and a wrong password cannot be told apart by status, body or any header', async () => {
    const u = await h.createUser();
    const answer = async (email: string) => {
      const res = await h.request('/auth/login', {
        json: { email, password: `${PW} but wrong` },
      });
      const headers = [...res.headers].filter(([name]) => !['date', 'x-request-id'].includes(name));
      return { status: res.status, body: await res.text(), headers };
    };
    const unknown = await answer('nobody-here@example.test');
    const wrong = await answer(u.email);
    assert.equal(unknown.status, 401);
    assert.deepEqual(unknown, wrong);
  });
});

describe('log integrity (ASVS 16.2.1, 16.2.2, 16.4.1)', () => {
  let h: Harness;
  before(async () => {
    h = await startServer();
  });
  after(() => h.close());

  test('a newline smuggled into a logged field cannot forge a log line; every line is one JSON event with a UTC time', async () => {
    const start = h.logs.length;
    const forged = '/auth/logout%0A%7B%22level%22:60,%22event%22:%22login_ok%22%7D';
    const res = await h.request(forged, { method: 'POST', headers: { origin: 'null' } });
    await assertProblem(res, 403, 'cross_origin_rejected');
    const written = h.logs.slice(start);
    assert.ok(written.length >= 2, 'the refusal and the access line were written');
    for (const chunk of written) {
      assert.equal(chunk.indexOf('\n'), chunk.length - 1, 'one line per event');
      const line = JSON.parse(chunk) as Record<string, unknown>;
      assert.match(String(line.time), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      assert.equal(line.event === 'login_ok', false, 'no forged event');
    }
    const event = h.events('csrf_reject').at(-1);
    // Who, what, where: the request id, client IP, path (the newline kept as data) and reason.
    assert.equal(typeof event?.requestId, 'string');
    assert.equal(event?.ip, '127.0.0.1');
    assert.equal(event?.reason, 'origin-null');
    assert.match(String(event?.path), /^\/auth\/logout\n/);
  });
});
