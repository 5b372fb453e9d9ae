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
 * version during a rolling upgrade) are not waited for. A feed live for less than that window may
 * not have heard every peer yet, so a publish then also waits until the window has passed. While
 * this node's feed is down it cannot hear acks: `publish` still sends, then waits out the silent
 * window (`deadlineMs + 2 × heartbeatMs`), by which every node still live has heard it.
 *
 * Liveness is proven end to end, not inferred from client events: this node publishes a random
 * heartbeat through the same channel every `heartbeatMs` and the feed is live only while its own
 * heartbeats come back within `deadlineMs`. Redis delivers a channel's messages in order on one
 * connection, so a returned heartbeat proves every invalidation published before it arrived too;
 * a subscription that silently died is noticed within `deadlineMs`, and meanwhile the cache
 * bounds the damage to that window. Any error of the subscriber connection (in a Cluster: of
 * its one pub/sub node) marks the feed down at once.
 *
 * Numbered: a subscription can also lose messages without going silent (node-redis swaps the
 * connection on a Sentinel switchover without an error; a Cluster bus link drops a message), and
 * then a heartbeat that comes back proves nothing about an invalidation published before it. So
 * every message a feed sends carries its sender's next number, and a receiver that finds a number
 * missing for a heartbeat period (messages sent through different Cluster nodes may overtake each
 * other) goes down: it flushes, and is live again at its next heartbeat, within the window a
 * publisher waits for its ack. Numbers are tracked per live period: an outage loses messages
 * anyway, and going down already flushed what they might have invalidated.
 *
 * Heard both ways: a node can also lose every message of one peer while it still hears itself
 * (through Sentinel, each connection moves to a new master on its own, up to a second or more
 * apart, and the old master keeps taking PUBLISH for a while). So a node is down while a peer it
 * heard stays silent past that peer's deadline (heard: its heartbeat arrived with no message of
 * it missing), until the peer is heard again or, gone without a goodbye (a crash), forgotten after
 * ten deadlines. A publisher waits for an ack missing from a peer until the silent window after
 * the send, by when that peer, if it missed the message, has noticed the publisher's silence and
 * gone down. `close()` says goodbye, so the peers of a node shut down normally stay live.
 */
export class RedisInvalidationFeed implements InvalidationFeed {
  readonly #subscriber: PubSubConnection;
  readonly #publisher: PubSubConnection;
  /** The subscriber and the publisher: one connection through Sentinel, else two. */
  readonly #connections: readonly PubSubConnection[];
  readonly #channel: string;
  readonly #heartbeatMs: number;
  readonly #deadlineMs: number;
  readonly #onStatus: RedisFeedOptions['onStatus'];
  readonly #self = randomBytes(12).toString('base64url');
  /** Other nodes that ack, by feed id: when each was last heard, and its deadline. */
  readonly #peers = new Map<string, Peer>();
  /** Published invalidations still waiting for acks, by nonce. */
  readonly #pending = new Map<string, PendingAck>();
  /** Per sender (this node too): the number expected next and the numbers still missing. */
  readonly #numbers = new Map<string, SenderNumbers>();
  /** The number of this feed's next message (an invalidation's nonce too). */
  #sent = 0;
  #handlers: FeedHandlers | null = null;
  #timer: NodeJS.Timeout | null = null;
  #lastBeat = 0;
  /** When the feed last went live (performance.now()). */
  #liveSince = 0;
  #live = false;
  #closed = false;

  constructor(url: string, options: RedisFeedOptions = {}) {
    const target = parseRedisUrl(url);
    const connect = { connectTimeoutMs: options.connectTimeoutMs ?? 2000, retry: () => true };
    this.#heartbeatMs = options.heartbeatMs ?? 250;
    this.#deadlineMs = options.deadlineMs ?? 1000;
    // In a Cluster the subscriber connects to its one pub/sub node only, so that its errors are
    // that node's: another master's outage must not flush every cache twice a second. A
    // subscriber that heard nothing for two deadlines is replaced (a subscription cut off without
    // a sound). Through Sentinel one connection both subscribes and publishes: node-redis keeps
    // the subscription on a socket of its own anyway, and the heartbeats keep its master socket,
    // which gets the same idle timeout, from ever idling (see idleTimeoutMs).
    const subscriber = createRedisConnection(target, {
      ...connect,
      minimizeConnections: true,
      idleTimeoutMs: 2 * this.#deadlineMs,
    }) as unknown as PubSubConnection;
    this.#subscriber = subscriber;
    this.#publisher =
      target.kind === 'sentinel'
        ? subscriber
        : (createRedisConnection(target, connect) as unknown as PubSubConnection);
    this.#connections = [...new Set([this.#subscriber, this.#publisher])];
    this.#channel = invalidationChannel(options.keyPrefix ?? 'cc:');
    this.#onStatus = options.onStatus;
    const down = (error: unknown) => this.#setLive(false, error);
    for (const event of ['error', 'node-error', 'client-error']) {
      this.#subscriber.on(event, down);
      if (this.#publisher === this.#subscriber) continue;
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
   * Publishes to every node and resolves once each live node has acked (one that does not, at the
   * silent window after the send). While this node's feed is down, or when it goes down before the acks are
   * in, acks cannot be heard: it resolves after the silent window instead, when every node still
   * live has evicted. Rejects with StoreUnavailableError when Redis cannot take the message or the
   * feed is closed.
   */
  async publish(invalidation: Invalidation): Promise<void> {
    if (this.#closed) throw new StoreUnavailableError('Invalidation feed closed.');
    const n = this.#sent++;
    const nonce = String(n);
    const text = JSON.stringify({ ...invalidation, from: this.#self, nonce, n });
    const acked = this.#live ? this.#awaitAcks(nonce) : Promise.reject(feedDown(undefined));
    acked.catch(() => {}); // when the send fails, its error is the one reported
    await this.#sendInvalidation(text);
    const sent = performance.now();
    try {
      await acked;
    } catch (error) {
      if (this.#closed) throw error;
      await new Promise((resolve) => setTimeout(resolve, msUntil(sent + this.#silentWindowMs)));
    }
  }

  /** Nodes heard from (by their heartbeats) within the window, this one excluded. */
  get peers(): number {
    return this.#livePeers().length;
  }

  /** A peer heard before that has been silent past its deadline (not yet forgotten). */
  #silentPeer(now: number): string | null {
    for (const [id, peer] of this.#peers) if (now - peer.heardAt > peer.deadlineMs) return id;
    return null;
  }

  /** Says goodbye, stops the heartbeat and closes both connections. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    // Goodbye, so the peers forget this node instead of going down over its silence.
    // Bounded: a hung server must not hold up a shutdown.
    await Promise.race([
      this.#send({ bye: this.#self }),
      new Promise((resolve) => setTimeout(resolve, this.#deadlineMs).unref()),
    ]);
    this.#failPending(
      new StoreUnavailableError('Invalidation feed closed before every node acked.'),
    );
    this.#setLive(false);
    for (const connection of this.#connections) {
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
    await Promise.all(this.#connections.map((connection) => connection.connect()));
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
    for (const [id, peer] of this.#peers) {
      if (now - peer.heardAt > FORGET_AFTER_DEADLINES * peer.deadlineMs) this.#peers.delete(id);
    }
    const silent = this.#silentPeer(now);
    if (silent !== null) this.#setLive(false, new Error(`node ${silent} went silent`));
    this.#checkMissing(now);
    this.#send({ beat: this.#self, acks: 1, deadline: this.#deadlineMs });
  }

  /** Publishes an invalidation; a failure marks the feed down and rejects. */
  async #sendInvalidation(text: string): Promise<void> {
    try {
      await publishAnywhere(this.#publisher, this.#channel, text);
    } catch (error) {
      this.#setLive(false, error);
      throw new StoreUnavailableError(`Redis publish failed: ${message(error)}`, { cause: error });
    }
  }

  /**
   * Publishes a feed message of our own (heartbeat, ack, goodbye), numbered; a failure marks the
   * feed down. The promise never rejects: callers need not wait for it.
   */
  #send(body: object): Promise<void> {
    const text = JSON.stringify({ ...body, n: this.#sent++ });
    return publishAnywhere(this.#publisher, this.#channel, text).catch((error: unknown) =>
      this.#setLive(false, error),
    );
  }

  /**
   * Notes a sender's message number: gaps are remembered, late arrivals fill them. Returns
   * whether every earlier message of that sender arrived (unnumbered messages: true).
   */
  #count(sender: unknown, n: unknown): boolean {
    if (typeof sender !== 'string' || typeof n !== 'number' || !Number.isSafeInteger(n)) {
      return true;
    }
    const now = performance.now();
    const seen = this.#numbers.get(sender);
    if (seen === undefined || !this.#live) {
      this.#numbers.set(sender, { next: n + 1, missing: new Map(), heardAt: now });
      return true;
    }
    seen.heardAt = now;
    if (n < seen.next) {
      seen.missing.delete(n);
    } else if (n - seen.next > MAX_MISSING) {
      this.#setLive(false, new Error(`${n - seen.next} messages of a node missed`));
      return false;
    } else {
      for (let k = seen.next; k < n; k++) seen.missing.set(k, now);
      seen.next = n + 1;
    }
    return seen.missing.size === 0;
  }

  /** Down when a message is still missing a heartbeat period after a later one arrived. */
  #checkMissing(now: number): void {
    for (const [sender, seen] of this.#numbers) {
      for (const noticedAt of seen.missing.values()) {
        if (now - noticedAt > this.#heartbeatMs) {
          this.#setLive(false, new Error('a message of a node was missed'));
          return;
        }
      }
      if (now - seen.heardAt > FORGET_SENDER_MS) this.#numbers.delete(sender);
    }
  }

  /** How long a silent peer still counts: past it, it has stopped trusting its own cache. */
  get #peerWindowMs(): number {
    return this.#deadlineMs + this.#heartbeatMs;
  }

  /**
   * How long after sending an invalidation every node still live has heard it, acks or not: a
   * node is live only while its own heartbeats come back within `deadlineMs` (checked every
   * `heartbeatMs`), and a heartbeat it sent after this message reaches it after this message
   * (Redis keeps a channel's order), as long as its link delays messages by less than
   * `heartbeatMs`. A node that stopped hearing its heartbeats serves nothing from its cache.
   */
  get #silentWindowMs(): number {
    return this.#deadlineMs + 2 * this.#heartbeatMs;
  }

  #livePeers(): string[] {
    const now = performance.now();
    const live = [...this.#peers].filter(([, peer]) => now - peer.heardAt <= this.#peerWindowMs);
    return live.map(([id]) => id);
  }

  /**
   * Resolves when every live peer acked `nonce`, or at the silent window after the send; rejects
   * if the feed goes down meanwhile. Call only while live.
   */
  #awaitAcks(nonce: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const pending: PendingAck = {
        acked: new Set(),
        waiting: null,
        sent: performance.now(),
        timer: undefined,
        settle: (error) => {
          clearTimeout(pending.timer);
          this.#pending.delete(nonce);
          if (error) reject(error);
          else resolve();
        },
      };
      this.#pending.set(nonce, pending);
      // Live for less than a peer window: a peer may not have been heard yet.
      const peersKnownAt = this.#liveSince + this.#peerWindowMs;
      if (performance.now() < peersKnownAt) {
        pending.timer = setTimeout(() => this.#awaitPeers(pending), msUntil(peersKnownAt));
      } else {
        this.#awaitPeers(pending);
      }
    });
  }

  /**
   * Waits for the live peers that have not acked yet, until the silent window after the send: a
   * peer that missed the message has stopped hearing this node by then, and gone down.
   */
  #awaitPeers(pending: PendingAck): void {
    const peers = this.#livePeers().filter((peer) => !pending.acked.has(peer));
    if (peers.length === 0) {
      pending.settle();
      return;
    }
    pending.waiting = new Set(peers);
    clearTimeout(pending.timer);
    pending.timer = setTimeout(
      () => pending.settle(),
      msUntil(pending.sent + this.#silentWindowMs),
    );
  }

  /** Rejects every publish still waiting for acks. */
  #failPending(error: Error): void {
    for (const pending of [...this.#pending.values()]) pending.settle(error);
  }

  #receive(text: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
    const message = parsed as FeedMessage | null;
    const inOrder = this.#count(
      message?.beat ?? message?.by ?? message?.from ?? message?.bye,
      message?.n,
    );
    if (message?.beat !== undefined) {
      const now = performance.now();
      if (message.beat !== this.#self) {
        // Another node's heartbeat: a peer to wait for, if it acks; heard, if none of its
        // messages went missing.
        if (typeof message.beat === 'string' && message.acks === 1 && inOrder) {
          this.#peers.set(message.beat, { heardAt: now, deadlineMs: deadline(message.deadline) });
        }
        return;
      }
      this.#lastBeat = now;
      if (this.#silentPeer(now) === null) this.#setLive(true);
      return;
    }
    if (message?.bye !== undefined) {
      if (typeof message.bye === 'string') {
        this.#peers.delete(message.bye);
        this.#numbers.delete(message.bye);
      }
      return;
    }
    if (message?.ack !== undefined) {
      if (message.to !== this.#self || typeof message.ack !== 'string') return;
      const pending = this.#pending.get(message.ack);
      if (pending === undefined || typeof message.by !== 'string') return;
      pending.acked.add(message.by);
      if (pending.waiting?.delete(message.by) && pending.waiting.size === 0) pending.settle();
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
    this.#numbers.clear(); // per live period: see the class comment
    if (live) this.#liveSince = performance.now();
    else this.#failPending(feedDown(error));
    this.#handlers?.onState(live);
    this.#onStatus?.(live ? { live } : { live, error });
  }
}

/** What a feed has heard of one sender's numbered messages in this live period. */
interface SenderNumbers {
  /** The number expected next. */
  next: number;
  /** Numbers skipped over, with when that was noticed (performance.now()). */
  readonly missing: Map<number, number>;
  heardAt: number;
}

/** Another node as heard: when its last heartbeat arrived, and the deadline it announced. */
interface Peer {
  readonly heardAt: number;
  readonly deadlineMs: number;
}

/** A silent peer is forgotten (a crash, no goodbye) after this many of its deadlines. */
const FORGET_AFTER_DEADLINES = 10;

/** The deadline a heartbeat announced; an older node's heartbeat announces none: the default. */
function deadline(value: unknown): number {
  return typeof value === 'number' && value > 0 && value <= 60_000 ? value : 1000;
}

/** More messages than this missed at once is an outage, not a reordering: down at once. */
const MAX_MISSING = 1000;
/** A sender not heard for this long (a node that left) is forgotten. */
const FORGET_SENDER_MS = 5 * 60_000;

/** A publish waiting for acks; `settle` resolves it, or rejects it with an error. */
interface PendingAck {
  /** Feed ids that acked it, whether or not they were known peers yet. */
  readonly acked: Set<string>;
  /** The peers still waited for; null until the peer list is complete (the start-up window). */
  waiting: Set<string> | null;
  /** When the invalidation was sent (performance.now()). */
  readonly sent: number;
  timer: NodeJS.Timeout | undefined;
  readonly settle: (error?: Error) => void;
}

/** Milliseconds from now until `time` (performance.now()), for a timer that fires after it. */
function msUntil(time: number): number {
  // +1: timers fire on whole milliseconds; by then the moment has passed.
  return Math.max(0, Math.ceil(time - performance.now()) + 1);
}

/** Why publishes still waiting for acks fail when the feed goes down. */
function feedDown(error: unknown): StoreUnavailableError {
  const reason = error === undefined ? '' : `: ${message(error)}`;
  return new StoreUnavailableError(`Invalidation feed down before every node acked${reason}`, {
    cause: error,
  });
}

/** Any message on the channel: a heartbeat, an ack, or an invalidation. Untrusted shape. */
interface FeedMessage {
  beat?: unknown;
  acks?: unknown;
  /** With a heartbeat: the sender's deadlineMs. */
  deadline?: unknown;
  /** A node closing: forget it. */
  bye?: unknown;
  ack?: unknown;
  to?: unknown;
  by?: unknown;
  from?: unknown;
  nonce?: unknown;
  /** The sender's message number. */
  n?: unknown;
  sessionIds?: unknown;
  userIds?: unknown;
}

/** The strings of an optional array field; null when the field has the wrong shape. */
function strings(value: unknown): string[] | null {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) return null;
  return value;
}
