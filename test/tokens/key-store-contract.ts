import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import type { KeyStore, SigningKeyRecord } from '../../src/tokens/key-store.ts';

/**
 * What every KeyStore must do, run against a real backend per store: records round-trip, the
 * first key is created once however many nodes race, and rotation retires, inserts and prunes in
 * one step.
 */

let counter = 0;

/** A signing key record with random bytes (no real key: stores never look inside). */
export function makeKey(overrides: Partial<SigningKeyRecord> = {}): SigningKeyRecord {
  const createdAt = 1_700_000_000_000 + ++counter * 1000;
  return {
    kid: `kid-${counter}-${randomBytes(4).toString('hex')}`,
    alg: 'EdDSA',
    publicJwk: { kty: 'OKP', crv: 'Ed25519', x: randomBytes(32).toString('base64url') },
    privateKey: new Uint8Array(randomBytes(49)),
    createdAt,
    notBefore: createdAt,
    expiresAt: null,
    ...overrides,
  };
}

/** Registers the contract for one store. */
export function keyStoreContract(
  name: string,
  open: () => Promise<{ store: KeyStore; cleanup: () => Promise<void> }>,
): void {
  describe(`KeyStore contract: ${name}`, () => {
    const withStore = (fn: (store: KeyStore) => Promise<void>) => async () => {
      const { store, cleanup } = await open();
      try {
        await fn(store);
      } finally {
        await cleanup();
      }
    };

    test(
      'a record round-trips byte for byte',
      withStore(async (store) => {
        assert.deepEqual(await store.list(), []);
        const key = makeKey();
        assert.equal(await store.addFirst(key), true);
        const [read] = await store.list();
        assert.deepEqual(
          { ...read, privateKey: [...(read?.privateKey ?? [])] },
          {
            ...key,
            privateKey: [...key.privateKey],
          },
        );
      }),
    );

    test(
      'the first key is added once, however many nodes race to add it',
      withStore(async (store) => {
        const results = await Promise.all(
          Array.from({ length: 6 }, () => store.addFirst(makeKey())),
        );
        assert.equal(results.filter(Boolean).length, 1);
        assert.equal((await store.list()).length, 1);
        assert.equal(await store.addFirst(makeKey()), false);
      }),
    );

    test(
      'rotate retires the signing key, adds the new one and prunes keys retired by now',
      withStore(async (store) => {
        const first = makeKey();
        await store.addFirst(first);
        const second = makeKey();
        await store.rotate(second, { retireAt: second.createdAt + 360_000, now: second.createdAt });
        let keys = await store.list();
        assert.deepEqual(
          keys.map((k) => [k.kid, k.expiresAt]),
          [
            [second.kid, null],
            [first.kid, second.createdAt + 360_000],
          ],
        );
        const third = makeKey({ createdAt: second.createdAt + 400_000 });
        await store.rotate(third, { retireAt: third.createdAt + 360_000, now: third.createdAt });
        keys = await store.list();
        assert.deepEqual(
          keys.map((k) => k.kid),
          [third.kid, second.kid],
        );
        assert.equal(keys.filter((k) => k.expiresAt === null).length, 1);
      }),
    );

    test(
      'rotate brings forward a retirement that would come later, and never postpones one',
      withStore(async (store) => {
        const first = makeKey();
        await store.addFirst(first);
        const second = makeKey({ createdAt: first.createdAt + 1000 });
        await store.rotate(second, { retireAt: second.createdAt + 360_000, now: second.createdAt });
        // Sooner than first's retirement (a revocation asks for now).
        const third = makeKey({ createdAt: second.createdAt + 1000 });
        const soon = third.createdAt + 10_000;
        await store.rotate(third, { retireAt: soon, now: third.createdAt });
        assert.deepEqual(
          (await store.list()).map((k) => [k.kid, k.expiresAt]),
          [
            [third.kid, null],
            [second.kid, soon],
            [first.kid, soon],
          ],
        );
        const fourth = makeKey({ createdAt: third.createdAt + 1000 });
        const later = fourth.createdAt + 360_000;
        await store.rotate(fourth, { retireAt: later, now: fourth.createdAt });
        assert.deepEqual(
          (await store.list()).map((k) => [k.kid, k.expiresAt]),
          [
            [fourth.kid, null],
            [third.kid, later],
            [second.kid, soon],
            [first.kid, soon],
          ],
        );
      }),
    );

    test(
      'concurrent rotations leave exactly one signing key',
      withStore(async (store) => {
        await store.addFirst(makeKey());
        await Promise.all(
          Array.from({ length: 4 }, () => {
            const key = makeKey();
            return store.rotate(key, { retireAt: key.createdAt + 360_000, now: key.createdAt });
          }),
        );
        const keys = await store.list();
        assert.equal(keys.length, 5);
        assert.equal(keys.filter((k) => k.expiresAt === null).length, 1);
      }),
    );
  });
}
