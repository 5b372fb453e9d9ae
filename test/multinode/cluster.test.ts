import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eventually, type ServerNode } from '../support/nodes.ts';
import { redisCli } from '../support/redis.ts';
import {
  ADMIN,
  assertHealthyProcess,
  refusedNext,
  rolesNext,
  type Stack,
  signIn,
  signUp,
  startStack,
  whoAmI,
} from './stack.ts';

// Three real server processes on one Redis Cluster + PostgreSQL, near cache on: a session works
// on every node, and a revocation or a role change made through one node is honoured by the
// others at their very next request, even when their near caches hold the session (the revoking
// node answers once every other node acked the invalidation).

let stack: Stack;
let A: ServerNode;
let B: ServerNode;
let C: ServerNode;
let users = 0;
const email = (what: string) => `${what}-${++users}-${process.pid}@example.test`;

/** Validates the session twice on each node: the first read fills the node's near cache. */
async function warm(cookie: string, ...nodes: ServerNode[]) {
  for (const node of nodes) {
    for (let i = 0; i < 2; i++) assert.equal((await whoAmI(node, cookie)).status, 200, node.name);
  }
}

describe('three nodes on one Redis Cluster and PostgreSQL', { timeout: 90_000 }, () => {
  before(async () => {
    stack = await startStack();
    [A, B, C] = stack.nodes;
  });
  after(async () => {
    await stack?.stop();
  });

  it('started all three at once: one migration, one first admin, every node on the shared stores', async () => {
    const created = stack.nodes.flatMap((n) =>
      n.logs.filter((l) => /Created the first admin/.test(String(l.msg))),
    );
    assert.equal(created.length, 1);
    for (const node of stack.nodes) {
      const line = node.logs.find((l) => String(l.msg).startsWith('Coatcheck listening'));
      assert.match(String(line?.stores), /PostgreSQL, sessions in Redis, near cache/);
      // The URLs are logged without credentials, and never a password.
      assert.doesNotMatch(JSON.stringify(node.logs), /correct horse/);
    }
  });

  it('a session signed up on A is valid on B and C', async () => {
    const alice = await signUp(A, email('alice'));
    for (const node of [A, B, C]) {
      const me = await whoAmI(node, alice.cookie);
      assert.equal(me.status, 200, `${node.name}: ${me.text}`);
      assert.equal(me.userId, alice.userId);
    }
  });

  it('the near cache is really on: B serves a session deleted behind its back until told, and a revoke-all through C tells it', async () => {
    // Proves the tests below exercise cached sessions: delete the key in Redis without publishing
    // (no Coatcheck node ever does that). The warm node B still answers 200 from its cache...
    const user = email('cached');
    const keeper = await signUp(A, user);
    let probe = keeper;
    await eventually(async () => {
      probe = await signIn(A, user);
      await warm(probe.cookie, B);
      const key = `cc:s:${probe.sessionId}`;
      for (const node of stack.cluster.nodes) await redisCli(node.port, 'DEL', key).catch(() => '');
      return (await whoAmI(B, probe.cookie)).status === 200;
    }, 'a warm near cache on B');
    // ...until "sign out my other sessions" through C publishes the user's id.
    const res = await C.request('/auth/sessions', { method: 'DELETE', cookie: keeper.cookie });
    assert.equal(res.status, 200, await res.text());
    await refusedNext(B, probe.cookie);
  });

  it('revoked through C, refused by A and B at their next request (caches warm)', async () => {
    const user = email('bob');
    const laptop = await signUp(A, user);
    const phone = await signIn(C, user);
    await warm(laptop.cookie, A, B, C);
    const res = await C.request(`/auth/sessions/${laptop.sessionId}`, {
      method: 'DELETE',
      cookie: phone.cookie,
    });
    assert.equal(res.status, 204, await res.text());
    await refusedNext(A, laptop.cookie);
    await refusedNext(B, laptop.cookie);
    // The revoking node evicted before it answered: no race there.
    assert.equal((await whoAmI(C, laptop.cookie)).status, 401, 'C');
    // The revoking session itself is untouched.
    for (const node of [A, B, C]) assert.equal((await whoAmI(node, phone.cookie)).status, 200);
  });

  it('signed out through C, refused by A and B at their next request (caches warm)', async () => {
    const carol = await signUp(B, email('carol'));
    await warm(carol.cookie, A, B, C);
    const res = await C.request('/auth/logout', { method: 'POST', cookie: carol.cookie });
    assert.equal(res.status, 204, await res.text());
    await refusedNext(A, carol.cookie);
    await refusedNext(B, carol.cookie);
  });

  it('a role removed by an admin through A is gone on B at the next request; a lock ends the session', async () => {
    const admin = await signIn(A, ADMIN);
    const user = email('dave');
    const dave = await signUp(C, user);
    const patch = (body: unknown) =>
      A.request(`/admin/users/${dave.userId}`, {
        method: 'PATCH',
        cookie: admin.cookie,
        json: body,
      });
    // Gaining a role ends the user's sessions (fixation): sign in again to hold the new role.
    const granted = await patch({ roles: ['user', 'editor'] });
    assert.equal(granted.status, 200, await granted.text());
    assert.equal((await whoAmI(B, dave.cookie)).status, 401, 'a role gain revoked the session');
    const again = await signIn(C, user);
    await warm(again.cookie, A, B, C);
    assert.deepEqual((await whoAmI(B, again.cookie)).roles?.sort(), ['editor', 'user']);

    const demoted = await patch({ roles: ['user'] });
    assert.equal(demoted.status, 200, await demoted.text());
    // A demotion keeps the session: B and C answer 200 with the new roles.
    await rolesNext(B, again.cookie, ['user']);
    await rolesNext(C, again.cookie, ['user']);

    await warm(again.cookie, B, C);
    const locked = await patch({ locked: true });
    assert.equal(locked.status, 200, await locked.text());
    await refusedNext(B, again.cookie);
    await refusedNext(C, again.cookie);
  });

  it('pub/sub connections cut: each node flushes its cache, logs one store_down and one store_up for the feed, and serves and revokes throughout', async () => {
    const FEED = 'redis pub/sub (near cache)';
    const frank = await signUp(A, email('frank'));
    await warm(frank.cookie, A, B, C);
    const marks = [A, B, C].map((node) => node.logs.length);
    const since = (node: ServerNode, event: string) =>
      node.logs
        .slice(marks[[A, B, C].indexOf(node)])
        .filter((l) => l.event === event && l.store === FEED);
    for (const node of stack.cluster.nodes) {
      await redisCli(node.port, 'CLIENT', 'KILL', 'TYPE', 'pubsub');
    }
    // Meanwhile every node reads Redis instead of its cache: still 200.
    for (const node of [A, B, C]) assert.equal((await whoAmI(node, frank.cookie)).status, 200);
    for (const node of [A, B, C]) {
      await eventually(() => since(node, 'store_up').length > 0, `${node.name}: feed back`);
      assert.equal(since(node, 'store_down').length, 1, `${node.name}: one store_down`);
      assert.equal(since(node, 'store_up').length, 1, `${node.name}: one store_up`);
    }
    // Caches warm again, and invalidations arrive again.
    await warm(frank.cookie, A, B, C);
    const out = await C.request('/auth/logout', { method: 'POST', cookie: frank.cookie });
    assert.equal(out.status, 204);
    await refusedNext(A, frank.cookie);
    await refusedNext(B, frank.cookie);
  });

  it('a node that crashes takes nothing with it: the others serve its sessions, which live in Redis', async () => {
    const erin = await signUp(C, email('erin'));
    await warm(erin.cookie, A, B, C);
    process.kill(C.pid, 'SIGKILL');
    await eventually(() => !C.alive(), 'C to die');
    for (const node of [A, B]) assert.equal((await whoAmI(node, erin.cookie)).status, 200);
    // And revocation still reaches the survivors.
    assert.equal(
      (await A.request('/auth/logout', { method: 'POST', cookie: erin.cookie })).status,
      204,
    );
    await refusedNext(B, erin.cookie);
    for (const node of [A, B]) assertHealthyProcess(node);
  });
});
