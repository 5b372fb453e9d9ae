import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadConfig, testConfig } from '../../src/server/config.ts';
import { createLogger } from '../../src/server/logger.ts';
import { startServer as startRealServer } from '../../src/server/serve.ts';
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

test('a breached first-admin password stops start-up with a ConfigError naming the setting', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'coatcheck-breached-'));
  try {
    const config = testConfig({
      dataDir,
      breachedPasswords: h.config.breachedPasswords,
      bootstrapAdmin: { email: 'root@example.test', password: BREACHED },
    });
    await assert.rejects(
      startRealServer(config, { logger: createLogger({ level: 'silent' }) }),
      (error) => {
        assert.ok(error instanceof Error);
        assert.equal(error.name, 'ConfigError');
        assert.match(error.message, /^COATCHECK_ADMIN_PASSWORD: .*data breach/);
        assert.ok(!error.message.includes(BREACHED), 'the password is not echoed');
        return true;
      },
    );
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
