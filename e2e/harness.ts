import { mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { type Browser, chromium, type Page } from 'playwright-core';
import { createApp } from '../src/server/app.ts';
import { type ServerConfig, testConfig } from '../src/server/config.ts';
import { createLogger } from '../src/server/logger.ts';
import { createServices, type Services } from '../src/server/services.ts';

/**
 * Real-browser harness: the real app (createServices + createApp over SQLite in a temp dir) on an
 * ephemeral port, Debian's headless Chromium driven by playwright-core, and a second tiny HTTP
 * server standing in for another site.
 *
 * Hosts. The app is visited as http://localhost:<port>, like `npm start`. The dev cookie is
 * `coatcheck` with `Secure` on plain HTTP: Chromium (checked on 156) stores and sends Secure
 * cookies on http://localhost and on http://127.0.0.1 alike (both are "potentially trustworthy"
 * origins), so either host works; we use localhost for the app and 127.0.0.1 as another site.
 * Cookies ignore ports (rfc6265bis §8.5) and sites ignore them too, so http://localhost:<other>
 * is same-site with the app (its POSTs carry the Lax cookie) and http://127.0.0.1:<other> is
 * cross-site: the cross-origin tests use both.
 */

/** Flags for a closed network: no background traffic, no updates, no sync, no QUIC. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Where screenshots go (git-ignored). */
export const SCREENSHOT_DIR = join(import.meta.dirname, 'screenshots');

/** A password that passes the policy. */
export const PW = 'correct horse battery staple';

/** A running app. */
export interface App {
  /** `http://localhost:<port>` (`https://` with TLS) */
  readonly base: string;
  readonly port: number;
  readonly services: Services;
  /** The services' clock (epoch ms): move it to age sessions past the fresh window. */
  readonly clock: { now: number };
  /** Parsed JSON log lines, in order (access log and security events). */
  logs(): Record<string, unknown>[];
  close(): Promise<void>;
}

/**
 * Starts the app on 127.0.0.1 (reached as localhost) with a fresh SQLite dir; over HTTPS with
 * `tls` (PEM key and certificate).
 */
export async function startApp(
  overrides: Partial<ServerConfig> = {},
  tls?: { readonly key: Buffer; readonly cert: Buffer },
): Promise<App> {
  const dataDir = await mkdtemp(join(tmpdir(), 'coatcheck-e2e-'));
  const lines: string[] = [];
  const logger = createLogger({ level: 'info', destination: { write: (s) => lines.push(s) } });
  const clock = { now: Date.now() };
  const config = testConfig({ dataDir, ...overrides });
  const services = createServices(config, { logger, now: () => clock.now });
  const app = createApp(services);
  const options = { fetch: app.fetch, port: 0, hostname: '127.0.0.1' };
  const server = await listen((cb) =>
    serve(tls ? { ...options, createServer: createHttpsServer, serverOptions: tls } : options, cb),
  );
  const { port } = server.address() as AddressInfo;
  return {
    base: `${tls ? 'https' : 'http'}://localhost:${port}`,
    port,
    services,
    clock,
    logs: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await services.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Another site: serves the given HTML documents by path on its own port of 127.0.0.1. */
export async function startOtherSite(pages: Readonly<Record<string, string>>) {
  const server = await listen((cb) => {
    const s = createServer((req, res) => {
      const body = pages[(req.url ?? '/').split('?')[0] ?? '/'];
      res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(body ?? 'not found');
    });
    return s.listen(0, '127.0.0.1', cb);
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Headless Chromium. Playwright gives every launch a fresh temporary user-data dir (removed on
 * close), and every `browser.newContext()` its own cookie jar and storage.
 */
export function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [...CHROMIUM_ARGS, ...extraArgs],
  });
}

/** Saves a full-page screenshot as e2e/screenshots/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}

/** Fills and sends the sign-up form; lands on /account. */
export async function signUp(page: Page, base: string, user: { name: string; email: string }) {
  await page.goto(`${base}/signup`);
  await page.fill('#name', user.name);
  await page.fill('#email', user.email);
  await page.fill('#password', PW);
  await Promise.all([page.waitForURL(`${base}/account**`), page.click('button[type=submit]')]);
}

/** Fills and sends the sign-in form on the current /login page (optionally "remember me"). */
export async function signIn(page: Page, email: string, options: { remember?: boolean } = {}) {
  await page.fill('#email', email);
  await page.fill('#password', PW);
  if (options.remember) await page.check('input[name=remember]');
  await Promise.all([page.waitForURL('**/account**'), page.click('main button[type=submit]')]);
}

function listen(start: (ready: () => void) => unknown): Promise<Server> {
  return new Promise((resolve) => {
    const server = start(() => resolve(server as Server));
  });
}
