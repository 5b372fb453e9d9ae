import { createHash } from 'node:crypto';
import type { DeletedSession } from '../core/store.ts';
import { Slot } from './redis-layout.ts';

/**
 * The Lua scripts of the Redis session store; the stored JSON is read with Redis's bundled cjson.
 * Each script touches exactly ONE key, so each is atomic on a single node and valid in Cluster (no
 * CROSSSLOT). Run by EVALSHA, falling back to EVAL once per server when its script cache lacks
 * them (NOSCRIPT: first use, restart, failover).
 *
 * Liveness is judged by the caller's clock (ARGV "now", as on read); pruning an index uses the
 * server's TIME, the clock that actually expires the session keys.
 */

/** A script and its SHA-1 (the EVALSHA handle). */
interface LuaScript {
  readonly source: string;
  readonly sha1: string;
}

function lua(source: string): LuaScript {
  return { source, sha1: createHash('sha1').update(source).digest('hex') };
}

const E = Slot.expires;
const R = Slot.replacedBy;

/** KEYS: session. ARGV: stored JSON, expiry. 'OK' = created, null = the id exists. */
const CREATE_SESSION = lua(`
return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PXAT', ARGV[2])`);

/**
 * KEYS: session. ARGV: now, lastSeenAt, expiresAt, expiry (ms integer). Renews a live, not
 * rotated-out session only: a touch never resurrects an expired record nor extends a tombstone.
 */
const TOUCH_SESSION = lua(`
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local s = cjson.decode(v)
if s[${R}] ~= cjson.null or s[${E}] <= tonumber(ARGV[1]) then return 0 end
s[${Slot.lastSeen}] = tonumber(ARGV[2])
s[${E}] = tonumber(ARGV[3])
redis.call('SET', KEYS[1], cjson.encode(s), 'PXAT', ARGV[4])
return 1`);

/**
 * KEYS: previous session. ARGV: now, userId, nextId, graceUntil, tombstoneExpiresAt, expiry. Turns
 * a live session of that user into a tombstone; at most one caller ever gets 1 for a session.
 */
const TOMBSTONE_SESSION = lua(`
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local s = cjson.decode(v)
if s[${R}] ~= cjson.null or s[${E}] <= tonumber(ARGV[1]) or s[${Slot.user}] ~= ARGV[2] then
  return 0
end
s[${R}] = ARGV[3]
s[${Slot.graceUntil}] = tonumber(ARGV[4])
s[${E}] = tonumber(ARGV[5])
redis.call('SET', KEYS[1], cjson.encode(s), 'PXAT', ARGV[6])
return 1`);

/**
 * KEYS: session. ARGV: now, '1' to require the owner ARGV[3] (else any owner). Deletes the record.
 * Returns {0} absent, {-1} another user's (kept), or {1, unexpired, live, userId, replacedBy|nil}.
 */
const DELETE_SESSION = lua(`
local v = redis.call('GET', KEYS[1])
if not v then return {0} end
local s = cjson.decode(v)
local user = s[${Slot.user}]
if ARGV[2] == '1' and user ~= ARGV[3] then return {-1} end
redis.call('DEL', KEYS[1])
local unexpired = 0
if s[${E}] > tonumber(ARGV[1]) then unexpired = 1 end
local successor = s[${R}]
local live = 0
if successor == cjson.null then
  successor = false
  live = unexpired
end
return {1, unexpired, live, user, successor}`);

// Drops members whose score (≥ their key's expiry) is in the past: their keys are gone for good.
const PRUNE = `
local t = redis.call('TIME')
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%d', t[1] * 1000 + math.floor(t[2] / 1000)))`;

/**
 * KEYS: user index. ARGV: addScore, addId, raiseScore, raiseId, ...removeIds ('' = no add/raise).
 * Prunes, adds, raises an existing member's score (never lowers it), removes, then sets the key's
 * expiry to its highest score. Returns the member count.
 */
const UPDATE_INDEX = lua(`${PRUNE}
local k = KEYS[1]
if ARGV[2] ~= '' then redis.call('ZADD', k, ARGV[1], ARGV[2]) end
if ARGV[4] ~= '' then redis.call('ZADD', k, 'XX', 'GT', ARGV[3], ARGV[4]) end
if #ARGV > 4 then redis.call('ZREM', k, unpack(ARGV, 5)) end
local last = redis.call('ZRANGE', k, -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIREAT', k, last[2]) end
return redis.call('ZCARD', k)`);

/** KEYS: user index. Prunes, then returns every member (session id). */
const INDEX_MEMBERS = lua(`${PRUNE}
return redis.call('ZRANGE', KEYS[1], 0, -1)`);

/** The two calls of node-redis (client, Cluster or Sentinel) that running a script needs. */
export interface ScriptRunner {
  evalSha(sha1: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

/** EVALSHA, then EVAL (which also caches the script) when the server answers NOSCRIPT. */
async function run(redis: ScriptRunner, script: LuaScript, key: string, args: string[]) {
  const options = { keys: [key], arguments: args };
  try {
    return await redis.evalSha(script.sha1, options);
  } catch (error) {
    if (!(error instanceof Error && error.message.startsWith('NOSCRIPT'))) throw error;
    return await redis.eval(script.source, options);
  }
}

/** Stores a new session (JSON) expiring at `expiresAt`; false when the key already exists. */
export async function createSession(
  redis: ScriptRunner,
  key: string,
  stored: string,
  expiresAt: number,
): Promise<boolean> {
  return (await run(redis, CREATE_SESSION, key, [stored, msArg(expiresAt)])) === 'OK';
}

/** Renews a session live at `now` and not rotated out; true when it did. */
export async function touchSession(
  redis: ScriptRunner,
  key: string,
  now: number,
  touch: { lastSeenAt: number; expiresAt: number },
): Promise<boolean> {
  const { lastSeenAt, expiresAt } = touch;
  const args = [String(now), String(lastSeenAt), String(expiresAt), msArg(expiresAt)];
  return (await run(redis, TOUCH_SESSION, key, args)) === 1;
}

/** Compare-and-set: turns `userId`'s live session into a tombstone; true for the one winner. */
export async function tombstoneSession(
  redis: ScriptRunner,
  key: string,
  now: number,
  t: { userId: string; nextId: string; graceUntil: number; tombstoneExpiresAt: number },
): Promise<boolean> {
  const until = t.tombstoneExpiresAt;
  const args = [String(now), t.userId, t.nextId, String(t.graceUntil), String(until), msArg(until)];
  return (await run(redis, TOMBSTONE_SESSION, key, args)) === 1;
}

/** What a deletion removed, with the owner (for the index) and whether it was live. */
export interface DeletedRecord extends DeletedSession {
  readonly userId: string;
  /** A live session: unexpired and not rotated out. */
  readonly live: boolean;
}

/** Deletes a session (only if `owner`'s, when given); null when absent or another user's. */
export async function deleteSession(
  redis: ScriptRunner,
  key: string,
  now: number,
  owner?: string,
): Promise<DeletedRecord | null> {
  const args = owner === undefined ? [String(now), '0', ''] : [String(now), '1', owner];
  const reply = (await run(redis, DELETE_SESSION, key, args)) as [number, ...unknown[]];
  if (reply[0] !== 1) return null;
  const [, unexpired, live, userId, replacedBy] = reply;
  return {
    userId: userId as string,
    unexpired: unexpired === 1,
    live: live === 1,
    replacedBy: (replacedBy as string | null) ?? null,
  };
}

/** A change to a user's index; every member's score is an expiry time (epoch ms). */
export interface IndexChange {
  readonly add?: { readonly id: string; readonly until: number };
  /** Raises an existing member's score to `until` (never lowers it, never adds). */
  readonly raise?: { readonly id: string; readonly until: number };
  readonly remove?: Iterable<string>;
}

/** Prunes expired members, applies `change`, and sets the index's expiry to its top score. */
export async function updateIndex(
  redis: ScriptRunner,
  key: string,
  change: IndexChange,
): Promise<void> {
  const { add, raise, remove = [] } = change;
  await run(redis, UPDATE_INDEX, key, [
    add ? msArg(add.until) : '',
    add?.id ?? '',
    raise ? msArg(raise.until) : '',
    raise?.id ?? '',
    ...remove,
  ]);
}

/** Prunes expired members, then returns the session ids of the index. */
export async function indexMembers(redis: ScriptRunner, key: string): Promise<string[]> {
  return (await run(redis, INDEX_MEMBERS, key, [])) as string[];
}

/** An epoch-ms time as PXAT, PEXPIREAT and ZADD get it: an integer (times are by contract). */
function msArg(time: number): string {
  return String(Math.ceil(time));
}
