import type { MiddlewareHandler } from 'hono';
import { CrossOriginError } from '../../core/errors.ts';
import { isSafeMethod } from '../../core/origin.ts';
import type { AppEnv } from '../context.ts';
import type { Services } from '../services.ts';
import { bearerCredential } from './bearer.ts';
import { securityEvent } from './request-context.ts';

/**
 * Cross-origin protection (Go 1.25 CrossOriginProtection, core/origin.ts) on every unsafe method
 * of every route, sign-up and sign-in included (login CSRF, OWASP CSRF cheat sheet). Runs before
 * the session is read and before any handler, so a refused request changes nothing. The only
 * exemption: `Authorization: Bearer` while bearer transport is on (see bearer.ts).
 */

/** Refuses cross-origin unsafe requests with 403 `cross_origin_rejected` and a `csrf_reject` log. */
export function crossOriginProtection(services: Services): MiddlewareHandler<AppEnv> {
  const { originCheck, config } = services;
  const bearer = { enabled: config.bearerTransport };
  return async (c, next) => {
    const method = c.req.method;
    if (isSafeMethod(method)) return next();
    if (bearerCredential(c, bearer) !== null) return next();
    const verdict = originCheck.check({
      method,
      headers: c.req.raw.headers,
      host: new URL(c.req.url).host,
    });
    if (!verdict.ok) {
      securityEvent(c, services, 'csrf_reject', { reason: verdict.reason, method });
      throw new CrossOriginError();
    }
    return next();
  };
}
