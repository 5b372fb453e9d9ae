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
 * Acknowledged: `publish` resolves only once every other live node has evicted, so a revocation
 * acknowledged to a client is refused by every node at its very next request. Each node hears the
 * others' heartbeats, answers each invalidation with an ack after applying it, and the publisher
 * waits for the nodes it heard from within `deadlineMs + heartbeatMs`. A node that does not answer
 * is waited for only until that window closes: by then it has stopped hearing its own heartbeats
 * and serves nothing from its cache, or it is gone. Peers that do not advertise acks (an older
 * version during a rolling upgrade) are not waited for.
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
  /** Other nodes that ack, by feed id: when each was last heard (performance.now()). */
  readonly #peers = new Map<string, number>();
  /** Published invalidations still waiting for acks, by nonce. */
  readonly #pending = new Map<string, PendingAck>();
  #sequence = 0;
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

  /**
   * Publishes to every node and resolves once each live node has acked (or, silent, has dropped
   * out of the window); rejects with StoreUnavailableError when Redis cannot take the message.
   */
  async publish(invalidation: Invalidation): Promise<void> {
    const nonce = String(++this.#sequence);
    const acked = this.#awaitAcks(nonce);
    const text = JSON.stringify({ ...invalidation, from: this.#self, nonce });
    try {
      await publishAnywhere(this.#publisher, this.#channel, text);
    } catch (error) {
      this.#pending.get(nonce)?.finish();
      this.#setLive(false, error);
      throw new StoreUnavailableError(`Redis publish failed: ${message(error)}`, { cause: error });
    }
    await acked;
  }

  /** Nodes heard from (by their heartbeats) within the window, this one excluded. */
  get peers(): number {
    return this.#livePeers().length;
  }

  /** Stops the heartbeat and closes both connections. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    for (const pending of [...this.#pending.values()]) pending.finish();
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
    const now = performance.now();
    if (this.#live && now - this.#lastBeat > this.#deadlineMs) {
      this.#setLive(false, new Error(`no heartbeat for ${this.#deadlineMs} ms`));
    }
    for (const [peer, heard] of this.#peers) {
      if (now - heard > this.#peerWindowMs) this.#peers.delete(peer);
    }
    this.#send({ beat: this.#self, acks: 1 });
  }

  /** Publishes a feed message of our own (heartbeat, ack); a failure marks the feed down. */
  #send(body: object): void {
    publishAnywhere(this.#publisher, this.#channel, JSON.stringify(body)).catch((error: unknown) =>
      this.#setLive(false, error),
    );
  }

  /** How long a silent peer still counts: past it, it has stopped trusting its own cache. */
  get #peerWindowMs(): number {
    return this.#deadlineMs + this.#heartbeatMs;
  }

  #livePeers(): [string, number][] {
    const now = performance.now();
    return [...this.#peers].filter(([, heard]) => now - heard <= this.#peerWindowMs);
  }

  /** Resolves when every live peer acked `nonce`, or when the last silent one leaves the window. */
  #awaitAcks(nonce: string): Promise<void> {
    const peers = this.#livePeers();
    if (peers.length === 0) return Promise.resolve();
    const waiting = new Set(peers.map(([peer]) => peer));
    const lastHeard = Math.max(...peers.map(([, heard]) => heard));
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.#pending.delete(nonce);
        resolve();
      };
      // +1: timers fire on whole milliseconds; by then the silent peer is out of the window.
      const timer = setTimeout(
        finish,
        Math.ceil(lastHeard + this.#peerWindowMs - performance.now()) + 1,
      );
      this.#pending.set(nonce, { waiting, finish });
    });
  }

  #receive(text: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
    const message = parsed as FeedMessage | null;
    if (message?.beat !== undefined) {
      if (message.beat !== this.#self) {
        // Another node's heartbeat: a peer to wait for, if it acks.
        if (typeof message.beat === 'string' && message.acks === 1) {
          this.#peers.set(message.beat, performance.now());
        }
        return;
      }
      this.#lastBeat = performance.now();
      this.#setLive(true);
      return;
    }
    if (message?.ack !== undefined) {
      if (message.to !== this.#self || typeof message.ack !== 'string') return;
      const pending = this.#pending.get(message.ack);
      if (pending === undefined || typeof message.by !== 'string') return;
      pending.waiting.delete(message.by);
      if (pending.waiting.size === 0) pending.finish();
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
    // Evicted (onMessage is synchronous): tell the publisher, unless it is us or the store's Lua.
    const { from, nonce } = message ?? {};
    if (typeof from === 'string' && from !== this.#self && typeof nonce === 'string') {
      this.#send({ ack: nonce, to: from, by: this.#self });
    }
  }

  #setLive(live: boolean, error?: unknown): void {
    if (this.#closed && live) return;
    if (live === this.#live) return;
    this.#live = live;
    this.#handlers?.onState(live);
    this.#onStatus?.(live ? { live } : { live, error });
  }
}

/** A publish still waiting for acks from `waiting` (feed ids); `finish` resolves it. */
interface PendingAck {
  readonly waiting: Set<string>;
  readonly finish: () => void;
}

/** Any message on the channel: a heartbeat, an ack, or an invalidation. Untrusted shape. */
interface FeedMessage {
  beat?: unknown;
  acks?: unknown;
  ack?: unknown;
  to?: unknown;
  by?: unknown;
  from?: unknown;
  nonce?: unknown;
  sessionIds?: unknown;
  userIds?: unknown;
}

/** The strings of an optional array field; null when the field has the wrong shape. */
function strings(value: unknown): string[] | null {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) return null;
  return value;
}
