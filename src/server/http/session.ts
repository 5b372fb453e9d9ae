import type { Context, MiddlewareHandler, Next } from 'hono';
import { readCookieDetailed } from '../../core/cookie.ts';
import type { ValidateResult } from '../../core/engine.ts';
import { ThrottledError, UnauthenticatedError } from '../../core/errors.ts';
import type { AppEnv, Auth } from '../context.ts';
import type { Services } from '../services.ts';
import { bearerCredential } from './bearer.ts';
import { sessionClearingCookie, setsSessionCookie } from './cookies.ts';
import { crossOriginProtection } from './cross-origin.ts';
import { editHeaders } from './edit-headers.ts';
import { securityEvent } from './request-context.ts';

/**
 * Session resolution: first the cross-origin protection (cross-origin.ts), so an unsafe request
 * from another origin is refused before its credential is read; then reads the one credential of
 * the request (a bearer token when that transport is on and the header is present, else the
 * session cookie, read by its exact name), validates it against the store on every request, and
 * sets `auth` to `{ user, session, transport }` or null.
 *
 * Fail closed: a store failure throws StoreUnavailableError (503) and never reads as signed in or
 * signed out; the clearing cookie for a refused token is added only to responses below 500.
 */

/** Reasons worth a warn-level security event: a known id with a wrong secret, or a stolen token. */
const ALERT_REASONS = new Set(['secret_mismatch', 'rotated_reuse']);

/**
 * Sets `auth` for every request; 429 while the client IP is blocked for guessing tokens; 403 for
 * a cross-origin unsafe request.
 *
 * One middleware for both steps, and not an async function: when the check answers at once (a
 * near-cache hit, a SQLite read) it returns `next()`'s own promise. A layer of Hono's compose, and
 * an async function resolved with another promise, each cost a promise, microtask turns and a
 * `then` lookup on every request (callgrind profile, bench/). Throwing is unchanged: compose
 * catches a synchronous throw as it does a rejection.
 */
export function sessionResolver(services: Services): MiddlewareHandler<AppEnv> {
  const { engine, config, metrics } = services;
  const bearer = { enabled: config.bearerTransport };
  const refuseCrossOrigin = crossOriginProtection(services);

  const resolved = (
    c: Context<AppEnv>,
    next: Next,
    result: ValidateResult,
    transport: Auth['transport'],
  ): Promise<void> => {
    metrics.validations.inc({ outcome: result.ok ? 'ok' : result.reason });
    if (result.ok) {
      c.set('auth', { user: result.user, session: result.session, transport });
      return next();
    }
    if (result.reason === 'throttled') {
      securityEvent(c, services, 'token_guessing_throttled');
      throw new ThrottledError(result.retryAfterSeconds ?? 1);
    }
    if (ALERT_REASONS.has(result.reason)) securityEvent(c, services, result.reason, { transport });
    return transport === 'cookie' ? clearingOnRefusal(c, next, services) : next();
  };

  return (c, next) => {
    refuseCrossOrigin(c);
    const credential = bearerCredential(c, bearer);
    const transport = credential === null ? 'cookie' : 'bearer';
    let token = credential;
    if (token === null) {
      const read = readCookieDetailed(c.req.header('cookie'), config.cookie.name);
      if (!read.ok && read.reason === 'absent') return next();
      if (!read.ok) {
        // Two cookies of our name: a sibling subdomain planted one (cookie tossing). We cannot
        // tell which is ours, so neither is used (rfc6265bis §8.6, §5.4).
        if (read.reason === 'duplicate') securityEvent(c, services, 'cookie_tossing');
        metrics.validations.inc({
          outcome: read.reason === 'duplicate' ? 'duplicate' : 'malformed',
        });
        return clearingOnRefusal(c, next, services);
      }
      token = read.value;
    }
    const pending = engine.check(token, { ip: c.get('clientIp') || null });
    // Waited for only when it is a promise: a near-cache hit or SQLite read needs no microtask turn.
    if (pending instanceof Promise) {
      return pending.then((result) => resolved(c, next, result, transport));
    }
    return resolved(c, next, pending, transport);
  };
}

/** The signed-in caller, or UnauthenticatedError (401). */
export function requireAuth(c: Context<AppEnv>): Auth {
  const auth = c.get('auth');
  if (auth === null) throw new UnauthenticatedError();
  return auth;
}

/**
 * Runs the rest signed out, then tells the browser to drop the refused cookie, unless the
 * response sets a new one (a sign-in) or is a server failure (5xx: say nothing about the session).
 */
async function clearingOnRefusal(
  c: Context<AppEnv>,
  next: Next,
  services: Pick<Services, 'config'>,
): Promise<void> {
  await next();
  if (c.res.status >= 500) return;
  const { config } = services;
  editHeaders(c, (headers) => {
    if (setsSessionCookie(headers, config.cookie.name)) return;
    headers.append('Set-Cookie', sessionClearingCookie(config));
  });
}
