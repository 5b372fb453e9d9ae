import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Accounts } from '../../src/accounts/accounts.ts';
import { pwnedPasswordsCheck } from '../../src/accounts/breached.ts';
import { SessionEngine } from '../../src/core/engine.ts';
import { WeakPasswordError } from '../../src/core/errors.ts';
import { MemoryAuditLog, MemorySessionStore, MemoryUserStore } from '../../src/stores/memory.ts';
import { hasher, PW } from './setup.ts';

// The breached-password check against a real HTTP server speaking the Pwned Passwords range API
// (GET /range/<5 hex>, `SUFFIX:COUNT` lines, padding lines with a count of 0).

const BREACHED = 'monkey trousers 1987';
const PADDED = 'padding only passphrase';
const sha1 = (text: string) => createHash('sha1').update(text).digest('hex').toUpperCase();

/** What the range server saw, and how it answers. */
const seen: { url: string; headers: IncomingHttpHeaders }[] = [];
let mode: 'ok' | 'error' | 'hang' | 'huge' = 'ok';
let server: Server;
let base: string;

before(async () => {
  server = createServer((req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    if (mode === 'hang') return; // never answers
    if (mode === 'huge') {
      // Chunked (no Content-Length): the reader must stop at its limit, not buffer it all.
      const line = `${sha1(BREACHED).slice(5)}:1\r\n`.repeat(1000);
      res.writeHead(200);
      for (let i = 0; i < 40; i++) res.write(line);
      res.end();
      return;
    }
    if (mode === 'error') {
      res.writeHead(503).end();
      return;
    }
    const prefix = (req.url ?? '').slice('/range/'.length);
    const lines = [`${'0'.repeat(35)}:3`];
    for (const [password, count] of [
      [BREACHED, 42],
      [PADDED, 0],
    ] as const) {
      const hash = sha1(password);
      if (hash.startsWith(prefix)) lines.push(`${hash.slice(5)}:${count}`);
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end(lines.join('\r\n'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/range/`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

describe('pwnedPasswordsCheck', () => {
  test('finds a breached password, sending only the 5-character prefix, padded', async () => {
    mode = 'ok';
    seen.length = 0;
    const check = pwnedPasswordsCheck({ url: base });
    assert.equal(await check(BREACHED), true);
    assert.equal(await check(PW), false);
    assert.deepEqual(
      seen.map((s) => s.url),
      [`/range/${sha1(BREACHED).slice(0, 5)}`, `/range/${sha1(PW).slice(0, 5)}`],
    );
    for (const { url, headers } of seen) {
      assert.equal(headers['add-padding'], 'true');
      assert.ok(!url.includes(sha1(BREACHED).slice(5)) && !url.includes(sha1(PW).slice(5)));
    }
  });

  test('a padding line (count 0) is not a breach', async () => {
    mode = 'ok';
    assert.equal(await pwnedPasswordsCheck({ url: base })(PADDED), false);
  });

  test('fails open, and says so, when the service errs, hangs or is gone', async () => {
    const errors: unknown[] = [];
    const check = pwnedPasswordsCheck({
      url: base,
      timeoutMs: 200,
      onError: (e) => errors.push(e),
    });
    mode = 'error';
    assert.equal(await check(BREACHED), false);
    mode = 'hang';
    assert.equal(await check(BREACHED), false);
    const gone = pwnedPasswordsCheck({
      url: 'http://127.0.0.1:9/range/',
      onError: (e) => errors.push(e),
    });
    assert.equal(await gone(BREACHED), false);
    assert.equal(errors.length, 3);
    mode = 'ok';
  });
});

test('fails open on an answer past 1 MiB, even a chunked one that holds the hash', async () => {
  const errors: unknown[] = [];
  mode = 'huge';
  assert.equal(
    await pwnedPasswordsCheck({ url: base, onError: (e) => errors.push(e) })(BREACHED),
    false,
  );
  mode = 'ok';
  assert.equal(errors.length, 1);
  assert.equal((errors[0] as { code?: string }).code, 'payload_too_large');
});

describe('Accounts with a breach check', () => {
  const users = new MemoryUserStore();
  const audit = new MemoryAuditLog();
  const engine = new SessionEngine({ store: new MemorySessionStore(), users, audit });
  const accounts = new Accounts({
    users,
    engine,
    audit,
    hasher,
    breachCheck: async (password) => password === BREACHED,
  });

  test('sign-up with a breached password is refused as weak (reason breached); others pass', async () => {
    await assert.rejects(
      accounts.signup({ email: 'ada@example.test', password: BREACHED }),
      (error) => error instanceof WeakPasswordError && error.reason === 'breached',
    );
    assert.equal(await users.findByEmail('ada@example.test'), null, 'no account was made');
    await accounts.signup({ email: 'ada@example.test', password: PW });
  });

  test('a password change to a breached password is refused and the old one stays', async () => {
    const { issued } = await accounts.signup({ email: 'bob@example.test', password: PW });
    const found = await engine.validate(issued.token);
    assert.ok(found.ok);
    await assert.rejects(
      accounts.changePassword(found.session, found.user, {
        currentPassword: PW,
        newPassword: BREACHED,
      }),
      (error) => error instanceof WeakPasswordError && error.reason === 'breached',
    );
    await accounts.login({ email: 'bob@example.test', password: PW });
  });
});
