import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '../../src/core/errors.ts';
import { createOriginCheck, type OriginCheck } from '../../src/core/origin.ts';

const HOST = 'example.com';
const isConfigError = (e: unknown): boolean =>
  e instanceof ConfigError && e.code === 'invalid_config';

interface Case {
  method?: string;
  secFetchSite?: string;
  origin?: string;
  host?: string | null;
}

function run(check: OriginCheck, c: Case) {
  const headers = new Headers();
  if (c.secFetchSite !== undefined) headers.set('Sec-Fetch-Site', c.secFetchSite);
  if (c.origin !== undefined) headers.set('Origin', c.origin);
  return check.check({
    method: c.method ?? 'POST',
    headers,
    host: c.host === undefined ? HOST : c.host,
  });
}

const OK = { ok: true };
const refused = (reason: string) => ({ ok: false, reason });

// Ported from Go's src/net/http/csrf_test.go (TestCrossOriginProtectionSecFetchSite); the request
// goes to https://example.com/. Each name states the attack (or the legitimate use) it covers.
describe('cross-origin protection (Go 1.25 CrossOriginProtection table)', () => {
  const check = createOriginCheck();
  const table: [string, Case, object][] = [
    [
      'allows a POST from our own pages (Sec-Fetch-Site: same-origin)',
      { secFetchSite: 'same-origin' },
      OK,
    ],
    ['allows a user-initiated POST (Sec-Fetch-Site: none)', { secFetchSite: 'none' }, OK],
    // <form action="https://example.com/auth/logout" method="post"> on https://evil.example
    [
      'rejects a cross-site form POST (Sec-Fetch-Site: cross-site)',
      { secFetchSite: 'cross-site' },
      refused('sec-fetch-site'),
    ],
    // the same form on a compromised sibling, https://blog.example.com
    [
      'rejects a POST from a sibling subdomain (Sec-Fetch-Site: same-site)',
      { secFetchSite: 'same-site' },
      refused('sec-fetch-site'),
    ],
    ['allows a POST without Sec-Fetch-Site and Origin (non-browser client, Go allows)', {}, OK],
    ['allows an old browser whose Origin matches the host', { origin: 'https://example.com' }, OK],
    // an old browser without Fetch metadata, form on https://attacker.example
    [
      'rejects a cross-site form POST from an old browser (Origin: attacker)',
      { origin: 'https://attacker.example' },
      refused('origin-mismatch'),
    ],
    // <iframe sandbox srcdoc="<form method=post action=https://example.com/...>">
    [
      'rejects a POST from a sandboxed frame (Origin: null)',
      { origin: 'null' },
      refused('origin-null'),
    ],
    // <img src="https://example.com/..."> and friends: safe methods must not change state
    ['allows a cross-site GET (safe method)', { method: 'GET', secFetchSite: 'cross-site' }, OK],
    ['allows a cross-site HEAD (safe method)', { method: 'HEAD', secFetchSite: 'cross-site' }, OK],
    [
      'allows a cross-site OPTIONS (CORS preflight)',
      { method: 'OPTIONS', secFetchSite: 'cross-site' },
      OK,
    ],
    // fetch('https://example.com/auth/sessions', { method: 'PUT', credentials: 'include' })
    [
      'rejects a cross-site PUT',
      { method: 'PUT', secFetchSite: 'cross-site' },
      refused('sec-fetch-site'),
    ],
  ];
  for (const [name, c, expected] of table) {
    test(name, () => assert.deepEqual(run(check, c), expected));
  }
});

describe('cross-origin protection: beyond the Go table', () => {
  const check = createOriginCheck();

  test('rejects cross-site DELETE and PATCH', () => {
    for (const method of ['DELETE', 'PATCH', 'POST', 'PROPFIND']) {
      assert.deepEqual(
        run(check, { method, secFetchSite: 'cross-site' }),
        refused('sec-fetch-site'),
      );
    }
  });

  test('does not treat a lower-case method as safe (methods are case-sensitive, like Go)', () => {
    assert.deepEqual(
      run(check, { method: 'get', secFetchSite: 'cross-site' }),
      refused('sec-fetch-site'),
    );
  });

  test('trusts Sec-Fetch-Site over a same-host Origin (a cross-site request is refused)', () => {
    const c = { secFetchSite: 'cross-site', origin: 'https://example.com' };
    assert.deepEqual(run(check, c), refused('sec-fetch-site'));
  });

  test('rejects an unknown or combined Sec-Fetch-Site value', () => {
    for (const secFetchSite of ['SAME-ORIGIN', 'same-origin, cross-site', 'bogus']) {
      assert.deepEqual(run(check, { secFetchSite }), refused('sec-fetch-site'), secFetchSite);
    }
  });

  test('ignores the scheme when matching Host, as Go does (HTTP→HTTPS fails open; HSTS covers it)', () => {
    assert.deepEqual(run(check, { origin: 'http://example.com' }), OK);
  });

  test('rejects a look-alike origin (suffix, prefix, other port)', () => {
    for (const origin of [
      'https://example.com.evil.example',
      'https://evil-example.com',
      'https://example.com:8443',
      'https://sub.example.com',
    ]) {
      assert.deepEqual(run(check, { origin }), refused('origin-mismatch'), origin);
    }
  });

  test('matches the port when the host carries one', () => {
    assert.deepEqual(run(check, { origin: 'http://localhost:3000', host: 'localhost:3000' }), OK);
    assert.deepEqual(
      run(check, { origin: 'http://localhost:3001', host: 'localhost:3000' }),
      refused('origin-mismatch'),
    );
  });

  test('rejects an Origin in a form browsers never send (path, user info, other scheme)', () => {
    for (const origin of [
      'https://example.com/',
      'https://example.com/path',
      'https://user@example.com',
      'ftp://example.com',
      'example.com',
    ]) {
      assert.deepEqual(run(check, { origin }), refused('origin-mismatch'), origin);
    }
  });

  test('rejects Origin: null even when the host is missing', () => {
    assert.deepEqual(run(check, { origin: 'null', host: null }), refused('origin-null'));
    assert.deepEqual(run(check, { origin: 'null', host: '' }), refused('origin-null'));
  });

  test('rejects any Origin when the host is unknown', () => {
    assert.deepEqual(run(check, { origin: 'https://', host: '' }), refused('origin-mismatch'));
    assert.deepEqual(
      run(check, { origin: 'https://example.com', host: null }),
      refused('origin-mismatch'),
    );
  });

  test('treats empty headers as absent, like Go', () => {
    assert.deepEqual(run(check, { secFetchSite: '', origin: '' }), OK);
  });

  test('fails closed on header values of the wrong type from a sloppy adapter', () => {
    const headers = {
      get: (name: string) => (name === 'origin' ? (['https://example.com'] as never) : null),
    };
    assert.deepEqual(
      check.check({ method: 'POST', headers, host: HOST }),
      refused('origin-mismatch'),
    );
    const throwing = {
      get: (): string => {
        throw new Error('boom');
      },
    };
    assert.deepEqual(
      check.check({ method: 'POST', headers: throwing, host: HOST }),
      refused('sec-fetch-site'),
    );
  });

  test('accepts a plain getter instead of Web Headers', () => {
    const values: Record<string, string> = { 'sec-fetch-site': 'same-origin' };
    const headers = { get: (name: string) => values[name] };
    assert.deepEqual(check.check({ method: 'POST', headers, host: HOST }), OK);
  });
});

// TestCrossOriginProtectionTrustedOriginBypass
describe('trusted origins', () => {
  const check = createOriginCheck({ trustedOrigins: ['https://trusted.example'] });

  test('allows a trusted origin without Sec-Fetch-Site', () => {
    assert.deepEqual(run(check, { origin: 'https://trusted.example' }), OK);
  });

  test('allows a trusted origin with Sec-Fetch-Site: cross-site', () => {
    assert.deepEqual(
      run(check, { origin: 'https://trusted.example', secFetchSite: 'cross-site' }),
      OK,
    );
  });

  test('still rejects an untrusted origin, with or without Sec-Fetch-Site', () => {
    assert.deepEqual(
      run(check, { origin: 'https://attacker.example' }),
      refused('origin-mismatch'),
    );
    assert.deepEqual(
      run(check, { origin: 'https://attacker.example', secFetchSite: 'cross-site' }),
      refused('sec-fetch-site'),
    );
  });

  test('matches a trusted origin exactly: scheme, port and subdomain count', () => {
    for (const origin of [
      'http://trusted.example',
      'https://trusted.example:8443',
      'https://a.trusted.example',
      'https://TRUSTED.example',
    ]) {
      assert.deepEqual(
        run(check, { origin, secFetchSite: 'cross-site' }),
        refused('sec-fetch-site'),
        origin,
      );
    }
  });

  test('is resolved once into a frozen object', () => {
    assert.ok(Object.isFrozen(check));
    assert.ok(Object.isFrozen(check.trustedOrigins));
    assert.deepEqual(check.trustedOrigins, ['https://trusted.example']);
    assert.equal(check.publicOrigin, null);
  });
});

// TestCrossOriginProtectionAddTrustedOriginErrors, plus wildcards and non-canonical spellings.
describe('trusted origin configuration', () => {
  test('accepts exact origins with and without port, http or https', () => {
    for (const origin of [
      'https://example.com',
      'https://example.com:8080',
      'http://example.com',
      'http://[::1]:3000',
    ]) {
      assert.doesNotThrow(() => createOriginCheck({ trustedOrigins: [origin] }), origin);
    }
  });

  test('refuses anything but an exact origin (a path or wildcard would silently widen trust)', () => {
    for (const origin of [
      'example.com',
      'https://',
      'https://example.com/',
      'https://example.com/path',
      'https://example.com?query=value',
      'https://example.com#fragment',
      'https://ex ample.com',
      '',
      'null',
      '*',
      '*.example.com',
      'https://*.example.com',
      'https://user@example.com',
      'https://Example.com',
      'https://example.com:443',
      'ftp://example.com',
      'javascript:alert(1)',
    ]) {
      assert.throws(() => createOriginCheck({ trustedOrigins: [origin] }), isConfigError, origin);
    }
  });

  test('names the canonical form in the error when there is one', () => {
    assert.throws(
      () => createOriginCheck({ trustedOrigins: ['https://a.example/'] }),
      (e: unknown) =>
        isConfigError(e) && /did you mean "https:\/\/a\.example"/.test((e as Error).message),
    );
  });

  test('refuses non-string entries from untyped config', () => {
    assert.throws(
      () => createOriginCheck({ trustedOrigins: [42 as unknown as string] }),
      isConfigError,
    );
  });
});

// Checklist: "Behind a proxy compare against configured public origin, not raw Host".
describe('public origin behind a reverse proxy', () => {
  const check = createOriginCheck({ publicOrigin: 'https://app.example' });
  const behindProxy = { host: '127.0.0.1:3000' };

  test('allows the public origin although the proxy rewrote Host', () => {
    assert.deepEqual(run(check, { ...behindProxy, origin: 'https://app.example' }), OK);
  });

  test('rejects the public host over plain HTTP (the scheme counts here)', () => {
    assert.deepEqual(
      run(check, { ...behindProxy, origin: 'http://app.example' }),
      refused('origin-mismatch'),
    );
  });

  test('rejects an Origin that merely matches the rewritten Host', () => {
    assert.deepEqual(
      run(check, { ...behindProxy, origin: 'http://127.0.0.1:3000' }),
      refused('origin-mismatch'),
    );
  });

  test('still decides by Sec-Fetch-Site first', () => {
    assert.deepEqual(run(check, { ...behindProxy, secFetchSite: 'same-origin' }), OK);
    assert.deepEqual(
      run(check, { ...behindProxy, secFetchSite: 'cross-site', origin: 'https://app.example' }),
      refused('sec-fetch-site'),
    );
  });

  test('still honours trusted origins', () => {
    const withTrusted = createOriginCheck({
      publicOrigin: 'https://app.example',
      trustedOrigins: ['https://admin.example'],
    });
    assert.deepEqual(run(withTrusted, { ...behindProxy, origin: 'https://admin.example' }), OK);
  });

  test('refuses a public origin that is not an exact origin', () => {
    for (const publicOrigin of [
      'https://app.example/',
      'app.example',
      'null',
      'https://*.example',
    ]) {
      assert.throws(() => createOriginCheck({ publicOrigin }), isConfigError, publicOrigin);
    }
    assert.equal(check.publicOrigin, 'https://app.example');
  });
});
