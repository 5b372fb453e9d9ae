/**
 * The production topology on one machine, for the multi-node tests: a 3-master Redis Cluster
 * (AOF, `appendfsync always`), a throwaway PostgreSQL, and three `coatcheck serve` processes
 * (A, B, C) sharing them with the near cache on. Everything started here is stopped by `stop()`,
 * and by the harnesses' exit hooks should the test process die first.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { eventually, type ServerNode, sessionCookie, startNode } from '../support/nodes.ts';
import { type PostgresServer, startPostgres } from '../support/postgres.ts';
import { type RedisCluster, redisCli, startRedisCluster } from '../support/redis.ts';

/** A password the policy accepts. */
export const PW = 'correct horse battery staple';
/** The first admin, created by whichever node starts first. */
export const ADMIN = 'admin@example.test';

/** The running topology. */
export interface Stack {
  readonly cluster: RedisCluster;
  readonly pg: PostgresServer;
  readonly nodes: readonly [ServerNode, ServerNode, ServerNode];
  /** Stops the server processes, then Redis and PostgreSQL. Idempotent; never rejects. */
  stop(): Promise<void>;
}

/** Starts the Cluster and PostgreSQL, then the three nodes at once; waits for /readyz 200 on each. */
export async function startStack(options: { requireFullCoverage?: boolean } = {}): Promise<Stack> {
  const stoppers: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const stopper of stoppers.splice(0).reverse()) {
      await stopper().catch(() => {});
    }
  };
  try {
    const [cluster, pg] = await Promise.all([
      startRedisCluster({ masters: 3, appendonly: true, ...options }),
      startPostgres(),
    ]);
    stoppers.push(
      () => cluster.stop(),
      () => pg.stop(),
    );
    const env = {
      COATCHECK_SESSION_STORE: cluster.url,
      COATCHECK_DATABASE_URL: pg.url,
      COATCHECK_NEAR_CACHE: 'true',
      COATCHECK_ADMIN_EMAIL: ADMIN,
      COATCHECK_ADMIN_PASSWORD: PW,
      COATCHECK_KEYS_SECRET: randomBytes(32).toString('base64url'),
    };
    // All three at once: migrations and the first admin are raced for, as on a real deploy.
    const started = await Promise.allSettled(['A', 'B', 'C'].map((name) => startNode(name, env)));
    for (const result of started) {
      if (result.status === 'fulfilled') stoppers.push(() => result.value.stop());
    }
    const nodes = started.map((result) => {
      if (result.status === 'rejected') throw result.reason;
      return result.value;
    }) as [ServerNode, ServerNode, ServerNode];
    for (const node of nodes) {
      await eventually(async () => (await node.request('/readyz')).status === 200, 'ready');
    }
    return { cluster, pg, nodes, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A signed-in session as the API returned it. */
export interface SignedIn {
  readonly cookie: string;
  readonly sessionId: string;
  readonly userId: string;
}

/** POST /auth/signup on `node`: asserts 201 and a session cookie. */
export async function signUp(node: ServerNode, email: string): Promise<SignedIn> {
  const res = await node.request('/auth/signup', { json: { email, password: PW } });
  return signedIn(res, 201);
}

/** POST /auth/login on `node`: asserts 200 and a session cookie. */
export async function signIn(node: ServerNode, email: string): Promise<SignedIn> {
  const res = await node.request('/auth/login', { json: { email, password: PW } });
  return signedIn(res, 200);
}

async function signedIn(res: Response, status: number): Promise<SignedIn> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  const cookie = sessionCookie(res);
  assert.ok(cookie, 'a session cookie');
  const body = JSON.parse(text) as { user: { id: string }; session?: { id: string } };
  // Sign-up answers { user } only; the session id is the token's part before the dot.
  const sessionId = body.session?.id ?? cookie.slice(cookie.indexOf('_') + 1, cookie.indexOf('.'));
  return { cookie, sessionId, userId: body.user.id };
}

/** GET /auth/session: the status, and the body when 200. */
export async function whoAmI(
  node: ServerNode,
  cookie: string,
): Promise<{ status: number; roles?: string[]; userId?: string; res: Response; text: string }> {
  const res = await node.request('/auth/session', { cookie });
  const text = await res.text();
  if (res.status !== 200) return { status: res.status, res, text };
  const body = JSON.parse(text) as { user: { id: string; roles: string[] } };
  return { status: 200, roles: body.user.roles, userId: body.user.id, res, text };
}

/** Asserts a fail-closed answer: 503 problem+json `store_unavailable`, no Set-Cookie at all. */
export function assertUnavailable(res: Response, text: string, what: string): void {
  assert.equal(res.status, 503, `${what}: expected 503, got ${res.status} ${text}`);
  assert.equal(res.headers.get('content-type'), 'application/problem+json', what);
  assert.equal((JSON.parse(text) as { code?: string }).code, 'store_unavailable', what);
  assert.deepEqual(res.headers.getSetCookie(), [], `${what}: a 503 never sets or clears a cookie`);
}

/** The index of the Cluster node holding `key` (asked of every node: the owner answers EXISTS). */
export async function nodeHolding(cluster: RedisCluster, key: string): Promise<number> {
  const answers = await Promise.all(
    cluster.nodes.map((node) => redisCli(node.port, 'EXISTS', key).catch(() => '')),
  );
  return answers.indexOf('1');
}

/** Asserts the process is alive and never reported an unhandled rejection or uncaught error. */
export function assertHealthyProcess(node: ServerNode): void {
  assert.ok(node.alive(), `node ${node.name} is alive`);
  assert.doesNotMatch(node.stderr(), /unhandled|uncaught/i, `node ${node.name} stderr`);
  const fatal = node.logs.filter(
    (l) => Number(l.level) >= 60 || /unhandled|uncaught/i.test(String(l.msg)),
  );
  assert.deepEqual(fatal, [], `node ${node.name} logged no fatal or unhandled error`);
}

// "Next request" means exactly that: the revoking node answers only once every other node's feed
// has acked the invalidation (src/stores/redis-feed.ts), so no request sent after the answer can be
// served from a stale near cache.

/** The next request to `node` answers 401. */
export async function refusedNext(node: ServerNode, cookie: string) {
  const me = await whoAmI(node, cookie);
  assert.equal(me.status, 401, `${node.name} refuses at once: ${me.text}`);
}

/** The next request to `node` shows `roles`. */
export async function rolesNext(node: ServerNode, cookie: string, roles: string[]) {
  const me = await whoAmI(node, cookie);
  assert.equal(me.status, 200, `${node.name}: ${me.text}`);
  assert.deepEqual(me.roles, roles, `${node.name} shows the new roles at once`);
}
