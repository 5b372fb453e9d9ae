import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SessionEngine } from '../../src/core/engine.ts';
import { StoreUnavailableError } from '../../src/core/errors.ts';
import { LocalInvalidationFeed, NearCache } from '../../src/core/near-cache.ts';
import type { SessionUser } from '../../src/core/store.ts';
import {
  openSqliteDatabase,
  openSqliteStores,
  type SqliteStores,
} from '../../src/stores/sqlite.ts';
import { walChangeProbe } from '../../src/stores/sqlite-changes.ts';
import { nextTurn } from '../support/next-turn.ts';
import { inAnotherProcess } from '../support/sqlite-process.ts';
import { makeSession, makeUser } from './contract.ts';

const root = mkdtempSync(join(tmpdir(), 'coatcheck-sqlite-changes-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** The header read on every call: these tests are of what it says, not of when it is read. */
const EVERY_CALL = { rereadAfterMs: 0 };

function freshPath(): string {
  return join(mkdtempSync(join(root, 't-')), 'coatcheck.db');
}

describe('walChangeProbe', () => {
  it('answers true first, then only after a commit by this or any other connection or process', () => {
    const path = freshPath();
    const db = openSqliteDatabase(path);
    const other = openSqliteDatabase(path);
    try {
      const probe = walChangeProbe(db, EVERY_CALL);
      assert.ok(probe);
      assert.equal(probe.changed(), true, 'nothing seen yet');
      assert.equal(probe.changed(), false);
      db.exec('CREATE TABLE t (x INTEGER)');
      assert.equal(probe.changed(), true, 'own connection');
      assert.equal(probe.changed(), false);
      other.exec('INSERT INTO t VALUES (1)');
      assert.equal(probe.changed(), true, 'another connection');
      other.prepare('SELECT * FROM t').all();
      db.prepare('SELECT * FROM t').all();
      assert.equal(probe.changed(), false, 'reads are no change');
      inAnotherProcess(path, 'UPDATE t SET x = 2');
      assert.equal(probe.changed(), true, 'another process');
      assert.equal(probe.changed(), false);
      other.exec('BEGIN; UPDATE t SET x = 3; ROLLBACK');
      assert.equal(probe.changed(), false, 'a rolled-back transaction commits nothing');
      // Checkpoints move the WAL into the file and restart it: later commits are still seen.
      other.exec('PRAGMA wal_checkpoint(TRUNCATE)');
      probe.changed();
      for (let i = 0; i < 50; i++) {
        other.exec(`UPDATE t SET x = ${i}`);
        assert.equal(probe.changed(), true, `commit ${i} after the checkpoint`);
        if (i % 10 === 0) other.exec('PRAGMA wal_checkpoint(RESTART)');
      }
    } finally {
      other.close();
      db.close();
    }
  });

  it('takes a header caught between its two copies for a change, and does not remember it', () => {
    const path = freshPath();
    const db = openSqliteDatabase(path);
    const shm = openSync(`${path}-shm`, 'r+');
    try {
      const probe = walChangeProbe(db, EVERY_CALL);
      assert.ok(probe);
      probe.changed();
      assert.equal(probe.changed(), false);
      // A writer updates the second copy, then the first: here it has written only the second.
      const word = Buffer.alloc(4);
      readSync(shm, word, 0, 4, 8); // iChange of the first copy
      word.writeInt32LE(word.readInt32LE(0) + 1);
      writeSync(shm, word, 0, 4, 48 + 8);
      assert.equal(probe.changed(), true, 'the copies differ');
      assert.equal(probe.changed(), true, 'still differ: nothing was remembered');
      writeSync(shm, word, 0, 4, 8);
      assert.equal(probe.changed(), true, 'both copies new: a change');
      assert.equal(probe.changed(), false);
    } finally {
      db.close(); // first: closing a descriptor drops this process's locks on the file
      closeSync(shm);
    }
  });

  it('offers nothing where the index is not a shared file: in memory, rollback journal, exclusive lock', () => {
    assert.equal(walChangeProbe(openSqliteDatabase(':memory:')), null);
    const { DatabaseSync } = process.getBuiltinModule('node:sqlite');
    const journal = new DatabaseSync(freshPath());
    journal.exec('PRAGMA journal_mode = DELETE; CREATE TABLE t (x)');
    assert.equal(walChangeProbe(journal), null);
    journal.close();
    const exclusive = openSqliteDatabase(freshPath());
    exclusive.exec('PRAGMA locking_mode = EXCLUSIVE');
    assert.equal(walChangeProbe(exclusive), null);
    exclusive.close();
  });

  it('keeps working for a database deleted and created again at the same path', () => {
    const path = freshPath();
    const first = openSqliteDatabase(path);
    walChangeProbe(first, EVERY_CALL)?.changed();
    first.close();
    rmSync(path);
    rmSync(`${path}-wal`, { force: true });
    rmSync(`${path}-shm`, { force: true });
    const second = openSqliteDatabase(path);
    try {
      const probe = walChangeProbe(second, EVERY_CALL);
      assert.ok(probe);
      probe.changed();
      inAnotherProcess(path, 'CREATE TABLE t (x)');
      assert.equal(probe.changed(), true, 'reads the new -shm, not the deleted one');
    } finally {
      second.close();
    }
  });
});

describe('engine near cache on the SQLite store (the change probe)', () => {
  async function fixture(): Promise<{
    path: string;
    stores: SqliteStores;
    engine: SessionEngine;
    user: SessionUser;
    token: string;
    sessionId: string;
  }> {
    const path = freshPath();
    const stores = openSqliteStores(path);
    const record = makeUser({ roles: ['admin'] });
    await stores.users.create(record);
    const engine = new SessionEngine({ store: stores.sessions, users: stores.users });
    const user = { ...record, roles: [...record.roles] };
    const { token, session } = await engine.create(user);
    return { path, stores, engine, user, token, sessionId: session.id };
  }

  it('is on by default, serves repeated validations without a store read, and is off with false', async () => {
    const { stores, engine, user, token } = await fixture();
    try {
      assert.ok(engine.nearCache);
      const first = await engine.validate(token);
      const second = await engine.validate(token);
      assert.ok(first.ok && second.ok);
      // A store read builds new objects; a cache hit hands out the very ones it holds.
      assert.equal(second.session, first.session);
      assert.deepEqual(second.user.roles, user.roles);
      const off = new SessionEngine({
        store: stores.sessions,
        users: stores.users,
        nearCache: false,
      });
      assert.equal(off.nearCache, null);
      const a = await off.validate(token);
      const b = await off.validate(token);
      assert.ok(a.ok && b.ok);
      assert.notEqual(b.session, a.session);
    } finally {
      await stores.close();
    }
  });

  it('gives each engine on one store its own probe: a change seen by one is not lost to the other', async () => {
    const { path, stores, engine, token, sessionId } = await fixture();
    const second = new SessionEngine({ store: stores.sessions, users: stores.users });
    try {
      assert.ok(second.nearCache);
      for (const e of [engine, second, engine, second]) assert.ok((await e.validate(token)).ok);
      inAnotherProcess(path, `DELETE FROM sessions WHERE id = '${sessionId}'`);
      assert.equal((await engine.validate(token)).ok, false);
      assert.equal((await second.validate(token)).ok, false);
    } finally {
      await stores.close();
    }
  });

  it('serves nothing from the cache once the store is closed: the next validate fails closed', async () => {
    const { path, stores, engine, token, sessionId } = await fixture();
    for (let i = 0; i < 3; i++) assert.ok((await engine.validate(token)).ok);
    await stores.close();
    inAnotherProcess(path, `DELETE FROM sessions WHERE id = '${sessionId}'`);
    await assert.rejects(engine.validate(token), StoreUnavailableError);
  });

  it('is off when the users live elsewhere (the probe would not see their changes) and in memory', async () => {
    const path = freshPath();
    const stores = openSqliteStores(path);
    const elsewhere = openSqliteStores(freshPath());
    const inMemory = openSqliteStores(':memory:');
    try {
      const apart = new SessionEngine({ store: stores.sessions, users: elsewhere.users });
      assert.equal(apart.nearCache, null);
      const memory = new SessionEngine({ store: inMemory.sessions, users: inMemory.users });
      assert.equal(memory.nearCache, null);
    } finally {
      await Promise.all([stores.close(), elsewhere.close(), inMemory.close()]);
    }
  });

  /** Validates thrice (cached), runs `sql` in another process, and expects `reason` next. */
  async function refusedAfter(
    sql: (sessionId: string, userId: string) => string,
    reason: string,
  ): Promise<void> {
    const { path, stores, engine, user, token, sessionId } = await fixture();
    try {
      for (let i = 0; i < 3; i++) assert.ok((await engine.validate(token)).ok);
      inAnotherProcess(path, sql(sessionId, user.id));
      const refused = await engine.validate(token);
      assert.equal(refused.ok, false);
      assert.equal(refused.ok === false && refused.reason, reason);
    } finally {
      await stores.close();
    }
  }

  it('refuses a session revoked by another process on the very next validate', () =>
    refusedAfter((id) => `DELETE FROM sessions WHERE id = '${id}'`, 'unknown'));

  it('refuses a session locked by another process on the very next validate', () =>
    refusedAfter(
      (_, userId) => `UPDATE users SET locked = 1 WHERE id = '${userId}'`,
      'user_locked',
    ));

  it('sees a role removed by another process on the very next validate', async () => {
    const { path, stores, engine, user, token } = await fixture();
    try {
      const before = await engine.validate(token);
      assert.ok(before.ok && before.user.roles.includes('admin'));
      inAnotherProcess(path, `UPDATE users SET roles = '["user"]' WHERE id = '${user.id}'`);
      const after = await engine.validate(token);
      assert.ok(after.ok);
      assert.deepEqual(after.user.roles, ['user']);
    } finally {
      await stores.close();
    }
  });

  it('never serves a stale entry under interleaved writes from another connection', async () => {
    const { path, stores, engine, user, token, sessionId } = await fixture();
    const other = openSqliteDatabase(path);
    try {
      const setRoles = other.prepare('UPDATE users SET roles = ?1 WHERE id = ?2');
      for (let i = 0; i < 200; i++) {
        const role = `role-${i}`;
        if (i % 3 === 0) setRoles.run(JSON.stringify([role]), user.id);
        await nextTurn(); // the next request
        const result = await engine.validate(token);
        assert.ok(result.ok);
        const stored = other.prepare('SELECT roles FROM users WHERE id = ?1').get(user.id);
        assert.deepEqual(result.user.roles, JSON.parse(String(stored?.roles)), `round ${i}`);
      }
      other.prepare('DELETE FROM sessions WHERE id = ?1').run(sessionId);
      await nextTurn();
      assert.equal((await engine.validate(token)).ok, false);
    } finally {
      other.close();
      await stores.close();
    }
  });
});

describe('NearCache with a probe', () => {
  const { record: session } = makeSession('u1', { id: 's1' });
  const user = { id: 'u1', email: 'a@example.com', name: null, roles: [], locked: false };

  it('empties on a change, keeps no read that raced one, and serves nothing while the probe throws', () => {
    let answer: boolean | 'throw' = false;
    const cache = new NearCache({
      probe: {
        changed() {
          if (answer === 'throw') throw new Error('EIO');
          return answer;
        },
      },
    });
    assert.equal(cache.get('s1', 0), undefined);
    cache.fill(cache.epoch(), { ...session }, user, 0);
    assert.ok(cache.get('s1', 0), 'served while unchanged');
    answer = true;
    const epoch = cache.epoch();
    assert.equal(cache.get('s1', 0), undefined, 'a change empties it');
    assert.equal(cache.size, 0);
    cache.fill(epoch, { ...session }, user, 0);
    assert.equal(cache.size, 0, 'a read begun before the change is not kept');
    answer = 'throw';
    cache.fill(cache.epoch(), { ...session }, user, 0);
    assert.equal(cache.get('s1', 0), undefined, 'cannot tell: treated as a change');
    assert.throws(
      () => new NearCache({ probe: { changed: () => false }, feed: new LocalInvalidationFeed() }),
      /feed or a probe/,
    );
  });
});
