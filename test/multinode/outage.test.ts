import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eventually, type ServerNode } from '../support/nodes.ts';
import { redisCli } from '../support/redis.ts';
import {
  assertHealthyProcess,
  assertUnavailable,
  nodeHolding,
  PW,
  refusedNext,
  type SignedIn,
  type Stack,
  signIn,
  signUp,
  startStack,
  whoAmI,
} from './stack.ts';

// Fail closed, across processes: a dead Redis master or a stopped PostgreSQL turns the requests
// that need it into 503 problem+json (never 401 with a cleared cookie, never 200 for a session
// the node cannot read), /readyz into 503, and one `store_down` line per node for the whole
// outage; no process dies, and everything recovers by itself when the server is back. AOF with
// `appendfsync always` keeps every acknowledged session across the master's SIGKILL.

let stack: Stack;
let nodes: readonly ServerNode[];
const REDIS = 'redis';
const PG = 'postgres';
const FEED = 'redis pub/sub (near cache)';

/** A session created (and acknowledged: 201/200) before the outages. */
type Held = SignedIn & {
  readonly email: string;
  /** The Cluster node holding the session's key. */
  readonly holder: number;
  /** The Cluster node holding its user's index. */
  readonly index: number;
};
/** Sessions that must all survive the master's SIGKILL. */
const sessions: Held[] = [];
/** Sessions with no key on the dead master, signed out during its outage. */
const spare: Held[] = [];
let dead = -1; // the Cluster node the test kills: the one holding most of the sessions

/** Where each node's log stood when the current outage began. */
let marks: number[] = [];
const markLogs = () => {
  marks = nodes.map((node) => node.logs.length);
};
/** A node's log lines since `markLogs` carrying `event` for `store`. */
const since = (node: ServerNode, event: string, store: string) =>
  node.logs
    .slice(marks[nodes.indexOf(node)] ?? 0)
    .filter((l) => l.event === event && l.store === store);

/**
 * The outage is in the log once: one store_down line per node (and `ups` store_up), the only
 * error lines however many requests failed meanwhile (each of those is logged at debug).
 */
function assertLoggedOnce(node: ServerNode, store: string, ups: 0 | 1) {
  assert.equal(since(node, 'store_down', store).length, 1, `${node.name}: one store_down`);
  assert.equal(since(node, 'store_up', store).length, ups, `${node.name}: ${ups} store_up`);
  const errors = node.logs.filter((l) => Number(l.level) >= 50 && l.event !== 'store_down');
  assert.deepEqual(errors, [], `${node.name}: no error line per failed request`);
}

/** Polls until every node's /readyz answers `status`. */
async function readiness(status: 200 | 503) {
  await Promise.all(
    nodes.map((node) => {
      const ready = async () => (await node.request('/readyz')).status === status;
      return eventually(ready, `${node.name} /readyz ${status}`, 30_000);
    }),
  );
}

/**
 * Polls until every node that logged a store_down for `store` since the mark logged its store_up
 * (at its first call after the outage); a node that made no call meanwhile had no outage to end.
 */
async function recovered(store: string) {
  for (const node of nodes) {
    if (since(node, 'store_down', store).length === 0) continue;
    await eventually(() => since(node, 'store_up', store).length > 0, `${node.name} store_up`);
  }
}

/** Whether a node's near-cache feed is live: its last change logged, if any, was store_up. */
function feedLive(node: ServerNode): boolean {
  const changes = node.logs.filter((line) => line.store === FEED);
  return changes.at(-1)?.event !== 'store_down';
}

/**
 * Whether `node` serves `session` from its near cache: validated twice, then asked while its key
 * is renamed away in Redis (to a name in the same slot), then put back.
 */
async function servedFromCache(node: ServerNode, session: Held): Promise<boolean> {
  for (let i = 0; i < 2; i++) assert.equal((await whoAmI(node, session.cookie)).status, 200);
  const key = `cc:s:${session.sessionId}`;
  const away = `{${key}}:away`;
  const port = stack.cluster.nodes[0]?.port ?? 0;
  assert.equal(await redisCli(port, '-c', 'RENAME', key, away), 'OK');
  try {
    return (await whoAmI(node, session.cookie)).status === 200;
  } finally {
    assert.equal(await redisCli(port, '-c', 'RENAME', away, key), 'OK');
  }
}

/** Requests the outage must not have turned into a 401 or a Set-Cookie. */
async function expectUnavailable(node: ServerNode, cookie: string, what: string) {
  const me = await whoAmI(node, cookie);
  assertUnavailable(me.res, me.text, `${what} on ${node.name}`);
}

describe('outages with three nodes on a Redis Cluster and PostgreSQL', { timeout: 120_000 }, () => {
  before(async () => {
    // Full coverage off: the masters still up keep serving their slots (see docs/scaling.md).
    stack = await startStack({ requireFullCoverage: false });
    nodes = stack.nodes;
    const [A, B, C] = nodes as [ServerNode, ServerNode, ServerNode];
    // Sign-ups and sign-ins spread over the nodes; ids are random, so keys spread over the masters.
    for (let i = 0; i < 10 && (i < 4 || spareFor(pickDead()).length < 2); i++) {
      const email = `outage-${i}-${process.pid}@example.test`;
      const created = [await signUp(nodes[i % 3] as ServerNode, email)];
      for (const node of [A, B, C]) created.push(await signIn(node, email));
      const index = await nodeHolding(stack.cluster, `cc:{u:${created[0]?.userId}}:i`);
      for (const s of created) {
        const holder = await nodeHolding(stack.cluster, `cc:s:${s.sessionId}`);
        sessions.push({ ...s, email, holder, index });
      }
    }
    assert.ok(
      sessions.every((s) => s.holder >= 0 && s.index >= 0),
      'every key is on a master',
    );
    dead = pickDead();
    for (const s of spareFor(dead).slice(0, 3)) {
      spare.push(s);
      sessions.splice(sessions.indexOf(s), 1);
    }
    assert.ok(sessions.filter((s) => s.holder === dead).length >= 2, 'sessions on the dead master');
  });

  /** The master holding most session keys. */
  function pickDead() {
    const counts = [0, 1, 2].map((i) => sessions.filter((s) => s.holder === i).length);
    return counts.indexOf(Math.max(...counts));
  }
  /** Sessions with no key (session or user index) on `master`. */
  function spareFor(master: number) {
    return sessions.filter((s) => s.holder !== master && s.index !== master);
  }

  after(async () => {
    await stack?.stop();
  });

  it('a Redis master dies: 503 for its sessions, one store_down per node, no crash; back: 200 and nothing lost', async () => {
    const onDead = sessions.filter((s) => s.holder === dead);
    const onLive = sessions.filter((s) => s.holder !== dead);
    markLogs();
    await stack.cluster.killNode(dead);
    try {
      await duringRedisOutage(onDead, onLive);
    } finally {
      await stack.cluster.restartNode(dead); // also when an assertion failed: the next test needs it
    }
    await readiness(200);
    for (const node of nodes) {
      // Every session acknowledged before the SIGKILL is still there (AOF, appendfsync always).
      for (const s of sessions) {
        await eventually(
          async () => (await whoAmI(node, s.cookie)).status === 200,
          `session ${s.sessionId} on ${node.name} after the restart`,
        );
      }
    }
    await recovered(REDIS);
    for (const node of nodes) {
      assertLoggedOnce(node, REDIS, 1);
      assertHealthyProcess(node);
    }
  });

  async function duringRedisOutage(onDead: Held[], onLive: Held[]) {
    await readiness(503);
    // Several rounds: every request needing the dead master fails closed, every time.
    for (let round = 0; round < 3; round++) {
      for (const node of nodes) {
        for (const s of onDead)
          await expectUnavailable(node, s.cookie, 'a session on the dead master');
        for (const s of onLive) {
          const me = await whoAmI(node, s.cookie);
          assert.equal(me.status, 200, `a session on a live master, on ${node.name}: ${me.text}`);
        }
        const ready = await node.request('/readyz');
        assertUnavailable(ready, await ready.text(), `/readyz on ${node.name}`);
      }
    }
    // Signing out needs only the live masters here (node-redis sends each PUBLISH to the next node
    // in turn, the dead one included: a failed one must go to another node, not fail the request).
    assert.ok(spare.length > 0, 'a session with no key on the dead master');
    for (const [i, s] of spare.entries()) {
      for (const node of nodes) assert.equal((await whoAmI(node, s.cookie)).status, 200);
      const node = nodes[i % 3] as ServerNode;
      const out = await node.request('/auth/logout', { method: 'POST', cookie: s.cookie });
      assert.equal(out.status, 204, `sign-out through ${node.name}: ${await out.text()}`);
      for (const other of nodes) {
        await refusedNext(other, s.cookie);
      }
    }
    for (const node of nodes) {
      assertLoggedOnce(node, REDIS, 0);
      assertHealthyProcess(node);
    }
  }

  it('a Redis master hangs (SIGSTOP: a partition, a stuck host): its sessions 503 within the 1 s deadline, never a hung request; resumed: recovered', async () => {
    // Sessions no node has validated yet, so no near cache holds them (a cached one is served
    // from the cache meanwhile, as its store is not needed: see docs/scaling.md).
    const onHung: SignedIn[] = [];
    for (let i = 0; onHung.length < 2 && i < 40; i++) {
      const s = await signIn(nodes[i % 3] as ServerNode, sessions[0]?.email ?? '');
      if ((await nodeHolding(stack.cluster, `cc:s:${s.sessionId}`)) === dead) onHung.push(s);
    }
    assert.equal(onHung.length, 2, 'fresh sessions on the master to hang');
    const onLive = sessions.filter((s) => s.holder !== dead);
    const hung = stack.cluster.nodes[dead];
    markLogs();
    hung?.pause();
    try {
      // The nodes at once (each request waits out the 1 s store deadline), sessions in turn.
      await Promise.all(
        nodes.map(async (node) => {
          for (const s of onHung) {
            const startedAt = performance.now();
            await expectUnavailable(node, s.cookie, 'a session on the hung master');
            const ms = performance.now() - startedAt;
            assert.ok(ms < 3000, `${node.name} answered after ${Math.round(ms)} ms`);
          }
          for (const s of onLive.slice(0, 3)) {
            assert.equal((await whoAmI(node, s.cookie)).status, 200, `live master, ${node.name}`);
          }
        }),
      );
      await readiness(503);
      for (const node of nodes) {
        assertLoggedOnce(node, REDIS, 0);
        assertHealthyProcess(node);
      }
    } finally {
      hung?.resume();
    }
    // The other masters marked it failed meanwhile; it serves again once the Cluster clears that.
    await readiness(200);
    for (const node of nodes) {
      for (const s of onHung) {
        const me = async () => (await whoAmI(node, s.cookie)).status === 200;
        await eventually(me, `session ${s.sessionId} on ${node.name} after the resume`);
      }
    }
    await recovered(REDIS);
    for (const node of nodes) {
      assertLoggedOnce(node, REDIS, 1);
      assertHealthyProcess(node);
    }
  });

  it('PostgreSQL stops: sign-in and uncached sessions get 503, /readyz 503, one store_down per node; restart: recovered', async (t) => {
    const [A, B, C] = nodes as [ServerNode, ServerNode, ServerNode];
    const warm = sessions[0] as Held;
    // After the Redis outages, a feed is live again once its own heartbeats and every other
    // node's come back: only then does it cache.
    await eventually(() => nodes.every(feedLive), 'every near cache live');
    let cold: SignedIn | undefined;
    for (let attempt = 1; ; attempt++) {
      // `cold` is validated by no node; B holds `warm` in its near cache, proven: with the key
      // moved away behind its back, B still serves it...
      cold = await signIn(B, sessions[1]?.email ?? '');
      await eventually(() => servedFromCache(B, warm), 'warm in B’s near cache');
      markLogs();
      await stack.pg.halt('fast');
      // ...and still does with PostgreSQL down: its user was read moments ago, and nothing that
      // could change the user (a lock, a role change, a password change) can be written while
      // PostgreSQL is down. Revocation still reaches it: sessions and the feed are in Redis.
      const cached = await whoAmI(B, warm.cookie);
      if (cached.status === 200) break;
      // Unless B lost its copy since the proof: a feed drop (a peer's message late by a heartbeat
      // period, seen under CPU stress) flushes the cache, and then the user cannot be read, so
      // 503 (fail closed). Once in some 60 runs under stress it was lost with no drop logged: said
      // below for whoever looks into it. Either way, start again.
      const why = since(B, 'store_down', FEED).length > 0 ? 'a feed drop' : 'no feed drop logged';
      const lines = JSON.stringify(B.logs.slice(marks[nodes.indexOf(B)] ?? 0));
      t.diagnostic(`attempt ${attempt}: B answered ${cached.status} (${why}): ${lines}`);
      assert.ok(attempt < 3, `a cached session on B: ${cached.text} (${why})`);
      await stack.pg.restart();
      await readiness(200);
      await recovered(PG);
    }
    // Signing out revokes the session in Redis, but its audit event cannot be written: 503, and
    // the cookie is kept (a 5xx never touches it). The session is gone all the same: the next
    // request through any node is a 401, which clears the cookie.
    const out = await B.request('/auth/logout', { method: 'POST', cookie: warm.cookie });
    assertUnavailable(out, await out.text(), 'sign-out while the audit log is down');
    for (const node of nodes) {
      await refusedNext(node, warm.cookie);
      const me = await whoAmI(node, warm.cookie);
      assert.match(me.res.headers.getSetCookie().join(), /^coatcheck=;/, 'the 401 clears it');
    }
    await readiness(503);
    for (let round = 0; round < 3; round++) {
      const login = await A.request('/auth/login', {
        json: { email: sessions[0]?.email, password: PW },
      });
      assertUnavailable(login, await login.text(), 'sign-in');
      const signup = await C.request('/auth/signup', {
        json: { email: `late-${round}@example.test`, password: PW },
      });
      assertUnavailable(signup, await signup.text(), 'sign-up');
      for (const node of [A, C]) await expectUnavailable(node, cold.cookie, 'an uncached session');
    }
    for (const node of nodes) {
      assertLoggedOnce(node, PG, 0);
      assertHealthyProcess(node);
    }

    await stack.pg.restart();
    await readiness(200);
    for (const node of nodes) assert.equal((await whoAmI(node, cold.cookie)).status, 200);
    await signIn(A, sessions[2]?.email ?? '');
    await recovered(PG);
    for (const node of nodes) {
      assertLoggedOnce(node, PG, 1);
      assertHealthyProcess(node);
    }
  });
});
