import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SessionEngine } from '../../src/core/engine.ts';
import {
  type FeedHandlers,
  type Invalidation,
  type InvalidationFeed,
  LocalInvalidationFeed,
} from '../../src/core/near-cache.ts';
import type { PolicyOptions } from '../../src/core/policy.ts';
import type { SessionStore, SessionUser, UserLookup } from '../../src/core/store.ts';
import { MemorySessionStore } from '../../src/stores/memory.ts';

/** A feed whose connection the test controls, shared by several engines ("nodes"). */
class ControlledFeed implements InvalidationFeed {
  readonly subscribers: FeedHandlers[] = [];
  live = true;
  subscribe(handlers: FeedHandlers): void {
    this.subscribers.push(handlers);
    handlers.onState(this.live);
  }
  async publish(invalidation: Invalidation): Promise<void> {
    if (!this.live) throw new Error('feed down');
    for (const s of this.subscribers) s.onMessage(invalidation);
  }
  setLive(live: boolean): void {
    this.live = live;
    for (const s of this.subscribers) s.onState(live);
  }
  async close(): Promise<void> {}
}

class Users implements UserLookup {
  readonly map = new Map<string, SessionUser>();
  reads = 0;
  async findById(id: string): Promise<SessionUser | null> {
    this.reads++;
    return this.map.get(id) ?? null;
  }
}

function cluster(
  feed: InvalidationFeed = new LocalInvalidationFeed(),
  idleTimeoutSeconds = 3600,
  policy: PolicyOptions = {},
) {
  const clock = { now: Date.now() };
  const store = new MemorySessionStore({ now: () => clock.now });
  const reads = { sessions: 0 };
  const get = store.get.bind(store);
  store.get = (id: string) => {
    reads.sessions++;
    return get(id);
  };
  const users = new Users();
  const user = { id: 'u1', email: 'u1@example.com', name: null, roles: ['admin'], locked: false };
  users.map.set(user.id, user);
  const engines = Array.from(
    { length: 2 },
    () =>
      new SessionEngine({
        store,
        users,
        now: () => clock.now,
        nearCache: { feed, maxAgeSeconds: 60, maxEntries: 100 },
        policy: { idleTimeoutSeconds, ...policy },
      }),
  );
  return { clock, store, reads, users, user, engines };
}

describe('near cache', () => {
  it('serves a repeat validation without reading the store', async () => {
    const { engines, reads, user } = cluster();
    const [a] = engines;
    assert.ok(a);
    const { token } = await a.create(user);
    assert.ok((await a.validate(token)).ok);
    const before = reads.sessions;
    for (let i = 0; i < 10; i++) assert.ok((await a.validate(token)).ok);
    assert.equal(reads.sessions, before);
  });

  it("hands out cached objects no request's code can change for the next request", async () => {
    const { engines, users, user } = cluster();
    const [a] = engines;
    assert.ok(a);
    users.map.set(user.id, { ...user, roles: ['user'] });
    const { token } = await a.create(user);
    const first = await a.validate(token); // read from the store, then cached
    const hit = await a.validate(token);
    assert.ok(first.ok && hit.ok);
    assert.equal(hit.session, first.session, 'a hit: the very objects the first request got');
    for (const result of [first, hit]) {
      assert.throws(() => (result.user.roles as string[]).push('admin'), TypeError);
      assert.throws(
        () => Object.assign(result.user, { locked: false, roles: ['admin'] }),
        TypeError,
      );
      assert.throws(() => Object.assign(result.session, { expiresAt: Infinity }), TypeError);
    }
    const next = await a.validate(token);
    assert.ok(next.ok);
    assert.deepEqual(next.user.roles, ['user']);
    assert.equal(next.session.expiresAt, first.session.expiresAt);
  });

  it('rejects on node B the session node A just revoked, although B had cached it', async () => {
    const { engines, user } = cluster();
    const [a, b] = engines;
    assert.ok(a && b);
    const { token, session } = await a.create(user);
    assert.ok((await b.validate(token)).ok); // cached on B
    await a.revoke(session.id);
    const result = await b.validate(token);
    assert.equal(result.ok, false);
  });

  it('shows a demotion on every node at the next request (no stale roles)', async () => {
    const { engines, user, users } = cluster();
    const [a, b] = engines;
    assert.ok(a && b);
    const { token } = await a.create(user);
    assert.ok((await b.validate(token)).ok);
    users.map.set('u1', { ...user, roles: ['user'] });
    await a.invalidateUser('u1');
    const result = await b.validate(token);
    assert.ok(result.ok);
    assert.deepEqual(result.user.roles, ['user']);
  });

  it('flushes and bypasses the cache while the feed is down, so no missed revocation can pass', async () => {
    const feed = new ControlledFeed();
    const { engines, user, store, reads } = cluster(feed);
    const [a, b] = engines;
    assert.ok(a && b);
    const { token, session } = await a.create(user);
    assert.ok((await b.validate(token)).ok);
    assert.equal(b.nearCache?.size, 1);
    feed.setLive(false);
    assert.equal(b.nearCache?.size, 0);
    // A revocation B never hears about: with the feed down B must read the store.
    await store.delete(session.id);
    const before = reads.sessions;
    assert.equal((await b.validate(token)).ok, false);
    assert.equal(reads.sessions, before + 1);
  });

  it('resumes caching once the feed is back', async () => {
    const feed = new ControlledFeed();
    const { engines, user, reads } = cluster(feed);
    const [a] = engines;
    assert.ok(a);
    const { token } = await a.create(user);
    feed.setLive(false);
    await a.validate(token);
    await a.validate(token);
    feed.setLive(true);
    await a.validate(token);
    const before = reads.sessions;
    await a.validate(token);
    assert.equal(reads.sessions, before);
  });

  it('does not cache a read that raced an invalidation', async () => {
    const { engines, user, store } = cluster();
    const [a, b] = engines;
    assert.ok(a && b);
    const { token, session } = await a.create(user);
    const get = store.get.bind(store);
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const stalling: SessionStore = store; // an async store, as Redis is
    stalling.get = async (id: string) => {
      const record = await get(id); // read the live session…
      await gate; // …then stall while A revokes it
      return record;
    };
    const pending = b.validate(token);
    await a.revoke(session.id);
    release();
    await pending; // B may answer from its in-flight read, but must not cache it
    store.get = get;
    assert.equal((await b.validate(token)).ok, false);
  });

  it('still enforces idle expiry on a cache hit, confirming it against the store', async () => {
    const { engines, user, clock } = cluster(new LocalInvalidationFeed(), 10);
    const [a] = engines;
    assert.ok(a);
    const { token } = await a.create(user);
    assert.ok((await a.validate(token)).ok);
    clock.now += 10_001; // idle timeout passed, cache entry still younger than maxAge
    const result = await a.validate(token);
    assert.equal(result.ok, false);
    assert.equal(a.nearCache?.size, 0);
  });

  it('refuses a cached session once it passes its absolute lifetime, however active', async () => {
    const { engines, user, clock, reads } = cluster(new LocalInvalidationFeed(), 60, {
      absoluteLifetimeSeconds: 150,
      renewalIntervalSeconds: 10,
    });
    const [a] = engines;
    assert.ok(a);
    const { token, session } = await a.create(user);
    for (let t = 0; t <= 140_000; t += 20_000) {
      clock.now = session.createdAt + t; // every 20 s: never idle (60 s), renewed each time
      assert.ok((await a.validate(token)).ok, `alive ${t / 1000} s after sign-in`);
    }
    // The entry was (re)filled at 120 s, so at 150 s it is a cache hit, younger than maxAge.
    clock.now = session.createdAt + 150_000;
    const before = reads.sessions;
    const result = await a.validate(token);
    assert.equal(reads.sessions, before, 'answered from the cache, not the store');
    assert.equal(!result.ok && result.reason, 'expired_absolute');
    assert.equal(a.nearCache?.size, 0);
  });

  it('does not expire a session another node renewed (a stale cached lastSeenAt is re-read)', async () => {
    const { engines, user, clock } = cluster(new LocalInvalidationFeed(), 120);
    const [a, b] = engines;
    assert.ok(a && b);
    const { token } = await a.create(user);
    assert.ok((await b.validate(token)).ok); // B caches lastSeenAt = t0
    clock.now += 61_000;
    assert.ok((await a.validate(token)).ok); // A renews in the store (no invalidation)
    clock.now += 59_500; // 120.5 s after t0 by B's cached copy; 59.5 s after A's renewal
    const result = await b.validate(token);
    assert.ok(result.ok, 'B must re-read the store instead of expiring the session');
  });

  it('re-reads the store once an entry is older than maxAgeSeconds', async () => {
    const { engines, user, clock, reads } = cluster();
    const [a] = engines;
    assert.ok(a);
    const { token } = await a.create(user);
    await a.validate(token);
    clock.now += 61_000;
    const before = reads.sessions;
    await a.validate(token);
    assert.equal(reads.sessions, before + 1);
  });

  it('checks the secret on a cache hit', async () => {
    const { engines, user } = cluster();
    const [a] = engines;
    assert.ok(a);
    const { token } = await a.create(user);
    await a.validate(token);
    const forged = `${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`;
    const result = await a.validate(forged);
    assert.equal(!result.ok && result.reason, 'secret_mismatch');
  });

  it('keeps at most maxEntries sessions', async () => {
    const { engines, user } = cluster();
    const [a] = engines;
    assert.ok(a);
    for (let i = 0; i < 150; i++) {
      const { token } = await a.create(user);
      await a.validate(token);
    }
    assert.equal(a.nearCache?.size, 100);
  });

  it('makes a revoke fail loudly when the feed cannot carry the invalidation', async () => {
    const feed = new ControlledFeed();
    const { engines, user } = cluster(feed);
    const [a] = engines;
    assert.ok(a);
    const { session } = await a.create(user);
    feed.live = false; // publish fails while the state callback has not fired yet
    await assert.rejects(a.revoke(session.id), /feed down/);
  });
});

describe('near cache, store failing part-way', () => {
  it('still evicts everywhere when a revoke-all fails part-way through the store', async () => {
    const { engines, user, store } = cluster();
    const [a, b] = engines;
    assert.ok(a && b);
    const { token, session } = await a.create(user);
    assert.ok((await b.validate(token)).ok); // cached on B
    const deleteByUser = store.deleteByUser.bind(store);
    store.deleteByUser = async () => {
      await store.delete(session.id); // deleted, then the store fails
      throw new Error('connection lost mid-way');
    };
    await assert.rejects(a.revokeAll('u1'), /connection lost/);
    store.deleteByUser = deleteByUser;
    assert.equal((await b.validate(token)).ok, false);
  });
});
