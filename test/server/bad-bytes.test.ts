import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Harness, PW, setCookieValue, startServer } from './harness.ts';

// Form posts whose bytes are not UTF-8, over a real socket. The attacker (or a broken client)
// sends what no browser sends:
//   POST /signup   email=u8x@example.test&password=Form-pass-very-long%C0%80&name=%FF%FEx
// Read leniently (URLSearchParams), every invalid sequence became U+FFFD: the name was stored
// garbled, and passwords differing only in invalid bytes (%FF, %C0%80) were one password. The
// JSON API refuses such input ("must be valid JSON in UTF-8"); the pages now refuse it too.

let h: Harness;
before(async () => {
  h = await startServer();
});
after(() => h?.close());

/** A same-origin form post of this raw urlencoded body, as a browser (or a script) sends it. */
function postForm(path: string, body: string | Uint8Array, cookie?: string): Promise<Response> {
  return h.request(path, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'sec-fetch-site': 'same-origin',
      origin: h.base,
    },
    body,
    ...(cookie === undefined ? {} : { cookie }),
  });
}

/** Asserts a 400 HTML page saying the form was refused, with no cookie set. */
async function assertRefusedPage(res: Response): Promise<string> {
  const page = await res.text();
  assert.equal(res.status, 400, page);
  assert.equal(res.headers.get('content-type'), 'text/html; charset=UTF-8');
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  assert.match(page, /<h1>Form refused<\/h1>/);
  assert.match(page, /not valid UTF-8/);
  assert.deepEqual(res.headers.getSetCookie(), []);
  return page;
}

describe('form posts that are not UTF-8', () => {
  test('a sign-up with invalid percent-encoded bytes is a 400 page and creates no account', async () => {
    const res = await postForm(
      '/signup',
      'email=u8x@example.test&password=Form-pass-very-long%C0%80&name=%FF%FEx',
    );
    await assertRefusedPage(res);
    assert.equal(await h.services.users.findByEmail('u8x@example.test'), null);
  });

  test('a password differing only in invalid bytes does not sign in as the U+FFFD password', async () => {
    const email = 'replacement@example.test';
    const password = 'Form-pass-very-long\uFFFD';
    await h.services.accounts.signup({ email, password }, { ip: '198.51.100.7' });
    for (const bad of ['%FF', '%C0%80', '%ED%A0%80', '%F4%90%80%80', '%E2%82']) {
      const res = await postForm('/login', `email=${email}&password=Form-pass-very-long${bad}`);
      await assertRefusedPage(res);
    }
    // The real password, percent-encoded as a browser does, still signs in.
    const ok = await postForm('/login', `email=${email}&password=Form-pass-very-long%EF%BF%BD`);
    assert.equal(ok.status, 303);
    assert.ok(setCookieValue(ok, h.config.cookie.name));
  });

  test('raw bytes that are not UTF-8 (not percent-encoded) are refused too', async () => {
    const prefix = new TextEncoder().encode('email=raw@example.test&password=');
    const body = new Uint8Array([...prefix, ...new TextEncoder().encode(PW), 0xff]);
    await assertRefusedPage(await postForm('/signup', body));
    assert.equal(await h.services.users.findByEmail('raw@example.test'), null);
  });

  test('a signed-in form with invalid bytes is a 400 page and does nothing (sign-out)', async () => {
    const user = await h.createUser();
    const session = await h.request('/auth/session', { cookie: user.token });
    const { csrfToken } = (await session.json()) as { csrfToken: string };
    const res = await postForm('/logout', `csrf_token=${csrfToken}&x=%FF`, user.token);
    const page = await assertRefusedPage(res);
    assert.match(page, /Back to your account/); // answered as the signed-in page it came from
    assert.equal((await h.request('/auth/session', { cookie: user.token })).status, 200);
  });

  test('well-formed UTF-8 is read as before; a NUL is refused as the JSON API refuses it', async () => {
    const res = await postForm(
      '/signup',
      `email=ok@example.test&password=${PW}&name=%E2%9C%93+Z%C3%BC`,
    );
    assert.equal(res.status, 303, await res.text());
    assert.equal((await h.services.users.findByEmail('ok@example.test'))?.name, '✓ Zü');
    const nul = await postForm('/signup', `email=nul@example.test&password=${PW}&name=a%00b`);
    assert.equal(nul.status, 400);
    assert.match(await nul.text(), /must not contain control characters/);
    const api = await h.request('/auth/signup', {
      headers: { origin: h.base },
      json: { email: 'nul2@example.test', password: PW, name: 'a\u0000b' },
    });
    assert.equal(api.status, 400);
    assert.match(await api.text(), /must not contain control characters/);
  });
});
