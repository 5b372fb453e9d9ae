import { randomFillSync } from 'node:crypto';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { ClientInfo } from '../../core/engine.ts';
import type { AppEnv } from '../context.ts';
import { accessLogWriter } from '../logger.ts';
import type { Services } from '../services.ts';
import { isComplete } from './complete-response.ts';
import { editHeaders } from './edit-headers.ts';
import { normaliseIp, type ProxyTrust } from './proxy-trust.ts';

/**
 * Per-request context: a random request id, the client IP (socket peer, or X-Forwarded-For only
 * behind a trusted proxy), one access-log line and one latency observation per request. The log
 * line holds method, route pattern, status, duration, request id and IP: never a cookie, a token,
 * a header value or a body.
 */

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * Request ids are 12 bytes from the CSPRNG, base64url, taken from a pool refilled 4 KiB at a time:
 * one `randomBytes(12)` call cost ~6 µs per request (measured in bench/), a refill amortises that.
 * Same source, same 96 bits per id; ids are correlation handles, never secrets.
 */
const ID_BYTES = 12;
const pool = Buffer.alloc(ID_BYTES * 341);
let poolOffset = pool.length;

/** A fresh random request id: 16 base64url characters. */
export function newRequestId(): string {
  if (poolOffset === pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const id = pool.toString('base64url', poolOffset, poolOffset + ID_BYTES);
  poolOffset += ID_BYTES;
  return id;
}

/** The two steps of the request context in the envelope (envelope.ts). */
export interface RequestContext {
  /** Sets requestId, clientIp and auth (null) on the context; returns the start time. */
  begin(c: Context<AppEnv>): number;
  /** Adds X-Request-Id to the final response; logs and measures the request. */
  end(c: Context<AppEnv>, started: number): void;
}

/** The request context of these services, behind these proxies. */
export function requestContext(
  services: Pick<Services, 'logger' | 'metrics'>,
  proxies: ProxyTrust,
): RequestContext {
  const { metrics } = services;
  const accessLog = accessLogWriter(services.logger);
  return {
    begin(c) {
      const started = performance.now();
      c.set('requestId', newRequestId());
      const peer = peerAddress(c);
      // X-Forwarded-For is read only from a trusted proxy, the one case clientIp looks at it: a
      // header lookup saved on every other request.
      const forwardedFor = proxies.trusts(peer) ? c.req.header('x-forwarded-for') : undefined;
      c.set('clientIp', proxies.clientIp(peer, forwardedFor) ?? '');
      c.set('auth', null);
      return started;
    },
    end(c, started) {
      const requestId = c.get('requestId');
      if (!isComplete(c.res)) editHeaders(c, (headers) => headers.set('X-Request-Id', requestId));
      const seconds = (performance.now() - started) / 1000;
      const method = methodLabel(c.req.method);
      const route = routeLabel(c);
      const status = c.res.status;
      metrics.httpDuration.observe(method, route, status, seconds);
      accessLog({
        requestId,
        method,
        route,
        status,
        ms: Math.round(seconds * 10_000) / 10,
        ip: c.get('clientIp'),
      });
    },
  };
}

/** A method as logs and metrics label it: one of seven, else `OTHER` (a bounded label set). */
export function methodLabel(method: string | undefined): string {
  return method !== undefined && KNOWN_METHODS.has(method) ? method : 'OTHER';
}

/**
 * The TCP peer's address. Under @hono/node-server it comes from the socket; callers of
 * `app.request()` (no socket) may pass `{ peer: '192.0.2.1' }` as the env. Null when unknown.
 */
export function peerAddress(c: Context): string | null {
  const env: unknown = c.env;
  if (typeof env !== 'object' || env === null) return null;
  if ('incoming' in env || 'server' in env) return normalisedPeer(getConnInfo(c).remote.address);
  return 'peer' in env && typeof env.peer === 'string' ? normaliseIp(env.peer) : null;
}

/**
 * normaliseIp of a socket's address, remembered for the last address seen: a keep-alive
 * connection asks with the same string on every request, and normalising (a trim, a regular
 * expression and isIP) was most of the ~3k instructions peerAddress cost a request (callgrind
 * profile, bench/).
 */
let lastPeer: { readonly raw: string | undefined; readonly ip: string | null } = {
  raw: undefined,
  ip: null,
};
function normalisedPeer(raw: string | undefined): string | null {
  if (raw !== lastPeer.raw) lastPeer = { raw, ip: normaliseIp(raw) };
  return lastPeer.ip;
}

/** What the account flows record about the caller: IP (null when unknown) and user agent. */
export function clientInfo(c: Context<AppEnv>): ClientInfo {
  return { ip: c.get('clientIp') || null, userAgent: c.req.header('user-agent') ?? null };
}

/**
 * Logs a security event at warn with the request id, client IP and path. `fields` must never
 * hold a token, a cookie or a password (the logger redacts those names as a second line).
 */
export function securityEvent(
  c: Context<AppEnv>,
  services: Pick<Services, 'logger'>,
  event: string,
  fields: Record<string, string | number | boolean | null> = {},
): void {
  services.logger.warn(
    { event, requestId: c.get('requestId'), ip: c.get('clientIp'), path: c.req.path, ...fields },
    event,
  );
}

/**
 * The matched route pattern (bounded label set for metrics): never the raw path, which an
 * attacker could vary without limit. Requests that matched no route are `unmatched`.
 */
function routeLabel(c: Context): string {
  const routes = matchedRoutes(c);
  const last = routes[routes.length - 1];
  if (last === undefined || last.path === '*' || last.path === '/*') return 'unmatched';
  return last.path;
}
