/**
 * Looks at what the Redis session store left in Redis, behind its back: the same checks run on a
 * standalone server and on a Cluster (where SCAN must visit every master).
 */
import assert from 'node:assert/strict';
import { createClient, createCluster } from 'redis';
import type { SessionRecord } from '../../src/core/store.ts';
import { decodeSession, sessionKey, userIndexKey } from '../../src/stores/redis-layout.ts';

/** Raw access to the keys, whatever the topology. */
export interface RawRedis {
  /** Every key matching a glob pattern, on every master. */
  keys(pattern: string): Promise<string[]>;
  get(key: string): Promise<string | null>;
  zRange(key: string): Promise<string[]>;
  pTTL(key: string): Promise<number>;
  memoryUsage(key: string): Promise<number | null>;
  del(key: string): Promise<unknown>;
  zRem(key: string, member: string): Promise<unknown>;
  close(): Promise<void>;
}

/** A raw view of one server. */
export async function rawStandalone(url: string): Promise<RawRedis> {
  const client = createClient({ url });
  client.on('error', () => {});
  await client.connect();
  return {
    keys: async (pattern) => {
      const found: string[] = [];
      for await (const batch of client.scanIterator({ MATCH: pattern, COUNT: 1000 })) {
        found.push(...batch);
      }
      return found;
    },
    get: (key) => client.get(key),
    zRange: (key) => client.zRange(key, 0, -1),
    pTTL: (key) => client.pTTL(key),
    memoryUsage: (key) => client.memoryUsage(key),
    del: (key) => client.del(key),
    zRem: (key, member) => client.zRem(key, member),
    close: () => client.close(),
  };
}

/** A raw view of a Cluster given its `host:port` root nodes. */
export async function rawCluster(rootPorts: readonly number[]): Promise<RawRedis> {
  const cluster = createCluster({
    rootNodes: rootPorts.map((port) => ({ socket: { host: '127.0.0.1', port } })),
  });
  cluster.on('error', () => {});
  await cluster.connect();
  return {
    keys: async (pattern) => {
      const found: string[] = [];
      for (const master of cluster.masters) {
        const node = await cluster.nodeClient(master);
        for await (const batch of node.scanIterator({ MATCH: pattern, COUNT: 1000 })) {
          found.push(...batch);
        }
      }
      return found;
    },
    get: (key) => cluster.get(key),
    zRange: (key) => cluster.zRange(key, 0, -1),
    pTTL: (key) => cluster.pTTL(key),
    memoryUsage: (key) => cluster.memoryUsage(key),
    del: (key) => cluster.del(key),
    zRem: (key, member) => cluster.zRem(key, member),
    close: () => cluster.close(),
  };
}

/** Every stored session (tombstones too) under `prefix`, by id. */
export async function storedSessions(
  raw: RawRedis,
  prefix: string,
): Promise<Map<string, SessionRecord>> {
  const sessions = new Map<string, SessionRecord>();
  const head = sessionKey(prefix, '');
  for (const key of await raw.keys(`${head}*`)) {
    const id = key.slice(head.length);
    const record = decodeSession(id, await raw.get(key));
    if (record !== null) sessions.set(id, record);
  }
  return sessions;
}

/**
 * The index invariants: every stored session is in its user's index, and every index entry
 * points at a stored session of that user (no dangling entry). Returns the stored sessions.
 */
export async function assertIndexesConsistent(
  raw: RawRedis,
  prefix: string,
): Promise<Map<string, SessionRecord>> {
  const sessions = await storedSessions(raw, prefix);
  const users = new Set([...sessions.values()].map((s) => s.userId));
  const indexed = new Map<string, string>();
  for (const key of await raw.keys(`${prefix}{u:*}:i`)) {
    for (const id of await raw.zRange(key)) indexed.set(id, key);
  }
  for (const [id, key] of indexed) {
    const session = sessions.get(id);
    assert.ok(session !== undefined, `index ${key} points at missing session ${id}`);
    assert.equal(key, userIndexKey(prefix, session.userId), `session ${id} is in a foreign index`);
  }
  for (const [id, session] of sessions) {
    assert.ok(indexed.has(id), `session ${id} of ${session.userId} is not indexed`);
  }
  for (const user of users) {
    assert.ok((await raw.pTTL(userIndexKey(prefix, user))) > 0, `index of ${user} has no TTL`);
  }
  return sessions;
}
