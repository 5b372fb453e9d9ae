import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import postgres from 'postgres';
import { Accounts } from '../../src/accounts/accounts.ts';
import type { Actor } from '../../src/accounts/admin.ts';
import type { UserRecord, UserStore } from '../../src/accounts/user-store.ts';
import { SessionEngine } from '../../src/core/engine.ts';
import { ForbiddenError } from '../../src/core/errors.ts';
import type { AuditLog, SessionStore } from '../../src/core/store.ts';
import { MemoryAuditLog, MemorySessionStore, MemoryUserStore } from '../../src/stores/memory.ts';
import { openPostgresStores } from '../../src/stores/postgres.ts';
import { openSqliteStores } from '../../src/stores/sqlite.ts';
import { startPostgres } from '../support/postgres.ts';
import { hasher } from './setup.ts';

// Two admins, A and B, each on their own server node, demote or lock each other at the same
// instant. Each request has already been authorised (validate read both as admins), so without
// an atomic check in the store both writes land and the service is left with no admin. Now the
// first write wins and the second is refused with ForbiddenError, exactly as if it had come a
// moment later; one unlocked admin always remains. Real stores: memory, SQLite (two connections
// to one file), PostgreSQL (two pools on one database).

const ROUNDS = 10;
const ADMIN = ['user', 'admin'];

/** One server node: its own connection to the shared users and sessions. */
interface Node {
  readonly users: UserStore;
  readonly engine: SessionEngine;
  readonly accounts: Accounts;
}

function node(stores: { users: UserStore; sessions: SessionStore; audit: AuditLog }): Node {
  const engine = new SessionEngine({
    store: stores.sessions,
    users: stores.users,
    audit: stores.audit,
  });
  const accounts = new Accounts({ ...stores, engine, hasher });
  return { users: stores.users, engine, accounts };
}

/** Two nodes on one database, and how to close them. */
type Cluster = { nodes: readonly [Node, Node]; close(): Promise<void> };

const root = mkdtempSync(join(tmpdir(), 'coatcheck-admin-race-'));
const server = await startPostgres();
const pgAdmin = postgres(server.url, { max: 1, onnotice: () => {} });
after(async () => {
  await pgAdmin.end({ timeout: 1 });
  await server.stop();
  rmSync(root, { recursive: true, force: true });
});

const backends: [string, () => Promise<Cluster>][] = [
  [
    'memory',
    async () => {
      const shared = {
        users: new MemoryUserStore(),
        sessions: new MemorySessionStore(),
        audit: new MemoryAuditLog(),
      };
      return { nodes: [node(shared), node(shared)], close: () => shared.sessions.close() };
    },
  ],
  [
    'sqlite',
    async () => {
      const path = join(mkdtempSync(join(root, 'db-')), 'coatcheck.db');
      const [one, two] = [openSqliteStores(path), openSqliteStores(path)];
      return {
        nodes: [node(one), node(two)],
        close: async () => {
          await one.close();
          await two.close();
        },
      };
    },
  ],
  [
    'postgres',
    async () => {
      const schema = `race_${randomBytes(6).toString('hex')}`;
      await pgAdmin.unsafe(`CREATE SCHEMA ${schema}`);
      const url = `${server.url}?search_path=${schema}`;
      const one = await openPostgresStores(url);
      const two = await openPostgresStores(url);
      return {
        nodes: [node(one), node(two)],
        close: async () => {
          await one.close();
          await two.close();
        },
      };
    },
  ],
];

function makeAdmin(email: string): UserRecord {
  const now = Date.now();
  return {
    id: randomBytes(16).toString('base64url'),
    email,
    name: null,
    roles: ADMIN,
    locked: false,
    passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA',
    passwordChangedAt: now,
    createdAt: now,
  };
}

/** A fresh session of `user` on `on`, validated there: what a request's handler holds. */
async function signedIn(on: Node, user: UserRecord): Promise<Actor> {
  const { token } = await on.engine.create(user, { authenticatedAt: Date.now() });
  const result = await on.engine.validate(token);
  assert.ok(result.ok, 'the admin is signed in');
  return { session: result.session, user: result.user };
}

type Change = (on: Node, actor: Actor, targetId: string) => Promise<unknown>;
const demote: Change = (on, actor, id) => on.accounts.setRoles(actor, id, ['user']);
const lock: Change = (on, actor, id) => on.accounts.setLocked(actor, id, true);

const races: [string, Change, Change][] = [
  ['demote each other', demote, demote],
  ['lock each other', lock, lock],
  ['demote and lock each other', demote, lock],
];

for (const [backend, open] of backends) {
  describe(`admins racing each other: ${backend}`, () => {
    for (const [title, byA, byB] of races) {
      it(`two admins on two nodes ${title} at once, ${ROUNDS} times: one is refused (forbidden), one admin remains`, async () => {
        const cluster = await open();
        try {
          const [nodeA, nodeB] = cluster.nodes;
          const a = makeAdmin('a@example.test');
          const b = makeAdmin('b@example.test');
          assert.ok(await nodeA.users.create(a));
          assert.ok(await nodeA.users.create(b));
          for (let round = 0; round < ROUNDS; round++) {
            await nodeA.users.update(a.id, { roles: ADMIN, locked: false });
            await nodeA.users.update(b.id, { roles: ADMIN, locked: false });
            const actorA = await signedIn(nodeA, a);
            const actorB = await signedIn(nodeB, b);
            const outcomes = await Promise.allSettled([
              byA(nodeA, actorA, b.id),
              byB(nodeB, actorB, a.id),
            ]);
            const refused = outcomes.filter((o) => o.status === 'rejected');
            assert.equal(refused.length, 1, `round ${round}: exactly one of the two is refused`);
            const reason = (refused[0] as PromiseRejectedResult).reason;
            assert.ok(reason instanceof ForbiddenError, `round ${round}: got ${reason}`);
            assert.equal(reason.code, 'forbidden');
            const admins = [];
            for (const id of [a.id, b.id]) {
              const user = await nodeB.users.findById(id);
              if (user && !user.locked && user.roles.includes('admin')) admins.push(id);
            }
            const winner = outcomes[0]?.status === 'fulfilled' ? a.id : b.id;
            assert.deepEqual(admins, [winner], `round ${round}: the winner is still an admin`);
          }
        } finally {
          await cluster.close();
        }
      });
    }
  });
}
