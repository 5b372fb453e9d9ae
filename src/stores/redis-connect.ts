import { randomInt } from 'node:crypto';
import { createClient, createCluster, createSentinel } from 'redis';
import { StoreUnavailableError } from '../core/errors.ts';
import type { ScriptRunner } from './redis-scripts.ts';
import type { RedisTarget } from './redis-url.ts';

export { parseRedisUrl, type RedisTarget } from './redis-url.ts';

/** The node-redis connection each store URL (./redis-url.ts) builds, and its guard. */

/** Connection behaviour shared by every topology. */
export interface RedisConnectOptions {
  /** A connection attempt without an answer this long fails. */
  readonly connectTimeoutMs: number;
  /** False until the first connection succeeded: only then is a lost connection retried. */
  readonly retry: () => boolean;
  /**
   * Cluster only: connect to no node beyond the topology discovery (and later, the one node a
   * subscription lives on). For a pub/sub subscriber, whose errors must mean its own node failed.
   * @default false
   */
  readonly minimizeConnections?: boolean;
  /**
   * A connection that received and sent nothing for this long is closed and reconnected
   * (node-redis `socketTimeout`; in a Cluster, on every node connection, so use with
   * `minimizeConnections`; through Sentinel, on the master connection too, so send on it more
   * often than that; never on the connection to the Sentinel itself). For the feed's subscriber,
   * which hears a heartbeat every `heartbeatMs` while alive: one silently cut off is otherwise
   * never replaced.
   * @default none
   */
  readonly idleTimeoutMs?: number;
  /**
   * Sentinel only: a second connection to the master, for `acquire()` (every other command stays
   * on the first). The store leases it for good for its WAIT after a revocation
   * (./redis-sessions.ts), which blocks the connection it is sent on until a replica answers.
   * @default false
   */
  readonly leasedConnection?: boolean;
}

/** A node-redis client, Cluster or Sentinel connection for `target`, not yet connected. */
export function createRedisConnection(target: RedisTarget, options: RedisConnectOptions) {
  // Fail fast while disconnected (no offline queue) and, once connected,
  // reconnect for ever with backoff capped at ~0.5 s: recovery needs no new store and follows the
  // server's return within half a second (an attempt per node every 0.5 s costs Redis nothing).
  const socket = {
    connectTimeout: options.connectTimeoutMs,
    reconnectStrategy: (retries: number, cause: Error) =>
      options.retry() ? Math.min(50 * 2 ** retries, 500) + randomInt(100) : cause,
  };
  // No per-command `timeout` here: see ConnectionGuard. A full queue (a hung server under load)
  // rejects at once instead of growing.
  const common = { disableOfflineQueue: true, commandsQueueMaxLength: 10_000 };
  // See idleTimeoutMs.
  const idle = options.idleTimeoutMs === undefined ? {} : { socketTimeout: options.idleTimeoutMs };
  if (target.kind === 'standalone') {
    return createClient({ url: target.url, socket: { ...socket, ...idle }, ...common });
  }
  const auth = {
    ...(target.username !== undefined && { username: target.username }),
    ...(target.password !== undefined && { password: target.password }),
  };
  const tlsSocket = target.tls ? { ...socket, tls: true as const } : socket;
  if (target.kind === 'cluster') {
    return createCluster({
      rootNodes: target.hosts.map((h) => ({ socket: { host: h.host, port: h.port } })),
      defaults: { socket: { ...tlsSocket, ...idle }, ...auth, ...common },
      minimizeConnections: options.minimizeConnections ?? false,
    });
  }
  return createSentinel({
    name: target.name,
    sentinelRootNodes: target.hosts.map((h) => ({ host: h.host, port: h.port })),
    nodeClientOptions: { socket: { ...tlsSocket, ...idle }, ...auth, ...common },
    sentinelClientOptions: { socket: tlsSocket, ...common },
    passthroughClientErrorEvents: true,
    ...(options.leasedConnection === true && { masterPoolSize: 2, reserveClient: true }),
  });
}

/** The node-redis calls the store makes: a client, a Cluster and a Sentinel connection all have them. */
export interface RedisConnection extends ScriptRunner {
  get(key: string): Promise<string | null>;
  publish(channel: string, message: string): Promise<unknown>;
  close(): Promise<unknown>;
  destroy(): unknown;
  on(event: string, listener: (error: unknown) => void): unknown;
}

/**
 * PUBLISH that survives a dead Cluster node: node-redis sends each PUBLISH to the next node in
 * turn, the dead one included, and any node relays it to every subscriber over the cluster bus,
 * so a failed attempt is retried on the next node (once per node at most). Elsewhere, one attempt.
 * A message may arrive twice; invalidations and heartbeats are idempotent.
 */
export async function publishAnywhere(
  connection: Pick<RedisConnection, 'publish'>,
  channel: string,
  message: string,
): Promise<void> {
  const nodes = connection as { masters?: unknown; replicas?: unknown };
  const attempts = Array.isArray(nodes.masters)
    ? nodes.masters.length + (Array.isArray(nodes.replicas) ? nodes.replicas.length : 0)
    : 1;
  for (let attempt = 1; ; attempt++) {
    try {
      await connection.publish(channel, message);
      return;
    } catch (error) {
      if (attempt >= attempts) throw error;
    }
  }
}

/** A change between reachable and unreachable. */
export type RedisStatusListener = (status: { up: boolean; error?: unknown }) => void;

interface Pending {
  readonly startedAt: number;
  readonly reject: (error: Error) => void;
}

/**
 * Runs the store's calls on a connection: failures become StoreUnavailableError (cause kept), a
 * call unanswered for `timeoutMs` rejects, and `onStatus` hears of each change between reachable
 * and unreachable once (not once per failed call).
 *
 * The timeout is one watchdog timer over the calls in flight, not node-redis's per-command
 * `timeout`: that arms an AbortSignal.timeout per command, measured at ~4.5 µs of CPU per GET,
 * doubling the cost of `get`. A timed-out call's commands may still run later; every write is
 * ordered so that a half-done one is harmless (see ./redis-sessions.ts).
 */
export class ConnectionGuard {
  readonly #connection: RedisConnection;
  readonly #onStatus: RedisStatusListener | undefined;
  readonly #timeoutMs: number;
  readonly #pending = new Set<Pending>();
  readonly #watchdog: NodeJS.Timeout;
  readonly #confirmUp: (() => Promise<unknown>) | undefined;
  #up = true;
  #closed = false;
  #confirming = false;

  /**
   * Listens to the connection's error events: without a listener, one would crash the process.
   * `confirmUp`, when given, must resolve before an outage counts as over: in a Cluster a call
   * that succeeded may have reached a live master while another is still down, and declaring
   * the store up on it would log an outage start and end per request (issue #4: once per outage).
   */
  constructor(
    connection: RedisConnection,
    timeoutMs: number,
    onStatus?: RedisStatusListener,
    confirmUp?: () => Promise<unknown>,
  ) {
    this.#connection = connection;
    this.#timeoutMs = timeoutMs;
    this.#onStatus = onStatus;
    this.#confirmUp = confirmUp;
    for (const event of ['error', 'node-error', 'client-error']) {
      connection.on(event, (error) => this.#down(error));
    }
    this.#watchdog = setInterval(() => this.#expire(), Math.max(10, timeoutMs / 4));
    this.#watchdog.unref();
  }

  /** The body's result, or a StoreUnavailableError naming `operation`. */
  run<T>(operation: string, body: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(closedError());
    return this.#watched(body).then(
      (result) => {
        if (!this.#up) this.#recovered();
        return result;
      },
      (error: unknown) => {
        if (error instanceof StoreUnavailableError) throw error;
        this.#down(error);
        throw new StoreUnavailableError(`Redis ${operation} failed: ${message(error)}`, {
          cause: error,
        });
      },
    );
  }

  /** Throws as `run` does once closed; touches nothing else (no up/down change). */
  assertOpen(): void {
    if (this.#closed) throw closedError();
  }

  /** Closes the connection (waiting for calls in flight); later runs reject. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#watchdog);
    try {
      await this.#connection.close();
    } catch {
      try {
        await this.#connection.destroy(); // never connected, or already gone
      } catch {}
    }
  }

  /** The body's result, rejected by the watchdog when unanswered for `timeoutMs`. */
  #watched<T>(body: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const pending: Pending = { startedAt: performance.now(), reject };
      this.#pending.add(pending);
      body().then(
        (result) => {
          this.#pending.delete(pending);
          resolve(result);
        },
        (error: unknown) => {
          this.#pending.delete(pending);
          reject(error);
        },
      );
    });
  }

  /** A call succeeded while down: up at once, or once `confirmUp` (one at a time) resolves. */
  #recovered(): void {
    if (this.#confirmUp === undefined) {
      this.#status(true);
      return;
    }
    if (this.#confirming) return;
    this.#confirming = true;
    this.#watched(this.#confirmUp).then(
      () => {
        this.#confirming = false;
        if (!this.#up && !this.#closed) this.#status(true);
      },
      () => {
        this.#confirming = false; // still down: the next successful call asks again
      },
    );
  }

  #expire(): void {
    const now = performance.now();
    for (const pending of this.#pending) {
      if (now - pending.startedAt < this.#timeoutMs) continue;
      this.#pending.delete(pending);
      pending.reject(new Error(`No answer from Redis within ${this.#timeoutMs} ms.`));
    }
  }

  #down(error: unknown): void {
    if (this.#up && !this.#closed) this.#status(false, error);
  }

  #status(up: boolean, error?: unknown): void {
    this.#up = up;
    this.#onStatus?.(up ? { up } : { up, error });
  }
}

function closedError(): StoreUnavailableError {
  return new StoreUnavailableError('The session store is closed.');
}

/** An error's message, for wrapping it. */
export function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
