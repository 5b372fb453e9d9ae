/**
 * PostgreSQL going away and coming back: each on its own throwaway cluster. Calls must reject with
 * StoreUnavailableError within a bound, nothing may reject unhandled, and the same store objects
 * must work again once the server returns.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StoreUnavailableError } from '../../src/core/errors.ts';
import { openPostgresStores, type PostgresStores } from '../../src/stores/postgres.ts';
import { startPostgres } from '../support/postgres.ts';
import { makeSession, makeUser } from './contract.ts';

/** Collects unhandled rejections while `fn` runs (any one fails the test). */
async function noUnhandledRejections(fn: () => Promise<void>): Promise<void> {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    await fn();
    // Abandoned queries settle late: give them a moment to (not) surface.
    await new Promise((resolve) => setTimeout(resolve, 200));
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
  assert.deepEqual(unhandled, []);
}

/** Polls `ready()` until the pool has reconnected by itself. */
async function untilReady(stores: PostgresStores): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return await stores.ready();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** A user with one session, and several pooled connections open (and idle). */
async function seed(stores: PostgresStores) {
  const user = makeUser();
  await stores.users.create(user);
  const { record } = makeSession(user.id);
  await stores.sessions.create(record);
  await Promise.all(Array.from({ length: 6 }, () => stores.sessions.getWithUser(record.id)));
  return { user, record };
}

/** Every store operation, by name. */
function everyCall(stores: PostgresStores, { user, record }: Awaited<ReturnType<typeof seed>>) {
  const later = Date.now() + 60_000;
  return {
    get: () => stores.sessions.get(record.id),
    getWithUser: () => stores.sessions.getWithUser(record.id),
    create: () => stores.sessions.create(makeSession(user.id).record),
    touch: () => stores.sessions.touch(record.id, { lastSeenAt: later, expiresAt: later }),
    rotate: () =>
      stores.sessions.rotate({
        previousId: record.id,
        next: makeSession(user.id).record,
        graceUntil: later,
        tombstoneExpiresAt: later,
      }),
    delete: () => stores.sessions.delete(record.id),
    deleteByUser: () => stores.sessions.deleteByUser({ userId: user.id }),
    listByUser: () => stores.sessions.listByUser(user.id),
    sweep: () => stores.sessions.sweep(Date.now()),
    findById: () => stores.users.findById(user.id),
    findByEmail: () => stores.users.findByEmail(user.email),
    update: () => stores.users.update(user.id, { locked: true }),
    list: () => stores.users.list({ limit: 1, offset: 0 }),
    count: () => stores.users.count(),
    record: () =>
      stores.audit.record({
        type: 'logout',
        at: Date.now(),
        userId: user.id,
        ip: null,
        sessionId: null,
        detail: null,
      }),
    auditList: () => stores.audit.list({ limit: 1 }),
    ready: () => stores.ready(),
  } satisfies Record<string, () => Promise<unknown>>;
}

/** Asserts that `call` rejects with StoreUnavailableError (cause kept) within `withinMs`. */
async function expectUnavailable(name: string, call: () => Promise<unknown>, withinMs: number) {
  const started = Date.now();
  await assert.rejects(call(), (error) => {
    assert.ok(error instanceof StoreUnavailableError, `${name}: ${error}`);
    assert.ok(error.cause !== undefined, `${name}: cause kept`);
    return true;
  });
  const took = Date.now() - started;
  assert.ok(took < withinMs, `${name} took ${took} ms`);
  return took;
}

describe('PostgreSQL outage', () => {
  for (const how of ['kill', 'immediate'] as const) {
    const what = how === 'kill' ? 'SIGKILLed' : 'immediate shutdown';
    it(`${what}: every call rejects with store_unavailable within 3 s; the same stores recover`, async () => {
      const server = await startPostgres();
      const transitions: string[] = [];
      const stores = await openPostgresStores(server.url, {
        connectTimeoutSeconds: 1,
        onAvailabilityChange: (available, cause) =>
          transitions.push(available ? 'up' : `down: ${(cause as { code?: string }).code}`),
      });
      try {
        await noUnhandledRejections(async () => {
          const seeded = await seed(stores);
          const inFlight = stores.sql`SELECT pg_sleep(30)`.then(
            () => assert.fail('pg_sleep survived the outage'),
            (error: unknown) => error,
          );
          await new Promise((resolve) => setTimeout(resolve, 100));

          if (how === 'kill') await server.kill();
          else await server.halt('immediate');
          assert.ok((await inFlight) instanceof Error);

          const calls = Object.entries(everyCall(stores, seeded));
          // One by one (each bounded) for one mode; for both, a burst of requests all at once.
          if (how === 'kill') {
            for (const [name, call] of calls) await expectUnavailable(name, call, 3000);
          }
          await Promise.all(calls.map(([name, call]) => expectUnavailable(name, call, 3000)));
          // A burst of requests fails at once instead of queueing behind reconnection attempts.
          const burst = Array.from({ length: 200 }, () => calls[0]?.[1] ?? assert.fail());
          const took = await Promise.all(burst.map((call) => expectUnavailable('get', call, 1000)));
          took.sort((a, b) => a - b);
          assert.ok((took[100] ?? 0) < 100, `median ${took[100]} ms`);

          await server.restart();
          await untilReady(stores);
          const back = await stores.sessions.getWithUser(seeded.record.id);
          assert.equal(back?.session.id, seeded.record.id, 'the acknowledged session survived');
          assert.equal(back?.user?.id, seeded.user.id);
          assert.equal((await stores.sessions.listByUser(seeded.user.id)).length, 1);
          assert.equal(await stores.users.count(), 1);
          assert.deepEqual(transitions, ['down: ECONNREFUSED', 'up'], 'told once per outage');
        });
      } finally {
        await stores.close();
        await server.stop();
      }
    });
  }

  it('a frozen server: every call rejects at the query deadline (2 s here), then works again', async () => {
    const server = await startPostgres();
    // statement_timeout 1 s, so the client-side deadline is 2 s.
    const stores = await openPostgresStores(server.url, { statementTimeoutMs: 1000 });
    try {
      await noUnhandledRejections(async () => {
        const seeded = await seed(stores);
        server.freeze();
        const calls = Object.entries(everyCall(stores, seeded));
        const took = await Promise.all(
          calls.map(([name, call]) => expectUnavailable(name, call, 3000)),
        );
        assert.ok(Math.min(...took) >= 1500, `answered before the deadline: ${took}`);
        server.thaw();
        await untilReady(stores);
        // The abandoned writes (delete, rotate...) may have landed after the thaw: a timed-out
        // write has an unknown outcome. New work goes through.
        const { record } = makeSession(seeded.user.id);
        await stores.sessions.create(record);
        assert.equal((await stores.sessions.get(record.id))?.id, record.id);
      });
    } finally {
      server.thaw();
      await stores.close();
      await server.stop();
    }
  });

  it('dropped connections (pg_terminate_backend) are replaced, without declaring an outage', async () => {
    const server = await startPostgres();
    const transitions: boolean[] = [];
    const stores = await openPostgresStores(server.url, {
      onAvailabilityChange: (available) => transitions.push(available),
    });
    try {
      await noUnhandledRejections(async () => {
        const seeded = await seed(stores);
        const inFlight = stores.sql`SELECT pg_sleep(30)`.catch((error: unknown) => error);
        await new Promise((resolve) => setTimeout(resolve, 100));
        await stores.sql.unsafe(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE application_name = 'coatcheck' AND pid <> pg_backend_pid()`);
        assert.ok(
          (await inFlight) instanceof Error,
          'only the query on a dropped connection fails',
        );
        for (let i = 0; i < 10; i++) {
          assert.equal((await stores.sessions.get(seeded.record.id))?.id, seeded.record.id);
        }
        assert.deepEqual(transitions, []);
      });
    } finally {
      await stores.close();
      await server.stop();
    }
  });
});
