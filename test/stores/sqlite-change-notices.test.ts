import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { SessionEngine } from '../../src/core/engine.ts';
import { openSqliteDatabase, openSqliteStores } from '../../src/stores/sqlite.ts';
import { walChangeProbe } from '../../src/stores/sqlite-changes.ts';
import { nextTurn } from '../support/next-turn.ts';
import { makeSession, makeUser } from './contract.ts';

/**
 * When a SQLite change probe reads the WAL-index header: at a write it heard of (the directory
 * watch, or a store of this process), and after `rereadAfterMs` whatever it heard. The header's
 * meaning is tested in sqlite-changes.test.ts with a probe that reads on every call.
 */

const root = mkdtempSync(join(tmpdir(), 'coatcheck-sqlite-notices-'));
after(() => rmSync(root, { recursive: true, force: true }));

function freshPath(): string {
  return join(mkdtempSync(join(root, 't-')), 'coatcheck.db');
}

/** A new database with a table `t`, and two connections to it. */
function twoConnections(): { db: DatabaseSync; other: DatabaseSync } {
  const path = freshPath();
  const db = openSqliteDatabase(path);
  db.exec('CREATE TABLE t (x INTEGER)');
  return { db, other: openSqliteDatabase(path) };
}

/** Only notices make this probe read the header again. */
const NOTICES_ONLY = { rereadAfterMs: Number.POSITIVE_INFINITY };

describe('SQLite change probe: when it reads', () => {
  it('does not read on every call, and hears of another connection’s commit by the next poll', async () => {
    const { db, other } = twoConnections();
    try {
      const probe = walChangeProbe(db, NOTICES_ONLY);
      assert.ok(probe);
      assert.equal(probe.changed(), true, 'nothing seen yet');
      await nextTurn(); // the CREATE TABLE's own notice
      probe.changed();
      assert.equal(probe.changed(), false);
      other.exec('INSERT INTO t VALUES (1)');
      // Same turn, nothing heard yet: the header did move, and the probe has not read it.
      assert.equal(probe.changed(), false, 'reads only when told');
      await nextTurn();
      assert.equal(probe.changed(), true, 'the watch reported the commit');
      assert.equal(probe.changed(), false);
      await nextTurn();
      assert.equal(probe.changed(), false, 'reads are no change, and no notice');
    } finally {
      other.close();
      db.close();
    }
  });

  it('refuses at the very next lookup a session revoked through a store of another process', async () => {
    const path = freshPath();
    const stores = openSqliteStores(path);
    const user = makeUser();
    await stores.users.create(user);
    const engine = new SessionEngine({ store: stores.sessions, users: stores.users });
    const rounds = 30;
    const sessions: { token: string; session: { id: string } }[] = [];
    for (let i = 0; i <= rounds; i++) sessions.push(await engine.create(user));
    for (const { token } of sessions) assert.ok((await engine.validate(token)).ok);
    // The child revokes through its own stores and at once tells this process over TCP: the
    // very next request a client who saw the revocation could send.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const script = `
      import { connect } from 'node:net';
      import { openSqliteStores } from ${JSON.stringify(new URL('../../src/stores/sqlite.ts', import.meta.url).href)};
      const [path, port, ids] = process.argv.slice(1);
      const stores = openSqliteStores(path);
      const socket = connect(Number(port), '127.0.0.1');
      socket.setNoDelay(true);
      let round = 0;
      socket.on('data', async () => {
        await stores.sessions.delete(JSON.parse(ids)[round++]);
        socket.write('revoked\\n');
        if (round === JSON.parse(ids).length) { socket.end(); await stores.close(); }
      });`;
    const ids = JSON.stringify(sessions.slice(0, rounds).map(({ session }) => session.id));
    const child = spawn(
      process.execPath,
      ['--input-type=module', '-e', script, path, String(port), ids],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    const served: number[] = [];
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('connection', (socket: Socket) => {
          socket.setNoDelay(true);
          let round = 0;
          socket.on('data', async (chunk) => {
            for (const _ of chunk.toString().split('\n').slice(1)) {
              const k = round++;
              if ((await engine.validate(sessions[k]?.token)).ok) served.push(k);
              // A fresh read just before the next revocation: only its notice or the writer's
              // wait can make the probe read again.
              assert.ok((await engine.validate(sessions[k + 1]?.token)).ok);
              if (round < rounds) socket.write('go\n');
            }
          });
          socket.on('end', resolve);
          socket.on('error', reject);
          socket.write('go\n');
        });
        child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`child ${code}`))));
      });
      assert.deepEqual(served, [], 'revoked sessions the near cache still served');
      assert.ok((engine.nearCache?.size ?? 0) > 0, 'the near cache was on');
    } finally {
      child.kill();
      server.close();
      await stores.close();
    }
  });

  it('resolves a revoking write only once every probe will read the header again', async () => {
    const stores = openSqliteStores(freshPath());
    try {
      const user = makeUser();
      await stores.users.create(user);
      const { record } = makeSession(user.id);
      await stores.sessions.create(record);
      const started = performance.now();
      await stores.sessions.delete(record.id);
      assert.ok(
        performance.now() - started >= 1,
        'a probe that read just before the commit rereads 1 ms later',
      );
      const again = performance.now();
      await stores.users.update(user.id, { roles: ['user'] });
      assert.ok(performance.now() - again >= 1);
    } finally {
      await stores.close();
    }
  });

  it('hears at once of a commit by a store of this process, on any connection to the file', async () => {
    const path = freshPath();
    const stores = openSqliteStores(path);
    const elsewhere = openSqliteDatabase(path);
    try {
      const user = makeUser();
      await stores.users.create(user);
      const { record: session } = makeSession(user.id);
      await stores.sessions.create(session);
      const probe = walChangeProbe(elsewhere, NOTICES_ONLY);
      assert.ok(probe);
      probe.changed();
      await nextTurn();
      probe.changed();
      assert.equal(probe.changed(), false);
      await stores.sessions.delete(session.id);
      assert.equal(probe.changed(), true, 'a delete, same turn');
      await stores.users.update(user.id, { locked: true });
      assert.equal(probe.changed(), true, 'a lock, same turn');
      await stores.sessions.create(makeSession(user.id).record);
      await nextTurn();
      probe.changed();
      await stores.sessions.deleteByUser({ userId: user.id });
      assert.equal(probe.changed(), true, 'a revoke-all, same turn');
    } finally {
      elsewhere.close();
      await stores.close();
    }
  });

  it('reads again after rereadAfterMs even when it heard of nothing', async () => {
    const { db, other } = twoConnections();
    try {
      const probe = walChangeProbe(db, { rereadAfterMs: 50 });
      assert.ok(probe);
      probe.changed();
      other.exec('INSERT INTO t VALUES (1)');
      assert.equal(probe.changed(), false, 'within 50 ms, nothing heard');
      // Spin without yielding, so the watch's notice cannot be read: only the clock can tell.
      const until = performance.now() + 60;
      while (performance.now() < until);
      assert.equal(probe.changed(), true, 'read again after 50 ms');
    } finally {
      other.close();
      db.close();
    }
  });
});
