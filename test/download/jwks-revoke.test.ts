import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createDownloadVerifier } from '../../src/download/verify.ts';
import { issueDownloadToken } from '../../src/tokens/download.ts';
import { createKeySeal } from '../../src/tokens/key-seal.ts';
import { MemoryKeyStore } from '../../src/tokens/key-store.ts';
import { SigningKeys } from '../../src/tokens/keys.ts';
import { AUDIENCE, ISSUER, user } from './fixture.ts';

// A key revoked on the app (`coatcheck keys rotate --revoke`) leaves its JWKS at once; a download
// server holding the set it fetched before refuses that key's tokens once its copy is older than
// `jwksCacheMaxAgeMs` (60 s by default, the JWKS's max-age), not after jose's default 10 minutes.

describe('download verifier and a revoked signing key', () => {
  const keys = new SigningKeys({ store: new MemoryKeyStore(), seal: createKeySeal(null) });
  const jwks = createServer(async (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(await keys.jwks()));
  });
  let jwksUrl = '';
  before(async () => {
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`;
  });
  after(() => new Promise((resolve) => jwks.close(resolve)));

  const mint = () =>
    issueDownloadToken(keys, {
      issuer: ISSUER,
      downloadUrl: new URL(AUDIENCE),
      user,
      sessionId: 'sid',
      resource: 'users/u1/report.txt',
    });

  test('refuses the revoked key once its cached key set is older than jwksCacheMaxAgeMs', async () => {
    const maxAgeMs = 300;
    const verifier = createDownloadVerifier({
      jwksUrl,
      jwksCacheMaxAgeMs: maxAgeMs,
      issuer: ISSUER,
      audience: AUDIENCE,
    });
    const leaked = await mint();
    assert.equal((await verifier.verify(leaked.token)).ok, true); // fetched and cached
    await keys.rotate({ revoke: true });
    await sleep(maxAgeMs + 100);
    assert.deepEqual(await verifier.verify(leaked.token), {
      ok: false,
      status: 401,
      reason: 'jwks_no_matching_key',
    });
    // The new key's tokens verify (the refetched set has it).
    assert.equal((await verifier.verify((await mint()).token)).ok, true);
  });

  test('by default keeps a fetched key set for 60 s (the JWKS max-age), not 10 minutes', async (t) => {
    const verifier = createDownloadVerifier({ jwksUrl, issuer: ISSUER, audience: AUDIENCE });
    const leaked = await mint();
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() }); // jose dates its copy with Date.now
    assert.equal((await verifier.verify(leaked.token)).ok, true); // fetched and cached
    await keys.rotate({ revoke: true });
    t.mock.timers.tick(59_000);
    assert.equal((await verifier.verify(leaked.token)).ok, true, 'the cached copy, within 60 s');
    t.mock.timers.tick(2000);
    assert.equal((await verifier.verify(leaked.token)).ok, false, 'refetched after 60 s');
  });
});
