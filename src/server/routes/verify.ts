import type { Context } from 'hono';
import { Hono } from 'hono';
import { CrossOriginError, UnauthenticatedError } from '../../core/errors.ts';
import { isSafeMethod } from '../../core/origin.ts';
import { issueIdentityToken } from '../../tokens/identity.ts';
import type { AppEnv } from '../context.ts';
import { bearerCredential } from '../http/bearer.ts';
import type { ProxyTrust } from '../http/proxy-trust.ts';
import { peerAddress, securityEvent } from '../http/request-context.ts';
import { loginUrl, safeReturnPath } from '../pages/return-path.ts';
import type { Services } from '../services.ts';
import { issuerOf } from './download-tokens.ts';

/**
 * Forward-auth (`GET /auth/verify`) for reverse proxies (Traefik forwardAuth, Caddy forward_auth,
 * nginx auth_request): 200 with the caller's identity in X-Auth-User-* headers (and, when an
 * identity audience is configured, a signed `X-Auth-Identity`), or 401. The identity comes only
 * from the validated session, never from request headers, and the answer is never cached
 * (no-store, set for every response in security-headers.ts; ASVS 5.0 V14.2.2). See
 * docs/forward-auth.md for each proxy's configuration.
 */

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
  const audience = services.config.identityAudience;
  app.get('/auth/verify', async (c) => {
    refuseForwardedCrossOrigin(c, services, proxies);
    const auth = c.get('auth');
    if (auth === null) {
      const login = pageLoginUrl(c);
      if (login === null) throw new UnauthenticatedError();
      c.header('X-Auth-Login-Url', login);
      // Traefik and Caddy hand a non-2xx answer to the browser as it is: asked with ?redirect=1,
      // the answer is the redirect itself (nginx's auth_request cannot pass a 3xx on).
      if (c.req.query('redirect') === '1') return c.redirect(login, 302);
      throw new UnauthenticatedError();
    }
    c.header('X-Auth-User-Id', auth.user.id);
    c.header('X-Auth-User-Email', headerSafe(auth.user.email));
    c.header('X-Auth-User-Roles', auth.user.roles.join(','));
    if (audience !== null) {
      const identity = await issueIdentityToken(services.keys, {
        issuer: issuerOf(c, services),
        audience,
        user: auth.user,
        sessionId: auth.session.id,
        now: services.now(),
      });
      c.header('X-Auth-Identity', identity);
    }
    return c.body(null, 200);
  });
  return app;
}

/**
 * The method of the request the proxy is asking about: X-Forwarded-Method (Traefik, Caddy) or
 * X-Original-Method (nginx). Each proxy sets its own header but passes the other one on from the
 * client, so when both are present an unsafe one wins: a client's `X-Forwarded-Method: GET` cannot
 * pass a POST through nginx off as a GET (nor `X-Original-Method: GET` through Traefik).
 */
function forwardedMethod(c: Context<AppEnv>): string | undefined {
  const forwarded = c.req.header('x-forwarded-method')?.toUpperCase();
  const original = c.req.header('x-original-method')?.toUpperCase();
  if (original === undefined || isSafeMethod(original)) return forwarded ?? original;
  return forwarded === undefined || isSafeMethod(forwarded) ? original : forwarded;
}

/**
 * For a signed-out page request (a GET or HEAD that accepts text/html), the sign-in URL that
 * comes back to the original page: `/login?next=<path>`. A proxy may turn the 401 into a redirect
 * there (nginx: error_page), or ask for the redirect itself (`/auth/verify?redirect=1`). The original URI (X-Forwarded-Uri, or nginx's X-Original-URI) is
 * honoured only as a same-origin path; otherwise the sign-in page returns to the account page.
 */
function pageLoginUrl(c: Context<AppEnv>): string | null {
  const method = forwardedMethod(c) ?? 'GET';
  if (method !== 'GET' && method !== 'HEAD') return null;
  if (!(c.req.header('accept') ?? '').toLowerCase().includes('text/html')) return null;
  const uri = c.req.header('x-forwarded-uri') ?? c.req.header('x-original-uri');
  return loginUrl(safeReturnPath(uri) ?? '/');
}

/**
 * The proxy asks with GET whatever the original method was, so the cross-origin check is run on
 * the original request it describes: X-Forwarded-Method (or X-Original-Method) and
 * X-Forwarded-Host, with the Origin and Sec-Fetch-Site headers the proxy passes through. The
 * method is believed from any peer, since an unsafe one can only bring a refusal: a deployment
 * that forgot COATCHECK_TRUSTED_PROXIES still has its proxied cross-site POSTs refused.
 * X-Forwarded-Host, which an Origin is compared with, is believed only from a trusted proxy.
 */
function refuseForwardedCrossOrigin(
  c: Context<AppEnv>,
  services: Services,
  proxies: ProxyTrust,
): void {
  const method = forwardedMethod(c);
  if (method === undefined || isSafeMethod(method)) return;
  if (bearerCredential(c, { enabled: services.config.bearerTransport }) !== null) return;
  const forwardedHost = proxies.trusts(peerAddress(c)) ? c.req.header('x-forwarded-host') : null;
  const verdict = services.originCheck.check({
    method,
    headers: c.req.raw.headers,
    host: forwardedHost ?? new URL(c.req.url).host,
  });
  if (verdict.ok) return;
  securityEvent(c, services, 'csrf_reject', { reason: verdict.reason, method, forwarded: true });
  throw new CrossOriginError();
}
