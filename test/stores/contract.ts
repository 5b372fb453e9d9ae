/**
 * The store contract: every SessionStore, UserStore and AuditLog runs these same cases against a
 * real backend (memory, SQLite, and later Redis and PostgreSQL). A store is done when it passes.
 * Times are built relative to Date.now() because stores judge expiry by their own clock.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { UserPatch, UserRecord, UserStore } from '../../src/accounts/user-store.ts';
import { SessionEngine } from '../../src/core/engine.ts';
import type { AuditEvent, AuditLog, SessionRecord, SessionStore } from '../../src/core/store.ts';
import { generateToken, hashSecret } from '../../src/core/token.ts';

/** A fresh, empty store and a way to dispose of it (called even when a case fails). */
export type StoreFactory<T> = () => Promise<{ store: T; cleanup(): Promise<void> }>;

/** What differs legitimately between backends. */
export interface SessionContractOptions {
  /** The backend expires records by native TTL, so `sweep` may remove nothing and return 0. */
  sweepsByTtl?: boolean;
  /**
   * Two stores on one fresh backend, as two server nodes have (each its own connections), for
   * the race cases. @default the factory's one store, twice
   */
  pair?: StoreFactory<readonly [SessionStore, SessionStore]>;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const ODD_IDS = ['ユーザー', 'a\'b"c', '1; DROP TABLE sessions; --', '%_*?\\', ' spaced ', '🧥🎟️'];

async function withStore<T>(factory: StoreFactory<T>, fn: (store: T) => Promise<void>) {
  const { store, cleanup } = await factory();
  try {
    await fn(store);
  } finally {
    await cleanup();
  }
}

/** A live session of `userId` created a minute ago, expiring in an hour, plus its raw token. */
export function makeSession(
  userId: string,
  overrides: Partial<SessionRecord> = {},
): { record: SessionRecord; token: string; secret: string } {
  const { id, token, secret, secretHash } = generateToken();
  const now = Date.now();
  const record: SessionRecord = {
    id,
    secretHash,
    userId,
    createdAt: now - MINUTE,
    lastSeenAt: now - MINUTE,
    authenticatedAt: now - MINUTE,
    persistent: true,
    expiresAt: now + HOUR,
    ip: '203.0.113.7',
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0',
    device: 'Firefox 131 on Linux',
    replacedBy: null,
    graceUntil: null,
    ...overrides,
  };
  return { record, token, secret };
}

/**
 * 100 rounds: a session created through `one`, rotated through `two` while `revoke` runs 0–3 ms
 * later (before, during and after the rotation's commit). `revoke` must find `previous` live
 * (true, or a count of at least 1), and whichever took effect first, neither session may be left
 * in either store: `next` exists only if it was rotated out of `previous`.
 */
async function raceRotations(
  one: SessionStore,
  two: SessionStore,
  prefix: string,
  revoke: (user: string, previous: SessionRecord) => Promise<boolean | number>,
): Promise<void> {
  for (let round = 0; round < 100; round++) {
    const user = `${prefix}-${round}`;
    const previous = makeSession(user).record;
    const next = makeSession(user).record;
    await one.create(previous);
    const [won, found] = await Promise.all([
      two.rotate({
        previousId: previous.id,
        next,
        graceUntil: Date.now() + 30_000,
        tombstoneExpiresAt: Date.now() + HOUR,
      }),
      sleep(Math.random() * 3).then(() => revoke(user, previous)),
    ]);
    const state = `round ${round}, rotate returned ${won}`;
    const live = found === true || (typeof found === 'number' && found >= 1);
    assert.ok(live, `${state}: the revoke found no live session (${found})`);
    for (const store of [one, two]) {
      assert.equal(await store.get(previous.id), null, `${state}: previous survived`);
      assert.equal(await store.get(next.id), null, `${state}: next is alive`);
      assert.deepEqual(await store.listByUser(user), [], `${state}: sessions listed`);
    }
  }
}

/** Plain, comparable form: hash bytes as an array (Buffer vs Uint8Array must not matter). */
function plain(record: SessionRecord | null) {
  return record === null ? null : { ...record, secretHash: [...record.secretHash] };
}

function ids(records: readonly SessionRecord[]): string[] {
  return records.map((r) => r.id);
}

/** Registers the SessionStore contract cases under `describe(name)`. */
export function sessionStoreContract(
  name: string,
  factory: StoreFactory<SessionStore>,
  options: SessionContractOptions = {},
): void {
  const run = (fn: (store: SessionStore) => Promise<void>) => () => withStore(factory, fn);
  const pair: StoreFactory<readonly [SessionStore, SessionStore]> =
    options.pair ??
    (async () => {
      const { store, cleanup } = await factory();
      return { store: [store, store] as const, cleanup };
    });
  const runPair = (fn: (stores: readonly [SessionStore, SessionStore]) => Promise<void>) => () =>
    withStore(pair, fn);

  describe(`SessionStore contract: ${name}`, () => {
    it(
      'returns every field as created, hash bytes and nulls included',
      run(async (store) => {
        const full = makeSession('user-1').record;
        const sparse = makeSession('user-1', { ip: null, userAgent: null, persistent: false });
        await store.create(full);
        await store.create(sparse.record);
        const got = await store.get(full.id);
        assert.ok(got?.secretHash instanceof Uint8Array);
        assert.deepEqual(plain(got), plain(full));
        assert.deepEqual(plain(await store.get(sparse.record.id)), plain(sparse.record));
      }),
    );

    it(
      'returns null for an unknown id',
      run(async (store) => {
        assert.equal(await store.get(generateToken().id), null);
        assert.equal(await store.get(''), null);
      }),
    );

    it(
      'returns null once expiresAt has passed',
      run(async (store) => {
        const { record } = makeSession('user-1', { expiresAt: Date.now() - 1000 });
        await store.create(record);
        assert.equal(await store.get(record.id), null);
      }),
    );

    it(
      'touch renews lastSeenAt and expiresAt of a live session only',
      run(async (store) => {
        const { record } = makeSession('user-1');
        await store.create(record);
        const touch = { lastSeenAt: Date.now(), expiresAt: Date.now() + 2 * HOUR };
        await store.touch(record.id, touch);
        assert.deepEqual(plain(await store.get(record.id)), plain({ ...record, ...touch }));

        const unknown = generateToken().id;
        await store.touch(unknown, touch);
        assert.equal(await store.get(unknown), null, 'touch must not create a session');

        const expired = makeSession('user-1', { expiresAt: Date.now() - 1000 }).record;
        await store.create(expired);
        await store.touch(expired.id, touch);
        assert.equal(await store.get(expired.id), null, 'touch must not resurrect a session');
      }),
    );

    it(
      'touch leaves a rotated-out session (tombstone) as it is',
      run(async (store) => {
        const previous = makeSession('user-1').record;
        const next = makeSession('user-1').record;
        await store.create(previous);
        const graceUntil = Date.now() + 30_000;
        const tombstoneExpiresAt = Date.now() + HOUR / 2;
        assert.equal(
          await store.rotate({ previousId: previous.id, next, graceUntil, tombstoneExpiresAt }),
          true,
        );
        const before = plain(await store.get(previous.id));
        await store.touch(previous.id, {
          lastSeenAt: Date.now(),
          expiresAt: Date.now() + 9 * HOUR,
        });
        assert.deepEqual(plain(await store.get(previous.id)), before);
      }),
    );

    it(
      'rotate inserts the next session and tombstones the previous one',
      run(async (store) => {
        const previous = makeSession('user-1').record;
        const next = makeSession('user-1', { lastSeenAt: Date.now() }).record;
        await store.create(previous);
        const graceUntil = Date.now() + 30_000;
        const tombstoneExpiresAt = Date.now() + HOUR / 2;
        assert.equal(
          await store.rotate({ previousId: previous.id, next, graceUntil, tombstoneExpiresAt }),
          true,
        );
        assert.deepEqual(plain(await store.get(next.id)), plain(next));
        assert.deepEqual(
          plain(await store.get(previous.id)),
          plain({ ...previous, replacedBy: next.id, graceUntil, expiresAt: tombstoneExpiresAt }),
        );
      }),
    );

    it(
      'rotate refuses an unknown, expired or already-rotated previous id and writes nothing',
      run(async (store) => {
        const args = { graceUntil: Date.now() + 30_000, tombstoneExpiresAt: Date.now() + HOUR };
        const orphan = makeSession('user-1').record;
        assert.equal(
          await store.rotate({ ...args, previousId: generateToken().id, next: orphan }),
          false,
        );
        assert.equal(await store.get(orphan.id), null);

        const expired = makeSession('user-1', { expiresAt: Date.now() - 1000 }).record;
        await store.create(expired);
        assert.equal(await store.rotate({ ...args, previousId: expired.id, next: orphan }), false);
        assert.equal(await store.get(orphan.id), null);
        assert.equal(await store.get(expired.id), null);

        const previous = makeSession('user-1').record;
        const first = makeSession('user-1').record;
        const second = makeSession('user-1').record;
        await store.create(previous);
        assert.equal(await store.rotate({ ...args, previousId: previous.id, next: first }), true);
        const tombstone = plain(await store.get(previous.id));
        assert.equal(
          await store.rotate({
            ...args,
            graceUntil: args.graceUntil + 1,
            previousId: previous.id,
            next: second,
          }),
          false,
        );
        assert.equal(await store.get(second.id), null);
        assert.deepEqual(plain(await store.get(previous.id)), tombstone);
      }),
    );

    it(
      'of 10 concurrent rotations of one session exactly one wins',
      run(async (store) => {
        const previous = makeSession('user-1').record;
        await store.create(previous);
        const nexts = Array.from({ length: 10 }, () => makeSession('user-1').record);
        const results = await Promise.all(
          nexts.map((next) =>
            store.rotate({
              previousId: previous.id,
              next,
              graceUntil: Date.now() + 30_000,
              tombstoneExpiresAt: Date.now() + HOUR,
            }),
          ),
        );
        assert.equal(results.filter(Boolean).length, 1);
        const winner = nexts[results.indexOf(true)];
        assert.equal((await store.get(previous.id))?.replacedBy, winner?.id);
        const stored = await Promise.all(nexts.map((n) => store.get(n.id)));
        assert.deepEqual(
          stored.filter((s) => s !== null).map((s) => s.id),
          [winner?.id],
        );
      }),
    );

    it(
      'a revoke-all racing a rotation leaves neither session alive (100 races)',
      runPair(([one, two]) =>
        raceRotations(one, two, 'racer', (user) => one.deleteByUser({ userId: user })),
      ),
    );

    it(
      "an engine's revoke racing a rotation leaves neither session alive (100 races)",
      runPair(([one, two]) => {
        // The engine follows `replacedBy` after each delete; the store's part is that each call is
        // atomic on its record, so the rotation commits first or finds `previous` gone.
        const engine = new SessionEngine({ store: one, users: { findById: () => null } });
        return raceRotations(one, two, 'revoker', (_user, previous) => engine.revoke(previous.id));
      }),
    );

    it(
      'delete removes one record and says what it was: unexpired, and its successor if any',
      run(async (store) => {
        const { record } = makeSession('user-1');
        await store.create(record);
        assert.deepEqual(await store.delete(record.id), {
          unexpired: true,
          replacedBy: null,
        });
        assert.equal(await store.get(record.id), null);
        assert.equal(await store.delete(record.id), null);
        assert.equal(await store.delete(generateToken().id), null);

        const previous = makeSession('user-1').record;
        const next = makeSession('user-1').record;
        await store.create(previous);
        await store.rotate({
          previousId: previous.id,
          next,
          graceUntil: Date.now() + 30_000,
          tombstoneExpiresAt: Date.now() + HOUR,
        });
        assert.deepEqual(await store.delete(previous.id), {
          unexpired: true,
          replacedBy: next.id,
        });
        assert.equal(await store.get(previous.id), null);
        assert.notEqual(await store.get(next.id), null, 'the successor is the caller’s to delete');

        const expired = makeSession('user-1', { expiresAt: Date.now() - 1000 }).record;
        await store.create(expired);
        // Gone already (a store with native TTL) or removed now, but never reported unexpired.
        assert.notEqual((await store.delete(expired.id))?.unexpired, true);
      }),
    );

    it(
      "deleteByUser removes all the user's records, tombstones too, and counts live ones",
      run(async (store) => {
        const live = makeSession('alice').record;
        const rotated = makeSession('alice').record;
        const replacement = makeSession('alice').record;
        const expired = makeSession('alice', { expiresAt: Date.now() - 1000 }).record;
        const bobs = makeSession('bob').record;
        for (const r of [live, rotated, expired, bobs]) await store.create(r);
        await store.rotate({
          previousId: rotated.id,
          next: replacement,
          graceUntil: Date.now() + 30_000,
          tombstoneExpiresAt: Date.now() + HOUR,
        });
        assert.equal(await store.deleteByUser({ userId: 'alice' }), 2);
        for (const r of [live, rotated, replacement]) assert.equal(await store.get(r.id), null);
        assert.deepEqual(plain(await store.get(bobs.id)), plain(bobs));
        assert.equal(await store.deleteByUser({ userId: 'alice' }), 0);
        assert.equal(await store.deleteByUser({ userId: 'nobody' }), 0);
      }),
    );

    it(
      'deleteByUser with exceptId keeps exactly that session',
      run(async (store) => {
        const sessions = Array.from({ length: 3 }, () => makeSession('alice').record);
        const bobs = makeSession('bob').record;
        for (const r of [...sessions, bobs]) await store.create(r);
        const kept = sessions[1] as SessionRecord;
        assert.equal(await store.deleteByUser({ userId: 'alice', exceptId: kept.id }), 2);
        assert.deepEqual(ids(await store.listByUser('alice')), [kept.id]);
        assert.deepEqual(ids(await store.listByUser('bob')), [bobs.id]);
        // Another user's id as exceptId protects nothing of this user's.
        assert.equal(await store.deleteByUser({ userId: 'alice', exceptId: bobs.id }), 1);
        assert.deepEqual(ids(await store.listByUser('bob')), [bobs.id]);
      }),
    );

    it(
      'listByUser lists live sessions only, most recently used first',
      run(async (store) => {
        const now = Date.now();
        const old = makeSession('alice', { lastSeenAt: now - 50 * MINUTE }).record;
        const recent = makeSession('alice', { lastSeenAt: now - 1000 }).record;
        const middle = makeSession('alice', { lastSeenAt: now - 5 * MINUTE }).record;
        const expired = makeSession('alice', { lastSeenAt: now, expiresAt: now - 1 }).record;
        const rotated = makeSession('alice', { lastSeenAt: now }).record;
        const replacement = makeSession('alice', { lastSeenAt: now - 10 * MINUTE }).record;
        for (const r of [old, recent, middle, expired, rotated]) await store.create(r);
        await store.rotate({
          previousId: rotated.id,
          next: replacement,
          graceUntil: now + 30_000,
          tombstoneExpiresAt: now + HOUR,
        });
        const listed = await store.listByUser('alice');
        assert.deepEqual(ids(listed), [recent.id, middle.id, replacement.id, old.id]);
        assert.deepEqual(plain(listed[0] ?? null), plain(recent));
        assert.deepEqual(await store.listByUser('nobody'), []);
      }),
    );

    it(
      'sweep removes expired records only',
      run(async (store) => {
        const now = Date.now();
        const expired = [now - HOUR, now - 1].map(
          (expiresAt) => makeSession('alice', { expiresAt }).record,
        );
        const soon = makeSession('alice', { expiresAt: now + HOUR }).record;
        const later = makeSession('alice', { expiresAt: now + 2 * HOUR }).record;
        for (const r of [...expired, soon, later]) await store.create(r);
        const removed = await store.sweep(now);
        assert.ok(
          removed === expired.length || (options.sweepsByTtl && removed === 0),
          `removed ${removed}`,
        );
        assert.deepEqual(ids(await store.listByUser('alice')).sort(), [soon.id, later.id].sort());
        if (!options.sweepsByTtl) {
          // The argument is the clock: a later `now` sweeps what would have expired by then.
          assert.equal(await store.sweep(now + 90 * MINUTE), 1);
          assert.deepEqual(ids(await store.listByUser('alice')), [later.id]);
        }
      }),
    );

    it(
      'keeps only SHA-256 of the secret, never the raw token',
      run(async (store) => {
        const { record, token, secret } = makeSession('alice');
        await store.create(record);
        const got = await store.get(record.id);
        assert.ok(got !== null);
        assert.deepEqual([...got.secretHash], [...hashSecret(secret)]);
        for (const [field, value] of Object.entries(got)) {
          const text =
            value instanceof Uint8Array ? Buffer.from(value).toString('latin1') : String(value);
          assert.ok(!text.includes(secret), `${field} holds the secret`);
          assert.ok(!text.includes(token), `${field} holds the token`);
        }
      }),
    );

    it(
      "keeps many users' sessions apart",
      run(async (store) => {
        const users = Array.from({ length: 40 }, (_, i) => `user-${i}`);
        const byUser = new Map<string, string[]>();
        await Promise.all(
          users.flatMap((user) =>
            [0, 1, 2].map((i) => {
              const { record } = makeSession(user, { lastSeenAt: Date.now() - i * MINUTE });
              byUser.set(user, [...(byUser.get(user) ?? []), record.id]);
              return store.create(record);
            }),
          ),
        );
        for (const user of users)
          assert.deepEqual(ids(await store.listByUser(user)), byUser.get(user));
        assert.equal(await store.deleteByUser({ userId: 'user-7' }), 3);
        assert.deepEqual(await store.listByUser('user-7'), []);
        assert.deepEqual(ids(await store.listByUser('user-8')), byUser.get('user-8'));
        assert.deepEqual(ids(await store.listByUser('user-1')), byUser.get('user-1'));
      }),
    );

    it(
      'treats unicode and hostile user ids as plain data',
      run(async (store) => {
        const records = ODD_IDS.map((userId) => makeSession(userId).record);
        for (const r of records) await store.create(r);
        for (const r of records) {
          assert.deepEqual(plain(await store.get(r.id)), plain(r));
          assert.deepEqual(ids(await store.listByUser(r.userId)), [r.id]);
        }
        assert.deepEqual(await store.listByUser('%'), []);
        assert.equal(await store.deleteByUser({ userId: '1; DROP TABLE sessions; --' }), 1);
        assert.equal((await store.listByUser('ユーザー')).length, 1);
      }),
    );

    it(
      'closes cleanly, and twice without error',
      run(async (store) => {
        await store.create(makeSession('alice').record);
        await store.close();
        await store.close();
      }),
    );
  });
}

/** A user record with sensible defaults. */
export function makeUser(overrides: Partial<UserRecord> = {}): UserRecord {
  const now = Date.now();
  const id = overrides.id ?? generateToken().id;
  return {
    id,
    email: `${id.toLowerCase()}@example.com`,
    name: 'Ada Lovelace',
    roles: ['user'],
    locked: false,
    passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA',
    passwordChangedAt: now - HOUR,
    createdAt: now - HOUR,
    ...overrides,
  };
}

/**
 * `getWithUser` of a store that holds the users too (SQLite, PostgreSQL): the session and the
 * user's current roles and lock in one read, only the SessionUser fields (never the password
 * hash), the user null once its row is gone (`deleteUserRow` deletes it behind the store's back).
 */
export async function checkJoinedRead(
  stores: { sessions: SessionStore; users: UserStore },
  deleteUserRow: (id: string) => Promise<unknown>,
): Promise<void> {
  const { sessions, users } = stores;
  assert.ok(sessions.getWithUser);
  assert.equal(sessions.colocatedUsers, users);
  const user = makeUser({ roles: ['admin', 'user'] });
  await users.create(user);
  const { record } = makeSession(user.id);
  await sessions.create(record);
  const first = await sessions.getWithUser(record.id);
  assert.deepEqual([...(first?.session.secretHash ?? [])], [...record.secretHash]);
  const { id, email, name, roles, locked } = user;
  assert.deepEqual(first?.user, { id, email, name, roles, locked }, 'no password hash');
  await users.update(user.id, { roles: ['user'], locked: true });
  const second = await sessions.getWithUser(record.id);
  assert.deepEqual(second?.user?.roles, ['user']);
  assert.equal(second?.user?.locked, true);
  await deleteUserRow(user.id);
  assert.equal((await sessions.getWithUser(record.id))?.user, null);
  assert.equal(await sessions.getWithUser(generateToken().id), null);
}

/** Registers the UserStore contract cases under `describe(name)`. */
export function userStoreContract(name: string, factory: StoreFactory<UserStore>): void {
  const run = (fn: (store: UserStore) => Promise<void>) => () => withStore(factory, fn);

  describe(`UserStore contract: ${name}`, () => {
    it(
      'finds a created user by id and by email, every field intact',
      run(async (store) => {
        const ada = makeUser({ email: 'ada@example.com', roles: ['admin', 'user'] });
        const grace = makeUser({ email: 'grâce.ünïcode@exämple.com', name: null, roles: [] });
        assert.equal(await store.create(ada), true);
        assert.equal(await store.create(grace), true);
        assert.deepEqual({ ...(await store.findById(ada.id)) }, ada);
        assert.deepEqual({ ...(await store.findByEmail('ada@example.com')) }, ada);
        assert.deepEqual({ ...(await store.findByEmail(grace.email)) }, grace);
      }),
    );

    it(
      'returns null for an unknown id or email',
      run(async (store) => {
        await store.create(makeUser({ email: 'ada@example.com' }));
        assert.equal(await store.findById('nope'), null);
        assert.equal(await store.findByEmail('nobody@example.com'), null);
        assert.equal(await store.findByEmail("' OR 1=1 --"), null);
      }),
    );

    it(
      'refuses a second account with the same email and writes nothing',
      run(async (store) => {
        const first = makeUser({ email: 'ada@example.com' });
        const second = makeUser({ email: 'ada@example.com', name: 'Impostor' });
        assert.equal(await store.create(first), true);
        assert.equal(await store.create(second), false);
        assert.equal(await store.findById(second.id), null);
        assert.deepEqual({ ...(await store.findByEmail('ada@example.com')) }, first);
        assert.equal(await store.count(), 1);
      }),
    );

    it(
      'update applies only the given fields and returns the result',
      run(async (store) => {
        const user = makeUser({ email: 'ada@example.com' });
        await store.create(user);
        const changedAt = Date.now();
        const cases: [Parameters<UserStore['update']>[1], Partial<UserRecord>][] = [
          [{ roles: ['admin', 'auditor'] }, { roles: ['admin', 'auditor'] }],
          [{ locked: true }, { locked: true }],
          [{ name: null }, { name: null }],
          [{ name: 'Ada King' }, { name: 'Ada King' }],
          [{ roles: [] }, { roles: [] }],
          [
            { passwordHash: '$argon2id$new', passwordChangedAt: changedAt },
            { passwordHash: '$argon2id$new', passwordChangedAt: changedAt },
          ],
          [
            { locked: false, roles: ['user'] },
            { locked: false, roles: ['user'] },
          ],
          [{}, {}],
        ];
        let expected: UserRecord = user;
        for (const [patch, change] of cases) {
          expected = { ...expected, ...change };
          assert.deepEqual(
            { ...(await store.update(user.id, patch)) },
            expected,
            JSON.stringify(patch),
          );
          assert.deepEqual({ ...(await store.findById(user.id)) }, expected);
        }
        assert.deepEqual({ ...(await store.findByEmail('ada@example.com')) }, expected);
      }),
    );

    it(
      'update of an unknown id returns null and creates nothing',
      run(async (store) => {
        assert.equal(await store.update('ghost', { locked: true }), null);
        assert.equal(await store.findById('ghost'), null);
        assert.equal(await store.count(), 0);
      }),
    );

    it(
      'updateAuthorised writes only while the authority is an unlocked holder of the role',
      run(async (store) => {
        const ada = makeUser({ email: 'ada@example.com', roles: ['user', 'admin'] });
        const bob = makeUser({ email: 'bob@example.com', roles: ['user', 'admin'] });
        const eve = makeUser({ email: 'eve@example.com', roles: ['user'] });
        for (const user of [ada, bob, eve]) await store.create(user);
        const byAda = { userId: ada.id, role: 'admin' };
        const result = await store.updateAuthorised(bob.id, { roles: ['user'] }, byAda);
        assert.equal(result.status, 'updated');
        assert.ok(result.status === 'updated');
        assert.deepEqual({ ...result.user }, { ...bob, roles: ['user'] });
        assert.deepEqual({ ...result.previous }, bob, 'the row as it was before the write');
        const unchanged = async () => {
          assert.deepEqual({ ...(await store.findById(ada.id)) }, ada);
          assert.deepEqual({ ...(await store.findById(bob.id)) }, { ...bob, roles: ['user'] });
          assert.deepEqual({ ...(await store.findById(eve.id)) }, eve);
        };
        const refusals: [string, UserPatch, { userId: string; role: string }][] = [
          [eve.id, { locked: true }, { userId: bob.id, role: 'admin' }], // bob was just demoted
          [eve.id, { locked: true }, { userId: eve.id, role: 'admin' }], // never had the role
          [eve.id, { locked: true }, { userId: 'ghost', role: 'admin' }], // no such authority
          [eve.id, { locked: true }, { userId: ada.id, role: 'Admin' }], // roles match exactly
          [ada.id, { roles: ['user'] }, byAda], // would lose the role itself
          [ada.id, { roles: [] }, byAda],
          [ada.id, { locked: true }, byAda], // would lock itself
          [ada.id, { locked: true, roles: ['admin'] }, byAda],
          ['ghost', { locked: true }, { userId: bob.id, role: 'admin' }], // refused before not found
        ];
        for (const [id, patch, by] of refusals) {
          const refused = await store.updateAuthorised(id, patch, by);
          assert.deepEqual(refused, { status: 'refused' }, JSON.stringify({ id, patch, by }));
        }
        await unchanged();
        assert.deepEqual(await store.updateAuthorised('ghost', { locked: true }, byAda), {
          status: 'no_user',
        });
        assert.equal(await store.findById('ghost'), null);
        await unchanged();
        // Keeping the role (and staying unlocked) while changing oneself is allowed.
        const self = await store.updateAuthorised(
          ada.id,
          { roles: ['admin'], locked: false },
          byAda,
        );
        assert.equal(self.status, 'updated');
        await store.update(ada.id, { locked: true });
        const locked = await store.updateAuthorised(eve.id, { locked: true }, byAda);
        assert.deepEqual(locked, { status: 'refused' }, 'a locked authority');
        assert.equal((await store.findById(eve.id))?.locked, false);
      }),
    );

    it(
      'lists users ordered by email, page by page, and counts them',
      run(async (store) => {
        assert.equal(await store.count(), 0);
        assert.deepEqual(await store.list({ limit: 10, offset: 0 }), []);
        const emails = [
          'dora@example.com',
          'alan@example.com',
          'carl@example.com',
          'bea@example.com',
          'eve@example.com',
        ];
        for (const email of emails) await store.create(makeUser({ email }));
        assert.equal(await store.count(), 5);
        const page = async (limit: number, offset: number) =>
          (await store.list({ limit, offset })).map((u) => u.email);
        const sorted = [...emails].sort();
        assert.deepEqual(await page(10, 0), sorted);
        assert.deepEqual(await page(2, 0), sorted.slice(0, 2));
        assert.deepEqual(await page(2, 2), sorted.slice(2, 4));
        assert.deepEqual(await page(2, 4), sorted.slice(4));
        assert.deepEqual(await page(2, 10), []);
        assert.deepEqual(await page(0, 0), []);
      }),
    );
  });
}

/**
 * Registers the race cases of `updateAuthorised` under `describe(name)`. The factory gives two
 * stores over one database (two connections, pools or processes' worth where the backend has
 * them; the same object for memory), so each side of a race runs on its own. Two admins who
 * demote or lock each other at the same instant: exactly one write lands, and an unlocked admin
 * always remains.
 */
export function userStoreRaceContract(
  name: string,
  factory: StoreFactory<readonly [UserStore, UserStore]>,
): void {
  const run = (fn: (stores: readonly [UserStore, UserStore]) => Promise<void>) => () =>
    withStore(factory, fn);
  const ROUNDS = 25;
  const ADMIN = ['user', 'admin'];
  const changes: [string, UserPatch, UserPatch][] = [
    ['two admins demote each other', { roles: ['user'] }, { roles: ['user'] }],
    ['two admins lock each other', { locked: true }, { locked: true }],
    ['an admin demotes another who locks them', { roles: ['user'] }, { locked: true }],
  ];

  describe(`UserStore race: ${name}`, () => {
    for (const [title, patchOfB, patchOfA] of changes) {
      it(
        `${title} at once, ${ROUNDS} times: one write lands, one admin remains`,
        run(async ([one, two]) => {
          const a = makeUser({ email: 'a@example.com', roles: ADMIN });
          const b = makeUser({ email: 'b@example.com', roles: ADMIN });
          const c = makeUser({ email: 'c@example.com', roles: ['user'] });
          for (const user of [a, b, c]) await one.create(user);
          const isActiveAdmin = (u: UserRecord | null) =>
            u !== null && !u.locked && u.roles.includes('admin');
          const wins = { a: 0, b: 0 };
          for (let round = 0; round < ROUNDS; round++) {
            await one.update(a.id, { roles: ADMIN, locked: false });
            await one.update(b.id, { roles: ADMIN, locked: false });
            const [byA, byB] = await Promise.all([
              one.updateAuthorised(b.id, patchOfB, { userId: a.id, role: 'admin' }),
              two.updateAuthorised(a.id, patchOfA, { userId: b.id, role: 'admin' }),
            ]);
            const statuses = [byA.status, byB.status].sort();
            assert.deepEqual(statuses, ['refused', 'updated'], `round ${round}`);
            if (byA.status === 'updated') wins.a++;
            else wins.b++;
            const admins = [await one.findById(a.id), await two.findById(b.id)].filter(
              isActiveAdmin,
            );
            assert.equal(admins.length, 1, `round ${round}: exactly the winner is still admin`);
            assert.equal(admins[0]?.id, byA.status === 'updated' ? a.id : b.id);
          }
          assert.equal(wins.a + wins.b, ROUNDS);
          // The bystander is never touched, and no third row appeared.
          assert.deepEqual({ ...(await two.findById(c.id)) }, c);
          assert.equal(await one.count(), 3);
        }),
      );
    }

    it(
      'many admins each demoting the next, all at once: an unlocked admin always remains',
      run(async ([one, two]) => {
        const admins = Array.from({ length: 6 }, (_, i) =>
          makeUser({ email: `admin${i}@example.com`, roles: ADMIN }),
        );
        for (const user of admins) await one.create(user);
        for (let round = 0; round < 10; round++) {
          for (const user of admins) await one.update(user.id, { roles: ADMIN, locked: false });
          const results = await Promise.all(
            admins.map((actor, i) => {
              const target = admins[(i + 1) % admins.length] as UserRecord;
              const patch: UserPatch = i % 2 === 0 ? { roles: ['user'] } : { locked: true };
              const store = i % 2 === 0 ? one : two;
              return store.updateAuthorised(target.id, patch, { userId: actor.id, role: 'admin' });
            }),
          );
          const left = [];
          for (const user of admins) {
            const now = await one.findById(user.id);
            if (now !== null && !now.locked && now.roles.includes('admin')) left.push(user.id);
          }
          assert.ok(left.length >= 1, `round ${round}: no admin left`);
          assert.ok(
            results.some((r) => r.status === 'refused'),
            `round ${round}: a cycle`,
          );
        }
      }),
    );
  });
}

function event(overrides: Partial<AuditEvent> = {}): AuditEvent {
  return {
    type: 'login.succeeded',
    at: Date.now(),
    userId: 'alice',
    ip: '198.51.100.4',
    sessionId: generateToken().id,
    detail: null,
    ...overrides,
  };
}

/** Registers the AuditLog contract cases under `describe(name)`. */
export function auditLogContract(name: string, factory: StoreFactory<AuditLog>): void {
  const run = (fn: (log: AuditLog) => Promise<void>) => () => withStore(factory, fn);

  describe(`AuditLog contract: ${name}`, () => {
    it(
      'returns recorded events with every field intact',
      run(async (log) => {
        const full = event({
          type: 'session.theft_suspected',
          detail: { revoked: 'a,b', hops: 2, bulk: false, note: null },
        });
        const sparse = event({
          type: 'login.failed',
          userId: null,
          ip: null,
          sessionId: null,
          at: full.at - 1,
        });
        await log.record(full);
        await log.record(sparse);
        assert.deepEqual(
          (await log.list({ limit: 10 })).map((e) => ({ ...e })),
          [full, sparse],
        );
      }),
    );

    it(
      'lists newest first, recording order breaking ties',
      run(async (log) => {
        const at = Date.now();
        const events = [
          event({ at: at - 2000, type: 'signup' }),
          event({ at, type: 'logout' }),
          event({ at: at - 1000, type: 'login.succeeded' }),
          event({ at, type: 'session.revoked' }),
        ];
        for (const e of events) await log.record(e);
        assert.deepEqual(
          (await log.list({ limit: 10 })).map((e) => e.type),
          ['session.revoked', 'logout', 'login.succeeded', 'signup'],
        );
      }),
    );

    it(
      "filters by user and never shows another user's events",
      run(async (log) => {
        await log.record(event({ userId: 'alice', type: 'login.succeeded' }));
        await log.record(event({ userId: 'bob', type: 'login.failed' }));
        await log.record(event({ userId: null, type: 'login.throttled' }));
        await log.record(event({ userId: 'a\'b"c', type: 'logout' }));
        assert.deepEqual(
          (await log.list({ userId: 'bob', limit: 10 })).map((e) => e.type),
          ['login.failed'],
        );
        assert.deepEqual(
          (await log.list({ userId: 'a\'b"c', limit: 10 })).map((e) => e.type),
          ['logout'],
        );
        assert.deepEqual(await log.list({ userId: 'carol', limit: 10 }), []);
        assert.equal((await log.list({ limit: 10 })).length, 4);
      }),
    );

    it(
      'returns at most limit events, the newest',
      run(async (log) => {
        const at = Date.now();
        for (let i = 0; i < 25; i++) await log.record(event({ at: at + i, detail: { i } }));
        const listed = await log.list({ limit: 5 });
        assert.deepEqual(
          listed.map((e) => e.detail?.i),
          [24, 23, 22, 21, 20],
        );
        assert.equal((await log.list({ userId: 'alice', limit: 3 })).length, 3);
        assert.deepEqual(await log.list({ limit: 0 }), []);
      }),
    );
  });
}
