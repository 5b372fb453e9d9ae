import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { ConfigError } from '../../src/core/errors.ts';
import { openSqliteDatabase } from '../../src/stores/sqlite-db.ts';
import { SqliteKeyStore } from '../../src/stores/sqlite-keys.ts';
import { createKeySeal, decodeKeysSecret } from '../../src/tokens/key-seal.ts';
import { type KeyStore, MemoryKeyStore } from '../../src/tokens/key-store.ts';
import { RETIREMENT_SECONDS, SigningKeys } from '../../src/tokens/keys.ts';
import { keyStoreContract } from './key-store-contract.ts';

// Signing keys: sealed at rest, one signer at a time, rotation with overlap, JWKS of public parts.

const SECRET = new Uint8Array(32).fill(7);
const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function sqliteStore(): { store: SqliteKeyStore; path: string } {
  const dir = mkdtempSync(join(tmpdir(), 'coatcheck-keys-'));
  dirs.push(dir);
  const path = join(dir, 'coatcheck.db');
  return { store: new SqliteKeyStore(openSqliteDatabase(path)), path };
}

keyStoreContract('memory', async () => ({ store: new MemoryKeyStore(), cleanup: async () => {} }));
keyStoreContract('sqlite', async () => ({ store: sqliteStore().store, cleanup: async () => {} }));

describe('key seal', () => {
  const der = new Uint8Array([48, 46, 2, 1, 0, 48, 5, 6, 3, 43, 101, 112]);

  test('a sealed key opens with the same secret and is not stored in the clear', () => {
    const seal = createKeySeal(SECRET);
    const sealed = seal.seal(der, 'kid1');
    assert.equal(sealed[0], 1);
    assert.equal(Buffer.from(sealed).includes(Buffer.from(der)), false);
    assert.deepEqual(new Uint8Array(seal.open(sealed, 'kid1')), der);
  });

  test('another secret, no secret, or the sealed bytes moved to another kid: ConfigError', () => {
    const sealed = createKeySeal(SECRET).seal(der, 'kid1');
    assert.throws(
      () => createKeySeal(new Uint8Array(32).fill(8)).open(sealed, 'kid1'),
      ConfigError,
    );
    assert.throws(() => createKeySeal(null).open(sealed, 'kid1'), /COATCHECK_KEYS_SECRET/);
    assert.throws(() => createKeySeal(SECRET).open(sealed, 'kid2'), ConfigError);
  });

  test('without a secret the key is stored plain, marked as such', () => {
    const seal = createKeySeal(null);
    assert.equal(seal.encrypted, false);
    const sealed = seal.seal(der, 'k');
    assert.equal(sealed[0], 0);
    assert.deepEqual(new Uint8Array(seal.open(sealed, 'k')), der);
  });

  test('secrets: 32+ bytes as hex or base64; shorter or garbage refused', () => {
    assert.equal(decodeKeysSecret('ab'.repeat(32))?.length, 32);
    assert.equal(decodeKeysSecret(Buffer.alloc(48, 1).toString('base64'))?.length, 48);
    assert.equal(decodeKeysSecret(Buffer.alloc(32, 250).toString('base64url'))?.length, 32);
    assert.equal(decodeKeysSecret('ab'.repeat(31)), null);
    assert.equal(decodeKeysSecret(Buffer.alloc(31).toString('base64')), null);
    assert.equal(decodeKeysSecret('not a secret at all, just words!'), null);
    assert.throws(() => createKeySeal(new Uint8Array(16)), ConfigError);
  });
});

for (const [name, makeStore] of [
  ['memory', () => new MemoryKeyStore()],
  ['sqlite', () => sqliteStore().store],
] as const) {
  describe(`SigningKeys on the ${name} key store`, () => {
    const setup = (store: KeyStore = makeStore()) => {
      const clock = { now: Date.now() };
      const keys = new SigningKeys({ store, seal: createKeySeal(SECRET), now: () => clock.now });
      return { keys, clock, store };
    };
    const verifyWith = async (jwks: Awaited<ReturnType<SigningKeys['jwks']>>, token: string) =>
      jwtVerify(token, createLocalJWKSet(jwks), { algorithms: ['EdDSA'], typ: 'test+jwt' });

    test('the first key is created on first use; the JWKS holds public parts only', async () => {
      const { keys } = setup();
      assert.deepEqual(await keys.list(), []);
      const jwks = await keys.jwks();
      assert.equal(jwks.keys.length, 1);
      const [jwk] = jwks.keys;
      assert.deepEqual(Object.keys(jwk ?? {}).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x']);
      assert.equal(jwk?.alg, 'EdDSA');
      assert.equal(jwk?.use, 'sig');
      assert.equal(jwk?.crv, 'Ed25519');
      assert.match(jwk?.kid ?? '', /^[A-Za-z0-9_-]{43}$/);
    });

    test('tokens carry alg EdDSA, typ and the kid, and verify against the JWKS', async () => {
      const { keys } = setup();
      const now = Math.floor(Date.now() / 1000);
      const token = await keys.sign({ sub: 'u', iat: now, exp: now + 60 }, { typ: 'test+jwt' });
      const header = decodeProtectedHeader(token);
      const jwks = await keys.jwks();
      assert.deepEqual(header, { alg: 'EdDSA', typ: 'test+jwt', kid: jwks.keys[0]?.kid });
      const { payload } = await verifyWith(jwks, token);
      assert.equal(payload.sub, 'u');
    });

    test('rotation: the new kid signs at once, the old key stays published until its tokens expired, then leaves', async () => {
      const { keys, clock } = setup();
      const iat = Math.floor(clock.now / 1000);
      const old = await keys.sign({ iat, exp: iat + 300 }, { typ: 'test+jwt' });
      const oldKid = decodeProtectedHeader(old).kid;
      const { kid: newKid, retireAt } = await keys.rotate();
      assert.notEqual(newKid, oldKid);
      assert.equal(retireAt, clock.now + RETIREMENT_SECONDS * 1000);

      const fresh = await keys.sign({ iat, exp: iat + 300 }, { typ: 'test+jwt' });
      assert.equal(decodeProtectedHeader(fresh).kid, newKid);
      const both = await keys.jwks();
      assert.deepEqual(both.keys.map((k) => k.kid).sort(), [newKid, oldKid].sort());
      await verifyWith(both, old); // minted before the rotation: still verifies
      await verifyWith(both, fresh);

      clock.now += 300_000; // the old token's exp: still published
      assert.equal((await keys.jwks()).keys.length, 2);
      clock.now += (RETIREMENT_SECONDS - 300) * 1000; // past the retirement
      const after = await keys.jwks();
      assert.deepEqual(
        after.keys.map((k) => k.kid),
        [newKid],
      );
      await assert.rejects(verifyWith(after, old), { code: 'ERR_JWKS_NO_MATCHING_KEY' });
      const listed = await keys.list();
      assert.equal(listed.find((k) => k.kid === oldKid)?.signing, false);
      assert.equal(listed.find((k) => k.kid === newKid)?.signing, true);
    });

    test('rotate({ revoke }): every earlier key leaves the JWKS at once and its tokens stop verifying', async () => {
      const { keys, clock } = setup();
      const iat = Math.floor(clock.now / 1000);
      const first = await keys.sign({ iat, exp: iat + 300 }, { typ: 'test+jwt' });
      await keys.rotate(); // retiring in RETIREMENT_SECONDS
      const second = await keys.sign({ iat, exp: iat + 300 }, { typ: 'test+jwt' });
      clock.now += 1000;
      const { kid, retireAt } = await keys.rotate({ revoke: true });
      assert.equal(retireAt, clock.now);
      const jwks = await keys.jwks();
      assert.deepEqual(
        jwks.keys.map((k) => k.kid),
        [kid],
      );
      for (const old of [first, second]) {
        await assert.rejects(verifyWith(jwks, old), { code: 'ERR_JWKS_NO_MATCHING_KEY' });
      }
      await verifyWith(jwks, await keys.sign({ iat, exp: iat + 300 }, { typ: 'test+jwt' }));
    });

    test('a second rotation deletes keys retired long ago', async () => {
      const { keys, clock } = setup();
      await keys.jwks();
      await keys.rotate();
      clock.now += (RETIREMENT_SECONDS + 1) * 1000;
      await keys.rotate();
      const listed = await keys.list();
      assert.equal(listed.length, 2);
      assert.equal(listed.filter((k) => k.signing).length, 1);
    });

    test('two processes creating the first key at once end up with one signer', async () => {
      const store = makeStore();
      const a = setup(store).keys;
      const b = setup(store).keys;
      await Promise.all([a.jwks(), b.jwks(), a.check(), b.check()]);
      const listed = await a.list();
      assert.equal(listed.filter((k) => k.signing).length, 1);
      assert.equal(await a.check(), await b.check());
    });
  });
}

describe('SQLite key store at rest', () => {
  test('the private key in the file is sealed: the wrong secret refuses to sign', async () => {
    const { store } = sqliteStore();
    const keys = new SigningKeys({ store, seal: createKeySeal(SECRET) });
    const kid = await keys.check();
    const [record] = await store.list();
    assert.equal(record?.kid, kid);
    assert.equal(record?.privateKey[0], 1);
    const wrong = new SigningKeys({ store, seal: createKeySeal(new Uint8Array(32).fill(9)) });
    await assert.rejects(wrong.check(), ConfigError);
    const none = new SigningKeys({ store, seal: createKeySeal(null) });
    await assert.rejects(none.sign({}, { typ: 'x+jwt' }), /COATCHECK_KEYS_SECRET/);
  });
});
