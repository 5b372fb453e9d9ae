import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  clearCookie,
  MAX_COOKIE_HEADER_LENGTH,
  MAX_COOKIE_SIZE,
  readCookie,
  readCookieDetailed,
  serializeCookie,
  sessionCookieName,
} from '../../src/core/cookie.ts';
import { ConfigError } from '../../src/core/errors.ts';
import { generateToken } from '../../src/core/token.ts';

const NAME = '__Host-coatcheck';
const isConfigError = (e: unknown): boolean =>
  e instanceof ConfigError && e.code === 'invalid_config';

describe('sessionCookieName', () => {
  test('uses the __Host- prefix over HTTPS so no subdomain can plant or shadow the cookie', () => {
    assert.equal(sessionCookieName({ secure: true }), '__Host-coatcheck');
    assert.equal(sessionCookieName({ secure: true, base: 'sid' }), '__Host-sid');
  });

  test('drops the prefix on plain HTTP, where browsers would refuse it', () => {
    assert.equal(sessionCookieName({ secure: false }), 'coatcheck');
    assert.equal(sessionCookieName({ secure: false, base: 'sid' }), 'sid');
  });

  test('refuses a base name that is not a token or already carries a prefix', () => {
    for (const base of ['', 'a b', 'a;b', 'a=b', 'é', '__Host-x', '__secure-x']) {
      assert.throws(() => sessionCookieName({ secure: true, base }), isConfigError, base);
    }
  });
});

describe('serializeCookie', () => {
  test('defaults to HttpOnly; Secure; SameSite=Lax; Path=/, no Domain, no lifetime', () => {
    assert.equal(
      serializeCookie(NAME, 'v'),
      '__Host-coatcheck=v; Path=/; HttpOnly; Secure; SameSite=Lax',
    );
  });

  test('writes a persistent cookie with Max-Age in whole seconds', () => {
    assert.equal(
      serializeCookie(NAME, 'v', { maxAgeSeconds: 3600.9 }),
      '__Host-coatcheck=v; Max-Age=3600; Path=/; HttpOnly; Secure; SameSite=Lax',
    );
  });

  test('clamps Max-Age to the 400 days browsers honour', () => {
    assert.match(serializeCookie(NAME, 'v', { maxAgeSeconds: 1e12 }), /; Max-Age=34560000;/);
  });

  test('keeps the secure defaults when an override is present but undefined', () => {
    const config: { secure?: boolean; httpOnly?: boolean } = {};
    assert.equal(
      serializeCookie(NAME, 'v', { secure: config.secure, httpOnly: config.httpOnly }),
      '__Host-coatcheck=v; Path=/; HttpOnly; Secure; SameSite=Lax',
    );
  });

  test('applies explicit overrides after the defaults', () => {
    assert.equal(
      serializeCookie('dev', 'v', { secure: false, sameSite: 'strict', path: '/app' }),
      'dev=v; Path=/app; HttpOnly; SameSite=Strict',
    );
    assert.equal(
      serializeCookie('shared', 'v', { domain: 'example.com', httpOnly: false }),
      'shared=v; Domain=example.com; Path=/; Secure; SameSite=Lax',
    );
  });

  test('serialises a real session token verbatim (no encoding needed)', () => {
    const { token } = generateToken();
    assert.ok(serializeCookie(NAME, token).startsWith(`${NAME}=${token};`));
  });

  test('refuses names that are not tokens (header injection, spaces, separators)', () => {
    for (const name of ['', 'a b', 'a;b', 'a=b', 'a,b', 'a\r\nSet-Cookie: x', 'é', '(x)']) {
      assert.throws(() => serializeCookie(name, 'v'), isConfigError, JSON.stringify(name));
    }
  });

  test('refuses values that would break out of the cookie', () => {
    for (const value of ['a;b', 'a b', 'a,b', '"a"', 'a\\b', 'a\nb', 'é', '\u0000']) {
      assert.throws(() => serializeCookie(NAME, value), isConfigError, JSON.stringify(value));
    }
  });

  test('refuses a cookie over 4096 bytes (name + value), which browsers would drop silently', () => {
    const fits = 'a'.repeat(MAX_COOKIE_SIZE - NAME.length);
    assert.doesNotThrow(() => serializeCookie(NAME, fits));
    assert.throws(() => serializeCookie(NAME, `${fits}a`), isConfigError);
  });

  test('refuses SameSite=None without Secure', () => {
    assert.throws(
      () => serializeCookie('x', 'v', { sameSite: 'none', secure: false }),
      isConfigError,
    );
    assert.match(serializeCookie('x', 'v', { sameSite: 'none' }), /; Secure; SameSite=None$/);
  });

  test('refuses an unknown SameSite value from untyped callers', () => {
    const sameSite = 'sloppy' as unknown as 'lax';
    assert.throws(() => serializeCookie('x', 'v', { sameSite }), isConfigError);
  });

  test('refuses __Host- cookies that browsers would reject (no Secure, Path≠/, Domain)', () => {
    assert.throws(() => serializeCookie(NAME, 'v', { secure: false }), isConfigError);
    assert.throws(() => serializeCookie(NAME, 'v', { path: '/app' }), isConfigError);
    assert.throws(() => serializeCookie(NAME, 'v', { domain: 'example.com' }), isConfigError);
  });

  test('applies the prefix rules in any letter case, as browsers do (rfc6265bis §5.4)', () => {
    assert.throws(() => serializeCookie('__host-x', 'v', { domain: 'example.com' }), isConfigError);
    assert.throws(() => serializeCookie('__HOST-x', 'v', { secure: false }), isConfigError);
    assert.throws(() => serializeCookie('__SECURE-x', 'v', { secure: false }), isConfigError);
  });

  test('refuses __Secure- without Secure but allows its other attributes', () => {
    assert.throws(() => serializeCookie('__Secure-x', 'v', { secure: false }), isConfigError);
    assert.equal(
      serializeCookie('__Secure-x', 'v', { path: '/app', domain: 'example.com' }),
      '__Secure-x=v; Domain=example.com; Path=/app; HttpOnly; Secure; SameSite=Lax',
    );
  });

  test('refuses attribute values that inject further attributes', () => {
    assert.throws(
      () => serializeCookie('x', 'v', { path: '/; Domain=evil.example' }),
      isConfigError,
    );
    assert.throws(() => serializeCookie('x', 'v', { path: 'app' }), isConfigError);
    assert.throws(() => serializeCookie('x', 'v', { domain: 'a.example; Secure' }), isConfigError);
    assert.throws(() => serializeCookie('x', 'v', { domain: '' }), isConfigError);
    assert.throws(() => serializeCookie('x', 'v', { path: `/${'a'.repeat(1024)}` }), isConfigError);
  });

  test('refuses a negative or non-finite Max-Age', () => {
    for (const maxAgeSeconds of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => serializeCookie('x', 'v', { maxAgeSeconds }), isConfigError);
    }
  });
});

describe('clearCookie', () => {
  test('deletes the __Host- session cookie with attributes the browser still accepts', () => {
    assert.equal(
      clearCookie(NAME),
      '__Host-coatcheck=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax',
    );
  });

  test('repeats the path and domain the cookie was set with', () => {
    assert.equal(
      clearCookie('x', { path: '/app', domain: 'example.com', secure: false }),
      'x=; Max-Age=0; Domain=example.com; Path=/app; HttpOnly; SameSite=Lax',
    );
  });

  test('refuses the same misuse as serializeCookie', () => {
    assert.throws(() => clearCookie(NAME, { secure: false }), isConfigError);
  });
});

describe('readCookie', () => {
  const token = generateToken().token;

  test('reads the session cookie among others', () => {
    assert.equal(readCookie(`a=1; ${NAME}=${token}; b=2`, NAME), token);
    assert.equal(readCookie(`${NAME}=${token}`, NAME), token);
    assert.equal(readCookie(`a=1;${NAME}=${token};b=2`, NAME), token);
  });

  test('round-trips what serializeCookie wrote', () => {
    const pair = serializeCookie(NAME, token).split(';')[0];
    assert.equal(readCookie(`theme=dark; ${pair}`, NAME), token);
  });

  test('treats a missing header or cookie as absent', () => {
    for (const header of [undefined, null, '', 'a=1; b=2', ';;;', '=']) {
      assert.deepEqual(readCookieDetailed(header, NAME), { ok: false, reason: 'absent' });
      assert.equal(readCookie(header, NAME), null);
    }
  });

  test('refuses a case variant of the prefixed name (__host- is not __Host-)', () => {
    assert.equal(readCookie(`__host-coatcheck=${token}`, NAME), null);
    assert.equal(readCookie(`__HOST-coatcheck=${token}`, NAME), null);
    assert.equal(readCookie(`coatcheck=${token}`, NAME), null);
  });

  test('does not match the name inside another name or inside a value', () => {
    assert.equal(readCookie(`x${NAME}=${token}`, NAME), null);
    assert.equal(readCookie(`${NAME}x=${token}`, NAME), null);
    assert.equal(readCookie(`other=${NAME}=${token}`, NAME), null);
    assert.equal(readCookie(`other="${NAME}=${token}"`, NAME), null);
    assert.equal(readCookie(NAME, NAME), null);
  });

  test('refuses a tossed cookie: the same name twice yields no value, and says why', () => {
    const header = `${NAME}=evil; a=1; ${NAME}=${token}`;
    assert.equal(readCookie(header, NAME), null);
    assert.deepEqual(readCookieDetailed(header, NAME), { ok: false, reason: 'duplicate' });
    assert.deepEqual(readCookieDetailed(`${NAME}=; ${NAME}=${token}`, NAME), {
      ok: false,
      reason: 'duplicate',
    });
  });

  test('does not treat a comma as a separator (no prefixed cookie smuggled inside a value)', () => {
    assert.equal(readCookie(`x=a,${NAME}=evil`, NAME), null);
    assert.equal(readCookie(`x=a, ${NAME}=evil`, NAME), null);
    assert.deepEqual(readCookieDetailed(`${NAME}=a,b`, NAME), { ok: false, reason: 'invalid' });
  });

  test('tolerates malformed neighbours and stray whitespace', () => {
    const header = `junk; =x; ;; a=b=c; "q"=1; \t${NAME} = ${token} \t; tail`;
    assert.equal(readCookie(header, NAME), token);
    assert.equal(readCookie(`bad value with spaces; ${NAME}=${token}`, NAME), token);
  });

  test('strips one pair of surrounding double quotes (RFC 6265 quoted cookie-value)', () => {
    assert.equal(readCookie(`${NAME}="${token}"`, NAME), token);
    assert.equal(readCookie(`${NAME}=""`, NAME), '');
    assert.equal(readCookie(`${NAME}="${token}`, NAME), null);
    assert.equal(readCookie(`${NAME}=""${token}""`, NAME), null);
  });

  test('returns the value raw: percent escapes are not decoded into another token spelling', () => {
    assert.equal(readCookie(`${NAME}=ccs_%41`, NAME), 'ccs_%41');
    assert.equal(readCookie(`${NAME}=%E0%A4%A`, NAME), '%E0%A4%A');
  });

  test('refuses values with characters outside cookie-octet', () => {
    for (const value of ['a b', 'a\\b', 'é', 'a\u0000b', 'a"b']) {
      assert.deepEqual(readCookieDetailed(`${NAME}=${value}`, NAME), {
        ok: false,
        reason: 'invalid',
      });
    }
  });

  test('reads an empty value as empty (the caller then finds no valid token)', () => {
    assert.deepEqual(readCookieDetailed(`${NAME}=; a=1`, NAME), { ok: true, value: '' });
  });

  test('ignores an oversized header instead of scanning it', () => {
    const padding = `pad=${'x'.repeat(MAX_COOKIE_HEADER_LENGTH)}`;
    assert.deepEqual(readCookieDetailed(`${NAME}=${token}; ${padding}`, NAME), {
      ok: false,
      reason: 'too_large',
    });
    assert.equal(readCookie(`${NAME}=${token}; ${padding}`, NAME), null);
  });

  test('ignores an oversized value', () => {
    const big = 'a'.repeat(MAX_COOKIE_SIZE - NAME.length + 1);
    assert.deepEqual(readCookieDetailed(`${NAME}=${big}`, NAME), {
      ok: false,
      reason: 'too_large',
    });
    assert.equal(readCookie(`${NAME}=${big.slice(1)}`, NAME), big.slice(1));
  });

  test('never matches a name that is not a token', () => {
    assert.equal(readCookie('a b=1', 'a b'), null);
    assert.equal(readCookie('=1', ''), null);
    assert.equal(readCookie('a=1', 'a=1' as string), null);
  });

  test('checks each name, also right after reading a valid one', () => {
    assert.equal(readCookie(`${NAME}=v`, NAME), 'v');
    assert.equal(readCookie('a b=1', 'a b'), null);
    assert.equal(readCookie(`${NAME}=v`, NAME), 'v');
    assert.equal(readCookie('=1', ''), null);
    assert.equal(readCookie('null=1', null as unknown as string), null);
    assert.equal(readCookie('x=1', 'x'), '1');
    assert.equal(readCookie('x y=1', 'x y'), null);
  });

  test('stays linear on a pathological header (no quadratic rescans)', () => {
    const header = `${' a'.repeat(MAX_COOKIE_HEADER_LENGTH / 2 - 8)}`;
    const started = performance.now();
    for (let i = 0; i < 100; i++) readCookie(header, 'a');
    assert.ok(performance.now() - started < 1000);
  });
});
