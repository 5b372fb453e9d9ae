import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryAuditLog, MemorySessionStore, MemoryUserStore } from '../../src/stores/memory.ts';
import {
  auditLogContract,
  makeSession,
  sessionStoreContract,
  userStoreContract,
  userStoreRaceContract,
} from './contract.ts';

sessionStoreContract('memory', async () => {
  const store = new MemorySessionStore();
  return { store, cleanup: () => store.close() };
});
userStoreContract('memory', async () => ({
  store: new MemoryUserStore(),
  cleanup: async () => {},
}));
userStoreRaceContract('memory', async () => {
  const store = new MemoryUserStore();
  return { store: [store, store] as const, cleanup: async () => {} };
});
auditLogContract('memory', async () => ({ store: new MemoryAuditLog(), cleanup: async () => {} }));

describe('MemorySessionStore', () => {
  it('judges expiry by the injected clock, so engine tests need no fake timers', async () => {
    let now = 1_000;
    const store = new MemorySessionStore({ now: () => now });
    const { record } = makeSession('alice', { createdAt: 0, lastSeenAt: 0, expiresAt: 2_000 });
    await store.create(record);
    assert.equal((await store.get(record.id))?.id, record.id);
    now = 2_000;
    assert.equal(await store.get(record.id), null);
  });

  it('is not changed by later edits to the object or hash bytes it was given', async () => {
    const store = new MemorySessionStore();
    const { record } = makeSession('alice');
    const hash = new Uint8Array(record.secretHash);
    const mutable = { ...record, secretHash: hash };
    await store.create(mutable);
    hash.fill(0);
    mutable.userId = 'mallory';
    const got = await store.get(record.id);
    assert.deepEqual([...(got?.secretHash ?? [])], [...record.secretHash]);
    assert.equal(got?.userId, 'alice');
    assert.ok(Object.isFrozen(got));
  });

  it('refuses calls after close with store_unavailable (get synchronously)', async () => {
    const store = new MemorySessionStore();
    await store.close();
    assert.throws(() => store.get('x'), { code: 'store_unavailable' });
    await assert.rejects(store.listByUser('u'), { code: 'store_unavailable' });
  });
});

describe('MemoryUserStore', () => {
  it('ignores fields a patch may not change, such as id and email', async () => {
    const users = new MemoryUserStore();
    const now = Date.now();
    const user = {
      id: 'u1',
      email: 'ada@example.com',
      name: null,
      roles: ['user'],
      locked: false,
      passwordHash: 'h',
      passwordChangedAt: now,
      createdAt: now,
    };
    await users.create(user);
    const patch = { locked: true, email: 'evil@example.com', id: 'u2' } as Parameters<
      MemoryUserStore['update']
    >[1];
    assert.deepEqual({ ...(await users.update('u1', patch)) }, { ...user, locked: true });
  });
});

describe('MemoryAuditLog', () => {
  it('keeps at most maxEvents, dropping the oldest', async () => {
    const log = new MemoryAuditLog({ maxEvents: 3 });
    for (let at = 1; at <= 5; at++) {
      await log.record({
        type: 'logout',
        at,
        userId: null,
        ip: null,
        sessionId: null,
        detail: null,
      });
    }
    assert.deepEqual(
      (await log.list({ limit: 10 })).map((e) => e.at),
      [5, 4, 3],
    );
  });
});
