import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { decodeProtectedHeader } from 'jose';
import postgres from 'postgres';
import { openPostgresStores } from '../../src/stores/postgres.ts';
import { PostgresKeyStore } from '../../src/stores/postgres-keys.ts';
import { createKeySeal } from '../../src/tokens/key-seal.ts';
import { SigningKeys } from '../../src/tokens/keys.ts';
import { startPostgres } from '../support/postgres.ts';
import { keyStoreContract } from '../tokens/key-store-contract.ts';

// The signing keys in PostgreSQL (the `signing_keys` table of migration v1), against a real
// throwaway cluster: the key store contract, then signing and rotation across two nodes.

const server = await startPostgres();
const admin = postgres(server.url, { max: 2, onnotice: () => {} });
after(async () => {
  await admin.end({ timeout: 1 });
  await server.stop();
});

let schemas = 0;
/** Opened stores on a new, empty schema. */
async function openFresh() {
  const schema = `k${++schemas}_${process.pid}`;
  await admin.unsafe(`CREATE SCHEMA ${schema}`);
  return openPostgresStores(`${server.url}?search_path=${schema}`);
}

keyStoreContract('postgres', async () => {
  const stores = await openFresh();
  return { store: new PostgresKeyStore(stores.sql), cleanup: () => stores.close() };
});

describe('SigningKeys on PostgreSQL', () => {
  it('two nodes sign with one key; a rotation by one is used by the other at once', async () => {
    const stores = await openFresh();
    try {
      const seal = createKeySeal(new Uint8Array(32).fill(1));
      const a = new SigningKeys({ store: new PostgresKeyStore(stores.sql), seal });
      const b = new SigningKeys({ store: new PostgresKeyStore(stores.sql), seal });
      const [kidA, kidB] = await Promise.all([a.check(), b.check()]);
      assert.equal(kidA, kidB);
      const { kid } = await a.rotate();
      const token = await b.sign({}, { typ: 'x+jwt' });
      assert.equal(decodeProtectedHeader(token).kid, kid);
      assert.deepEqual((await b.jwks()).keys.map((k) => k.kid).sort(), [kid, kidA].sort());
      const [row] = await stores.sql`SELECT private_key FROM signing_keys WHERE kid = ${kid}`;
      assert.ok(row);
      assert.equal((row.private_key as Buffer)[0], 1); // sealed (AES-256-GCM), not plain
    } finally {
      await stores.close();
    }
  });
});
