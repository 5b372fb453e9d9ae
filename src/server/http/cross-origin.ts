import type { Context } from 'hono';
import { CrossOriginError } from '../../core/errors.ts';
import { isSafeMethod } from '../../core/origin.ts';
import type { AppEnv } from '../context.ts';
import type { Services } from '../services.ts';
import { bearerCredential } from './bearer.ts';
import { securityEvent } from './request-context.ts';

/**
 * Cross-origin protection (Go 1.25 CrossOriginProtection, core/origin.ts) on every unsafe method
 * of every route, sign-up and sign-in included (login CSRF, OWASP CSRF cheat sheet). The first step
 * of the session resolver (session.ts), so it runs before the session is read and before any
 * handler, and a refused request changes nothing. The only exemption: `Authorization: Bearer`
 * while bearer transport is on (see bearer.ts).
 */

/**
 * Throws CrossOriginError (403 `cross_origin_rejected`, after a `csrf_reject` log) for a
 * cross-origin unsafe request; returns for every other request.
 */
export function crossOriginProtection(
  services: Pick<Services, 'config' | 'logger' | 'originCheck'>,
): (c: Context<AppEnv>) => void {
  const { originCheck, config } = services;
  const bearer = { enabled: config.bearerTransport };
  return (c) => {
    const method = c.req.method;
    if (isSafeMethod(method)) return;
    if (bearerCredential(c, bearer) !== null) return;
    const verdict = originCheck.check({
      method,
      headers: c.req.raw.headers,
      host: new URL(c.req.url).host,
    });
    if (!verdict.ok) {
      securityEvent(c, services, 'csrf_reject', { reason: verdict.reason, method });
      throw new CrossOriginError();
    }
  };
}
