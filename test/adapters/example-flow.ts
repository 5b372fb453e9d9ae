import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { RunningExample } from './example-runner.ts';

/**
 * What a browser does with an example app, as fetch calls: sign in (twice, two devices), open the
 * protected page, meet the refusals a hostile page would meet, then sign out everywhere.
 */

const COOKIE = '__Host-coatcheck';

/** Where an example's forms post. */
export interface FlowOptions {
  readonly email: string;
  readonly password: string;
  readonly signIn: string;
  readonly signOut: string;
}

/** The flow every example passes; `app.base` is the example's origin. */
export async function browserFlow(app: RunningExample, options: FlowOptions) {
  const { email, password } = options;
  const go = (path: string, init: RequestInit & { cookie?: string } = {}) => {
    const headers = new Headers(init.headers);
    if (init.cookie) headers.set('cookie', `${COOKIE}=${init.cookie}`);
    return fetch(app.base + path, { ...init, headers, redirect: 'manual' });
  };
  const form = (fields: Record<string, string>, cookie?: string, site = 'same-origin') =>
    ({
      method: 'POST',
      body: new URLSearchParams(fields).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': site },
      ...(cookie ? { cookie } : {}),
    }) as const;
  const signIn = async () => {
    const res = await go(options.signIn, form({ email, password, remember: 'on' }));
    assert.equal(res.status, 303, await res.clone().text());
    const line = res.headers.getSetCookie().find((l) => l.startsWith(`${COOKIE}=ccs_`));
    assert.match(line ?? '', /; Max-Age=\d+; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
    return (line ?? '').slice(COOKIE.length + 1).split(';')[0] ?? '';
  };

  // Signed out: the protected page sends the browser to sign in.
  const away = await go('/');
  assert.ok([303, 307].includes(away.status), `redirected, got ${away.status}`);
  assert.match(away.headers.get('location') ?? '', /\/login$/);
  assert.ok(/<form[^>]*method="post"/.test(await (await go('/login')).text()), 'a sign-in form');

  // A wrong password is refused in words and sets no cookie.
  // (Sent the way a browser without fetch metadata would: Origin only, which must match Host.)
  const wrongPassword = new URLSearchParams({ email, password: `${password}!` }).toString();
  const wrong = await go(options.signIn, {
    method: 'POST',
    body: wrongPassword,
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: app.base },
  });
  assert.equal(wrong.status, 401);
  assert.deepEqual(wrong.headers.getSetCookie(), []);

  const laptop = await signIn();
  const phone = await signIn();
  const home = await go('/', { cookie: laptop });
  assert.equal(home.status, 200);
  const html = await home.text();
  assert.ok(html.includes(email), 'the page names the signed-in user');
  const input = /<input[^>]*name="csrf_token"[^>]*>/.exec(html)?.[0] ?? '';
  const csrf = /value="([\w-]{43})"/.exec(input)?.[1];
  assert.ok(csrf, 'the sign-out form carries the synchronizer token');

  // attacker.example auto-submits the sign-out form, with and without a token: refused.
  const action = options.signOut;
  assert.ok(html.includes(`action="${action}"`), 'the page posts to the sign-out route');
  const cross = await go(action, form({ csrf_token: csrf }, laptop, 'cross-site'));
  assert.equal(cross.status, 403);
  const tokenless = await go(action, form({}, laptop));
  assert.equal(tokenless.status, 403);
  assert.equal((await go('/', { cookie: phone })).status, 200, 'nothing was signed out');

  // The real form: every session of the user ends, this one included.
  const out = await go(action, form({ csrf_token: csrf }, laptop));
  assert.equal(out.status, 303);
  assert.match(out.headers.get('location') ?? '', /\/login$/);
  assert.ok(out.headers.getSetCookie().some((l) => l.startsWith(`${COOKIE}=; Max-Age=0`)));
  for (const cookie of [laptop, phone]) {
    const res = await go('/', { cookie });
    assert.ok([303, 307].includes(res.status), 'the session is dead on the server');
    assert.match(res.headers.get('location') ?? '', /\/login$/);
  }
}

/**
 * Sign-in posts an example cannot read as a form (no body, JSON, multipart with or without a
 * boundary): each refused with a 4xx and no session cookie, as empty fields would be; never a 500.
 */
export async function unreadableSignIns(app: RunningExample, path: string) {
  const multipart = new FormData();
  multipart.set('email', 'nobody@example.com');
  multipart.set('password', 'not the password');
  const json = { 'content-type': 'application/json' };
  const cases: [string, RequestInit][] = [
    ['no body', {}],
    [
      'an empty form',
      { body: '', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
    ],
    ['JSON', { body: '{"email":"ada@example.com"}', headers: json }],
    ['JSON null', { body: 'null', headers: json }],
    ['malformed JSON', { body: '{', headers: json }],
    ['multipart', { body: multipart }],
    [
      'multipart without a boundary',
      { body: 'x', headers: { 'content-type': 'multipart/form-data' } },
    ],
  ];
  for (const [label, init] of cases) {
    const headers = new Headers(init.headers);
    headers.set('sec-fetch-site', 'same-origin');
    const res = await fetch(app.base + path, {
      ...init,
      method: 'POST',
      headers,
      redirect: 'manual',
    });
    const body = await res.text();
    assert.ok(
      res.status >= 400 && res.status < 500,
      `${label}: ${res.status} ${body.slice(0, 300)}`,
    );
    assert.ok(!res.headers.getSetCookie().some((l) => l.startsWith(`${COOKIE}=ccs_`)), label);
  }
}

/**
 * A client presenting one invalid session token after another is blocked (429 with Retry-After)
 * by the token-guessing preset (100, the flows' refused cookies included). Run last: it blocks
 * 127.0.0.1.
 */
export async function tokenGuessing(app: RunningExample) {
  const b64 = (bytes: number) => randomBytes(bytes).toString('base64url');
  for (let attempt = 1; attempt <= 150; attempt++) {
    // Well-formed, so the store is asked, and unknown.
    const res = await fetch(`${app.base}/`, {
      headers: { cookie: `${COOKIE}=ccs_${b64(16)}.${b64(24)}` },
      redirect: 'manual',
    });
    await res.body?.cancel();
    if (res.status === 429) {
      assert.ok(Number(res.headers.get('retry-after')) > 0, 'Retry-After');
      return;
    }
  }
  assert.fail(`150 invalid tokens from one IP and no 429:\n${app.output()}`);
}
