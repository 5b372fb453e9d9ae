import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { readCookie, readCookieDetailed, serializeCookie } from '../../src/core/cookie.ts';
import { csrfTokenFor, verifyCsrfToken } from '../../src/core/csrf.ts';
import { createOriginCheck } from '../../src/core/origin.ts';
import { generateToken, parseToken, TOKEN_PREFIX } from '../../src/core/token.ts';
import { fixedRandom } from '../support/random.ts';

// Attacker-controlled input must never throw and never validate. Run counts stay moderate so the
// suite is fast; raise `numRuns` locally when changing a parser.
const RUNS = { numRuns: 2000 };

/** Any string: full Unicode code points, ASCII with control characters, or printable graphemes. */
const anyString = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.string({ unit: 'binary-ascii' }),
  fc.string({ unit: 'grapheme' }),
);

/** The exact shape generateToken issues: prefix, 21 chars + a canonical 22nd, dot, 32 chars. */
const ISSUED_FORMAT = /^ccs_[A-Za-z0-9_-]{21}[AQgw]\.[A-Za-z0-9_-]{32}$/;

/** Strings that look like tokens but may be off by a character, a length, or an alphabet. */
const nearToken = fc.oneof(
  fc.stringMatching(/^ccs_[A-Za-z0-9_\-.+/=]{50,60}$/),
  fc.stringMatching(/^[a-zA-Z_]{4}[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{32}$/),
  fc
    .tuple(fc.uint8Array({ minLength: 40, maxLength: 40 }), fc.nat(58), anyString)
    .map(([bytes, at, insert]) => {
      const { token } = generateToken(fixedRandom(bytes));
      return token.slice(0, at) + insert + token.slice(at + 1);
    }),
);

describe('parseToken properties', () => {
  test('never throws on any value', () => {
    fc.assert(
      fc.property(fc.anything(), (input) => {
        parseToken(input);
      }),
      RUNS,
    );
  });

  test('accepts nothing but the issued format, and returns its exact halves', () => {
    fc.assert(
      fc.property(fc.oneof(anyString, nearToken), (input) => {
        const parsed = parseToken(input);
        if (parsed === null) return;
        assert.match(input, ISSUED_FORMAT);
        assert.equal(`${TOKEN_PREFIX}${parsed.id}.${parsed.secret}`, input);
        // Canonical: the id is the one encoding of its bytes (no malleable spelling).
        assert.equal(
          Buffer.from(Buffer.from(parsed.id, 'base64url')).toString('base64url'),
          parsed.id,
        );
      }),
      RUNS,
    );
  });

  test('accepts every token generated from any random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 40, maxLength: 40 }), (bytes) => {
        const { token, id, secret } = generateToken(fixedRandom(bytes));
        assert.deepEqual(parseToken(token), { id, secret });
      }),
      RUNS,
    );
  });
});

/** RFC 9110 token characters, the grammar of cookie names. */
const cookieName = fc.stringMatching(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,20}$/);
/** RFC 6265 cookie-octets. */
const cookieValue = fc.stringMatching(/^[!#-+\--:<-[\]-~]{0,40}$/);

describe('readCookie properties', () => {
  test('never throws, and any value it returns is a bounded run of cookie-octets', () => {
    const header = fc.oneof(
      anyString,
      fc
        .array(fc.oneof(anyString, fc.constantFrom('coatcheck=', '; ', ';', '=', '"', ',')), {
          maxLength: 30,
        })
        .map((parts) => parts.join('')),
    );
    const name = fc.oneof(anyString, cookieName, fc.constant('coatcheck'));
    fc.assert(
      fc.property(header, name, (h, n) => {
        const detailed = readCookieDetailed(h, n);
        const value = readCookie(h, n);
        if (value === null) {
          assert.equal(detailed.ok, false);
          return;
        }
        assert.deepEqual(detailed, { ok: true, value });
        assert.match(value, /^[!#-+\--:<-[\]-~]*$/); // no ; , space " \ control or non-ASCII
        assert.ok(value.length <= 4096);
        assert.ok(h.includes(value));
      }),
      RUNS,
    );
  });

  test('never throws on non-string headers or names', () => {
    fc.assert(
      fc.property(fc.anything(), fc.anything(), (h, n) => {
        readCookie(h as string, n as string);
      }),
      RUNS,
    );
  });

  test('finds a cookie written once among arbitrary other valid cookies, and refuses it twice', () => {
    fc.assert(
      fc.property(
        cookieName,
        cookieValue,
        fc.array(fc.tuple(cookieName, cookieValue), { maxLength: 10 }),
        fc.nat(),
        (name, value, others, position) => {
          const pairs = others.filter(([n]) => n !== name).map(([n, v]) => `${n}=${v}`);
          const at = position % (pairs.length + 1);
          const ours = serializeCookie(name, value).split(';')[0] ?? '';
          const once = [...pairs.slice(0, at), ours, ...pairs.slice(at)];
          assert.equal(readCookie(once.join('; '), name), value);
          const twice = [...once, `${name}=${value}`];
          assert.deepEqual(readCookieDetailed(twice.join('; '), name), {
            ok: false,
            reason: 'duplicate',
          });
        },
      ),
      RUNS,
    );
  });
});

describe('origin check properties', () => {
  const check = createOriginCheck({ trustedOrigins: ['https://trusted.example'] });
  const optional = fc.option(
    fc.oneof(anyString, fc.constantFrom('same-origin', 'none', 'cross-site', 'null')),
    { nil: undefined },
  );

  function headersOf(values: Record<string, string | undefined>) {
    return { get: (name: string) => values[name] };
  }

  test('never throws on any method, header value or host', () => {
    fc.assert(
      fc.property(
        fc.oneof(anyString, fc.constantFrom('GET', 'POST', 'PUT')),
        optional,
        optional,
        fc.option(anyString, { nil: null }),
        (method, site, origin, host) => {
          const result = check.check({
            method,
            headers: headersOf({ 'sec-fetch-site': site, origin }),
            host,
          });
          assert.equal(typeof result.ok, 'boolean');
        },
      ),
      RUNS,
    );
  });

  test('never lets an unsafe request through on an unknown Sec-Fetch-Site', () => {
    fc.assert(
      fc.property(anyString, optional, (site, origin) => {
        fc.pre(site !== '' && site !== 'same-origin' && site !== 'none');
        fc.pre(origin !== 'https://trusted.example');
        const result = check.check({
          method: 'POST',
          headers: headersOf({ 'sec-fetch-site': site, origin }),
          host: 'example.com',
        });
        assert.deepEqual(result, { ok: false, reason: 'sec-fetch-site' });
      }),
      RUNS,
    );
  });

  test('never lets an unsafe request through on an Origin other than the host or a trusted one', () => {
    fc.assert(
      fc.property(anyString, anyString, (origin, host) => {
        fc.pre(origin !== '' && origin !== 'https://trusted.example');
        fc.pre(origin !== `https://${host}` && origin !== `http://${host}`);
        const result = check.check({ method: 'POST', headers: headersOf({ origin }), host });
        assert.equal(result.ok, false);
      }),
      RUNS,
    );
  });
});

describe('verifyCsrfToken properties', () => {
  const { id, secretHash } = generateToken();
  const session = { id, secretHash };
  const token = csrfTokenFor(session);

  test('never throws and never accepts anything but the exact token', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.anything(), anyString, fc.stringMatching(/^[A-Za-z0-9_-]{43}$/)),
        (candidate) => {
          assert.equal(verifyCsrfToken(session, candidate), candidate === token);
        },
      ),
      RUNS,
    );
  });
});
