import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ConfigError } from '../../src/core/errors.ts';
import { createProxyTrust, normaliseIp } from '../../src/server/http/proxy-trust.ts';
import { type Harness, PW, setCookieValue, startServer } from './harness.ts';

// The client IP (recorded on sessions, used for throttling and logs) comes from X-Forwarded-For
// only when the TCP peer is a configured trusted proxy (ASVS 5.0 V15.3.4). Anyone else can write
// any X-Forwarded-For they like, so it must change nothing.

async function sessionIpAfterLogin(h: Harness, xff: string): Promise<string | null> {
  const u = await h.createUser();
  const login = await h.request('/auth/login', {
    json: { email: u.email, password: PW },
    headers: { 'x-forwarded-for': xff },
  });
  assert.equal(login.status, 200);
  const token = setCookieValue(login, 'coatcheck') ?? '';
  const { sessions } = (await (await h.request('/auth/sessions', { cookie: token })).json()) as {
    sessions: { current: boolean; ip: string | null }[];
  };
  return sessions.find((s) => s.current)?.ip ?? null;
}

describe('an untrusted peer', () => {
  let h: Harness;
  before(async () => {
    h = await startServer();
  });
  after(() => h.close());

  test('a spoofed X-Forwarded-For is ignored: the session and the log record the socket IP', async () => {
    assert.equal(await sessionIpAfterLogin(h, '203.0.113.66'), '127.0.0.1');
    const lines = h.logs.filter((l) => l.includes('"route":"/auth/login"'));
    assert.ok(lines.length > 0 && lines.every((l) => l.includes('"ip":"127.0.0.1"')));
  });
});

describe('a trusted proxy', () => {
  let h: Harness;
  before(async () => {
    h = await startServer({ trustedProxies: ['127.0.0.0/8', '10.0.0.0/8'] });
  });
  after(() => h.close());

  test('its X-Forwarded-For is honoured: the right-most untrusted hop is the client', async () => {
    assert.equal(await sessionIpAfterLogin(h, '203.0.113.7'), '203.0.113.7');
    // The client prepended a lie; our proxies appended the truth on the right.
    assert.equal(await sessionIpAfterLogin(h, '1.1.1.1, 203.0.113.8, 10.0.0.2'), '203.0.113.8');
  });

  test('a garbage hop ends the walk at the last trusted address, never garbage', async () => {
    assert.equal(await sessionIpAfterLogin(h, '203.0.113.9, <script>'), '127.0.0.1');
  });
});

describe('createProxyTrust', () => {
  const trust = createProxyTrust(['10.0.0.0/8', '192.0.2.1', 'fd00::/8']);

  test('no trusted proxies: the peer is always the client', () => {
    const none = createProxyTrust([]);
    assert.equal(none.clientIp('10.0.0.1', '203.0.113.1'), '10.0.0.1');
  });

  test('walks right to left through trusted hops only', () => {
    assert.equal(trust.clientIp('10.1.1.1', '203.0.113.1, 192.0.2.1'), '203.0.113.1');
    assert.equal(trust.clientIp('10.1.1.1', '198.51.100.1, 203.0.113.1'), '203.0.113.1');
    assert.equal(
      trust.clientIp('10.1.1.1', '10.2.2.2, 10.3.3.3'),
      '10.2.2.2',
      'all trusted: left-most',
    );
    assert.equal(trust.clientIp('203.0.113.5', '10.0.0.1'), '203.0.113.5', 'untrusted peer');
    assert.equal(trust.clientIp('10.1.1.1', ''), '10.1.1.1');
    assert.equal(trust.clientIp('10.1.1.1', undefined), '10.1.1.1');
    assert.equal(trust.clientIp('10.1.1.1', 'unknown'), '10.1.1.1');
    assert.equal(trust.clientIp('10.1.1.1', '203.0.113.1:443'), '10.1.1.1');
  });

  test('IPv4-mapped IPv6 and IPv6 ranges are understood', () => {
    assert.equal(normaliseIp('::FFFF:10.0.0.1'), '10.0.0.1');
    assert.equal(normaliseIp('FD00::1'), 'fd00::1');
    assert.equal(normaliseIp('nonsense'), null);
    assert.equal(trust.trusts('fd12::1'), true);
    assert.equal(trust.clientIp('::ffff:10.0.0.1', '2001:db8::1'), '2001:db8::1');
  });

  test('a bad entry is a ConfigError naming it', () => {
    for (const bad of ['10.0.0.0/33', 'example.com', '10.0.0.0/8/8', '::1/129', '10.0.0.0/']) {
      assert.throws(
        () => createProxyTrust([bad]),
        (e: unknown) => {
          return e instanceof ConfigError && e.message.includes(JSON.stringify(bad));
        },
      );
    }
  });
});
