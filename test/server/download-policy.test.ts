import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import { createDownloadServer, type ListeningDownloadServer } from '../../src/download/index.ts';
import { testConfig } from '../../src/server/config.ts';
import type { DownloadPolicy } from '../../src/server/index.ts';
import { createLogger } from '../../src/server/logger.ts';
import { startServer as startRealServer } from '../../src/server/serve.ts';
import { startPostgres } from '../support/postgres.ts';
import {
  assertProblem,
  DOWNLOAD_ORIGIN,
  downloadSettings,
  type Harness,
  PW,
  startServer,
} from './harness.ts';

// `createServices(config, { downloadPolicy })` (the harness passes it through) decides what the
// real minting routes (POST /auth/download-tokens, the account page's download form) grant. The
// custom policy below grants `reports/…` to the finance role, which the default policy refuses
// (neither the user's folder nor public/), and refuses `public/…`, which the default grants. Each
// case also runs against an app on the default policy: the control.

const REPORT = 'reports/q3.txt';
const HANDBOOK = 'public/handbook.txt';

/** Finance may read `reports/…`; everyone their own folder; nobody `public/…`. Async: awaited. */
const financePolicy: DownloadPolicy = async ({ user, resource }) => {
  await Promise.resolve();
  if (resource.startsWith('reports/')) return user.roles.includes('finance');
  return resource.startsWith(`users/${user.id}/`);
};

/** The real app serving downloads from `root`, on `downloadPolicy` (default: the built-in one). */
function startApp(root: string, downloadPolicy?: DownloadPolicy): Promise<Harness> {
  return startServer(
    { download: downloadSettings(root) },
    downloadPolicy ? { downloadPolicy } : {},
  );
}

/** A signed-in user holding `roles`: their session token. */
const user = async (h: Harness, roles: string[]) => (await h.createUser({ roles })).token;

/** POST /auth/download-tokens as `token`. */
const mint = (h: Harness, token: string, resource: string) =>
  h.request('/auth/download-tokens', { cookie: token, json: { resource } });

/** The account page's download form, with this session's synchronizer token. */
async function form(h: Harness, token: string, resource: string): Promise<Response> {
  const session = (await (await h.request('/auth/session', { cookie: token })).json()) as {
    csrfToken: string;
  };
  return h.request('/account/files/download', {
    cookie: token,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'sec-fetch-site': 'same-origin',
    },
    body: new URLSearchParams({ csrf_token: session.csrfToken, resource }).toString(),
  });
}

describe('a custom download policy (createServices options)', () => {
  let root: string;
  let custom: Harness;
  let standard: Harness;
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
    const res = await mint(custom, await user(custom, ['user', 'finance']), REPORT);
    assert.equal(res.status, 201);
    const { url, token } = (await res.json()) as { url: string; token: string };
    assert.equal(decodeJwt(token).resource, REPORT);
    // The grant is a working link at the download server.
    const { pathname, search } = new URL(url);
    const download = await fetch(`${files.url}${pathname}${search}`);
    assert.equal(download.status, 200);
    assert.equal(await download.text(), 'third quarter');

    const control = await mint(standard, await user(standard, ['user', 'finance']), REPORT);
    await assertProblem(control, 403, 'forbidden');
  });

  test('refuses public/…, which the default policy grants (JSON route)', async () => {
    const refused = await mint(custom, await user(custom, ['user', 'finance']), HANDBOOK);
    await assertProblem(refused, 403, 'forbidden');

    const control = await mint(standard, await user(standard, ['user']), HANDBOOK);
    assert.equal(control.status, 201);
  });

  test('the policy is given the signed-in user: without the finance role, reports/… is refused', async () => {
    const res = await mint(custom, await user(custom, ['user']), REPORT);
    await assertProblem(res, 403, 'forbidden');
  });

  test('the account page form follows the same policy: 303 to the link, or a 403 page', async () => {
    const finance = await user(custom, ['user', 'finance']);
    const granted = await form(custom, finance, REPORT);
    assert.equal(granted.status, 303);
    const location = new URL(granted.headers.get('location') ?? '');
    assert.equal(location.origin, DOWNLOAD_ORIGIN);
    assert.equal(location.pathname, `/files/${REPORT}`);
    const refused = await form(custom, finance, HANDBOOK);
    assert.equal(refused.status, 403);
    assert.equal(refused.headers.get('location'), null);
    assert.match(await refused.text(), /You may not download this file/);

    const control = await user(standard, ['user', 'finance']);
    assert.equal((await form(standard, control, REPORT)).status, 403);
    assert.equal((await form(standard, control, HANDBOOK)).status, 303);
  });

  test('the account page lists no public file the policy refuses', async () => {
    const finance = await user(custom, ['user', 'finance']);
    const page = await (await custom.request('/account', { cookie: finance })).text();
    assert.match(page, /id="files-heading">Files</);
    assert.equal(page.includes('handbook.txt'), false);

    const control = await user(standard, ['user']);
    assert.match(
      await (await standard.request('/account', { cookie: control })).text(),
      /handbook\.txt/,
    );
  });
});

// The same option through the real startServer, on PostgreSQL: the path that cannot use
// createServices (SQLite only), so a policy given there must reach openServices.
describe('a custom download policy (startServer options, PostgreSQL)', { timeout: 60_000 }, () => {
  test('startServer({ downloadPolicy }) grants and refuses by that policy', async (t) => {
    const root = mkdtempSync(join(tmpdir(), 'coatcheck-root-'));
    const dataDir = mkdtempSync(join(tmpdir(), 'coatcheck-server-'));
    const pg = await startPostgres();
    t.after(async () => {
      await pg.stop();
      rmSync(root, { recursive: true, force: true });
      rmSync(dataDir, { recursive: true, force: true });
    });
    const config = testConfig({ dataDir, databaseUrl: pg.url, download: downloadSettings(root) });
    const running = await startRealServer(config, {
      logger: createLogger({ level: 'silent' }),
      downloadPolicy: financePolicy,
      shutdownGraceMs: 1000,
    });
    t.after(() => running.close());
    const { services } = running;
    const { user: finance, issued } = await services.accounts.signup({
      email: 'finance@example.test',
      password: PW,
    });
    await services.users.update(finance.id, { roles: ['user', 'finance'] });
    const mintAs = (resource: string) =>
      fetch(`${running.url}/auth/download-tokens`, {
        method: 'POST',
        headers: {
          cookie: `${config.cookie.name}=${issued.token}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ resource }),
      });

    const granted = await mintAs(REPORT);
    assert.equal(granted.status, 201);
    assert.equal(decodeJwt(((await granted.json()) as { token: string }).token).resource, REPORT);
    await assertProblem(await mintAs(HANDBOOK), 403, 'forbidden');
  });
});
