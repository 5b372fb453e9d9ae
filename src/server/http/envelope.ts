import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../context.ts';
import type { Services } from '../services.ts';
import { corsForTrustedOrigins } from './cors.ts';
import { failClosed } from './errors.ts';
import type { ProxyTrust } from './proxy-trust.ts';
import { requestContext } from './request-context.ts';
import { securityHeaders } from './security-headers.ts';

/**
 * The outermost middleware: what every request and every response gets, errors and preflights
 * included. Before the rest of the app: the request context (id, client IP), then a trusted
 * origin's preflight is answered. After it, innermost first: CORS headers, fail-closed (no
 * Set-Cookie on a 5xx), X-Request-Id with the access log and latency, the security headers.
 *
 * One middleware running these steps rather than one per step: each async layer of Hono's
 * compose cost ~1.8k instructions per request (callgrind, bench/), for no behaviour of its own.
 */
export function envelope(
  services: Pick<Services, 'config' | 'logger' | 'metrics'>,
  proxies: ProxyTrust,
): MiddlewareHandler<AppEnv> {
  const { config } = services;
  const context = requestContext(services, proxies);
  const cors = corsForTrustedOrigins(config.trustedOrigins, {
    allowBearer: config.bearerTransport,
  });
  const headers = securityHeaders(config);
  return async (c, next) => {
    const started = context.begin(c);
    try {
      const preflight = cors.preflight(c);
      if (preflight === null) {
        await next();
        cors.decorate(c);
      } else {
        c.res = preflight;
      }
      failClosed(c);
    } finally {
      context.end(c, started);
      headers(c);
    }
  };
}
