import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  Client,
  newUser,
  PW,
  services,
  sessionCount,
  setupPagesApp,
  signIn,
  tokenOf,
} from './pages-fixture.ts';

// Fetch-level tests of the pages against the real app: rendering, errors in words, open
// redirects, and synchronizer tokens. Account and admin actions: pages-actions.test.ts.

setupPagesApp();

describe('pages render', () => {
  test('GET /login and /signup are forms in HTML, not cacheable, linking the stylesheet', async () => {
    for (const path of ['/login', '/signup']) {
      const res = await new Client().get(path);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      const body = await res.text();
      assert.match(body, new RegExp(`<form method="post" action="${path}">`));
      assert.doesNotMatch(body, /<script|style=/);
      const css = /href="(\/assets\/app\.css\?v=[0-9a-f]+)"/.exec(body)?.[1];
      assert.ok(css);
      const sheet = await new Client().get(css);
      assert.equal(sheet.status, 200);
      assert.match(sheet.headers.get('content-type') ?? '', /^text\/css/);
      assert.match(sheet.headers.get('cache-control') ?? '', /max-age=31536000/);
    }
  });

  test('sign-out is POST only: GET /logout changes nothing (405)', async () => {
    const { client, user } = await newUser();
    assert.equal((await client.get('/logout')).status, 405);
    assert.equal(await sessionCount(user.id), 1);
  });

  test('GET / sends the signed-out to /login and the signed-in to /account', async () => {
    assert.equal((await new Client().get('/')).headers.get('location'), '/login');
    const { client } = await newUser();
    assert.equal((await client.get('/')).headers.get('location'), '/account');
  });

  test('signed-out visits to /account and /admin go to /login and come back', async () => {
    const res = await new Client().get('/account');
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), '/login?next=%2Faccount');
    const admin = await new Client().get('/admin');
    assert.equal(admin.headers.get('location'), '/login?next=%2Fadmin');
    const { email } = await newUser();
    const client = new Client();
    const back = await client.post('/login', { email, password: PW, next: '/admin' });
    assert.equal(back.headers.get('location'), '/admin');
  });

  test('the account page shows profile, devices with "This device", and a token in every form', async () => {
    const { client, email } = await newUser('Ann Example');
    await signIn(email); // a second device
    const res = await client.get('/account');
    assert.equal(res.status, 200);
    const body = await res.text();
    assert.match(body, /Ann Example/);
    assert.ok(body.includes(email));
    assert.match(body, /<span class="badge">user<\/span>/);
    assert.match(body, /This device/);
    assert.match(body, /198\.51\.100\.\d+/);
    assert.match(body, /Chrome 140 on Linux/);
    assert.equal((body.match(/>Revoke</g) ?? []).length, 1);
    assert.match(body, /Sign out everywhere else/);
    const forms = body.match(/<form[^>]*method="post"[\s\S]*?<\/form>/g) ?? [];
    assert.ok(forms.length >= 4);
    for (const form of forms) assert.match(form, /name="csrf_token" value="[A-Za-z0-9_-]{43}"/);
  });

  test('a user name is escaped, never markup', async () => {
    const { client } = await newUser('<script>alert(1)</script>');
    const body = await (await client.get('/account')).text();
    assert.ok(body.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
    assert.doesNotMatch(body, /<script/);
  });
});

describe('sign-in and sign-up in words', () => {
  test('a wrong password is said in words with 401, the email kept, the password not echoed', async () => {
    const { email } = await newUser();
    const res = await new Client().post('/login', { email, password: 'not the password 1' });
    assert.equal(res.status, 401);
    const body = await res.text();
    assert.match(body, /The email or password is incorrect\./);
    assert.ok(body.includes(`value="${email}"`));
    assert.ok(!body.includes('not the password 1'));
  });

  test('an empty form gets 400; a weak password and a taken email are explained', async () => {
    assert.equal((await new Client().post('/login', {})).status, 400);
    const weak = await new Client().post('/signup', {
      email: 'weak@example.test',
      password: 'short',
    });
    assert.equal(weak.status, 400);
    assert.match(await weak.text(), /at least 8 characters/);
    const { email } = await newUser();
    const taken = await new Client().post('/signup', { email, password: PW });
    assert.equal(taken.status, 409);
    assert.match(await taken.text(), /already exists/);
  });

  test('throttled sign-in says how long to wait, with 429 and Retry-After', async () => {
    const { email } = await newUser();
    let res: Response | undefined;
    for (let i = 0; i < 8 && res?.status !== 429; i++) {
      res = await new Client().post('/login', { email, password: `wrong password ${i}` });
    }
    assert.equal(res?.status, 429);
    assert.ok(Number(res?.headers.get('retry-after')) >= 1);
    assert.match((await res?.text()) ?? '', /Please wait \d+ seconds? and try again/);
  });

  test('sign-in sets the session cookie like the API: HttpOnly, Secure, SameSite=Lax, Path=/', async () => {
    const { email } = await newUser();
    const res = await new Client().post('/login', { email, password: PW, remember: '1' });
    const line = res.headers.getSetCookie().find((l) => l.startsWith('coatcheck='));
    assert.match(
      line ?? '',
      /^coatcheck=[\w.-]+; Max-Age=\d+; Path=\/; HttpOnly; Secure; SameSite=Lax$/,
    );
  });

  test('forms are read only as urlencoded and within the body limit (415, 413)', async () => {
    const json = await new Client().send('/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"email":"a@b.c","password":"x"}',
    });
    assert.equal(json.status, 415);
    const big = 'x'.repeat(services().config.bodyLimitBytes + 1);
    const large = await new Client().post('/login', { email: 'a@b.c', password: big });
    assert.equal(large.status, 413);
  });
});

describe('open redirects after sign-in', () => {
  for (const next of [
    '//evil.example',
    'https://evil.example',
    '/\\evil.example',
    '%2F%2Fevil',
    '/\t/evil.example',
    'javascript:alert(1)',
    '/.//evil.example',
  ]) {
    test(`next=${JSON.stringify(next)} lands on /account`, async () => {
      const { email } = await newUser();
      const page = await (await new Client().get(`/login?next=${encodeURIComponent(next)}`)).text();
      assert.doesNotMatch(page, /name="next"/);
      const res = await new Client().post('/login', { email, password: PW, next });
      assert.equal(res.status, 303);
      assert.equal(res.headers.get('location'), '/account');
    });
  }

  test('a signed-in visit to /login?next=//evil.example goes to /account, not away', async () => {
    const { client } = await newUser();
    const res = await client.get('/login?next=%2F%2Fevil.example');
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), '/account');
  });

  test('a raw next=%2F%2Fevil in the sign-in URL is not carried into the form', async () => {
    const page = await (await new Client().get('/login?next=%2F%2Fevil')).text();
    assert.doesNotMatch(page, /name="next"/);
  });
});

describe('synchronizer tokens: a forged form changes nothing', () => {
  // The attacker's page (same site, so the app's cross-origin check alone would not catch a
  // Sec-Fetch-Site-less client) posts: <form action="/account/password"> without our token.
  for (const [label, token] of [
    ['no token', undefined],
    ['a wrong token', 'A'.repeat(43)],
  ] as const) {
    test(`password change with ${label} → 403, password unchanged`, async () => {
      const { client, email } = await newUser();
      const fields: Record<string, string> = {
        current_password: PW,
        new_password: 'attacker chosen password',
      };
      if (token) fields.csrf_token = token;
      const res = await client.post('/account/password', fields);
      assert.equal(res.status, 403);
      assert.match(await res.text(), /expired or did not come from this site/);
      await signIn(email); // the old password still works
    });
  }

  test("another session's token is refused (403) and no session is revoked", async () => {
    const victim = await newUser();
    const attacker = await newUser();
    await signIn(victim.email);
    const before = await sessionCount(victim.user.id);
    const res = await victim.client.post('/account/sessions/revoke-others', {
      csrf_token: await tokenOf(attacker.client),
    });
    assert.equal(res.status, 403);
    assert.equal(await sessionCount(victim.user.id), before);
  });

  test('sign-out without the token → 403 and the session lives on', async () => {
    const { client, user } = await newUser();
    const res = await client.post('/logout', {});
    assert.equal(res.status, 403);
    assert.equal(await sessionCount(user.id), 1);
    assert.equal((await client.get('/account')).status, 200);
  });

  test('a token from before a password change (old session) is refused', async () => {
    const { client } = await newUser();
    const old = await tokenOf(client);
    const changed = await client.post('/account/password', {
      csrf_token: old,
      current_password: PW,
      new_password: 'a brand new passphrase',
    });
    assert.equal(changed.status, 303);
    const res = await client.post('/account/sessions/revoke-others', { csrf_token: old });
    assert.equal(res.status, 403);
  });
});
