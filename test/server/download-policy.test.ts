import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { serve } from '@hono/node-server';
import { decodeJwt } from 'jose';
import { createDownloadServer, type ListeningDownloadServer } from '../../src/download/index.ts';
import {
  createApp,
  createServices,
  type DownloadPolicy,
  type Services,
  testConfig,
} from '../../src/server/index.ts';
import { assertProblem, PW } from './harness.ts';

// `createServices(config, { downloadPolicy })`, through the `coatcheck/server` entry point, decides
// what the real minting routes (POST /auth/download-tokens, the account page's download form)
// grant. The custom policy below grants `reports/…` to the finance role, which the default policy
// refuses (neither the user's folder nor public/), and refuses `public/…`, which the default
// grants. Each case also runs against an app on the default policy: the control.

const DOWNLOAD_ORIGIN = 'https://files.example.test';
const REPORT = 'reports/q3.txt';
const HANDBOOK = 'public/handbook.txt';

/** Finance may read `reports/…`; everyone their own folder; nobody `public/…`. Async: awaited. */
const financePolicy: DownloadPolicy = async ({ user, resource }) => {
  await Promise.resolve();
  if (resource.startsWith('reports/')) return user.roles.includes('finance');
  return resource.startsWith(`users/${user.id}/`);
};

/** The real app on its own SQLite directory, listening on an ephemeral port. */
interface App {
  readonly base: string;
  readonly services: Services;
  /** A signed-up user (roles as given) and their session token. */
  user(roles: string[]): Promise<{ id: string; token: string }>;
  /** POST /auth/download-tokens as `token`. */
  mint(token: string, resource: string): Promise<Response>;
  /** The account page's download form, with this session's synchronizer token. */
  form(token: string, resource: string): Promise<Response>;
  /** GET with the session cookie. */
  get(token: string, path: string): Promise<Response>;
  close(): Promise<void>;
}

let signups = 0;

async function startApp(root: string, downloadPolicy?: DownloadPolicy): Promise<App> {
  const dataDir = mkdtempSync(join(tmpdir(), 'coatcheck-policy-'));
  const config = testConfig({
    dataDir,
    download: {
      url: new URL(DOWNLOAD_ORIGIN),
      root,
      tokenTtlSeconds: 120,
      port: 0,
      jwksUrl: null,
      replayStore: null,
    },
  });
  const services = createServices(config, downloadPolicy ? { downloadPolicy } : {});
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: createApp(services).fetch, port: 0, hostname: '127.0.0.1' }, () =>
      resolve(s as Server),
    );
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const cookie = (token: string) => `${config.cookie.name}=${token}`;

  const user = async (roles: string[]) => {
    signups++;
    const email = `policy${signups}-${process.pid}@example.test`;
    const client = { ip: `192.0.2.${signups % 250}`, userAgent: 'policy-test' };
    const { user, issued } = await services.accounts.signup({ email, password: PW }, client);
    await services.users.update(user.id, { roles });
    return { id: user.id, token: issued.token };
  };
  const mint = (token: string, resource: string) =>
    fetch(`${base}/auth/download-tokens`, {
      method: 'POST',
      headers: { cookie: cookie(token), 'content-type': 'application/json' },
      body: JSON.stringify({ resource }),
    });
  const get = (token: string, path: string) =>
    fetch(base + path, { headers: { cookie: cookie(token) }, redirect: 'manual' });
  const form = async (token: string, resource: string) => {
    const session = (await (await get(token, '/auth/session')).json()) as { csrfToken: string };
    return fetch(`${base}/account/files/download`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        cookie: cookie(token),
        'content-type': 'application/x-www-form-urlencoded',
        'sec-fetch-site': 'same-origin',
      },
      body: new URLSearchParams({ csrf_token: session.csrfToken, resource }).toString(),
    });
  };
  const close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await services.close();
    rmSync(dataDir, { recursive: true, force: true });
  };
  return { base, services, user, mint, form, get, close };
}

describe('a custom download policy (createServices options)', () => {
  let root: string;
  let custom: App;
  let standard: App;
  let files: ListeningDownloadServer;
  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'coatcheck-root-'));
    mkdirSync(join(root, 'reports'));
    writeFileSync(join(root, REPORT), 'third quarter');
    mkdirSync(join(root, 'public'));
    writeFileSync(join(root, HANDBOOK), 'public handbook');
    custom = await startApp(root, financePolicy);
    standard = await startApp(root);
    // The download server trusts only the custom app's keys.
    files = await createDownloadServer({
      root,
      issuer: custom.base,
      audience: DOWNLOAD_ORIGIN,
      jwksUrl: `${custom.base}/.well-known/jwks.json`,
    }).listen({ port: 0 });
  });
  after(async () => {
    await files.close();
    await custom.close();
    await standard.close();
    rmSync(root, { recursive: true, force: true });
  });

  test('grants reports/… to finance, which the default policy refuses (JSON route)', async () => {
    const res = await custom.mint((await custom.user(['user', 'finance'])).token, REPORT);
    assert.equal(res.status, 201);
    const { url, token } = (await res.json()) as { url: string; token: string };
    assert.equal(decodeJwt(token).resource, REPORT);
    // The grant is a working link at the download server.
    const { pathname, search } = new URL(url);
    const download = await fetch(`${files.url}${pathname}${search}`);
    assert.equal(download.status, 200);
    assert.equal(await download.text(), 'third quarter');

    const control = await standard.mint((await standard.user(['user', 'finance'])).token, REPORT);
    await assertProblem(control, 403, 'forbidden');
  });

  test('refuses public/…, which the default policy grants (JSON route)', async () => {
    const refused = await custom.mint((await custom.user(['user', 'finance'])).token, HANDBOOK);
    await assertProblem(refused, 403, 'forbidden');

    const control = await standard.mint((await standard.user(['user'])).token, HANDBOOK);
    assert.equal(control.status, 201);
  });

  test('the policy is given the signed-in user: without the finance role, reports/… is refused', async () => {
    const res = await custom.mint((await custom.user(['user'])).token, REPORT);
    await assertProblem(res, 403, 'forbidden');
  });

  test('the account page form follows the same policy: 303 to the link, or a 403 page', async () => {
    const finance = (await custom.user(['user', 'finance'])).token;
    const granted = await custom.form(finance, REPORT);
    assert.equal(granted.status, 303);
    const location = new URL(granted.headers.get('location') ?? '');
    assert.equal(location.origin, DOWNLOAD_ORIGIN);
    assert.equal(location.pathname, `/files/${REPORT}`);
    const refused = await custom.form(finance, HANDBOOK);
    assert.equal(refused.status, 403);
    assert.equal(refused.headers.get('location'), null);
    assert.match(await refused.text(), /You may not download this file/);

    const control = (await standard.user(['user', 'finance'])).token;
    assert.equal((await standard.form(control, REPORT)).status, 403);
    assert.equal((await standard.form(control, HANDBOOK)).status, 303);
  });

  test('the account page lists no public file the policy refuses', async () => {
    const finance = (await custom.user(['user', 'finance'])).token;
    const page = await (await custom.get(finance, '/account')).text();
    assert.match(page, /id="files-heading">Files</);
    assert.equal(page.includes('handbook.txt'), false);

    const control = (await standard.user(['user'])).token;
    assert.match(await (await standard.get(control, '/account')).text(), /handbook\.txt/);
  });
});
