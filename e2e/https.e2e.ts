import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { serve } from '@hono/node-server';
import { type Browser, chromium } from 'playwright-core';
import { createApp } from '../src/server/app.ts';
import { testConfig } from '../src/server/config.ts';
import { createLogger } from '../src/server/logger.ts';
import { createServices, type Services } from '../src/server/services.ts';
import { CHROMIUM_ARGS, signUp } from './harness.ts';

// The session cookie as a browser stores it over real TLS (ASVS 5.0 3.3.3): the app served over
// https://localhost with a throwaway self-signed certificate (openssl), Chromium told to accept
// it. The `__Host-` name is kept by the browser only when Secure, `Path=/` and no Domain are all
// there (rfc6265bis §4.1.3.2), so finding it in the cookie jar, host-only, proves the attributes.

const NAME = '__Host-coatcheck';

let dir: string;
let services: Services;
let server: Server;
let base: string;
let browser: Browser;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'coatcheck-https-'));
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'],
      ...[
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost',
      ],
      ...['-keyout', key, '-out', cert],
    ],
    { stdio: 'ignore' },
  );
  const config = testConfig({
    dataDir: join(dir, 'data'),
    cookie: { name: NAME, sameSite: 'lax', secure: true },
  });
  services = createServices(config, { logger: createLogger({ level: 'silent' }) });
  const app = createApp(services);
  server = await new Promise<Server>((resolve) => {
    const s = serve(
      {
        fetch: app.fetch,
        port: 0,
        hostname: '127.0.0.1',
        createServer,
        serverOptions: { key: readFileSync(key), cert: readFileSync(cert) },
      },
      () => resolve(s as Server),
    );
  });
  base = `https://localhost:${(server.address() as AddressInfo).port}`;
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [...CHROMIUM_ARGS, '--ignore-certificate-errors'],
  });
});

after(async () => {
  await browser?.close();
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await services?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('over https Chromium stores the __Host- session cookie: Secure, HttpOnly, Path=/, host-only', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signUp(page, base, { name: 'Ada', email: 'ada@example.test' });
  const cookies = await context.cookies(base);
  const session = cookies.find((c) => c.name === NAME);
  assert.ok(session, `stored: ${cookies.map((c) => c.name).join(', ')}`);
  assert.equal(session.secure, true);
  assert.equal(session.httpOnly, true);
  assert.equal(session.path, '/');
  assert.equal(session.domain, 'localhost', 'host-only: no leading dot, no parent domain');
  assert.equal(session.sameSite, 'Lax');
  // The browser sends it back: signed in over TLS.
  const me = await page.goto(`${base}/auth/session`);
  assert.equal(me?.status(), 200);
  await context.close();
});
