import { ConfigError } from './errors.ts';

/**
 * Cross-origin protection for unsafe methods: the algorithm of Go 1.25's
 * `net/http.CrossOriginProtection.Check` (src/net/http/csrf.go, proposal golang/go#73626), step by
 * step, with two deliberate differences, both fail-closed:
 * - The Origin header is compared as the exact string a browser sends, `scheme://host[:port]`
 *   (RFC 6454 §6.1). Go parses it as a URL, so it would also accept forms no browser sends
 *   (a path, user info); we refuse those.
 * - Behind a reverse proxy, with `publicOrigin` configured, Origin must equal the public origin,
 *   scheme included, instead of matching the raw Host header (which the proxy may rewrite).
 *
 * Pure: no framework, never throws on request input. Misconfiguration throws ConfigError once, at
 * construction (the options are resolved into a frozen object).
 */

/** The one method of a Web `Headers` this module uses (always with lower-case names). */
export interface HeaderReader {
  get(name: string): string | null | undefined;
}

/** What the check reads from a request; adapters translate their framework's request into this. */
export interface OriginRequest {
  /** The method as received. Case-sensitive like Go: only `GET`, `HEAD`, `OPTIONS` are safe. */
  readonly method: string;
  readonly headers: HeaderReader;
  /**
   * The authority the client addressed: the Host header, or `:authority` under HTTP/2 (for a Web
   * Request, `new URL(request.url).host`). Ignored when `publicOrigin` is configured.
   */
  readonly host: string | null | undefined;
}

/** Why an unsafe request was refused. */
export type OriginRejection =
  /** `Sec-Fetch-Site` says `cross-site`, `same-site` or something unknown. */
  | 'sec-fetch-site'
  /** `Origin: null` (sandboxed frames, some redirects, `data:` URLs): never trusted. */
  | 'origin-null'
  /** Origin differs from the host (or the public origin) and is not a trusted origin. */
  | 'origin-mismatch';

/** The verdict. Refusals map to 403 `cross_origin_rejected` (CrossOriginError) in the server. */
export type OriginCheckResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: OriginRejection };

/** Options of createOriginCheck. */
export interface OriginCheckOptions {
  /**
   * Other origins allowed to make unsafe requests, each exactly `scheme://host[:port]` as a browser
   * sends it (http or https; lower case, no default port, no path, no wildcard, not `null`).
   * @default []
   */
  trustedOrigins?: readonly string[];
  /**
   * The origin users reach the app at when it runs behind a reverse proxy (e.g.
   * `https://app.example`). When set, Origin must equal it (scheme included) or a trusted origin;
   * the request's Host is not consulted.
   * @default undefined (compare Origin's host with the request's host, as Go does)
   */
  publicOrigin?: string;
}

/** A resolved, frozen cross-origin check. */
export interface OriginCheck {
  readonly trustedOrigins: readonly string[];
  readonly publicOrigin: string | null;
  /** Allows safe methods and same-origin requests; refuses cross-origin unsafe ones. Never throws. */
  check(request: OriginRequest): OriginCheckResult;
}

const OK: OriginCheckResult = Object.freeze({ ok: true });
const SEC_FETCH_SITE: OriginCheckResult = Object.freeze({ ok: false, reason: 'sec-fetch-site' });
const ORIGIN_NULL: OriginCheckResult = Object.freeze({ ok: false, reason: 'origin-null' });
const ORIGIN_MISMATCH: OriginCheckResult = Object.freeze({ ok: false, reason: 'origin-mismatch' });

/**
 * True for the methods the cross-origin check always lets through (GET, HEAD, OPTIONS), which
 * must therefore never change state; everything that skips a check for them uses this.
 */
export function isSafeMethod(method: string): boolean {
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS';
}

/** Validates the options once (ConfigError naming the bad value) and returns a frozen check. */
export function createOriginCheck(options: OriginCheckOptions = {}): OriginCheck {
  const trusted = (options.trustedOrigins ?? []).map((o) => canonicalOrigin(o, 'Trusted origin'));
  const trustedSet = new Set(trusted);
  const publicOrigin =
    options.publicOrigin === undefined
      ? null
      : canonicalOrigin(options.publicOrigin, 'publicOrigin');

  const isTrusted = (origin: string | null): boolean => origin !== null && trustedSet.has(origin);

  const check = (request: OriginRequest): OriginCheckResult => {
    // 1. Safe methods are always allowed, so GET/HEAD/OPTIONS handlers must never change state.
    const method = request.method;
    if (isSafeMethod(method)) return OK;

    const headers = request.headers;
    const origin = headerValue(headers, 'origin');
    // 2. Fetch metadata, sent by every major browser since 2023. The browser computed it against
    //    the URL it actually requested, so it is right behind proxies too. Web Headers joins
    //    repeated fields with ", ", which matches no known value and is refused (fail closed).
    const site = headerValue(headers, 'sec-fetch-site');
    if (site !== null) {
      if (site === 'same-origin' || site === 'none') return OK;
      return isTrusted(origin) ? OK : SEC_FETCH_SITE;
    }

    // 3. Neither Sec-Fetch-Site nor Origin: like Go, allow. Such a request is same-origin from a
    //    browser older than 2020-2023 (they all send Origin on cross-origin POST) or comes from a
    //    non-browser client, which carries no ambient cookies to abuse and could forge any header
    //    anyway. OWASP's CSRF cheat sheet would refuse it; we accept the gap because the session
    //    cookie is SameSite=Lax (not sent on cross-site POSTs) and our HTML forms also carry a
    //    synchronizer token (core/csrf.ts). A server may still refuse it on chosen routes.
    if (origin === null) return OK;

    // 4. Origin against the request's own host. Without a public origin the scheme is ignored,
    //    as in Go: Host carries none, so an HTTP→HTTPS request fails open; HSTS closes that.
    if (publicOrigin !== null) {
      if (origin === publicOrigin) return OK;
    } else if (originHostMatches(origin, request.host)) {
      return OK;
    }

    // 5. Otherwise refuse, unless the origin is trusted. `null` is never trusted.
    if (isTrusted(origin)) return OK;
    return origin === 'null' ? ORIGIN_NULL : ORIGIN_MISMATCH;
  };

  return Object.freeze({ trustedOrigins: Object.freeze(trusted), publicOrigin, check });
}

/**
 * A header's value, null when absent or empty (Go's `Header.Get` returns "" for both). A value of
 * the wrong type from a sloppy adapter reads as a string no rule accepts, so it is refused.
 */
function headerValue(headers: HeaderReader, name: string): string | null {
  let value: unknown;
  try {
    value = headers.get(name);
  } catch {
    return '\u0000unreadable';
  }
  if (value === null || value === undefined || value === '') return null;
  return typeof value === 'string' ? value : '\u0000unreadable';
}

/** True when `origin` is exactly `http://<host>` or `https://<host>` for a non-empty host. */
function originHostMatches(origin: string, host: string | null | undefined): boolean {
  if (typeof host !== 'string' || host.length === 0) return false;
  return origin === `https://${host}` || origin === `http://${host}`;
}

/**
 * Returns `input` when it is an http(s) origin exactly as browsers serialise it, else throws
 * ConfigError (with the canonical form when there is one, e.g. for a trailing slash).
 */
function canonicalOrigin(input: unknown, label: string): string {
  const shown = JSON.stringify(input);
  if (typeof input !== 'string' || input === 'null') {
    throw new ConfigError(`${label} ${shown} must be an origin such as https://app.example`);
  }
  // WHATWG URL accepts `*` in a host, so wildcards are refused by hand: exact origins only.
  if (input.includes('*')) {
    throw new ConfigError(`${label} ${shown}: wildcards are not allowed, list each origin`);
  }
  const url = URL.parse(input);
  if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new ConfigError(
      `${label} ${shown} must be an http or https origin (scheme://host[:port])`,
    );
  }
  if (url.origin !== input) {
    throw new ConfigError(
      `${label} ${shown} must be exactly scheme://host[:port], with no path, query, user info or ` +
        `default port; did you mean ${JSON.stringify(url.origin)}?`,
    );
  }
  return input;
}
