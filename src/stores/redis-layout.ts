import type { SessionRecord } from '../core/store.ts';

/**
 * How sessions are laid out in Redis (the reasoning is at the top of ./redis-sessions.ts).
 *
 * - `<prefix>s:<sessionId>`: a STRING per session (live or tombstone), PXAT `expiresAt`, holding a
 *   JSON array in the order of `Slot` below. It has its own Cluster slot, so `get(id)` (which knows
 *   only the id) is one GET on one node. Why not a HASH: any field over 64 bytes (most User-Agent
 *   headers) turns a small HASH from a listpack into a hashtable, measured at 896 bytes per session
 *   against 328 for this string; the Lua scripts read and rewrite it with the bundled cjson.
 * - `<prefix>{u:<userId>}:i`: a ZSET per user, member = session id, score ≥ that session key's
 *   expiry time; PEXPIREAT its highest score. `{u:<userId>}` is a hash tag: every per-user key
 *   lands on one slot (a `}` inside a user id only shortens the tag, identically for all of them).
 * - `<prefix>inv`: the pub/sub channel of invalidations, payload `{"sessionIds":[...]}`.
 */

/**
 * 1-based positions in the stored array (Lua's indexing; the scripts use these numbers): secret
 * hash (base64url), user id, createdAt, lastSeenAt, authenticatedAt, persistent (1 | 0), expiresAt,
 * ip, userAgent, device, replacedBy, graceUntil. Absent values are JSON null.
 */
export const Slot = {
  hash: 1,
  user: 2,
  created: 3,
  lastSeen: 4,
  authenticated: 5,
  persistent: 6,
  expires: 7,
  ip: 8,
  userAgent: 9,
  device: 10,
  replacedBy: 11,
  graceUntil: 12,
} as const;

/** The stored array, decoded. */
type Stored = [
  string,
  string,
  number,
  number,
  number,
  0 | 1,
  number,
  string | null,
  string | null,
  string,
  string | null,
  number | null,
];

/** The Redis key of a session. */
export function sessionKey(prefix: string, id: string): string {
  return `${prefix}s:${id}`;
}

/** The Redis key of a user's session index; its `{u:…}` hash tag is the user's slot. */
export function userIndexKey(prefix: string, userId: string): string {
  return `${prefix}{u:${userId}}:i`;
}

/** The pub/sub channel invalidations are published on. */
export function invalidationChannel(prefix: string): string {
  return `${prefix}inv`;
}

/** The stored form of a record. */
export function encodeSession(r: SessionRecord): string {
  const stored: Stored = [
    Buffer.from(r.secretHash.buffer, r.secretHash.byteOffset, r.secretHash.byteLength).toString(
      'base64url',
    ),
    r.userId,
    r.createdAt,
    r.lastSeenAt,
    r.authenticatedAt,
    r.persistent ? 1 : 0,
    r.expiresAt,
    r.ip,
    r.userAgent,
    r.device,
    r.replacedBy,
    r.graceUntil,
  ];
  return JSON.stringify(stored);
}

/** The record stored under `id`, or null for a missing key. */
export function decodeSession(id: string, text: string | null): SessionRecord | null {
  if (text === null) return null;
  const [h, u, c, l, a, p, e, i, b, d, r, g] = JSON.parse(text) as Stored;
  return {
    id,
    // Copied into its own ArrayBuffer: a small Buffer.from() is a view into Node's shared pool.
    secretHash: new Uint8Array(Buffer.from(h, 'base64url')),
    userId: u,
    createdAt: c,
    lastSeenAt: l,
    authenticatedAt: a,
    persistent: p === 1,
    expiresAt: e,
    ip: i,
    userAgent: b,
    device: d,
    replacedBy: r,
    graceUntil: g,
  };
}
