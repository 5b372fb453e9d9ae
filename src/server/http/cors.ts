import type { Context } from 'hono';
import { isComplete } from './complete-response.ts';
import { editHeaders } from './edit-headers.ts';

/**
 * CORS for the configured trusted origins only: an exact string match, credentials allowed,
 * `Vary: Origin` always. Any other origin gets no `Access-Control-*` header at all (never
 * reflected, never `*`; OWASP HTML5 cheat sheet "CORS", ASVS 5.0 V3.4.2), and its preflight falls
 * through to the router (405 or 404). Written by hand because hono/cors sends
 * `Access-Control-Allow-Credentials` and the allowed methods to every origin.
 *
 * CORS only decides who may *read* responses; unsafe requests are still refused by the
 * cross-origin protection (cross-origin.ts) unless the origin is trusted.
 */

const ALLOW_METHODS = 'GET, POST, PATCH, DELETE';
const EXPOSE_HEADERS = 'Retry-After, X-Request-Id';
const PREFLIGHT_MAX_AGE_SECONDS = '600';

/** The two steps of CORS in the envelope (envelope.ts). */
export interface Cors {
  /** The 204 answer to a trusted origin's preflight, which then goes no further; else null. */
  preflight(c: Context): Response | null;
  /** Adds `Vary: Origin`, and the credentialed CORS headers for a trusted origin. */
  decorate(c: Context): void;
}

/** CORS for these trusted origins only (see above). */
export function corsForTrustedOrigins(
  trustedOrigins: readonly string[],
  options: { allowBearer: boolean },
): Cors {
  const trusted = new Set(trustedOrigins);
  const allowHeaders = options.allowBearer ? 'Content-Type, Authorization' : 'Content-Type';
  return {
    preflight(c) {
      // The method first: every other request is answered by decorate, which reads Origin itself.
      if (c.req.method !== 'OPTIONS' || !c.req.header('access-control-request-method')) return null;
      const origin = c.req.header('origin');
      if (origin === undefined || !trusted.has(origin)) return null;
      c.header('Access-Control-Allow-Origin', origin);
      c.header('Access-Control-Allow-Credentials', 'true');
      c.header('Access-Control-Allow-Methods', ALLOW_METHODS);
      c.header('Access-Control-Allow-Headers', allowHeaders);
      c.header('Access-Control-Max-Age', PREFLIGHT_MAX_AGE_SECONDS);
      c.header('Vary', 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers');
      return c.body(null, 204);
    },
    decorate(c) {
      // With no trusted origin, nothing depends on Origin: a header lookup saved per request.
      const origin = trusted.size === 0 ? undefined : c.req.header('origin');
      const allowed = origin !== undefined && trusted.has(origin);
      // A complete response (complete-response.ts) already carries `Vary: Origin`.
      const complete = isComplete(c.res);
      if (complete && !allowed) return;
      editHeaders(c, (headers) => {
        if (!complete) headers.append('Vary', 'Origin');
        if (!allowed) return;
        headers.set('Access-Control-Allow-Origin', origin);
        headers.set('Access-Control-Allow-Credentials', 'true');
        headers.set('Access-Control-Expose-Headers', EXPOSE_HEADERS);
      });
    },
  };
}
