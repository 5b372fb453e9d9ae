import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { type App, launchChromium, signUp, startApp } from './harness.ts';

// The session cookie as a browser stores it over real TLS (ASVS 5.0 3.3.3): the app served over
// https://localhost with a throwaway self-signed certificate (openssl), Chromium told to accept
// it. The `__Host-` name is kept by the browser only when Secure, `Path=/` and no Domain are all
// there (rfc6265bis §4.1.3.2), so finding it in the cookie jar, host-only, proves the attributes.

const NAME = '__Host-coatcheck';

let app: App;
let browser: Browser;

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'coatcheck-https-'));
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  try {
    execFileSync(
      'openssl',
      [
        ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
        ...['-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'],
        ...['-keyout', key, '-out', cert],
      ],
      { stdio: 'ignore' },
    );
    const tls = { key: readFileSync(key), cert: readFileSync(cert) };
    app = await startApp({ cookie: { name: NAME, sameSite: 'lax', secure: true } }, tls);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  browser = await launchChromium(['--ignore-certificate-errors']);
});

after(async () => {
  await browser?.close();
  await app?.close();
});

test('over https Chromium stores the __Host- session cookie: Secure, HttpOnly, Path=/, host-only', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signUp(page, app.base, { name: 'Ada', email: 'ada@example.test' });
  const cookies = await context.cookies(app.base);
  const session = cookies.find((c) => c.name === NAME);
  assert.ok(session, `stored: ${cookies.map((c) => c.name).join(', ')}`);
  assert.equal(session.secure, true);
  assert.equal(session.httpOnly, true);
  assert.equal(session.path, '/');
  assert.equal(session.domain, 'localhost', 'host-only: no leading dot, no parent domain');
  assert.equal(session.sameSite, 'Lax');
  // The browser sends it back: signed in over TLS.
  const me = await page.goto(`${app.base}/auth/session`);
  assert.equal(me?.status(), 200);
  await context.close();
});
