import type { Context } from 'hono';
import { Hono } from 'hono';
import { CrossOriginError, UnauthenticatedError } from '../../core/errors.ts';
import type { AppEnv } from '../context.ts';
import { bearerCredential } from '../http/bearer.ts';
import type { ProxyTrust } from '../http/proxy-trust.ts';
import { peerAddress, securityEvent } from '../http/request-context.ts';
import type { Services } from '../services.ts';

/**
 * Forward-auth (`GET /auth/verify`) for reverse proxies (Traefik forwardAuth, Caddy forward_auth,
 * nginx auth_request): 200 with the caller's identity in X-Auth-User-* headers, or 401. The
 * identity comes only from the validated session, never from request headers, and the answer is
 * never cached (no-store, set for every response in security-headers.ts; ASVS 5.0 V14.2.2).
 */

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * A header value holds only visible ASCII: every other byte of the UTF-8 form, and `%` itself, is
 * percent-encoded, so `jörg@x.test` is sent as `j%C3%B6rg@x.test` and decoding is unambiguous.
 */
export function headerSafe(value: string): string {
  return value.replace(/[^\x21-\x24\x26-\x7e]/gu, (ch) =>
    [...Buffer.from(ch, 'utf8')]
      .map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`)
      .join(''),
  );
}

/** The /auth/verify route. */
export function verifyRoutes(services: Services, proxies: ProxyTrust): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get('/auth/verify', (c) => {
    refuseForwardedCrossOrigin(c, services, proxies);
    const auth = c.get('auth');
    if (auth === null) throw new UnauthenticatedError();
    c.header('X-Auth-User-Id', auth.user.id);
    c.header('X-Auth-User-Email', headerSafe(auth.user.email));
    c.header('X-Auth-User-Roles', auth.user.roles.join(','));
    return c.body(null, 200);
  });
  return app;
}

/**
 * The proxy asks with GET whatever the original method was, so the cross-origin check is run on
 * the original request it describes: X-Forwarded-Method and X-Forwarded-Host, with the Origin and
 * Sec-Fetch-Site headers the proxy passes through. Believed only from a trusted proxy.
 */
function refuseForwardedCrossOrigin(
  c: Context<AppEnv>,
  services: Services,
  proxies: ProxyTrust,
): void {
  const method = c.req.header('x-forwarded-method')?.toUpperCase();
  if (method === undefined || SAFE_METHODS.has(method)) return;
  if (!proxies.trusts(peerAddress(c))) return;
  if (bearerCredential(c, { enabled: services.config.bearerTransport }) !== null) return;
  const verdict = services.originCheck.check({
    method,
    headers: c.req.raw.headers,
    host: c.req.header('x-forwarded-host') ?? new URL(c.req.url).host,
  });
  if (verdict.ok) return;
  securityEvent(c, services, 'csrf_reject', { reason: verdict.reason, method, forwarded: true });
  throw new CrossOriginError();
}
