import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { generateToken } from '../../src/core/token.ts';
import {
  MIGRATIONS,
  openSqliteDatabase,
  openSqliteStores,
  schemaVersion,
} from '../../src/stores/sqlite.ts';
import {
  auditLogContract,
  checkJoinedRead,
  makeSession,
  makeUser,
  sessionStoreContract,
  userStoreContract,
  userStoreRaceContract,
} from './contract.ts';

const root = mkdtempSync(join(tmpdir(), 'coatcheck-sqlite-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A fresh database file in its own directory (nested, so the directory creation is exercised). */
function freshPath(): string {
  return join(mkdtempSync(join(root, 't-')), 'nested', 'coatcheck.db');
}

function fixture<K extends 'sessions' | 'users' | 'audit'>(key: K) {
  return async () => {
    const stores = openSqliteStores(freshPath());
    return { store: stores[key], cleanup: () => stores.close() };
  };
}

sessionStoreContract('sqlite', fixture('sessions'));
userStoreContract('sqlite', fixture('users'));
auditLogContract('sqlite', fixture('audit'));
// Two connections to one file, as two processes (the CLI and the server, or two nodes) have.
userStoreRaceContract('sqlite', async () => {
  const path = freshPath();
  const one = openSqliteStores(path);
  const two = openSqliteStores(path);
  return {
    store: [one.users, two.users] as const,
    cleanup: async () => {
      await one.close();
      await two.close();
    },
  };
});

describe('SQLite database file', () => {
  it('runs in WAL mode with foreign keys on and a busy timeout', async () => {
    const stores = openSqliteStores(freshPath());
    try {
      const pragma = (name: string) =>
        Object.values(stores.db.prepare(`PRAGMA ${name}`).get() ?? {})[0];
      assert.equal(pragma('journal_mode'), 'wal');
      assert.equal(pragma('synchronous'), 1); // NORMAL
      assert.equal(pragma('foreign_keys'), 1);
      assert.equal(pragma('busy_timeout'), 5000);
    } finally {
      await stores.close();
    }
  });

  it('records each migration once and applies nothing new on reopen', async () => {
    const path = freshPath();
    const first = openSqliteDatabase(path);
    const versions = () =>
      first.prepare('SELECT version, applied_at FROM schema_migrations ORDER BY version').all();
    const applied = versions();
    assert.deepEqual(
      applied.map((r) => r.version),
      MIGRATIONS.map((_, i) => i + 1),
    );
    assert.equal(schemaVersion(first), MIGRATIONS.length);
    const second = openSqliteDatabase(path);
    assert.equal(schemaVersion(second), MIGRATIONS.length);
    assert.deepEqual(versions(), applied);
    second.close();
    first.close();
  });

  it('keeps users, sessions and audit events across close and reopen, intact', async () => {
    const path = freshPath();
    const { record } = makeSession('alice');
    const user = makeUser({ email: 'alice@example.com' });
    const before = openSqliteStores(path);
    await before.sessions.create(record);
    await before.users.create(user);
    await before.audit.record({
      type: 'signup',
      at: 1,
      userId: user.id,
      ip: null,
      sessionId: null,
      detail: null,
    });
    await before.close();

    const after = openSqliteStores(path);
    try {
      assert.deepEqual(
        [...((await after.sessions.get(record.id))?.secretHash ?? [])],
        [...record.secretHash],
      );
      assert.deepEqual({ ...(await after.users.findByEmail('alice@example.com')) }, user);
      assert.equal((await after.audit.list({ limit: 5 })).length, 1);
      assert.equal(after.db.prepare('PRAGMA integrity_check').get()?.integrity_check, 'ok');
    } finally {
      await after.close();
    }
  });

  it('a row dump holds SHA-256(secret) and never the raw token or secret', async () => {
    const stores = openSqliteStores(freshPath());
    try {
      const { id, token, secret, secretHash } = generateToken();
      await stores.sessions.create({ ...makeSession('alice').record, id, secretHash });
      const rows = stores.db.prepare('SELECT * FROM sessions').all();
      assert.equal(rows.length, 1);
      const row = rows[0] ?? {};
      assert.deepEqual(
        Buffer.from(row.secret_hash as Uint8Array),
        createHash('sha256').update(secret).digest(),
      );
      const dump = JSON.stringify(rows, (_, v) =>
        v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : v,
      );
      assert.ok(!dump.includes(secret), 'the secret is in the table');
      assert.ok(!dump.includes(token), 'the token is in the table');
      assert.ok(dump.includes(id), 'the public id is the key');
    } finally {
      await stores.close();
    }
  });

  it('getWithUser joins fresh roles and lock (and nothing else of the user), null for a deleted user', async () => {
    const stores = openSqliteStores(freshPath());
    try {
      await checkJoinedRead(stores, async (id) =>
        stores.db.prepare('DELETE FROM users WHERE id = ?').run(id),
      );
    } finally {
      await stores.close();
    }
  });

  it("two connections to one file (server and CLI) see each other's writes", async () => {
    const path = freshPath();
    const server = openSqliteStores(path);
    const cli = openSqliteStores(path);
    try {
      const { record } = makeSession('alice');
      await server.sessions.create(record);
      assert.equal((await cli.sessions.get(record.id))?.id, record.id);
      const user = makeUser({ email: 'alice@example.com' });
      await server.users.create(user);
      assert.equal((await cli.users.update(user.id, { locked: true }))?.locked, true);
      assert.equal((await server.users.findById(user.id))?.locked, true);
      assert.equal(await cli.sessions.deleteByUser({ userId: 'alice' }), 1);
      assert.equal(await server.sessions.get(record.id), null);
      // Rotation is exclusive across connections too.
      const previous = makeSession('bob').record;
      await server.sessions.create(previous);
      const args = {
        previousId: previous.id,
        graceUntil: Date.now() + 1000,
        tombstoneExpiresAt: Date.now() + 60_000,
      };
      const results = await Promise.all([
        server.sessions.rotate({ ...args, next: makeSession('bob').record }),
        cli.sessions.rotate({ ...args, next: makeSession('bob').record }),
      ]);
      assert.deepEqual(results.sort(), [false, true]);
    } finally {
      await cli.close();
      await server.close();
    }
  });

  it('reports a held write lock as store_unavailable, and the store recovers', async () => {
    const path = freshPath();
    const stores = openSqliteStores(path, { busyTimeoutMs: 50 });
    const other = openSqliteDatabase(path);
    try {
      other.exec('BEGIN IMMEDIATE');
      const { record } = makeSession('alice');
      await assert.rejects(
        stores.sessions.create(record),
        (error: Error & { code?: string; cause?: unknown }) => {
          assert.equal(error.code, 'store_unavailable');
          assert.match(String((error.cause as { message?: string })?.message), /locked|busy/i);
          return true;
        },
      );
      await assert.rejects(
        stores.sessions.rotate({
          previousId: 'x',
          next: record,
          graceUntil: 0,
          tombstoneExpiresAt: 0,
        }),
        { code: 'store_unavailable' },
      );
      other.exec('ROLLBACK');
      await stores.sessions.create(record);
      assert.equal((await stores.sessions.get(record.id))?.id, record.id);
    } finally {
      other.close();
      await stores.close();
    }
  });

  it('fails closed after close: calls fail with store_unavailable (reads synchronously)', async () => {
    const stores = openSqliteStores(freshPath());
    await stores.close();
    assert.throws(() => stores.sessions.get('x'), { code: 'store_unavailable' });
    assert.throws(() => stores.sessions.getWithUser('x'), { code: 'store_unavailable' });
    assert.throws(() => stores.users.findById('x'), { code: 'store_unavailable' });
  });

  it('refuses to open a path that cannot be a database, with store_unavailable', () => {
    const dir = mkdtempSync(join(root, 'dir-'));
    assert.throws(() => openSqliteDatabase(dir), { code: 'store_unavailable' });
  });

  it('answers every lookup from an index, never a table scan', () => {
    const db = openSqliteDatabase(':memory:');
    const plan = (sql: string) =>
      db
        .prepare(`EXPLAIN QUERY PLAN ${sql}`)
        .all()
        .map((r) => r.detail)
        .join(' | ');
    try {
      assert.match(plan('SELECT * FROM sessions WHERE id = ? AND expires_at > ?'), /PRIMARY KEY/);
      assert.match(
        plan('DELETE FROM sessions WHERE user_id = ? AND id IS NOT ?'),
        /sessions_by_user/,
      );
      assert.match(plan('DELETE FROM sessions WHERE expires_at <= ?'), /sessions_by_expiry/);
      assert.match(plan('SELECT * FROM users WHERE email = ?'), /USING INDEX/);
      assert.match(
        plan('SELECT * FROM audit_events WHERE user_id = ? ORDER BY at DESC, seq DESC LIMIT 5'),
        /audit_events_by_user/,
      );
    } finally {
      db.close();
    }
  });

  it('judges expiry by the injected clock', async () => {
    let now = 1_000;
    const stores = openSqliteStores(freshPath(), { now: () => now });
    try {
      const { record } = makeSession('alice', { createdAt: 0, lastSeenAt: 0, expiresAt: 2_000 });
      await stores.sessions.create(record);
      assert.equal((await stores.sessions.get(record.id))?.id, record.id);
      now = 2_000;
      assert.equal(await stores.sessions.get(record.id), null);
    } finally {
      await stores.close();
    }
  });
});

// Each worker thread is a separate connection running in parallel with the other, as two
// processes would: unlike two connections in one thread (node:sqlite is synchronous), the two
// updates can really overlap, so only the IMMEDIATE transaction keeps the check and write whole.
const RACER = `
const { workerData, parentPort } = require('node:worker_threads');
(async () => {
  const { openSqliteStores } = await import(workerData.module);
  const stores = openSqliteStores(workerData.path);
  const gate = new Int32Array(workerData.gate);
  const { id, patch, by } = workerData;
  parentPort.postMessage({ ready: true });
  for (let round = 1; round <= workerData.rounds; round++) {
    Atomics.wait(gate, 0, round - 1);
    try {
      const { status } = await stores.users.updateAuthorised(id, patch, by);
      parentPort.postMessage({ round, status });
    } catch (error) {
      parentPort.postMessage({ round, status: 'error: ' + error.message });
    }
  }
  await stores.close();
})();
`;

describe('SQLite updateAuthorised across threads', () => {
  it('two admins in two threads demote and lock each other at once, 150 times: exactly one write lands each time', async () => {
    const ROUNDS = 150;
    const path = freshPath();
    const stores = openSqliteStores(path);
    const a = makeUser({ email: 'a@example.com', roles: ['user', 'admin'] });
    const b = makeUser({ email: 'b@example.com', roles: ['user', 'admin'] });
    await stores.users.create(a);
    await stores.users.create(b);
    const gate = new SharedArrayBuffer(4);
    const module = new URL('../../src/stores/sqlite.ts', import.meta.url).href;
    const racers = [
      { id: b.id, patch: { roles: ['user'] }, by: { userId: a.id, role: 'admin' } },
      { id: a.id, patch: { locked: true }, by: { userId: b.id, role: 'admin' } },
    ].map((job) => {
      const worker = new Worker(RACER, {
        eval: true,
        workerData: { ...job, module, path, gate, rounds: ROUNDS },
      });
      const messages: { round?: number; status?: string }[] = [];
      const waiters: (() => void)[] = [];
      worker.on('message', (message) => {
        messages.push(message);
        waiters.shift()?.();
      });
      const next = async () => {
        if (messages.length === 0) await new Promise<void>((resolve) => waiters.push(resolve));
        return messages.shift() ?? {};
      };
      return { worker, next };
    });
    try {
      for (const racer of racers) assert.deepEqual(await racer.next(), { ready: true });
      const view = new Int32Array(gate);
      const wins = { demoted: 0, locked: 0 };
      for (let round = 1; round <= ROUNDS; round++) {
        await stores.users.update(a.id, { roles: ['user', 'admin'], locked: false });
        await stores.users.update(b.id, { roles: ['user', 'admin'], locked: false });
        Atomics.store(view, 0, round);
        Atomics.notify(view, 0);
        const [demote, lock] = await Promise.all(racers.map((r) => r.next()));
        assert.deepEqual(
          [demote?.status, lock?.status].sort(),
          ['refused', 'updated'],
          `round ${round}`,
        );
        const [userA, userB] = [stores.users.findById(a.id), stores.users.findById(b.id)];
        const active = [userA, userB].filter((u) => u && !u.locked && u.roles.includes('admin'));
        assert.equal(active.length, 1, `round ${round}: one unlocked admin remains`);
        if (demote?.status === 'updated') wins.demoted++;
        else wins.locked++;
      }
      assert.equal(wins.demoted + wins.locked, ROUNDS);
    } finally {
      await Promise.all(racers.map((r) => r.worker.terminate()));
      await stores.close();
    }
  });
});
