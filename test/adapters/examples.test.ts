import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type RunningExample, seedUser, startExample } from './example-runner.ts';

/**
 * Each example app (examples/<framework>/app.ts), started as its README says, driven over HTTP like
 * a browser would: sign in, the protected page, and sign-out everywhere, plus the refusals a
 * hostile page would meet.
 */

const COOKIE = '__Host-coatcheck';

for (const framework of ['express', 'fastify', 'hono']) {
  describe(`examples/${framework}`, () => {
    test('signs in, shows the protected page, signs out everywhere', async (t) => {
      const { dir, email, password } = await seedUser();
      const app = await startExample(['--conditions=source', `examples/${framework}/app.ts`], {
        COATCHECK_DATA_DIR: dir,
      });
      t.after(() => app.stop());
      await browserFlow(app, {
        email,
        password,
        signIn: '/login',
        signOut: '/sign-out-everywhere',
      });
    });
  });
}

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
  assert.equal(away.status, 303);
  assert.match(away.headers.get('location') ?? '', /\/login$/);
  assert.match(await (await go('/login')).text(), /<form method="post"/);

  // A wrong password is refused in words and sets no cookie.
  const wrong = await go(options.signIn, form({ email, password: `${password}!` }));
  assert.equal(wrong.status, 401);
  assert.deepEqual(wrong.headers.getSetCookie(), []);

  const laptop = await signIn();
  const phone = await signIn();
  const home = await go('/', { cookie: laptop });
  assert.equal(home.status, 200);
  const html = await home.text();
  assert.ok(html.includes(email), 'the page names the signed-in user');
  const csrf = /name="csrf_token" value="([\w-]{43})"/.exec(html)?.[1];
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
    assert.equal(res.status, 303, 'the session is dead on the server');
  }
}
