import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  assertProblem,
  type Harness,
  PW,
  setCookieLine,
  startServer,
  type TestUser,
} from './harness.ts';

// Cross-origin protection (Go 1.25 CrossOriginProtection) on every unsafe method, before any
// handler runs. Each attack below is what a page on https://evil.example makes a victim's browser
// send; the test then checks the handler did NOT act.

const TRUSTED = 'https://app.example';
let h: Harness;
before(async () => {
  h = await startServer({ trustedOrigins: [TRUSTED] });
});
after(() => h.close());

const CROSS_SITE = { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' };
const alive = async (u: TestUser) =>
  (await h.request('/auth/session', { cookie: u.token })).status === 200;

describe('attacks from another site are refused and change nothing', () => {
  // <form action="https://coatcheck/auth/password" method="post" enctype="text/plain"> or
  // fetch(..., {method: 'POST', credentials: 'include', body: JSON.stringify(...)})
  test('a cross-site POST /auth/password is 403 and the password is unchanged', async () => {
    const victim = await h.createUser();
    const res = await h.request('/auth/password', {
      headers: CROSS_SITE,
      cookie: victim.token,
      json: { currentPassword: PW, newPassword: 'attacker chosen passphrase' },
    });
    await assertProblem(res, 403, 'cross_origin_rejected');
    assert.equal(setCookieLine(res, 'coatcheck'), null);
    assert.ok(await alive(victim), 'the session was not rotated or revoked');
    const login = await h.request('/auth/login', { json: { email: victim.email, password: PW } });
    assert.equal(login.status, 200, 'the old password still works');
  });

  test('a cross-site DELETE /auth/sessions/:id is 403 and the session lives', async () => {
    const victim = await h.createUser();
    const second = await h.request('/auth/login', { json: { email: victim.email, password: PW } });
    const { session } = (await second.json()) as { session: { id: string } };
    const res = await h.request(`/auth/sessions/${session.id}`, {
      method: 'DELETE',
      headers: CROSS_SITE,
      cookie: victim.token,
    });
    await assertProblem(res, 403, 'cross_origin_rejected');
    const list = await h.request('/auth/sessions', { cookie: victim.token });
    const { sessions } = (await list.json()) as { sessions: { id: string }[] };
    assert.ok(
      sessions.some((s) => s.id === session.id),
      'the targeted session still exists',
    );
  });

  test('a cross-site DELETE /auth/sessions is 403 and the other sessions live', async () => {
    const victim = await h.createUser();
    const other = await h.request('/auth/login', { json: { email: victim.email, password: PW } });
    const otherToken = /coatcheck=([^;]+)/.exec(other.headers.get('set-cookie') ?? '')?.[1] ?? '';
    const res = await h.request('/auth/sessions', {
      method: 'DELETE',
      headers: CROSS_SITE,
      cookie: victim.token,
    });
    await assertProblem(res, 403, 'cross_origin_rejected');
    assert.equal((await h.request('/auth/session', { cookie: otherToken })).status, 200);
  });

  test('a cross-site POST /auth/logout is 403: no sign-out, no clearing cookie', async () => {
    const victim = await h.createUser();
    const res = await h.request('/auth/logout', {
      method: 'POST',
      headers: CROSS_SITE,
      cookie: victim.token,
    });
    assert.equal(res.headers.get('clear-site-data'), null);
    assert.equal(setCookieLine(res, 'coatcheck'), null);
    await assertProblem(res, 403, 'cross_origin_rejected');
    assert.ok(await alive(victim));
  });

  test('login CSRF: a cross-site POST /auth/login is 403 and sets no cookie', async () => {
    const victim = await h.createUser();
    for (const site of ['cross-site', 'same-site']) {
      const res = await h.request('/auth/login', {
        headers: { 'sec-fetch-site': site },
        json: { email: victim.email, password: PW },
      });
      assert.equal(setCookieLine(res, 'coatcheck'), null);
      await assertProblem(res, 403, 'cross_origin_rejected');
    }
  });

  test('a cross-site POST /auth/signup is 403 and creates no account', async () => {
    const res = await h.request('/auth/signup', {
      headers: CROSS_SITE,
      json: { email: 'planted@example.test', password: PW },
    });
    await assertProblem(res, 403, 'cross_origin_rejected');
    assert.equal(await h.services.users.findByEmail('planted@example.test'), null);
  });

  // The metrics and health routes are mounted before the layer that runs the check (app.ts): an
  // unsafe request there must still meet the check, before the 405.
  test('a cross-site POST to /metrics or /healthz is 403, not 405', async () => {
    for (const path of ['/metrics', '/healthz', '/readyz']) {
      const res = await h.request(path, { method: 'POST', headers: CROSS_SITE });
      await assertProblem(res, 403, 'cross_origin_rejected');
    }
  });

  test('each refusal is logged as a csrf_reject warning with ip, reason and path', async () => {
    const before = h.events('csrf_reject').length;
    await h.request('/auth/logout', { method: 'POST', headers: { origin: 'null' } });
    const events = h.events('csrf_reject');
    assert.equal(events.length, before + 1);
    const event = events.at(-1) ?? {};
    assert.equal(event.level, 40);
    assert.equal(event.reason, 'origin-null');
    assert.equal(event.path, '/auth/logout');
    assert.equal(event.ip, '127.0.0.1');
  });
});

describe('the Go CrossOriginProtection table, on POST /auth/logout', () => {
  const host = () => new URL(h.base).host;
  const cases: [string, () => Record<string, string>, number][] = [
    ['Sec-Fetch-Site: same-origin', () => ({ 'sec-fetch-site': 'same-origin' }), 204],
    ['Sec-Fetch-Site: none (typed URL, bookmarks)', () => ({ 'sec-fetch-site': 'none' }), 204],
    [
      'Sec-Fetch-Site: same-site (a sibling subdomain)',
      () => ({ 'sec-fetch-site': 'same-site' }),
      403,
    ],
    ['Sec-Fetch-Site: cross-site', () => ({ 'sec-fetch-site': 'cross-site' }), 403],
    ['an unknown Sec-Fetch-Site value', () => ({ 'sec-fetch-site': 'sideways' }), 403],
    ['no Sec-Fetch-Site and no Origin (non-browser client)', () => ({}), 204],
    ['Origin equal to the host', () => ({ origin: `http://${host()}` }), 204],
    ['Origin of another site', () => ({ origin: 'https://evil.example' }), 403],
    ['Origin null (sandboxed frame)', () => ({ origin: 'null' }), 403],
    ['Origin with the right host on another port', () => ({ origin: 'http://127.0.0.1:1' }), 403],
    ['Origin with a suffix attack', () => ({ origin: `http://${host()}.evil.example` }), 403],
    [
      'a trusted Origin, even cross-site',
      () => ({ origin: TRUSTED, 'sec-fetch-site': 'cross-site' }),
      204,
    ],
  ];
  for (const [label, headers, status] of cases) {
    test(`${label} → ${status}`, async () => {
      const res = await h.request('/auth/logout', { method: 'POST', headers: headers() });
      assert.equal(res.status, status, await res.text());
    });
  }

  test('safe methods are never refused: a cross-site GET /auth/session reads the session', async () => {
    const u = await h.createUser();
    const res = await h.request('/auth/session', { headers: CROSS_SITE, cookie: u.token });
    assert.equal(res.status, 200);
    assert.equal(
      res.headers.get('access-control-allow-origin'),
      null,
      'but the page cannot read it',
    );
  });
});

describe('CORS: only exact trusted origins, with credentials', () => {
  test('a trusted origin gets its exact origin echoed, credentials, and Vary: Origin', async () => {
    const u = await h.createUser();
    const res = await h.request('/auth/session', { headers: { origin: TRUSTED }, cookie: u.token });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), TRUSTED);
    assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
    assert.match(res.headers.get('vary') ?? '', /Origin/);
  });

  test('other origins get no Access-Control-* header at all (never reflected, never *)', async () => {
    for (const origin of [
      'https://evil.example',
      'https://app.example.evil.com',
      'null',
      'http://app.example',
      `${TRUSTED}/`,
    ]) {
      const res = await h.request('/auth/session', { headers: { origin } });
      const acHeaders = [...res.headers.keys()].filter((k) => k.startsWith('access-control-'));
      assert.deepEqual(acHeaders, [], `${origin}: ${acHeaders.join(',')}`);
      assert.match(res.headers.get('vary') ?? '', /Origin/);
    }
  });

  test('a trusted preflight is 204 with the allowed methods and headers', async () => {
    const res = await h.request('/auth/password', {
      method: 'OPTIONS',
      headers: {
        origin: TRUSTED,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-origin'), TRUSTED);
    assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
    assert.match(res.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.equal(res.headers.get('access-control-allow-headers'), 'Content-Type');
    // Answered before the routes, it is still inside the envelope: logged, with a request id
    // and the security headers like any other response.
    assert.match(res.headers.get('x-request-id') ?? '', /^[\w-]{16}$/);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('cache-control'), 'no-store');
  });

  test('an untrusted preflight gets no Access-Control-* header, so the browser never sends', async () => {
    const res = await h.request('/auth/password', {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    const acHeaders = [...res.headers.keys()].filter((k) => k.startsWith('access-control-'));
    assert.deepEqual(acHeaders, []);
    assert.equal(res.status, 405);
  });
});
