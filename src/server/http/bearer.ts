import type { Context } from 'hono';

/**
 * Opt-in bearer transport for native clients (RFC 6750 §2.1). When it is on and a request carries
 * `Authorization: Bearer …`, that header is the request's only credential: cookies are ignored,
 * so the cross-origin exemption for bearer requests can never be used to ride on a cookie. A
 * browser cannot attach this header cross-site without a CORS preflight, which only trusted
 * origins pass.
 */

const BEARER = /^bearer[ \t]+(\S*)[ \t]*$/i;

/**
 * The credential of an `Authorization: Bearer` header (possibly empty or garbage: the engine
 * parses it strictly), or null when bearer transport is off or the header is absent or another
 * scheme. The scheme name is case-insensitive (RFC 9110 §11.1).
 */
export function bearerCredential(c: Context, options: { enabled: boolean }): string | null {
  if (!options.enabled) return null;
  const header = c.req.header('authorization');
  if (header === undefined) return null;
  const match = BEARER.exec(header);
  return match ? (match[1] ?? '') : null;
}
