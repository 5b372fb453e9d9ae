import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseSync, StatementResultingChanges } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { SessionEngine } from '../../src/core/engine.ts';
import type { ChangeProbe } from '../../src/core/store.ts';
import { openSqliteDatabase, openSqliteStores } from '../../src/stores/sqlite.ts';
import { neutralCommit, walChangeProbe } from '../../src/stores/sqlite-changes.ts';
import { nextTurn } from '../support/next-turn.ts';
import { inAnotherProcess } from '../support/sqlite-process.ts';
import { makeUser } from './contract.ts';

const root = mkdtempSync(join(tmpdir(), 'coatcheck-sqlite-neutral-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** The header read on every call: these tests are of what it says, not of when it is read. */
const EVERY_CALL = { rereadAfterMs: 0 };

function freshPath(): string {
  return join(mkdtempSync(join(root, 't-')), 'coatcheck.db');
}

/** A database with a table `t`, a second connection to it, and a primed probe of the first. */
function setUp(): { path: string; db: DatabaseSync; other: DatabaseSync; probe: ChangeProbe } {
  const path = freshPath();
  const db = openSqliteDatabase(path);
  db.exec('CREATE TABLE t (x INTEGER PRIMARY KEY)');
  const other = openSqliteDatabase(path);
  const probe = walChangeProbe(db, EVERY_CALL);
  assert.ok(probe);
  assert.equal(probe.changed(), true, 'nothing seen yet');
  assert.equal(probe.changed(), false);
  return { path, db, other, probe };
}

describe('neutralCommit', () => {
  it("lets its connection's probes take its commits as seen, and no-op writes too", () => {
    const { db, other, probe } = setUp();
    try {
      const insert = db.prepare('INSERT INTO t VALUES (?)');
      for (let i = 0; i < 20; i++) {
        neutralCommit(db, () => insert.run(i));
        assert.equal(probe.changed(), false, `own commit ${i}`);
      }
      neutralCommit(db, () => db.prepare('UPDATE t SET x = 0 WHERE x = -1').run());
      assert.equal(probe.changed(), false, 'a write that changed nothing');
      // A checkpoint then makes the next own write restart the WAL (new salts, same counter).
      other.exec('PRAGMA wal_checkpoint(TRUNCATE)');
      assert.equal(probe.changed(), true, 'a restart by another connection: in doubt, a change');
      neutralCommit(db, () => insert.run(100));
      assert.equal(probe.changed(), false, 'an own write that restarted the WAL');
      db.exec('INSERT INTO t VALUES (101)');
      assert.equal(probe.changed(), true, 'an own write not through neutralCommit still counts');
    } finally {
      other.close();
      db.close();
    }
  });

  it('still reports a commit by another connection or process made before, during or after the write', () => {
    const { path, db, other, probe } = setUp();
    const insert = db.prepare('INSERT INTO t VALUES (?)');
    const foreign = other.prepare('INSERT INTO t VALUES (?)');
    const noop = db.prepare('UPDATE t SET x = 0 WHERE x = -1');
    let n = 0;
    /** Runs `theirs` then `ours`, or `ours` then `theirs`, returning what `ours` did. */
    const around =
      (first: 'theirs' | 'ours', ours: () => StatementResultingChanges, theirs: () => void) =>
      () => {
        if (first === 'theirs') theirs();
        const result = ours();
        if (first === 'ours') theirs();
        return result;
      };
    const foreignInsert = () => void foreign.run(++n);
    const ownInsert = () => insert.run(++n);
    const cases: [string, () => void][] = [
      [
        'before',
        () => {
          foreignInsert();
          neutralCommit(db, ownInsert);
        },
      ],
      [
        'between the header read and the write',
        () => neutralCommit(db, around('theirs', ownInsert, foreignInsert)),
      ],
      [
        'between the write and the header read',
        () => neutralCommit(db, around('ours', ownInsert, foreignInsert)),
      ],
      // The counter moves by one, as if the commit were ours: the write reports no change.
      [
        'beside a write that changed nothing',
        () =>
          neutralCommit(
            db,
            around('theirs', () => noop.run(), foreignInsert),
          ),
      ],
      [
        'from another process, during the write',
        () =>
          neutralCommit(
            db,
            around('ours', ownInsert, () =>
              inAnotherProcess(path, `INSERT INTO t VALUES (${++n})`),
            ),
          ),
      ],
    ];
    try {
      for (const [when, run] of cases) {
        run();
        assert.equal(probe.changed(), true, when);
        assert.equal(probe.changed(), false, `${when}: then remembered`);
      }
    } finally {
      other.close();
      db.close();
    }
  });

  it('catches by data_version a foreign commit that the counter would take for its own', () => {
    const { db, other, probe } = setUp();
    try {
      // A write claiming one commit while another connection made the only one: the counter
      // moves by one, as it would after a crash recovery reset it; data_version moves too.
      neutralCommit(db, () => {
        other.exec('INSERT INTO t VALUES (1)');
        return { changes: 1, lastInsertRowid: 1 };
      });
      assert.equal(probe.changed(), true);
    } finally {
      other.close();
      db.close();
    }
  });

  it('catches by the counter a foreign commit that data_version cannot see (a read held open)', () => {
    const { db, other, probe } = setUp();
    try {
      db.exec('INSERT INTO t VALUES (1), (2)');
      probe.changed();
      // A statement left pending holds a read transaction open: data_version looks no further.
      const pending = db.prepare('SELECT x FROM t').iterate();
      assert.equal(pending.next().done, false);
      neutralCommit(db, () => {
        const result = db.prepare('UPDATE t SET x = 0 WHERE x = -1').run();
        other.exec('INSERT INTO t VALUES (3)');
        return result;
      });
      pending.return?.();
      assert.equal(probe.changed(), true);
    } finally {
      other.close();
      db.close();
    }
  });

  it('records nothing for a write that fails, or one inside a transaction', () => {
    const { db, other, probe } = setUp();
    const insert = db.prepare('INSERT INTO t VALUES (?)');
    try {
      insert.run(1);
      assert.equal(probe.changed(), true);
      assert.throws(() => neutralCommit(db, () => insert.run(1)), /UNIQUE/);
      assert.equal(probe.changed(), false, 'nothing was committed');
      other.exec('INSERT INTO t VALUES (2)');
      assert.throws(() => neutralCommit(db, () => insert.run(1)), /UNIQUE/);
      assert.equal(probe.changed(), true, 'the commit before the failed write is still reported');
      assert.throws(() =>
        neutralCommit(db, () => {
          other.exec('INSERT INTO t VALUES (3)');
          return insert.run(1);
        }),
      );
      assert.equal(probe.changed(), true, 'and the one during it');
      db.exec('BEGIN');
      neutralCommit(db, () => insert.run(4));
      db.exec('COMMIT');
      assert.equal(probe.changed(), true, 'committed later, by COMMIT');
    } finally {
      other.close();
      db.close();
    }
  });

  it('moves every probe of the connection that saw the header before, and only those', () => {
    const { db, other, probe: a } = setUp();
    const b = walChangeProbe(db, EVERY_CALL);
    const elsewhere = walChangeProbe(other, EVERY_CALL);
    assert.ok(b && elsewhere);
    try {
      b.changed();
      elsewhere.changed();
      other.exec('INSERT INTO t VALUES (1)');
      assert.equal(a.changed(), true);
      assert.equal(elsewhere.changed(), true);
      neutralCommit(db, () => db.prepare('INSERT INTO t VALUES (2)').run());
      assert.equal(a.changed(), false);
      assert.equal(b.changed(), true, 'b had not yet reported the other connection commit');
      assert.equal(elsewhere.changed(), true, "another connection's probe sees a foreign commit");
    } finally {
      other.close();
      db.close();
    }
  });
});

describe('engine near cache on SQLite: its own writes', () => {
  const SESSIONS = 20;

  async function fixture() {
    const path = freshPath();
    const clock = { now: Date.now() };
    const stores = openSqliteStores(path, { now: () => clock.now });
    const record = makeUser();
    await stores.users.create(record);
    const user = { ...record, roles: [...record.roles] };
    const engine = new SessionEngine({
      store: stores.sessions,
      users: stores.users,
      now: () => clock.now,
      policy: { renewalIntervalSeconds: 30 }, // renewals due before cached entries age out (60 s)
    });
    const reads = { n: 0 };
    const getWithUser = stores.sessions.getWithUser.bind(stores.sessions);
    stores.sessions.getWithUser = (id: string) => {
      reads.n++;
      return getWithUser(id);
    };
    const tokens: string[] = [];
    const ids: string[] = [];
    for (let i = 0; i < SESSIONS; i++) {
      const { token, session } = await engine.create(user);
      tokens.push(token);
      ids.push(session.id);
    }
    const validateAll = async (e = engine) => {
      for (const token of tokens) assert.ok((await e.validate(token)).ok);
    };
    return { path, clock, stores, user, engine, reads, tokens, ids, validateAll };
  }

  it("keeps its entries through this process's renewals, sign-ins and audit events", async () => {
    const { clock, stores, user, engine, reads, validateAll } = await fixture();
    try {
      await validateAll(); // fills the cache
      reads.n = 0;
      clock.now += 31_000; // every session is due for its renewal write
      await validateAll();
      assert.equal(reads.n, 0, 'renewals written from cache hits, no store read');
      const renewed = stores.db.prepare(
        'SELECT count(*) AS n FROM sessions WHERE last_seen_at = ?',
      );
      assert.equal(renewed.get(clock.now)?.n, SESSIONS, 'every renewal was written');
      await engine.create(user); // a sign-in
      await stores.audit.record({
        type: 'login.succeeded',
        at: clock.now,
        userId: user.id,
        ip: null,
        sessionId: null,
        detail: null,
      });
      await validateAll();
      assert.equal(reads.n, 0, 'still every validation a hit');
      assert.equal(engine.nearCache?.size, SESSIONS);
    } finally {
      await stores.close();
    }
  });

  it('after its own renewals, still refuses at the next request what another connection or process revoked', async () => {
    const { path, clock, stores, user, engine, tokens, ids, validateAll } = await fixture();
    const other = openSqliteDatabase(path);
    try {
      await validateAll();
      clock.now += 31_000;
      await validateAll();
      other.prepare('DELETE FROM sessions WHERE id = ?').run(ids[0] as string);
      await nextTurn();
      assert.equal((await engine.validate(tokens[0])).ok, false, 'revoked by another connection');
      inAnotherProcess(path, `DELETE FROM sessions WHERE id = '${ids[1]}'`);
      assert.equal((await engine.validate(tokens[1])).ok, false, 'revoked by another process');
      clock.now += 31_000;
      assert.ok((await engine.validate(tokens[2])).ok, 'renewed');
      other.prepare('UPDATE users SET locked = 1 WHERE id = ?').run(user.id);
      await nextTurn();
      const locked = await engine.validate(tokens[3]);
      assert.equal(locked.ok === false && locked.reason, 'user_locked');
    } finally {
      other.close();
      await stores.close();
    }
  });

  it('two engines on one connection: a renewal keeps both caches, a revocation reaches both', async () => {
    const { stores, engine, reads, tokens, ids, clock, validateAll } = await fixture();
    const second = new SessionEngine({
      store: stores.sessions,
      users: stores.users,
      now: () => clock.now,
      policy: { renewalIntervalSeconds: 30 },
    });
    try {
      await validateAll();
      await validateAll(second);
      reads.n = 0;
      clock.now += 31_000;
      await validateAll(); // the first engine renews every session
      await validateAll(second); // the second's entries are older but still good
      assert.equal(reads.n, 0);
      // A revocation is not a neutral write: the other engine's probe reports it.
      assert.equal(await engine.revoke(ids[0] as string), true);
      assert.equal((await engine.validate(tokens[0])).ok, false, 'evicted by the revoking engine');
      assert.equal((await second.validate(tokens[0])).ok, false, 'seen by the other engine');
    } finally {
      await stores.close();
    }
  });
});
