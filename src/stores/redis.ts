import { StoreUnavailableError } from '../core/errors.ts';
import { createRedisConnection, message, parseRedisUrl } from './redis-connect.ts';
import { RedisSessionStore, type RedisSessionStoreOptions } from './redis-sessions.ts';

/**
 * The production session store: Redis ≥ 7 or Valkey, standalone, Sentinel or Cluster, through
 * node-redis. Sessions expire by TTL; the design (and why it is safe in Cluster) is explained at
 * the top of ./redis-sessions.ts. Also the near cache's feed over the same Redis
 * (RedisInvalidationFeed, ./redis-feed.ts).
 */

export {
  parseRedisUrl,
  type RedisConnection,
  type RedisStatusListener,
  type RedisTarget,
} from './redis-connect.ts';
export { type RedisFeedOptions, RedisInvalidationFeed } from './redis-feed.ts';
export { invalidationChannel, sessionKey, userIndexKey } from './redis-layout.ts';
export {
  RedisSessionStore,
  type RedisSessionStoreOptions,
} from './redis-sessions.ts';

/** Options of `createRedisSessionStore`: the store's, plus how connecting behaves. */
export interface CreateRedisSessionStoreOptions extends RedisSessionStoreOptions {
  /** Creation rejects when not connected within this long (each socket attempt too). @default 2000 */
  connectTimeoutMs?: number;
}

/**
 * Connects to the URL (redis://, rediss://, redis+sentinel://, redis+cluster://) and resolves once
 * connected; rejects with StoreUnavailableError when the first attempt fails (leaving no retry
 * loop behind). Once connected, a lost connection is retried for ever and calls fail fast meanwhile.
 */
export async function createRedisSessionStore(
  url: string,
  options: CreateRedisSessionStoreOptions = {},
): Promise<RedisSessionStore> {
  let connected = false;
  const target = parseRedisUrl(url);
  const replicas = options.revocationReplicas ?? (target.kind === 'sentinel' ? 1 : 0);
  const connection = createRedisConnection(target, {
    connectTimeoutMs: options.connectTimeoutMs ?? 2000,
    retry: () => connected,
    // Through Sentinel, the spare master connection that revocationReplicas leases.
    leasedConnection: replicas > 0,
  });
  const store = new RedisSessionStore(connection, { ...options, revocationReplicas: replicas });
  const limitMs = options.connectTimeoutMs ?? 2000;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not connected within ${limitMs} ms`)), limitMs);
  });
  try {
    // A Sentinel connection retries inside connect(): the deadline bounds every topology alike.
    const connecting = connection.connect();
    connecting.catch(() => {}); // settles after the deadline too: never an unhandled rejection
    await Promise.race([connecting, deadline]);
  } catch (error) {
    await store.close();
    throw new StoreUnavailableError(`Cannot connect to Redis: ${message(error)}`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
  connected = true;
  return store;
}
