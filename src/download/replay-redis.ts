import { createHash } from 'node:crypto';
import { createRedisConnection, message, parseRedisUrl } from '../stores/redis-connect.ts';
import type { ReplayEntry, ReplayGuard } from './replay.ts';

/**
 * The replay guard for several download nodes: one Redis (standalone, Sentinel or Cluster URL, as
 * for the session store) remembers every accepted `(iss, jti)` until the token expires. A claim is
 * one `SET key 1 NX PX <ms until exp>`: atomic, so of two nodes receiving the same token at once
 * exactly one serves it, and the key disappears by itself when the token could no longer verify
 * anyway. The lifetime is relative, from this node's clock, so a skew between the node and Redis
 * cannot make a key expire early (`PXAT`, an absolute time on Redis's clock, could: on a node
 * behind Redis by more than a token's remaining life, every claim was forgotten at once).
 */

/** Options of createRedisReplayGuard. */
export interface RedisReplayGuardOptions {
  /** Key prefix. @default 'coatcheck:dl:' */
  readonly prefix?: string;
  /** Creation rejects when not connected within this long. @default 2000 */
  readonly connectTimeoutMs?: number;
  /** A claim without an answer this long rejects (the server answers 503). @default 2000 */
  readonly commandTimeoutMs?: number;
  /** This node's clock in epoch ms (the verifier's). @default Date.now */
  readonly now?: () => number;
}

/** What the guard needs of a node-redis client, Cluster or Sentinel connection. */
interface SetConnection {
  connect(): Promise<unknown>;
  set(
    key: string,
    value: string,
    options: { condition: 'NX'; expiration: { type: 'PX'; value: number } },
  ): Promise<string | null>;
  close(): Promise<unknown>;
  on(event: 'error', listener: (error: unknown) => void): unknown;
}

/**
 * Connects to `url` and returns a guard; rejects when Redis cannot be reached within the connect
 * timeout. Every claim failure rejects, so the download server fails closed (503).
 */
export async function createRedisReplayGuard(
  url: string,
  options: RedisReplayGuardOptions = {},
): Promise<ReplayGuard> {
  let connected = false;
  const connectTimeoutMs = options.connectTimeoutMs ?? 2000;
  const commandTimeoutMs = options.commandTimeoutMs ?? 2000;
  const prefix = options.prefix ?? 'coatcheck:dl:';
  const now = options.now ?? Date.now;
  const connection = createRedisConnection(parseRedisUrl(url), {
    connectTimeoutMs,
    retry: () => connected,
  }) as unknown as SetConnection;
  connection.on('error', () => {}); // every claim reports its own failure
  await withTimeout(connection.connect(), connectTimeoutMs, 'connect').catch(async (error) => {
    await connection.close().catch(() => {});
    throw new Error(`Cannot connect to Redis for the replay guard: ${message(error)}`, {
      cause: error,
    });
  });
  connected = true;
  let closed = false;

  const claim = async (entry: ReplayEntry): Promise<boolean> => {
    // A digest of the claims (never of the token's bytes): fixed length, any issuer or jti.
    const digest = createHash('sha256')
      .update(JSON.stringify([entry.issuer, entry.jti]))
      .digest('base64url');
    const reply = await withTimeout(
      connection.set(`${prefix}${digest}`, '1', {
        condition: 'NX',
        expiration: { type: 'PX', value: Math.max(1, Math.ceil(entry.expiresAt - now())) },
      }),
      commandTimeoutMs,
      'SET',
    );
    return reply === 'OK';
  };

  const close = async () => {
    if (closed) return;
    closed = true;
    await connection.close().catch(() => {});
  };

  return Object.freeze({ claim, close });
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis ${what}: no answer within ${ms} ms`)), ms);
  });
  promise.catch(() => {}); // may settle after the deadline: never an unhandled rejection
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
