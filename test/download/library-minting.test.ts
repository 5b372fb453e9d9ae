import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { SessionEngine } from '../../src/core/engine.ts';
import {
  createDownloadServer,
  createKeySeal,
  issueDownloadToken,
  MemoryKeyStore,
  SigningKeys,
} from '../../src/download/index.ts';
import { openSqliteStores, SqliteKeyStore } from '../../src/stores/sqlite.ts';

// An app built on the library (no Coatcheck server) mints download tokens with the exports of
// coatcheck/download and coatcheck/sqlite, publishes its JWKS, and a download server that knows
// only that key set serves the file once.

const dir = mkdtempSync(join(tmpdir(), 'coatcheck-library-minting-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const root = join(dir, 'files');
mkdirSync(join(root, 'users', 'u1'), { recursive: true });
writeFileSync(join(root, 'users', 'u1', 'report.txt'), 'the report');

const ISSUER = 'https://app.example.test';
const AUDIENCE = 'https://files.example.test';
const user = { id: 'u1', email: 'ada@example.test', name: null, roles: ['user'], locked: false };

test('an app on the library mints a download token its download server accepts once', async () => {
  const stores = openSqliteStores(join(dir, 'app.db'));
  after(() => stores.close());
  await stores.users.create({ ...user, passwordHash: 'x', passwordChangedAt: 0, createdAt: 0 });
  const engine = new SessionEngine({ store: stores.sessions, users: stores.users });
  const { session } = await engine.create(user);
  // Private keys sealed at rest with the app's secret, in the app's own SQLite file.
  const keys = new SigningKeys({
    store: new SqliteKeyStore(stores.db),
    seal: createKeySeal(randomBytes(32)),
  });
  const jwks = await keys.jwks(); // what the app serves at /.well-known/jwks.json
  const grant = await issueDownloadToken(keys, {
    issuer: ISSUER,
    downloadUrl: new URL(AUDIENCE),
    user,
    sessionId: session.id,
    resource: 'users/u1/report.txt',
  });
  assert.equal(grant.url, `${AUDIENCE}/files/users/u1/report.txt?token=${grant.token}`);

  const files = createDownloadServer({ root, issuer: ISSUER, audience: AUDIENCE, keys: jwks });
  after(() => files.close());
  const first = await files.fetch(new Request(grant.url));
  assert.equal(first.status, 200);
  assert.equal(await first.text(), 'the report');
  const second = await files.fetch(new Request(grant.url));
  assert.equal(second.status, 401, 'single use');
});

test('a token signed by keys the download server does not publish is refused', async () => {
  const other = new SigningKeys({ store: new MemoryKeyStore(), seal: createKeySeal(null) });
  const trusted = new SigningKeys({ store: new MemoryKeyStore(), seal: createKeySeal(null) });
  const files = createDownloadServer({
    root,
    issuer: ISSUER,
    audience: AUDIENCE,
    keys: await trusted.jwks(),
  });
  after(() => files.close());
  const grant = await issueDownloadToken(other, {
    issuer: ISSUER,
    downloadUrl: new URL(AUDIENCE),
    user,
    sessionId: 's1',
    resource: 'users/u1/report.txt',
  });
  assert.equal((await files.fetch(new Request(grant.url))).status, 401);
});
