import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  assertProblem,
  type Harness,
  setCookieLine,
  startServer,
  type TestUser,
} from './harness.ts';

// The session cookie is attacker input. Whatever arrives in the Cookie header — garbage, unicode,
// oversized, duplicated, renamed, tampered — reads as signed out (401), never as a 500, and a
// refused cookie is cleared. Only a token the server issued, unmodified, signs anyone in.

const NAME = '__Host-coatcheck';
const CLEARING = `${NAME}=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax`;
let h: Harness;
let ann: TestUser;
before(async () => {
  h = await startServer({ cookie: { name: NAME, sameSite: 'lax', secure: true } });
  ann = await h.createUser();
});
after(() => h.close());

const withCookieHeader = (header: string, path = '/auth/session') =>
  h.request(path, { headers: { cookie: header } });

async function refusedAndCleared(res: Response) {
  assert.equal(setCookieLine(res, NAME), CLEARING, 'the refused cookie is cleared');
  await assertProblem(res, 401, 'unauthenticated');
}

describe('garbage session cookies', () => {
  test('the valid cookie signs in (baseline), among other cookies', async () => {
    const res = await withCookieHeader(`theme=dark; ${NAME}=${ann.token}; lang=en`);
    assert.equal(res.status, 200);
    assert.equal(setCookieLine(res, NAME), null, 'a valid cookie is not re-set or cleared');
  });

  const forgeries: [string, () => string][] = [
    ['x', () => 'x'],
    ['null', () => 'null'],
    ['%00', () => '%00'],
    ['a bare prefix', () => 'ccs_'],
    ['prefix and dot', () => 'ccs_.'],
    ['short parts', () => 'ccs_a.b'],
    ['well-formed, never issued', () => `ccs_${'A'.repeat(22)}.${'B'.repeat(32)}`],
    ['random base64url', () => randomBytes(48).toString('base64url')],
    ['random hex', () => randomBytes(30).toString('hex')],
    ['a real token with a suffix', () => `${ann.token}.extra`],
    ['a real token upper-cased', () => ann.token.toUpperCase()],
    ['a real token percent-encoded', () => encodeURIComponent(ann.token).replace('_', '%5F')],
  ];
  for (const [label, value] of forgeries) {
    test(`a forged cookie (${label}) is 401 and cleared`, async () => {
      await refusedAndCleared(await withCookieHeader(`${NAME}=${value()}`));
    });
  }

  test('raw UTF-8 bytes in the cookie value are 401 and cleared, not a 500', async () => {
    const latin1 = Buffer.from('ünïcødé-🧥', 'utf8').toString('latin1');
    await refusedAndCleared(await withCookieHeader(`${NAME}=${latin1}`));
  });

  test('a 10 KB cookie value is 401 and cleared', async () => {
    await refusedAndCleared(await withCookieHeader(`${NAME}=${'a'.repeat(10_240)}`));
  });

  test('a malformed Cookie header (no =, stray ;, quotes) does not crash', async () => {
    for (const header of [';;;', NAME, `${NAME}`, '=; =', `${NAME}="unterminated`, `"${NAME}"=x`]) {
      const res = await withCookieHeader(header);
      assert.ok(res.status === 401, `${header}: ${res.status}`);
    }
  });

  test('a forged cookie creates nothing: the store holds no session for it', async () => {
    const forged = `ccs_${'C'.repeat(22)}.${'D'.repeat(32)}`;
    await withCookieHeader(`${NAME}=${forged}`);
    assert.equal(await h.services.sessions.get('C'.repeat(22)), null);
  });
});

describe('tampering', () => {
  const flip = (token: string, at: number) => {
    const c = token[at] === 'A' ? 'B' : 'A';
    return token.slice(0, at) + c + token.slice(at + 1);
  };

  test('one flipped character of the secret: 401 on /auth/session and /auth/verify, logged as secret_mismatch', async () => {
    const tampered = flip(ann.token, ann.token.length - 3);
    const before = h.events('secret_mismatch').length;
    await refusedAndCleared(await withCookieHeader(`${NAME}=${tampered}`));
    await refusedAndCleared(await withCookieHeader(`${NAME}=${tampered}`, '/auth/verify'));
    const events = h.events('secret_mismatch');
    assert.equal(events.length, before + 2);
    assert.equal(JSON.stringify(events).includes(tampered.split('.')[1] ?? '-'), false);
    // The real token is unaffected.
    assert.equal((await withCookieHeader(`${NAME}=${ann.token}`)).status, 200);
  });

  test('one flipped character of the id: 401 on /auth/session and /auth/verify', async () => {
    const tampered = flip(ann.token, 6);
    await refusedAndCleared(await withCookieHeader(`${NAME}=${tampered}`));
    await refusedAndCleared(await withCookieHeader(`${NAME}=${tampered}`, '/auth/verify'));
  });
});

describe('cookie names and duplicates (rfc6265bis §5.4, cookie tossing)', () => {
  test('a case variant of the prefixed name (__host-coatcheck) is not our cookie', async () => {
    for (const name of ['__host-coatcheck', '__HOST-coatcheck', '__Host-Coatcheck', 'coatcheck']) {
      const res = await withCookieHeader(`${name}=${ann.token}`);
      await assertProblem(res, 401, 'unauthenticated');
    }
  });

  test('two cookies with our name (even both valid) are refused, cleared and logged as cookie_tossing', async () => {
    const other = await h.createUser();
    const res = await withCookieHeader(`${NAME}=${other.token}; ${NAME}=${ann.token}`);
    await refusedAndCleared(res);
    const events = h.events('cookie_tossing');
    assert.equal(events.length, 1);
    assert.equal(events[0]?.path, '/auth/session');
    assert.equal(events[0]?.level, 40);
  });

  test('a comma does not separate cookies: a smuggled pair is not read', async () => {
    await assertProblem(await withCookieHeader(`x=a,${NAME}=${ann.token}`), 401, 'unauthenticated');
  });
});

describe('token guessing from one IP is throttled', () => {
  let g: Harness;
  before(async () => {
    g = await startServer();
  });
  after(() => g.close());

  test('past ~100 invalid tokens the IP gets 429 + Retry-After, valid tokens included, and no cookie is cleared', async () => {
    const victim = await g.createUser();
    let throttled: Response | null = null;
    for (let i = 0; i < 150 && throttled === null; i++) {
      const res = await g.request('/auth/session', {
        cookie: randomBytes(20).toString('base64url'),
      });
      if (res.status === 429) throttled = res;
      else await res.body?.cancel();
    }
    assert.ok(throttled, 'guessing was throttled');
    assert.ok(Number(throttled.headers.get('retry-after')) >= 1);
    assert.equal(setCookieLine(throttled, 'coatcheck'), null);
    await assertProblem(throttled, 429, 'too_many_requests');
    const valid = await g.request('/auth/session', { cookie: victim.token });
    assert.equal(valid.status, 429, 'a blocked IP gets no answer about any token');
    assert.ok(g.events('token_guessing_throttled').length >= 1);
    // Requests without a cookie are not affected.
    assert.equal((await g.request('/healthz')).status, 200);
  });
});
