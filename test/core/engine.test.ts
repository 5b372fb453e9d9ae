import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type GuessLimiter, SessionEngine, type ValidateResult } from '../../src/core/engine.ts';
import type { PolicyOptions } from '../../src/core/policy.ts';
import type { SessionStore, SessionUser, UserLookup } from '../../src/core/store.ts';
import { MemoryAuditLog, MemorySessionStore, MemoryUserStore } from '../../src/stores/memory.ts';
import { openSqliteStores } from '../../src/stores/sqlite.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

/** A mutable user directory: tests change roles/locks between requests like an admin would. */
class Users implements UserLookup {
  readonly map = new Map<string, SessionUser>();
  add(id: string, roles: string[] = ['user']): SessionUser {
    const user = { id, email: `${id}@example.com`, name: null, roles, locked: false };
    this.map.set(id, user);
    return user;
  }
  set(id: string, patch: Partial<SessionUser>): void {
    const user = this.map.get(id);
    assert.ok(user);
    this.map.set(id, { ...user, ...patch });
  }
  async findById(id: string): Promise<SessionUser | null> {
    return this.map.get(id) ?? null;
  }
}

function setup(policy: PolicyOptions = {}, extra: { guessLimiter?: GuessLimiter } = {}) {
  // Starts at the real time: stores judge `expiresAt` by their own clock (Redis TTLs do too).
  const clock = { now: Date.now() };
  const store = new MemorySessionStore();
  const writes = { touch: 0 };
  const touch = store.touch.bind(store);
  store.touch = (...args: Parameters<SessionStore['touch']>) => {
    writes.touch++;
    return touch(...args);
  };
  const users = new Users();
  const audit = new MemoryAuditLog();
  const engine = new SessionEngine({
    store,
    users,
    audit,
    policy,
    now: () => clock.now,
    ...extra,
  });
  return { clock, store, users, audit, engine, writes };
}

function assertRejected(result: ValidateResult, reason?: string): void {
  assert.equal(result.ok, false, 'expected the token to be rejected');
  if (reason && !result.ok) assert.equal(result.reason, reason);
}

describe('SessionEngine', () => {
  it('issues an opaque token and stores only SHA-256 of its secret', async () => {
    const { engine, users, store } = setup();
    const { token, session } = await engine.create(users.add('u1'), { ip: '203.0.113.9' });
    assert.match(token, /^ccs_[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{32}$/);
    const stored = await store.get(session.id);
    assert.ok(stored);
    const secret = token.split('.')[1] ?? '';
    assert.deepEqual(Buffer.from(stored.secretHash), createHash('sha256').update(secret).digest());
    assert.ok(!JSON.stringify({ ...stored, secretHash: [...stored.secretHash] }).includes(secret));
    assert.equal(stored.ip, '203.0.113.9');
  });

  it('validates a fresh token and returns the current user', async () => {
    const { engine, users } = setup();
    const { token } = await engine.create(users.add('u1', ['user']));
    const result = await engine.validate(token);
    assert.ok(result.ok);
    assert.equal(result.user.id, 'u1');
    assert.deepEqual(result.user.roles, ['user']);
  });

  it('returns exactly the SessionUser fields, frozen: a password hash never reaches the caller', async () => {
    const { engine, users } = setup();
    const user = users.add('u1', ['user']);
    // User stores return whole records; the engine must not pass the rest along.
    const record = { ...user, passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA' };
    users.map.set('u1', record);
    const { token } = await engine.create(user);
    const result = await engine.validate(token);
    assert.ok(result.ok);
    assert.deepEqual(Object.keys(result.user), ['id', 'email', 'name', 'roles', 'locked']);
    assert.ok(!JSON.stringify(result).includes('argon2id'));
    assert.ok(Object.isFrozen(result.user) && Object.isFrozen(result.user.roles));
    assert.notEqual(result.user.roles, record.roles, "a copy: the store's array is not shared");
  });

  it('rejects tampered, truncated and garbage tokens without throwing', async () => {
    const { engine, users } = setup();
    const { token } = await engine.create(users.add('u1'));
    const flip = (s: string, i: number) =>
      s.slice(0, i) + (s[i] === 'a' ? 'b' : 'a') + s.slice(i + 1);
    const inputs: unknown[] = [
      undefined,
      null,
      42,
      {},
      [],
      '',
      'ccs_',
      token.slice(0, -1),
      `${token}x`,
      token.toUpperCase(),
      flip(token, token.length - 1), // secret changed
      flip(token, 6), // id changed
      token.replace('.', '..').slice(0, token.length),
      `${token.split('.')[0]}.${'A'.repeat(32)}`,
      '\u0000'.repeat(59),
      'ccs_'.padEnd(59, '\u{1F600}'),
    ];
    for (const input of inputs) assertRejected(await engine.validate(input));
    assertRejected(await engine.validate(flip(token, token.length - 1)), 'secret_mismatch');
  });

  it('rejects a session idle past its timeout and removes it from the store', async () => {
    const { engine, users, clock, store } = setup({ idleTimeoutSeconds: 3600 });
    const { token, session } = await engine.create(users.add('u1'));
    clock.now += HOUR + 1000;
    assertRejected(await engine.validate(token), 'expired_idle');
    assert.equal(await store.get(session.id), null);
  });

  it("rejects a non-admin's session left unused for the default 7 days, not a moment earlier", async () => {
    const { engine, users, clock } = setup(); // the default policy
    const user = users.add('u1', ['user']);
    // Two sessions from the same instant: validating one renews its lastSeenAt, so each is
    // validated once, at the moment under test. Remembered: a browser-session one dies at 24 h.
    const early = await engine.create(user, { remember: true });
    const late = await engine.create(user, { remember: true });
    const start = clock.now;
    clock.now = start + 7 * DAY - 1;
    assert.ok((await engine.validate(early.token)).ok, 'alive 1 ms before 7 days unused');
    clock.now = start + 7 * DAY + 1;
    assertRejected(await engine.validate(late.token), 'expired_idle');
  });

  it('slides the idle timeout with activity but never past the absolute lifetime', async () => {
    const { engine, users, clock } = setup({
      idleTimeoutSeconds: 3600,
      absoluteLifetimeSeconds: 6 * 3600,
    });
    const { token } = await engine.create(users.add('u1'), { remember: true });
    for (let t = 0; t < 11; t++) {
      clock.now += HOUR / 2; // activity every idle/2
      assert.ok((await engine.validate(token)).ok, `alive after ${(t + 1) / 2} h`);
    }
    clock.now += HOUR / 2; // 6 h since sign-in
    assertRejected(await engine.validate(token), 'expired_absolute');
  });

  it('writes the renewal at most once per renewal interval', async () => {
    const { engine, users, clock, writes } = setup({ renewalIntervalSeconds: 60 });
    const { token } = await engine.create(users.add('u1'));
    for (let i = 0; i < 100; i++) {
      clock.now += 1000; // 100 requests over 100 s
      assert.ok((await engine.validate(token)).ok);
    }
    assert.equal(writes.touch, 1);
  });

  it('applies the stricter admin lifetimes from the current roles', async () => {
    const { engine, users, clock } = setup();
    const { token } = await engine.create(users.add('a1', ['admin']), { remember: true });
    clock.now += 31 * MIN;
    assertRejected(await engine.validate(token), 'expired_idle');
    const start = clock.now;
    const second = await engine.create(users.add('a2', ['admin']), { remember: true });
    while (clock.now + 29 * MIN < start + 12 * HOUR) {
      clock.now += 29 * MIN; // active every 29 minutes: idle never hits 30 min
      assert.ok((await engine.validate(second.token)).ok);
    }
    clock.now = start + 12 * HOUR;
    assertRejected(await engine.validate(second.token), 'expired_absolute');
  });

  it('gives browser-session cookies a shorter lifetime and no Max-Age', async () => {
    const { engine, users, clock } = setup();
    const user = users.add('u1');
    const shortLived = await engine.create(user, { remember: false });
    const remembered = await engine.create(user, { remember: true });
    assert.equal(shortLived.cookieMaxAge, undefined);
    assert.equal(remembered.cookieMaxAge, 30 * 86_400);
    clock.now += DAY;
    assertRejected(await engine.validate(shortLived.token), 'expired_absolute');
    assert.ok((await engine.validate(remembered.token)).ok);
  });

  it('issues a new id on every sign-in (no fixation)', async () => {
    const { engine, users } = setup();
    const user = users.add('u1');
    const ids = new Set<string>();
    for (let i = 0; i < 50; i++) ids.add((await engine.create(user)).session.id);
    assert.equal(ids.size, 50);
  });

  it('keeps a rotated-out token alive only for the grace window', async () => {
    const { engine, users, clock } = setup({ rotationGraceSeconds: 30 });
    const user = users.add('u1');
    const first = await engine.create(user);
    const rotated = await engine.rotate(first.session, user);
    assert.ok(rotated);
    assert.notEqual(rotated.session.id, first.session.id);
    const inGrace = await engine.validate(first.token);
    assert.ok(inGrace.ok);
    assert.equal(inGrace.session.id, rotated.session.id, 'old token stands for the new session');
    clock.now += 10_000;
    assert.ok((await engine.validate(rotated.token)).ok);
  });

  it('revokes the session and records theft when a rotated-out token is reused late', async () => {
    const { engine, users, clock, audit } = setup({ rotationGraceSeconds: 30 });
    const user = users.add('u1');
    const first = await engine.create(user, { ip: '198.51.100.7' });
    const rotated = await engine.rotate(first.session, user);
    assert.ok(rotated);
    clock.now += 31_000;
    // The replay comes from another address than the sign-in: the audit names the replayer's.
    assertRejected(await engine.validate(first.token, { ip: '203.0.113.66' }), 'rotated_reuse');
    assertRejected(await engine.validate(rotated.token), 'unknown');
    const events = await audit.list({ userId: 'u1', limit: 10 });
    const theft = events.find((e) => e.type === 'session.theft_suspected');
    assert.ok(theft, 'theft is audited');
    assert.equal(theft.ip, '203.0.113.66');
    assert.equal(theft.sessionId, first.session.id);
  });

  it('a revoke that lands after a racing rotation also ends the session rotated into', async () => {
    const { engine, users } = setup();
    const user = users.add('u1');
    const first = await engine.create(user);
    // The revoke was aimed at the session as listed; a re-auth rotated it meanwhile.
    const rotated = await engine.rotate(first.session, user);
    assert.ok(rotated);
    assert.equal(await engine.revoke(first.session.id), true);
    assertRejected(await engine.validate(rotated.token), 'unknown');
    assertRejected(await engine.validate(first.token), 'unknown');
  });

  it('a late reuse revokes the live session however many rotations ago it was', async () => {
    const { engine, users, clock } = setup({ rotationGraceSeconds: 30 });
    const user = users.add('u1');
    const first = await engine.create(user);
    let current = { token: first.token, session: first.session };
    for (let i = 0; i < 20; i++) {
      const next = await engine.rotate(current.session, user);
      assert.ok(next);
      current = next;
      clock.now += 60_000; // each re-auth outlives the previous grace window
    }
    assert.ok((await engine.validate(current.token)).ok);
    assertRejected(await engine.validate(first.token), 'rotated_reuse');
    assertRejected(await engine.validate(current.token), 'unknown');
  });

  it('lets only one of two concurrent rotations win', async () => {
    const { engine, users } = setup();
    const user = users.add('u1');
    const { session } = await engine.create(user);
    const results = await Promise.all([engine.rotate(session, user), engine.rotate(session, user)]);
    assert.equal(results.filter((r) => r !== null).length, 1);
  });

  it('demotes an admin at the very next validate', async () => {
    const { engine, users } = setup();
    const { token } = await engine.create(users.add('a1', ['admin', 'user']));
    const before = await engine.validate(token);
    assert.ok(before.ok && before.user.roles.includes('admin'));
    users.set('a1', { roles: ['user'] });
    const after = await engine.validate(token);
    assert.ok(after.ok);
    assert.deepEqual(after.user.roles, ['user']);
  });

  it("rejects a locked user's sessions and a deleted user's sessions", async () => {
    const { engine, users } = setup();
    const a = await engine.create(users.add('u1'));
    const b = await engine.create(users.add('u2'));
    users.set('u1', { locked: true });
    assertRejected(await engine.validate(a.token), 'user_locked');
    users.map.delete('u2');
    assertRejected(await engine.validate(b.token), 'user_missing');
  });

  it('revokes one, all, and all but the current session', async () => {
    const { engine, users } = setup();
    const user = users.add('u1');
    const [a, b, c, d] = await Promise.all([1, 2, 3, 4].map(() => engine.create(user)));
    assert.ok(a && b && c && d);
    assert.equal(await engine.revoke(a.session.id), true);
    assertRejected(await engine.validate(a.token), 'unknown');
    assert.equal(await engine.revokeAll('u1', { exceptId: b.session.id }), 2);
    assert.ok((await engine.validate(b.token)).ok);
    assertRejected(await engine.validate(c.token));
    assert.equal(await engine.revokeAll('u1'), 1);
    assertRejected(await engine.validate(b.token));
  });

  it('lists sessions as views without secrets, marking the current one', async () => {
    const { engine, users, clock } = setup();
    const user = users.add('u1');
    const a = await engine.create(user, {
      userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0',
    });
    clock.now += 1000;
    const b = await engine.create(user);
    const views = await engine.list('u1', a.session.id);
    assert.deepEqual(
      views.map((v) => [v.id, v.current]),
      [
        [b.session.id, false],
        [a.session.id, true],
      ],
    );
    assert.equal(views[1]?.device, 'Firefox 131 on Linux');
    const serialised = JSON.stringify(views);
    assert.ok(!serialised.includes(a.token) && !serialised.includes('secretHash'));
  });

  it('evicts the least recently used session beyond the per-user cap', async () => {
    const { engine, users, clock, audit } = setup({
      maxSessionsPerUser: 2,
      renewalIntervalSeconds: 1,
    });
    const user = users.add('u1');
    const a = await engine.create(user);
    clock.now += 1000;
    const b = await engine.create(user);
    clock.now += 1000;
    assert.ok((await engine.validate(a.token)).ok); // a is now more recent than b
    clock.now += 1000;
    const c = await engine.create(user);
    assertRejected(await engine.validate(b.token), 'unknown');
    assert.ok((await engine.validate(a.token)).ok);
    assert.ok((await engine.validate(c.token)).ok);
    const events = await audit.list({ userId: 'u1', limit: 5 });
    assert.ok(events.some((e) => e.type === 'session.evicted' && e.sessionId === b.session.id));
  });

  it('holds the per-user cap under concurrent sign-ins', async () => {
    const { engine, users } = setup({ maxSessionsPerUser: 3 });
    const user = users.add('u1');
    for (let i = 0; i < 3; i++) await engine.create(user);
    await Promise.all(Array.from({ length: 10 }, () => engine.create(user)));
    assert.equal((await engine.list(user.id)).length, 3);
  });

  it('reports freshness from the last password entry', async () => {
    const { engine, users, clock } = setup({ freshWindowSeconds: 600 });
    const user = users.add('u1');
    const { session } = await engine.create(user);
    assert.equal(engine.isFresh(session), true);
    clock.now += 601_000;
    assert.equal(engine.isFresh(session), false);
    const rotated = await engine.rotate(session, user, { authenticatedAt: clock.now });
    assert.ok(rotated);
    assert.equal(engine.isFresh(rotated.session), true);
  });

  it('refuses every token from a client the guess limiter has blocked', async () => {
    const failures: string[] = [];
    const limiter: GuessLimiter = {
      blockedForSeconds: (key) => (failures.filter((k) => k === key).length >= 3 ? 42 : 0),
      recordFailure: (key) => void failures.push(key),
    };
    const { engine, users } = setup({}, { guessLimiter: limiter });
    const { token } = await engine.create(users.add('u1'));
    for (let i = 0; i < 3; i++)
      assertRejected(await engine.validate('garbage', { ip: '192.0.2.1' }));
    const blocked = await engine.validate(token, { ip: '192.0.2.1' });
    assert.deepEqual(blocked, { ok: false, reason: 'throttled', retryAfterSeconds: 42 });
    assert.ok((await engine.validate(token, { ip: '192.0.2.2' })).ok);
  });

  it('refuses an invalid policy with one message per bad value', () => {
    const { store } = setup();
    assert.throws(
      () =>
        new SessionEngine({
          store,
          users: new Users(),
          policy: { idleTimeoutSeconds: -1, maxSessionsPerUser: 0 },
        }),
      (error: Error) =>
        /idleTimeoutSeconds/.test(error.message) && /maxSessionsPerUser/.test(error.message),
    );
  });
});

describe('SessionEngine.check (no promise when nothing has to be waited for)', () => {
  /** The engine on the memory stores, both of which read synchronously. */
  async function syncSetup(policy: PolicyOptions = {}, guessLimiter?: GuessLimiter) {
    const clock = { now: Date.now() };
    const store = new MemorySessionStore();
    const users = new MemoryUserStore();
    const user = { id: 'u1', email: 'u1@example.com', name: null, roles: ['user'], locked: false };
    await users.create({ ...user, passwordHash: 'x', passwordChangedAt: 0, createdAt: 0 });
    const engine = new SessionEngine({
      store,
      users,
      policy,
      now: () => clock.now,
      ...(guessLimiter ? { guessLimiter } : {}),
    });
    return { engine, store, users, user, clock };
  }

  it('answers a valid, an unknown and a garbage token synchronously', async () => {
    const { engine, user } = await syncSetup();
    const { token, session } = await engine.create(user);
    const valid = engine.check(token);
    assert.ok(!(valid instanceof Promise), 'a valid token: a value, not a promise');
    assert.ok(valid.ok && valid.session.id === session.id && valid.user.id === 'u1');
    for (const bad of ['garbage', `ccs_${'A'.repeat(22)}.${'B'.repeat(32)}`, 42]) {
      const refused = engine.check(bad);
      assert.ok(!(refused instanceof Promise), String(bad));
      assertRejected(refused);
    }
    assert.deepEqual(
      await engine.validate(token),
      valid,
      'validate: the same answer, as a promise',
    );
  });

  it('returns a promise when a write is due: the renewal, or deleting an expired session', async () => {
    const { engine, user, clock, store } = await syncSetup({
      renewalIntervalSeconds: 60,
      idleTimeoutSeconds: 3600,
    });
    const { token, session } = await engine.create(user);
    clock.now += 2 * MIN;
    const renewing = engine.check(token);
    assert.ok(renewing instanceof Promise);
    const renewed = await renewing;
    assert.ok(renewed.ok);
    assert.equal(renewed.session.lastSeenAt, clock.now);
    assert.equal(store.get(session.id)?.lastSeenAt, clock.now, 'the renewal was written');
    clock.now += 2 * HOUR;
    const expiring = engine.check(token);
    assert.ok(expiring instanceof Promise);
    assertRejected(await expiring, 'expired_idle');
    assert.equal(store.get(session.id), null, 'and deleted');
  });

  it('never throws: a synchronous store that fails rejects the promise (fail closed)', async () => {
    const { engine, user, store } = await syncSetup();
    const { token } = await engine.create(user);
    await store.close();
    let answer: unknown;
    assert.doesNotThrow(() => {
      answer = engine.check(token);
    });
    assert.ok(answer instanceof Promise);
    await assert.rejects(answer, { code: 'store_unavailable' });
    await assert.rejects(engine.validate(token), { code: 'store_unavailable' });
  });

  it('never throws: a guess limiter that fails rejects the promise too', async () => {
    const broken: GuessLimiter = {
      blockedForSeconds: () => {
        throw new Error('limiter down');
      },
      recordFailure: () => {},
    };
    const { engine, user } = await syncSetup({}, broken);
    const { token } = await engine.create(user);
    let answer: unknown;
    assert.doesNotThrow(() => {
      answer = engine.check(token, { ip: '192.0.2.1' });
    });
    await assert.rejects(answer as Promise<unknown>, /limiter down/);
  });

  it('counts synchronous refusals for the guess limiter like asynchronous ones', async () => {
    const failures: string[] = [];
    const limiter: GuessLimiter = {
      blockedForSeconds: (key) => (failures.filter((k) => k === key).length >= 3 ? 7 : 0),
      recordFailure: (key) => void failures.push(key),
    };
    const { engine, user } = await syncSetup({}, limiter);
    const { token } = await engine.create(user);
    for (let i = 0; i < 3; i++)
      assertRejected(engine.check('garbage', { ip: '192.0.2.1' }) as ValidateResult);
    assert.deepEqual(engine.check(token, { ip: '192.0.2.1' }), {
      ok: false,
      reason: 'throttled',
      retryAfterSeconds: 7,
    });
    const other = engine.check(token, { ip: '192.0.2.2' });
    assert.ok(!(other instanceof Promise) && other.ok);
  });
});

describe('SessionEngine on SQLite (session and user in one read)', () => {
  async function sqliteSetup() {
    const dir = mkdtempSync(join(tmpdir(), 'coatcheck-engine-'));
    const stores = openSqliteStores(join(dir, 'db.sqlite'));
    const findById = stores.users.findById.bind(stores.users);
    const reads = { users: 0 };
    stores.users.findById = (id: string) => {
      reads.users++;
      return findById(id);
    };
    const engine = new SessionEngine({ store: stores.sessions, users: stores.users });
    const user = {
      id: 'u1',
      email: 'u1@example.com',
      name: null,
      roles: ['admin', 'user'],
      locked: false,
      passwordHash: 'x',
      passwordChangedAt: 0,
      createdAt: 0,
    };
    await stores.users.create(user);
    const cleanup = async () => {
      await stores.close();
      rmSync(dir, { recursive: true, force: true });
    };
    return { stores, engine, user, reads, cleanup };
  }

  it('reads fresh roles and locks through the join, without a separate user read', async () => {
    const { stores, engine, user, reads, cleanup } = await sqliteSetup();
    try {
      const { token } = await engine.create(user);
      const first = await engine.validate(token);
      assert.ok(first.ok && first.user.roles.includes('admin'));
      await stores.users.update('u1', { roles: ['user'] });
      const demoted = await engine.validate(token);
      assert.ok(demoted.ok);
      assert.deepEqual(demoted.user.roles, ['user']);
      await stores.users.update('u1', { locked: true });
      assertRejected(await engine.validate(token), 'user_locked');
      assert.equal(reads.users, 0);
      stores.db.prepare('DELETE FROM users WHERE id = ?').run('u1');
      assertRejected(await engine.validate(token), 'user_missing');
    } finally {
      await cleanup();
    }
  });

  it('follows a rotation within the grace window and rejects tampered tokens', async () => {
    const { engine, user, cleanup } = await sqliteSetup();
    try {
      const first = await engine.create(user);
      const rotated = await engine.rotate(first.session, user);
      assert.ok(rotated);
      const viaOld = await engine.validate(first.token);
      assert.ok(viaOld.ok);
      assert.equal(viaOld.session.id, rotated.session.id);
      assert.equal(viaOld.user.id, 'u1');
      const tampered = `${rotated.token.slice(0, -1)}${rotated.token.endsWith('A') ? 'B' : 'A'}`;
      assertRejected(await engine.validate(tampered), 'secret_mismatch');
    } finally {
      await cleanup();
    }
  });
});
