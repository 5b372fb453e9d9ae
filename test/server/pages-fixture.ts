import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { createApp } from '../../src/server/app.ts';
import { testConfig } from '../../src/server/config.ts';
import { createServices, type Services } from '../../src/server/services.ts';

/**
 * Fixture of the page tests: the real app (createApp over SQLite in a temp dir) driven request by
 * request, with a small cookie jar per client and an injected clock (freshness, throttling).
 */

/** A password that passes the policy. */
export const PW = 'correct horse battery staple';

/** The shared clock of the services, in epoch ms; tests move it forward. */
export const clock = { now: Date.now() };

let dir = '';
let current: { services: Services; app: ReturnType<typeof createApp> } | null = null;
let ipCounter = 0;

/** Starts the app before the file's tests and removes it after. */
export function setupPagesApp(): void {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'coatcheck-pages-'));
    const services = createServices(testConfig({ dataDir: dir }), { now: () => clock.now });
    current = { services, app: createApp(services) };
  });
  after(async () => {
    await current?.services.close();
    rmSync(dir, { recursive: true, force: true });
  });
}

/** The running services (after `setupPagesApp`'s before hook). */
export function services(): Services {
  assert.ok(current, 'setupPagesApp() not called');
  return current.services;
}

/** A browser: its own IP (sign-up is throttled per IP) and the session cookie it holds. */
export class Client {
  readonly ip = `198.51.100.${++ipCounter}`;
  cookie: string | null = null;

  get(path: string): Promise<Response> {
    return this.send(path, { method: 'GET' });
  }

  /** A same-origin form post, as a browser sends it. */
  post(path: string, fields: Record<string, string>): Promise<Response> {
    return this.send(path, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'sec-fetch-site': 'same-origin',
        origin: 'http://localhost',
      },
      body: new URLSearchParams(fields).toString(),
    });
  }

  async send(path: string, init: RequestInit): Promise<Response> {
    assert.ok(current, 'setupPagesApp() not called');
    const headers = new Headers(init.headers);
    headers.set('user-agent', 'Mozilla/5.0 (X11; Linux x86_64) Chrome/140.0.0.0 Safari/537.36');
    if (this.cookie) headers.set('cookie', `coatcheck=${this.cookie}`);
    const url = `http://localhost${path}`;
    const res = await current.app.request(url, { ...init, headers }, { peer: this.ip });
    for (const line of res.headers.getSetCookie()) {
      const m = /^coatcheck=([^;]*)/.exec(line);
      if (m) this.cookie = m[1] ? m[1] : null;
    }
    return res;
  }
}

/** The synchronizer tokens on a page, in order. */
export function tokensIn(body: string): string[] {
  return [...body.matchAll(/name="csrf_token" value="([^"]+)"/g)].map((m) => m[1] as string);
}

/** Signs up a new user (name `name`) in a fresh client. */
export async function newUser(name = 'Ann', client = new Client()) {
  const email = `${client.ip.replaceAll('.', '-')}-${clock.now}@example.test`;
  const res = await client.post('/signup', { name, email, password: PW });
  assert.equal(res.status, 303, await res.text());
  const user = await services().users.findByEmail(email);
  assert.ok(user && client.cookie);
  return { client, email, user };
}

/** Signs an existing account in from a new client. */
export async function signIn(email: string, password = PW, client = new Client()) {
  const res = await client.post('/login', { email, password });
  assert.equal(res.status, 303, `sign-in of ${email} failed with ${res.status}`);
  return client;
}

/** The client's current form token, read from its account page. */
export async function tokenOf(client: Client): Promise<string> {
  const token = tokensIn(await (await client.get('/account')).text())[0];
  assert.ok(token, 'no form token on /account');
  return token;
}

/** How many live sessions a user has, read from the server. */
export async function sessionCount(userId: string): Promise<number> {
  return (await services().engine.list(userId)).length;
}
