/**
 * Races between the Redis session store's multi-step operations, run from four connections (app
 * nodes) with random pauses between round trips, so that the steps interleave every which way.
 * Mutation-checked: storing `next` after the tombstone in rotate, indexing before storing in
 * create, or not following tombstones in revoke-all each make a case here fail.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SessionRecord } from '../../src/core/store.ts';
import { type RedisConnection, RedisSessionStore } from '../../src/stores/redis.ts';
import { makeSession } from './contract.ts';
import type { RedisFixture } from './redis-behaviour.ts';
import { assertIndexesConsistent, type RawRedis } from './redis-checks.ts';

const HOUR = 3_600_000;
let runs = 0;

/** Registers the race cases under `describe(name)`. */
export function redisRaces(name: string, fixture: RedisFixture): void {
  const withNodes =
    (fn: (nodes: RedisSessionStore[], prefix: string) => Promise<void>) => async () => {
      const prefix = `race${++runs}:`;
      const nodes: RedisSessionStore[] = [];
      try {
        for (let i = 0; i < 4; i++) {
          const connection = jittery(await fixture.connect());
          nodes.push(new RedisSessionStore(connection, { keyPrefix: prefix }));
        }
        await fn(nodes, prefix);
      } finally {
        for (const node of nodes) await node.close();
      }
    };

  describe(`Redis session store races: ${name}`, () => {
    it(
      'after 3 × 200 concurrent sign-ins, sign-outs, rotations and revoke-alls from 4 nodes, no revoked session lives and no index entry dangles',
      withNodes(async (nodes, prefix) => {
        for (let round = 0; round < 3; round++) await raceRound(nodes, fixture.raw(), prefix);
      }),
    );

    it(
      'a rotation racing a revoke-all never outlives it (100 races, 4 nodes)',
      withNodes(async (nodes, prefix) => {
        const races = Array.from({ length: 100 }, async (_, i) => {
          const user = `racer-${i}`;
          const a = nodes[i % 4] as RedisSessionStore;
          const b = nodes[(i + 1) % 4] as RedisSessionStore;
          const previous = makeSession(user).record;
          const next = makeSession(user).record;
          await a.create(previous);
          const [, won] = await Promise.all([
            a.deleteByUser({ userId: user }),
            b.rotate({
              previousId: previous.id,
              next,
              graceUntil: Date.now() + 1000,
              tombstoneExpiresAt: Date.now() + HOUR,
            }),
          ]);
          return { won, alive: (await a.get(next.id)) !== null };
        });
        const outcomes = await Promise.all(races);
        assert.deepEqual(
          outcomes.filter((o) => o.alive),
          [],
          'a session rotated from a revoked one is alive',
        );
        await assertIndexesConsistent(fixture.raw(), prefix);
      }),
    );
  });
}

/** One round: a batch of sessions per user, then 200 operations at once, then the checks. */
async function raceRound(nodes: RedisSessionStore[], raw: RawRedis, prefix: string) {
  const users = ['u0', 'u1', 'u2', 'u3'];
  const batch: SessionRecord[] = [];
  for (const user of users) {
    for (let i = 0; i < 8; i++) {
      const { record } = makeSession(user);
      await nodes[0]?.create(record);
      batch.push(record);
    }
  }
  const rotatedInto = new Map<string, string>();
  const created = new Set<string>();
  const ops: (() => Promise<unknown>)[] = [];
  for (let i = 0; i < 200; i++) {
    const user = users[i % users.length] as string;
    const node = nodes[Math.floor(i / users.length) % nodes.length] as RedisSessionStore;
    const victim = batch[(i * 7) % batch.length] as SessionRecord;
    if (i % 5 === 0) {
      ops.push(() => node.deleteByUser({ userId: user }));
    } else if (i % 5 <= 2) {
      const { record } = makeSession(user);
      ops.push(() => node.create(record).then(() => created.add(record.id)));
    } else if (i % 5 === 3) {
      ops.push(() => node.delete(victim.id));
    } else {
      const next = makeSession(victim.userId).record;
      const args = { graceUntil: Date.now() + 1000, tombstoneExpiresAt: Date.now() + HOUR };
      ops.push(async () => {
        if (await node.rotate({ previousId: victim.id, next, ...args })) {
          rotatedInto.set(victim.id, next.id);
        }
      });
    }
  }
  await Promise.all(ops.map((op) => op()));
  // Every user was revoked after its batch was stored: no session of the batch, nor any session
  // one was rotated into (a linearizable store kills it whichever order they took), may live.
  const reader = nodes[0] as RedisSessionStore;
  for (const record of batch) {
    assert.equal(await reader.get(record.id), null, `revoked ${record.id} lives`);
    const successor = rotatedInto.get(record.id);
    if (successor) assert.equal(await reader.get(successor), null, `successor ${successor} lives`);
  }
  const stored = await assertIndexesConsistent(raw, prefix);
  for (const id of stored.keys()) assert.ok(created.has(id), `unexpected session ${id}`);
  for (const user of users) {
    const listed = (await reader.listByUser(user)).map((s) => s.id);
    const expected = [...stored.values()].filter((s) => s.userId === user).map((s) => s.id);
    assert.deepEqual(listed.sort(), expected.sort());
    await reader.deleteByUser({ userId: user }); // a clean slate for the next round
  }
}

/**
 * Forwards every call after a random pause, mostly 0–2 ms, one in ten 5–20 ms: the steps of
 * concurrent calls interleave every which way, whole operations included.
 */
function jittery(connection: RedisConnection): RedisConnection {
  const pause = () => sleep(Math.random() < 0.1 ? 5 + Math.random() * 15 : Math.random() * 2);
  const later =
    <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      await pause();
      return fn(...args);
    };
  return {
    get: later((key) => connection.get(key)),
    evalSha: later((sha1, options) => connection.evalSha(sha1, options)),
    eval: later((script, options) => connection.eval(script, options)),
    publish: later((channel, message) => connection.publish(channel, message)),
    close: () => connection.close(),
    destroy: () => connection.destroy(),
    on: (event, listener) => connection.on(event, listener),
  };
}
