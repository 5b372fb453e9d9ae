import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, describe, it } from 'node:test';
import postgres from 'postgres';
import { SessionEngine } from '../../src/core/engine.ts';
import { StoreUnavailableError } from '../../src/core/errors.ts';
import { generateToken } from '../../src/core/token.ts';
import {
  MIGRATIONS,
  type OpenPostgresOptions,
  openPostgresStores,
  type PostgresStores,
  schemaVersion,
} from '../../src/stores/postgres.ts';
import { startPostgres } from '../support/postgres.ts';
import { freePort } from '../support/processes.ts';
import {
  auditLogContract,
  checkJoinedRead,
  makeSession,
  makeUser,
  sessionStoreContract,
  userStoreContract,
  userStoreRaceContract,
} from './contract.ts';

// One throwaway cluster for the file; every case gets its own schema (a fresh, empty database
// as far as the stores can tell), selected by `search_path` in the URL.
const server = await startPostgres();
const admin = postgres(server.url, { max: 2, onnotice: () => {} });
after(async () => {
  await admin.end({ timeout: 1 });
  await server.stop();
});

let schemas = 0;
/** A URL whose unqualified tables live in a new, empty schema. */
async function freshUrl(): Promise<string> {
  const schema = `t${++schemas}_${process.pid}`;
  await admin.unsafe(`CREATE SCHEMA ${schema}`);
  return `${server.url}?search_path=${schema}`;
}

async function open(options: OpenPostgresOptions = {}): Promise<PostgresStores> {
  return openPostgresStores(await freshUrl(), options);
}

function fixture<K extends 'sessions' | 'users' | 'audit'>(key: K) {
  return async () => {
    const stores = await open();
    return { store: stores[key], cleanup: () => stores.close() };
  };
}

/** Two pools on one database, as two server nodes have: each side of a race on its own connection. */
function twoNodes<K extends 'sessions' | 'users'>(key: K) {
  return async () => {
    const url = await freshUrl();
    const one = await openPostgresStores(url);
    const two = await openPostgresStores(url);
    return {
      store: [one[key], two[key]] as const,
      cleanup: async () => {
        await one.close();
        await two.close();
      },
    };
  };
}

sessionStoreContract('postgres', fixture('sessions'), { pair: twoNodes('sessions') });
userStoreContract('postgres', fixture('users'));
auditLogContract('postgres', fixture('audit'));
userStoreRaceContract('postgres', twoNodes('users'));

describe('PostgreSQL database', () => {
  it('records each migration once, creates every table, and applies nothing new on reopen', async () => {
    const url = await freshUrl();
    const first = await openPostgresStores(url);
    const second = await openPostgresStores(url);
    try {
      const versions = () =>
        first.sql`SELECT version, applied_at FROM coatcheck_schema_migrations ORDER BY version`;
      const applied = await versions();
      assert.deepEqual(
        applied.map((r) => r.version),
        MIGRATIONS.map((_, i) => i + 1),
      );
      assert.ok(applied.every((r) => r.applied_at instanceof Date));
      assert.equal(await schemaVersion(second.sql), MIGRATIONS.length);
      assert.deepEqual(await versions(), applied);
      const tables = await first.sql`SELECT table_name FROM information_schema.tables
        WHERE table_schema = current_schema() ORDER BY table_name`;
      assert.deepEqual(
        tables.map((t) => t.table_name),
        ['audit_events', 'coatcheck_schema_migrations', 'sessions', 'signing_keys', 'users'],
      );
      const indexes = await first.sql`SELECT indexname FROM pg_indexes
        WHERE schemaname = current_schema()`;
      const names = indexes.map((i) => i.indexname);
      const expected = ['sessions_by_user', 'sessions_by_expiry', 'users_email_lower'];
      for (const name of [...expected, 'signing_keys_one_signing'])
        assert.ok(names.includes(name), `${name} in ${names}`);
    } finally {
      await second.close();
      await first.close();
    }
  });

  it('three nodes creating one email at once, 30 times: one create lands, the others answer false', async () => {
    const url = await freshUrl();
    const nodes = await Promise.all([1, 2, 3].map(() => openPostgresStores(url)));
    try {
      for (let round = 0; round < 30; round++) {
        const email = `race-${round}@example.test`;
        const created = await Promise.all(nodes.map((n) => n.users.create(makeUser({ email }))));
        assert.equal(created.filter(Boolean).length, 1, `round ${round}: ${created}`);
      }
    } finally {
      await Promise.all(nodes.map((n) => n.close()));
    }
  });

  it('three nodes opening one empty database at once migrate it exactly once', async () => {
    const url = await freshUrl();
    const nodes = await Promise.all([1, 2, 3].map(() => openPostgresStores(url)));
    const [a, b, c] = nodes as [PostgresStores, PostgresStores, PostgresStores];
    try {
      const rows = await a.sql`SELECT version FROM coatcheck_schema_migrations`;
      assert.equal(rows.length, MIGRATIONS.length);
      // Each node works on the shared schema.
      const { record } = makeSession('alice');
      await b.sessions.create(record);
      assert.equal((await c.sessions.get(record.id))?.id, record.id);
    } finally {
      await Promise.all(nodes.map((n) => n.close()));
    }
  });

  it('a row dump holds SHA-256(secret) and never the raw token or secret', async () => {
    const stores = await open();
    try {
      const { id, token, secret, secretHash } = generateToken();
      await stores.sessions.create({ ...makeSession('alice').record, id, secretHash });
      const rows = await stores.sql`SELECT * FROM sessions`;
      assert.equal(rows.length, 1);
      assert.deepEqual(rows[0]?.secret_hash, createHash('sha256').update(secret).digest());
      const dump = JSON.stringify(rows, (_, v) =>
        v?.type === 'Buffer' ? Buffer.from(v.data).toString('latin1') : v,
      );
      assert.ok(!dump.includes(secret), 'the secret is in the table');
      assert.ok(!dump.includes(token), 'the token is in the table');
      assert.ok(dump.includes(id), 'the public id is the key');
      await assert.rejects(
        stores.sessions.create({ ...makeSession('alice').record, secretHash: new Uint8Array(20) }),
        { code: 'store_unavailable' },
        'only a 32-byte hash fits the column',
      );
    } finally {
      await stores.close();
    }
  });

  it('getWithUser joins fresh roles and lock (and nothing else of the user), null for a deleted user', async () => {
    const stores = await open();
    try {
      await checkJoinedRead(stores, (id) => stores.sql`DELETE FROM users WHERE id = ${id}`);
    } finally {
      await stores.close();
    }
  });

  it('the engine validates in one read: a demotion and a lock apply at once', async () => {
    const stores = await open();
    let userReads = 0;
    const findById = stores.users.findById.bind(stores.users);
    stores.users.findById = (id: string) => {
      userReads++;
      return findById(id);
    };
    try {
      const engine = new SessionEngine({ store: stores.sessions, users: stores.users });
      const user = makeUser({ roles: ['admin', 'user'] });
      await stores.users.create(user);
      const { token } = await engine.create(user);
      const first = await engine.validate(token);
      assert.ok(first.ok && first.user.roles.includes('admin'));
      await stores.users.update(user.id, { roles: ['user'] });
      const demoted = await engine.validate(token);
      assert.ok(demoted.ok);
      assert.deepEqual(demoted.user.roles, ['user']);
      await stores.users.update(user.id, { locked: true });
      const locked = await engine.validate(token);
      assert.ok(!locked.ok && locked.reason === 'user_locked');
      assert.equal(userReads, 0);
    } finally {
      await stores.close();
    }
  });

  it('sweep deletes expired rows in batches, tombstones included, and keeps live ones', async () => {
    const stores = await open({ sweepBatchSize: 2 });
    try {
      const now = Date.now();
      const expired = [1, 2, 3, 4, 5].map(
        (i) => makeSession('alice', { expiresAt: now - i * 1000 }).record,
      );
      const live = [makeSession('alice').record, makeSession('bob').record];
      for (const r of [...expired, ...live]) await stores.sessions.create(r);
      const rotated = live[0] as (typeof live)[0];
      await stores.sessions.rotate({
        previousId: rotated.id,
        next: makeSession('alice').record,
        graceUntil: now + 1000,
        tombstoneExpiresAt: now + 2000,
      });
      assert.equal(await stores.sessions.sweep(now), 5);
      assert.equal(await stores.sessions.sweep(now), 0);
      const [left] = await stores.sql`SELECT count(*)::int AS n FROM sessions`;
      assert.equal(left?.n, 3);
      assert.equal(await stores.sessions.sweep(now + 3000), 1, 'the tombstone, once expired');
    } finally {
      await stores.close();
    }
  });

  it('refuses a second account whose email differs only in case, and a duplicate id', async () => {
    const stores = await open();
    try {
      const ada = makeUser({ email: 'ada@example.com' });
      assert.equal(await stores.users.create(ada), true);
      assert.equal(await stores.users.create(makeUser({ email: 'ADA@Example.com' })), false);
      assert.equal((await stores.users.findByEmail('Ada@Example.COM'))?.id, ada.id);
      await assert.rejects(stores.users.create({ ...ada, email: 'other@example.com' }), {
        code: 'store_unavailable',
      });
      assert.equal(await stores.users.count(), 1);
    } finally {
      await stores.close();
    }
  });

  it('connects with a statement timeout and the application name, and reports ready', async () => {
    const stores = await open({ statementTimeoutMs: 1500 });
    try {
      const [row] = await stores.sql`SELECT current_setting('statement_timeout') AS timeout,
        current_setting('application_name') AS app`;
      assert.deepEqual({ ...row }, { timeout: '1500ms', app: 'coatcheck' });
      await stores.ready();
      await stores.sessions.ping();
    } finally {
      await stores.close();
    }
  });

  it('rejects with store_unavailable, quickly, when no server listens', async () => {
    const url = `postgres://postgres@127.0.0.1:${await freePort()}/coatcheck`;
    const started = Date.now();
    await assert.rejects(openPostgresStores(url, { connectTimeoutSeconds: 1 }), (error) => {
      assert.ok(error instanceof StoreUnavailableError);
      assert.equal((error.cause as { code?: string }).code, 'ECONNREFUSED');
      return true;
    });
    assert.ok(Date.now() - started < 3000);
    await assert.rejects(openPostgresStores('not a url'), { code: 'invalid_config' });
  });

  it('closes cleanly; calls after close reject with store_unavailable', async () => {
    const stores = await open();
    await stores.close();
    await stores.close();
    await assert.rejects(stores.sessions.get('x'), { code: 'store_unavailable' });
    await assert.rejects(stores.users.findById('x'), { code: 'store_unavailable' });
    await assert.rejects(stores.ready(), { code: 'store_unavailable' });
  });
});
