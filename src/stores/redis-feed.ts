import { randomBytes } from 'node:crypto';
import { StoreUnavailableError } from '../core/errors.ts';
import type { FeedHandlers, Invalidation, InvalidationFeed } from '../core/near-cache.ts';
import { createRedisConnection, message, parseRedisUrl, publishAnywhere } from './redis-connect.ts';
import { invalidationChannel } from './redis-layout.ts';

/** Options of the Redis invalidation feed. */
export interface RedisFeedOptions {
  /** Must match the session store's prefix. @default 'cc:' */
  keyPrefix?: string;
  /** How often this node sends itself a heartbeat through the channel. @default 250 */
  heartbeatMs?: number;
  /** The feed counts as down when no heartbeat came back for this long. @default 1000 */
  deadlineMs?: number;
  /** @default 2000 */
  connectTimeoutMs?: number;
  /** Told of each change between live and down (once per outage, for the log). */
  onStatus?: (status: { live: boolean; error?: unknown }) => void;
}

interface PubSubConnection {
  connect(): Promise<unknown>;
  publish(channel: string, message: string): Promise<unknown>;
  subscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  close(): Promise<unknown>;
  destroy(): unknown;
  on(event: string, listener: (error: unknown) => void): unknown;
}

/**
 * Near-cache invalidations over Redis pub/sub on `<prefix>inv` (the channel the Redis session
 * store publishes `{"sessionIds":[…]}` on after each delete, revoke-all and rotation).
 *
 * Liveness is proven end to end, not inferred from client events: this node publishes a random
 * heartbeat through the same channel every `heartbeatMs` and the feed is live only while its own
 * heartbeats come back within `deadlineMs`. Redis delivers a channel's messages in order on one
 * connection, so a returned heartbeat proves every invalidation published before it arrived too;
 * a subscription that silently died is noticed within `deadlineMs`, and meanwhile the cache
 * bounds the damage to that window. Any error of the subscriber connection (in a Cluster: of
 * its one pub/sub node) marks the feed down at once.
 */
export class RedisInvalidationFeed implements InvalidationFeed {
  readonly #subscriber: PubSubConnection;
  readonly #publisher: PubSubConnection;
  readonly #channel: string;
  readonly #heartbeatMs: number;
  readonly #deadlineMs: number;
  readonly #onStatus: RedisFeedOptions['onStatus'];
  readonly #self = randomBytes(12).toString('base64url');
  #handlers: FeedHandlers | null = null;
  #timer: NodeJS.Timeout | null = null;
  #lastBeat = 0;
  #live = false;
  #closed = false;

  constructor(url: string, options: RedisFeedOptions = {}) {
    const target = parseRedisUrl(url);
    const connect = { connectTimeoutMs: options.connectTimeoutMs ?? 2000, retry: () => true };
    // In a Cluster the subscriber connects to its one pub/sub node only, so that its errors are
    // that node's: another master's outage must not flush every cache twice a second.
    const subscriber = createRedisConnection(target, { ...connect, minimizeConnections: true });
    this.#subscriber = subscriber as unknown as PubSubConnection;
    this.#publisher = createRedisConnection(target, connect) as unknown as PubSubConnection;
    this.#channel = invalidationChannel(options.keyPrefix ?? 'cc:');
    this.#heartbeatMs = options.heartbeatMs ?? 250;
    this.#deadlineMs = options.deadlineMs ?? 1000;
    this.#onStatus = options.onStatus;
    const down = (error: unknown) => this.#setLive(false, error);
    for (const event of ['error', 'node-error', 'client-error']) {
      this.#subscriber.on(event, down);
      // A Cluster publisher's node errors are no news: publishAnywhere goes round a dead node, and
      // a heartbeat that no node takes marks the feed down.
      const ignored = target.kind === 'cluster' && event === 'node-error';
      this.#publisher.on(event, ignored ? () => {} : down);
    }
  }

  /** Connects and subscribes in the background; `onState(true)` follows the first heartbeat. */
  subscribe(handlers: FeedHandlers): void {
    this.#handlers = handlers;
    handlers.onState(false);
    this.#start().catch((error: unknown) => this.#setLive(false, error));
  }

  /** Publishes to every node; rejects with StoreUnavailableError when Redis cannot take it. */
  async publish(invalidation: Invalidation): Promise<void> {
    try {
      await publishAnywhere(this.#publisher, this.#channel, JSON.stringify(invalidation));
    } catch (error) {
      this.#setLive(false, error);
      throw new StoreUnavailableError(`Redis publish failed: ${message(error)}`, { cause: error });
    }
  }

  /** Stops the heartbeat and closes both connections. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#setLive(false);
    for (const connection of [this.#subscriber, this.#publisher]) {
      try {
        await connection.close();
      } catch {
        try {
          await connection.destroy();
        } catch {}
      }
    }
  }

  async #start(): Promise<void> {
    await Promise.all([this.#subscriber.connect(), this.#publisher.connect()]);
    // node-redis re-subscribes by itself after a reconnect; the heartbeat tells us when it has.
    await this.#subscriber.subscribe(this.#channel, (text) => this.#receive(text));
    if (this.#closed) return;
    this.#timer = setInterval(() => this.#beat(), this.#heartbeatMs);
    this.#timer.unref();
    this.#beat();
  }

  #beat(): void {
    if (this.#live && performance.now() - this.#lastBeat > this.#deadlineMs) {
      this.#setLive(false, new Error(`no heartbeat for ${this.#deadlineMs} ms`));
    }
    publishAnywhere(this.#publisher, this.#channel, JSON.stringify({ beat: this.#self })).catch(
      (error: unknown) => this.#setLive(false, error),
    );
  }

  #receive(text: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
    const message = parsed as { beat?: unknown; sessionIds?: unknown; userIds?: unknown } | null;
    if (message?.beat !== undefined) {
      if (message.beat !== this.#self) return; // another node's heartbeat
      this.#lastBeat = performance.now();
      this.#setLive(true);
      return;
    }
    const sessionIds = strings(message?.sessionIds);
    const userIds = strings(message?.userIds);
    if (sessionIds === null || userIds === null) {
      // Not understood: forget everything rather than guess what it meant to invalidate.
      this.#setLive(false, new Error('unreadable invalidation message'));
      return;
    }
    this.#handlers?.onMessage({ sessionIds, userIds });
  }

  #setLive(live: boolean, error?: unknown): void {
    if (this.#closed && live) return;
    if (live === this.#live) return;
    this.#live = live;
    this.#handlers?.onState(live);
    this.#onStatus?.(live ? { live } : { live, error });
  }
}

/** The strings of an optional array field; null when the field has the wrong shape. */
function strings(value: unknown): string[] | null {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) return null;
  return value;
}
