import type { Context } from 'hono';
import type { ServerConfig } from '../config.ts';
import { isComplete } from './complete-response.ts';
import { editHeaders } from './edit-headers.ts';

/**
 * Security headers, set after the handler on the final response, so errors, 404s and 405s carry
 * them too. Written by hand rather than with hono/secure-headers: the set is fixed and small,
 * HSTS must depend on the public URL, and Cache-Control belongs with it.
 */

/**
 * Pages use one same-origin stylesheet and no scripts; the JSON API needs nothing. Forms may post
 * only to us, nobody may frame us (ASVS 5.0 V3.4.6), and `<base>` cannot redirect relative URLs.
 */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; " +
  "frame-ancestors 'none'; base-uri 'none'";

/**
 * The CSP for this configuration: CONTENT_SECURITY_POLICY, with the download server's origin added
 * to form-action when downloads are on (the account page's download forms answer with a redirect
 * there, and browsers apply form-action to redirects after a form submission).
 */
export function contentSecurityPolicy(config: Pick<ServerConfig, 'download'>): string {
  const download = config.download.url?.origin;
  if (download === undefined) return CONTENT_SECURITY_POLICY;
  return CONTENT_SECURITY_POLICY.replace("form-action 'self'", `form-action 'self' ${download}`);
}

/** ASVS 5.0 V3.4.1: one year, subdomains included. Sent only when served over HTTPS. */
export const STRICT_TRANSPORT_SECURITY = 'max-age=31536000; includeSubDomains';

/**
 * A step of the envelope (envelope.ts), run on the final response: sets nosniff,
 * Referrer-Policy, CSP, X-Frame-Options, COOP, CORP (and HSTS when `config.publicUrl` is https),
 * and `Cache-Control: no-store` on every response whose handler did not choose its own caching
 * (only static assets do).
 */
export function securityHeaders(config: ServerConfig): (c: Context) => void {
  const fixed = securityHeaderList(config);
  return (c) => {
    // Built with exactly these headers already (complete-response.ts): nothing to add.
    if (isComplete(c.res)) return;
    editHeaders(c, (headers) => {
      for (const [name, value] of fixed) headers.set(name, value);
      // Auth responses, pages, verify and errors must never be stored by a browser or a proxy
      // (ASVS 5.0 V14.3.2, V14.2.2). A handler serving a static asset sets its own policy.
      if (!headers.has('Cache-Control')) headers.set('Cache-Control', 'no-store');
    });
  };
}

/** The fixed security headers of this configuration (HSTS only with an https public URL). */
export function securityHeaderList(
  config: Pick<ServerConfig, 'download' | 'publicUrl'>,
): readonly (readonly [string, string])[] {
  const fixed: [string, string][] = [
    ['X-Content-Type-Options', 'nosniff'],
    ['Referrer-Policy', 'no-referrer'],
    ['Content-Security-Policy', contentSecurityPolicy(config)],
    ['X-Frame-Options', 'DENY'],
    ['Cross-Origin-Opener-Policy', 'same-origin'],
    ['Cross-Origin-Resource-Policy', 'same-origin'],
  ];
  if (config.publicUrl?.protocol === 'https:') {
    fixed.push(['Strict-Transport-Security', STRICT_TRANSPORT_SECURITY]);
  }
  return fixed;
}
