import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '../../src/core/errors.ts';
import { createKeySeal, isEncryptedKey } from '../../src/tokens/key-seal.ts';
import { MemoryKeyStore } from '../../src/tokens/key-store.ts';
import { SigningKeys } from '../../src/tokens/keys.ts';

// rotate() never leaves a signing key that the processes sharing the store cannot open, unless
// told the change is meant (`reseal`): the pure tier of test/cli/keys-seal.test.ts.

const secretA = new Uint8Array(32).fill(1);
const secretB = new Uint8Array(32).fill(2);
const keysOver = (store: MemoryKeyStore, secret: Uint8Array | null) =>
  new SigningKeys({ store, seal: createKeySeal(secret) });

async function signingRecord(store: MemoryKeyStore) {
  const record = (await store.list()).find((r) => r.expiresAt === null);
  assert.ok(record);
  return record;
}

describe('SigningKeys.rotate and the seal of the current key', () => {
  test('a secret beside a key stored in the clear: ConfigError, nothing changed', async () => {
    const store = new MemoryKeyStore();
    const kid = await keysOver(store, null).check();
    await assert.rejects(keysOver(store, secretA).rotate(), ConfigError);
    assert.equal((await signingRecord(store)).kid, kid);
    assert.equal((await store.list()).length, 1);
  });

  test('reseal: the new key is encrypted, the clear one retired', async () => {
    const store = new MemoryKeyStore();
    const old = await keysOver(store, null).check();
    const { kid, unopened } = await keysOver(store, secretA).rotate({ reseal: true });
    assert.equal(unopened, null);
    assert.equal(isEncryptedKey((await signingRecord(store)).privateKey), true);
    assert.equal(await keysOver(store, secretA).check(), kid);
    assert.ok((await store.list()).some((r) => r.kid === old && r.expiresAt !== null));
  });

  test('reseal after a lost secret: the key that does not open is retired and reported', async () => {
    const store = new MemoryKeyStore();
    const lost = await keysOver(store, secretA).check();
    await assert.rejects(keysOver(store, secretB).rotate(), /does not open/);
    await assert.rejects(keysOver(store, null).rotate(), /is encrypted/);
    const { kid, unopened } = await keysOver(store, secretB).rotate({ reseal: true });
    assert.equal(unopened, lost);
    assert.equal(await keysOver(store, secretB).check(), kid);
  });
});
