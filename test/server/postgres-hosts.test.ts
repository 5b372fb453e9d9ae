import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { signUp, whoAmI } from '../multinode/stack.ts';
import { eventually, type ServerNode, startNode } from '../support/nodes.ts';
import { type PostgresServer, startPostgres } from '../support/postgres.ts';
import { freePort } from '../support/processes.ts';

// COATCHECK_DATABASE_URL in libpq's multi-host form (`postgres://…@h1:p1,h2:p2/db`): the driver
// tries the hosts in turn, so a server whose first host is down works on the next one.

describe('a multi-host COATCHECK_DATABASE_URL', { timeout: 60_000 }, () => {
  let pg: PostgresServer;
  let node: ServerNode;

  before(async () => {
    pg = await startPostgres();
    const nobody = await freePort(); // nothing listens here: connections are refused
    node = await startNode('pg-hosts', {
      COATCHECK_DATABASE_URL: `postgres://postgres@127.0.0.1:${nobody},127.0.0.1:${pg.port}/coatcheck`,
    });
  });

  after(async () => {
    await node?.stop();
    await pg?.stop();
  });

  it('skips the host that refuses connections: ready, sign-up and the session work', async () => {
    await eventually(async () => (await node.request('/readyz')).status === 200, '/readyz 200');
    const { cookie, userId } = await signUp(node, 'multi-host@example.test');
    const me = await whoAmI(node, cookie);
    assert.equal(me.status, 200, me.text);
    assert.equal(me.userId, userId);
    assert.deepEqual(node.events('store_down'), [], 'a refused first host is not an outage');
  });
});
