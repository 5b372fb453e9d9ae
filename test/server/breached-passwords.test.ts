import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { loadConfig } from '../../src/server/config.ts';
import { assertProblem, type Harness, PW, startServer } from './harness.ts';

// COATCHECK_BREACHED_PASSWORDS end to end: the server screens new passwords against a range API
// (here a real local server holding one breached password) and answers 400 weak_password.

const BREACHED = 'monkey trousers 1987';
let range: Server;
let h: Harness;

before(async () => {
  const hash = createHash('sha1').update(BREACHED).digest('hex').toUpperCase();
  range = createServer((req, res) => {
    const known = req.url === `/range/${hash.slice(0, 5)}` ? `${hash.slice(5)}:7\r\n` : '';
    res.writeHead(200).end(`${known}${'F'.repeat(35)}:0`);
  });
  await new Promise<void>((resolve) => range.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(range.address() as AddressInfo).port}/range/`;
  const config = loadConfig({ env: { COATCHECK_BREACHED_PASSWORDS: url } });
  assert.equal(config.breachedPasswords?.href, url);
  h = await startServer({ breachedPasswords: config.breachedPasswords });
});
after(async () => {
  await h?.close();
  range?.close();
});

test('sign-up with a breached password is 400 weak_password; another password signs up', async () => {
  const refused = await h.request('/auth/signup', {
    json: { email: 'ada@example.test', password: BREACHED },
  });
  await assertProblem(refused, 400, 'weak_password');
  const ok = await h.request('/auth/signup', { json: { email: 'ada@example.test', password: PW } });
  assert.equal(ok.status, 201);
});

test('COATCHECK_BREACHED_PASSWORDS: off by default; off, hibp or an http(s) URL', () => {
  assert.equal(loadConfig({ env: {} }).breachedPasswords, null);
  assert.equal(
    loadConfig({ env: { COATCHECK_BREACHED_PASSWORDS: 'off' } }).breachedPasswords,
    null,
  );
  const hibp = loadConfig({ env: { COATCHECK_BREACHED_PASSWORDS: 'HIBP' } }).breachedPasswords;
  assert.equal(hibp?.href, 'https://api.pwnedpasswords.com/range/');
  for (const bad of ['yes', 'ftp://mirror/range/', 'https://u:p@mirror/range/']) {
    assert.throws(
      () => loadConfig({ env: { COATCHECK_BREACHED_PASSWORDS: bad } }),
      /COATCHECK_BREACHED_PASSWORDS: must be off, hibp or an http\(s\) URL/,
      bad,
    );
  }
});
