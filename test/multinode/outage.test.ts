import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eventually, type ServerNode } from '../support/nodes.ts';
import {
  assertHealthyProcess,
  assertUnavailable,
  nodeHolding,
  PW,
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

/**
 * The outage is in the log once: its store_down line is the only error line, however many
 * requests failed meanwhile (each of those is logged at debug).
 */
function assertLoggedOnce(node: ServerNode, store: string) {
  assert.equal(
    node.events('store_down', store).length,
    1,
    `${node.name}: one store_down for ${store}`,
  );
  const errors = node.logs.filter((l) => Number(l.level) >= 50 && l.event !== 'store_down');
  assert.deepEqual(errors, [], `${node.name}: no error line per failed request`);
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
    await stack.cluster.killNode(dead);
    try {
      await duringRedisOutage(onDead, onLive);
    } finally {
      await stack.cluster.restartNode(dead); // also when an assertion failed: the next test needs it
    }
    for (const node of nodes) {
      await eventually(
        async () => (await node.request('/readyz')).status === 200,
        `${node.name} /readyz 200`,
      );
      // Every session acknowledged before the SIGKILL is still there (AOF, appendfsync always).
      for (const s of sessions) {
        await eventually(
          async () => (await whoAmI(node, s.cookie)).status === 200,
          `session ${s.sessionId} on ${node.name} after the restart`,
        );
      }
    }
    for (const node of nodes) {
      await eventually(() => node.events('store_up', REDIS).length > 0, `${node.name} store_up`);
      assert.equal(node.events('store_up', REDIS).length, 1, `${node.name}: one store_up`);
      assertLoggedOnce(node, REDIS);
      assertHealthyProcess(node);
    }
  });

  async function duringRedisOutage(onDead: Held[], onLive: Held[]) {
    for (const node of nodes) {
      await eventually(
        async () => (await node.request('/readyz')).status === 503,
        `${node.name} /readyz 503`,
      );
    }
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
        assert.equal((await whoAmI(other, s.cookie)).status, 401, `signed out, on ${other.name}`);
      }
    }
    for (const node of nodes) {
      assertLoggedOnce(node, REDIS);
      assert.equal(
        node.events('store_up', REDIS).length,
        0,
        `${node.name}: no store_up while down`,
      );
      assertHealthyProcess(node);
    }
  }

  it('PostgreSQL stops: sign-in and uncached sessions get 503, /readyz 503, one store_down per node; restart: recovered', async () => {
    const [A, B, C] = nodes as [ServerNode, ServerNode, ServerNode];
    const warm = sessions[0] as SignedIn;
    // B holds `warm` in its near cache (validated twice); `cold` is validated by no node yet...
    for (let i = 0; i < 2; i++) assert.equal((await whoAmI(B, warm.cookie)).status, 200);
    const cold = await signIn(B, sessions[1]?.email ?? '');
    await stack.pg.halt('fast');

    for (const node of nodes) {
      await eventually(
        async () => (await node.request('/readyz')).status === 503,
        `${node.name} /readyz 503`,
      );
    }
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
    // ...B's cached copy of `warm` still validates: its user was read moments ago, and nothing
    // that could change the user (a lock, a role change, a password change) can be written while
    // PostgreSQL is down. Revocation still works: sessions and the invalidation feed are in Redis.
    assert.equal((await whoAmI(B, warm.cookie)).status, 200, 'a cached session on B');
    for (const node of nodes) {
      assertLoggedOnce(node, PG);
      assertHealthyProcess(node);
    }

    await stack.pg.restart();
    for (const node of nodes) {
      await eventually(
        async () => (await node.request('/readyz')).status === 200,
        `${node.name} /readyz 200`,
      );
      assert.equal((await whoAmI(node, cold.cookie)).status, 200);
    }
    await signIn(A, sessions[0]?.email ?? '');
    for (const node of nodes) {
      await eventually(() => node.events('store_up', PG).length > 0, `${node.name} store_up`);
      assert.equal(node.events('store_up', PG).length, 1, `${node.name}: one store_up`);
      assertLoggedOnce(node, PG);
      assertHealthyProcess(node);
    }
  });
});
