import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { assertProblem, type Harness, PW, startServer } from './harness.ts';

// Bad input of every kind gets a clear 4xx problem, never a 500 and never a crash: malformed and
// oversized JSON, the wrong media type, wrong field types, missing fields, unicode.

let h: Harness;
before(async () => {
  h = await startServer({ bodyLimitBytes: 1024 });
});
after(() => h.close());
// Sign-up attempts are throttled per IP (all tests come from 127.0.0.1): let the count decay.
beforeEach(() => {
  h.clock.now += 3_600_000;
});

const raw = (path: string, contentType: string, body: string | Uint8Array) =>
  h.request(path, { method: 'POST', headers: { 'content-type': contentType }, body });

describe('media type (415): what a cross-site page can send without a preflight is refused', () => {
  const form = 'email=a%40example.test&password=correct+horse+battery+staple';
  for (const [type, body] of [
    ['application/x-www-form-urlencoded', form],
    ['text/plain', JSON.stringify({ email: 'a@example.test', password: PW })],
    [
      'multipart/form-data; boundary=x',
      `--x\r\nContent-Disposition: form-data; name="email"\r\n\r\na\r\n--x--`,
    ],
    ['application/json; charset=utf-16', '{}'],
    ['application/jsonp', '{}'],
  ] as const) {
    test(`a ${type} body to a JSON endpoint is 415`, async () => {
      await assertProblem(await raw('/auth/login', type, body), 415, 'unsupported_media_type');
      await assertProblem(await raw('/auth/signup', type, body), 415, 'unsupported_media_type');
    });
  }

  test('a JSON body without any Content-Type is 415', async () => {
    const res = await h.request('/auth/login', { method: 'POST', body: '{}' });
    // fetch labels a string body text/plain;charset=UTF-8 itself; either way it is not JSON.
    await assertProblem(res, 415, 'unsupported_media_type');
  });

  test('Content-Type is matched case-insensitively and may say charset=utf-8', async () => {
    const res = await raw(
      '/auth/login',
      'Application/JSON; charset=UTF-8',
      JSON.stringify({ email: 'nobody@example.test', password: PW }),
    );
    await assertProblem(res, 401, 'invalid_credentials');
  });
});

describe('HTML form posts to pages: odd media types are refused or read, never a 500', () => {
  test('a Content-Type with a trailing no-break space is not a form: 415', async () => {
    // String#trim would strip U+00A0 and call it a form; undici's body parser does not (a 500).
    const res = await raw(
      '/login',
      'application/x-www-form-urlencoded\u00a0',
      'email=a&password=b',
    );
    assert.equal(res.status, 415);
  });

  test('a form with parameters a MIME parser may reject is still read as a form', async () => {
    for (const type of [
      'application/x-www-form-urlencoded; charset="',
      'application/x-www-form-urlencoded;;;=',
      'application/x-www-form-urlencoded; charset=utf-8; x',
    ]) {
      const res = await raw('/login', type, 'email=nobody%40example.test&password=wrong+password');
      assert.ok(res.status < 500, `${type}: ${res.status}`);
      assert.notEqual(res.status, 415, type);
    }
  });
});

describe('size (413)', () => {
  test('a body over the limit with Content-Length is refused before it is read', async () => {
    const res = await h.request('/auth/login', {
      json: { email: 'a@example.test', pad: 'x'.repeat(2000) },
    });
    await assertProblem(res, 413, 'payload_too_large');
  });

  test('a chunked body over the limit (no Content-Length) is refused while streaming', async () => {
    // 200 chunks of 60 KB: 12 MB that the server must not buffer.
    const chunk = new TextEncoder().encode(`{"pad":"${'x'.repeat(60_000)}`);
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 200) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const res = await h.request('/auth/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: stream,
    });
    await assertProblem(res, 413, 'payload_too_large');
    assert.ok(sent < 200, `the server stopped reading early (${sent} chunks pulled)`);
    // The server is still healthy afterwards.
    assert.equal((await h.request('/healthz')).status, 200);
  });

  test('a body exactly at the limit is read', async () => {
    const base = JSON.stringify({ email: 'nobody@example.test', password: PW, pad: '' });
    const body = JSON.stringify({
      email: 'nobody@example.test',
      password: PW,
      pad: 'x'.repeat(1024 - base.length),
    });
    assert.equal(body.length, 1024);
    await assertProblem(
      await raw('/auth/login', 'application/json', body),
      401,
      'invalid_credentials',
    );
  });
});

describe('malformed JSON and non-objects (400)', () => {
  for (const body of [
    '{',
    '{"email":',
    "{'email':'a'}",
    '',
    'null',
    '[]',
    '"str"',
    '42',
    'true',
    '{"a":1}x',
  ]) {
    test(`body ${JSON.stringify(body)} is 400 invalid_input`, async () => {
      const problem = await assertProblem(
        await raw('/auth/login', 'application/json', body),
        400,
        'invalid_input',
      );
      assert.equal((problem.errors as { field: string }[])[0]?.field, 'body');
    });
  }

  test('invalid UTF-8 in a JSON body is 400, not a mangled string', async () => {
    const bytes = new Uint8Array([0x7b, 0x22, 0x65, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]);
    await assertProblem(await raw('/auth/login', 'application/json', bytes), 400, 'invalid_input');
  });

  test('a __proto__ key is just data, not a prototype change', async () => {
    const body = '{"__proto__":{"admin":true},"email":"nobody@example.test","password":"x"}';
    await assertProblem(
      await raw('/auth/login', 'application/json', body),
      401,
      'invalid_credentials',
    );
    assert.equal(({} as Record<string, unknown>).admin, undefined);
  });
});

describe('wrong types and missing fields (400, never 500)', () => {
  const cases: [string, unknown, string][] = [
    ['/auth/login', { email: 1, password: PW }, 'email'],
    ['/auth/login', { email: 'a@example.test', password: [1] }, 'password'],
    ['/auth/login', { email: 'a@example.test', password: { toString: 1 } }, 'password'],
    ['/auth/login', { email: 'a@example.test', password: PW, remember: 'yes' }, 'remember'],
    [
      '/auth/login',
      { email: 'a@example.test', password: PW, transport: 'carrier-pigeon' },
      'transport',
    ],
    ['/auth/login', {}, 'email'],
    ['/auth/login', { email: 'a@example.test' }, 'password'],
    ['/auth/login', { email: null, password: null }, 'email'],
    ['/auth/signup', { email: ['a@example.test'], password: PW }, 'email'],
    ['/auth/signup', { email: 'a@example.test', password: 12345678 }, 'password'],
    ['/auth/signup', { email: 'a@example.test', password: PW, name: 7 }, 'name'],
    ['/auth/signup', { email: 'not-an-email', password: PW }, 'email'],
    ['/auth/signup', { email: 'a@example.test' }, 'password'],
    ['/auth/signup', {}, 'email'],
  ];
  for (const [path, body, field] of cases) {
    test(`${path} ${JSON.stringify(body)} is 400 naming ${field}`, async () => {
      const problem = await assertProblem(
        await h.request(path, { json: body }),
        400,
        'invalid_input',
      );
      const fields = (problem.errors as { field: string }[]).map((e) => e.field);
      assert.ok(fields.includes(field), `expected ${field} in ${fields.join(',')}`);
    });
  }

  test('a 1 MB password is refused without hashing (413 here: over the body limit)', async () => {
    const res = await h.request('/auth/login', {
      json: { email: 'a@example.test', password: 'x'.repeat(1 << 20) },
    });
    await assertProblem(res, 413, 'payload_too_large');
  });

  test('a too-long password within the body limit is 400 weak_password at sign-up', async () => {
    const res = await h.request('/auth/signup', {
      json: { email: 'long@example.test', password: 'x'.repeat(900) },
    });
    await assertProblem(res, 400, 'weak_password');
  });
});

describe('unicode', () => {
  test('a unicode email and name sign up, sign in and read back unchanged (NFC)', async () => {
    const email = 'Jörg.Ωmega@exämple.test';
    const name = 'Zoë 🧥 Ünïcode';
    const signup = await h.request('/auth/signup', { json: { email, password: PW, name } });
    assert.equal(signup.status, 201, await signup.clone().text());
    const { user } = (await signup.json()) as { user: { email: string; name: string } };
    assert.equal(user.email, email.normalize('NFC').toLowerCase());
    assert.equal(user.name, name);
    const decomposed = email.normalize('NFD').toUpperCase();
    const login = await h.request('/auth/login', { json: { email: decomposed, password: PW } });
    assert.equal(login.status, 200, 'the same address in another normal form and case signs in');
  });

  test('control and zero-width characters in an email are 400, not stored', async () => {
    for (const email of ['a\u0000b@example.test', 'a\u200bb@example.test', 'a\nb@example.test']) {
      const res = await h.request('/auth/signup', { json: { email, password: PW } });
      await assertProblem(res, 400, 'invalid_input');
    }
  });

  test('a lone surrogate in a name is 400', async () => {
    const body =
      '{"email":"surrogate@example.test","password":"correct horse battery staple","name":"\\ud800"}';
    await assertProblem(await raw('/auth/signup', 'application/json', body), 400, 'invalid_input');
  });
});
