import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import type { SessionUser } from '../../src/core/store.ts';
import { DOWNLOAD_TOKEN_TYPE, issueDownloadToken } from '../../src/tokens/download.ts';
import { IDENTITY_TOKEN_TYPE, issueIdentityToken } from '../../src/tokens/identity.ts';
import { createKeySeal } from '../../src/tokens/key-seal.ts';
import { MemoryKeyStore } from '../../src/tokens/key-store.ts';
import { SigningKeys } from '../../src/tokens/keys.ts';
import { ownFolderPolicy, resourceSegments } from '../../src/tokens/resource.ts';

// Minting: what the app signs, for whom, for how long. Verification is in test/download/.

const user: SessionUser = {
  id: 'u1AbC',
  email: 'ada@example.test',
  name: null,
  roles: ['user'],
  locked: false,
};
const keys = new SigningKeys({ store: new MemoryKeyStore(), seal: createKeySeal(null) });
const downloadUrl = new URL('https://files.example.test');

describe('resources (checked at issue time and where they are served)', () => {
  test('plain relative paths are resources', () => {
    assert.deepEqual(resourceSegments('users/u1/report.pdf'), ['users', 'u1', 'report.pdf']);
    assert.deepEqual(resourceSegments('public/Jörg’s notes (1).txt'), [
      'public',
      'Jörg’s notes (1).txt',
    ]);
  });

  for (const bad of [
    '../etc/passwd',
    'users/u1/../../etc/passwd',
    'users/./u1/a',
    '/etc/passwd',
    'users//a',
    'users/u1/',
    'users\\u1\\a',
    '..\\a',
    'a\u0000b',
    'a\nb',
    '',
    'x'.repeat(1025),
  ]) {
    test(`refuses ${JSON.stringify(bad.slice(0, 30))}`, () => {
      assert.equal(resourceSegments(bad), null);
    });
  }

  test('non-strings are refused', () => {
    for (const bad of [null, undefined, 1, ['a'], { a: 1 }])
      assert.equal(resourceSegments(bad), null);
  });

  test('default policy: the own folder and public/, never another user or the root', () => {
    const allows = (resource: string) => ownFolderPolicy({ user, resource });
    assert.equal(allows('users/u1AbC/a.txt'), true);
    assert.equal(allows('users/u1AbC/deep/b.txt'), true);
    assert.equal(allows('public/c.txt'), true);
    assert.equal(allows('users/other/a.txt'), false);
    assert.equal(allows('users/u1AbCD/a.txt'), false); // a prefix of another id
    assert.equal(allows('secret.txt'), false);
    assert.equal(allows('publicity/a.txt'), false);
  });
});

describe('issueDownloadToken', () => {
  const issue = (over: Partial<Parameters<typeof issueDownloadToken>[1]> = {}) =>
    issueDownloadToken(keys, {
      issuer: 'https://app.example.test',
      downloadUrl,
      user,
      sessionId: 'sess1',
      resource: 'users/u1AbC/r é.pdf',
      ...over,
    });

  test('an EdDSA JWT with typ download+jwt, kid, and every claim; the URL names the file', async () => {
    const grant = await issue();
    const header = decodeProtectedHeader(grant.token);
    assert.equal(header.alg, 'EdDSA');
    assert.equal(header.typ, DOWNLOAD_TOKEN_TYPE);
    assert.equal(typeof header.kid, 'string');
    const claims = decodeJwt(grant.token);
    assert.deepEqual(Object.keys(claims).sort(), [
      'aud',
      'exp',
      'iat',
      'iss',
      'jti',
      'resource',
      'sid',
      'sub',
    ]);
    assert.equal(claims.iss, 'https://app.example.test');
    assert.equal(claims.aud, 'https://files.example.test');
    assert.equal(claims.sub, 'u1AbC');
    assert.equal(claims.sid, 'sess1');
    assert.equal(claims.resource, 'users/u1AbC/r é.pdf');
    assert.equal((claims.exp ?? 0) - (claims.iat ?? 0), 120);
    assert.equal(grant.expiresAt, new Date((claims.exp ?? 0) * 1000).toISOString());
    assert.equal(
      grant.url,
      `https://files.example.test/files/users/u1AbC/r%20%C3%A9.pdf?token=${grant.token}`,
    );
    await jwtVerify(grant.token, createLocalJWKSet(await keys.jwks()), {
      algorithms: ['EdDSA'],
      typ: DOWNLOAD_TOKEN_TYPE,
      audience: 'https://files.example.test',
    });
  });

  test('the lifetime is capped at 300 s whatever is asked', async () => {
    const claims = decodeJwt((await issue({ ttlSeconds: 86_400 })).token);
    assert.equal((claims.exp ?? 0) - (claims.iat ?? 0), 300);
  });

  test('jti: 128 random bits, never repeated', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 50; i++) ids.add(String(decodeJwt((await issue()).token).jti));
    assert.equal(ids.size, 50);
    for (const id of ids) assert.equal(Buffer.from(id, 'base64url').length, 16);
  });

  test('an unsafe resource is never signed', async () => {
    await assert.rejects(issue({ resource: '../x' }), TypeError);
  });
});

describe('issueIdentityToken', () => {
  test('a 60 s EdDSA JWT with typ identity+jwt for the configured audience', async () => {
    const token = await issueIdentityToken(keys, {
      issuer: 'https://app.example.test',
      audience: 'https://internal.example.test',
      user,
      sessionId: 's',
    });
    assert.equal(decodeProtectedHeader(token).typ, IDENTITY_TOKEN_TYPE);
    const { payload } = await jwtVerify(token, createLocalJWKSet(await keys.jwks()), {
      algorithms: ['EdDSA'],
      typ: IDENTITY_TOKEN_TYPE,
      audience: 'https://internal.example.test',
      issuer: 'https://app.example.test',
    });
    assert.equal(payload.sub, user.id);
    assert.equal(payload.email, user.email);
    assert.deepEqual(payload.roles, ['user']);
    assert.equal((payload.exp ?? 0) - (payload.iat ?? 0), 60);
  });
});
