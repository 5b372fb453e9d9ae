import { ConfigError } from './errors.ts';

/**
 * Cookies as pure string work (no framework): Set-Cookie serialisation with secure defaults, and a
 * reader for one named cookie out of a Cookie header. Follows rfc6265bis (httpwg editor's draft).
 *
 * Serialising throws ConfigError on programmer misuse (a bad name, `SameSite=None` without Secure,
 * a prefix whose rules are broken). Reading never throws: the Cookie header is attacker input.
 */

/** Base name of the session cookie. */
export const DEFAULT_COOKIE_BASE_NAME = 'coatcheck';

/** rfc6265bis §5.6: UAs refuse a cookie whose name + value exceed 4096 octets. */
export const MAX_COOKIE_SIZE = 4096;

/**
 * A longer Cookie header is not parsed (the named cookie reads as `too_large`). 16 KiB is Node's
 * default `maxHeaderSize` for all headers together, so a legitimate (if crowded) cookie jar fits,
 * while the scan on the hot path stays bounded on runtimes with laxer limits.
 */
export const MAX_COOKIE_HEADER_LENGTH = 16_384;

/** rfc6265bis §5.6: UAs cap Max-Age at 400 days. Larger values are clamped to this. */
const MAX_AGE_CAP_SECONDS = 400 * 86_400;
/** rfc6265bis §5.6: UAs ignore an attribute value longer than 1024 octets. */
const MAX_ATTRIBUTE_LENGTH = 1024;

/**
 * Set-Cookie attributes. Every field is optional; the defaults are the secure choice. A field that
 * is present but undefined counts as absent (so `maxAgeSeconds: issued.cookieMaxAge` type-checks
 * under `exactOptionalPropertyTypes`).
 */
export interface CookieOptions {
  /** @default true */
  httpOnly?: boolean | undefined;
  /** @default true. Only turn off for plain-HTTP development. */
  secure?: boolean | undefined;
  /** @default 'lax'. `'none'` requires `secure`. */
  sameSite?: 'strict' | 'lax' | 'none' | undefined;
  /** @default '/' */
  path?: string | undefined;
  /** @default undefined (no Domain: the cookie stays on this exact host). Forbidden with `__Host-`. */
  domain?: string | undefined;
  /**
   * Lifetime in seconds (fractions floored, above 400 days clamped, as UAs do).
   * @default undefined (a browser-session cookie, gone when the browser closes)
   */
  maxAgeSeconds?: number | undefined;
}

/** Attributes of a clearing cookie: the same as those it was set with, minus the lifetime. */
export type ClearCookieOptions = Omit<CookieOptions, 'maxAgeSeconds'>;

/**
 * The session cookie's name: `__Host-<base>` when served over HTTPS (the browser then refuses it
 * unless Secure, `Path=/` and host-only, so no sibling subdomain can plant or shadow it), `<base>`
 * otherwise. Throws ConfigError when `base` is not a token or already carries a prefix.
 */
export function sessionCookieName(options: { secure: boolean; base?: string }): string {
  const base = options.base ?? DEFAULT_COOKIE_BASE_NAME;
  if (!isToken(base)) throw new ConfigError(`Cookie name ${JSON.stringify(base)} is not a token`);
  if (prefixOf(base) !== null) {
    throw new ConfigError(`Cookie base name ${JSON.stringify(base)} must not carry a prefix`);
  }
  return options.secure ? `__Host-${base}` : base;
}

/**
 * A Set-Cookie value with `HttpOnly; Secure; SameSite=Lax; Path=/` and no Domain unless overridden.
 * Throws ConfigError for an invalid name, value or attribute, an oversized cookie, `SameSite=None`
 * without Secure, or a `__Host-`/`__Secure-` name whose rules the attributes break.
 */
export function serializeCookie(name: string, value: string, options: CookieOptions = {}): string {
  // `??`, not spread: an override that is present but undefined (`{ secure: config.secure }`)
  // must keep the secure default rather than silently drop the attribute.
  const httpOnly = options.httpOnly ?? true;
  const secure = options.secure ?? true;
  const sameSiteOption = options.sameSite ?? 'lax';
  const path = options.path ?? '/';
  const { domain, maxAgeSeconds } = options;

  if (!isToken(name)) throw new ConfigError(`Cookie name ${JSON.stringify(name)} is not a token`);
  if (typeof value !== 'string' || !COOKIE_VALUE.test(value)) {
    throw new ConfigError(`Value of cookie ${name} has characters outside cookie-octet`);
  }
  if (name.length + value.length > MAX_COOKIE_SIZE) {
    throw new ConfigError(`Cookie ${name} exceeds ${MAX_COOKIE_SIZE} bytes (name + value)`);
  }
  if (!isAttributeValue(path) || !path.startsWith('/')) {
    throw new ConfigError(`Cookie path ${JSON.stringify(path)} must start with "/"`);
  }
  if (domain !== undefined && (!isAttributeValue(domain) || domain.length === 0)) {
    throw new ConfigError(`Cookie domain ${JSON.stringify(domain)} is not valid`);
  }
  const sameSite = sameSiteAttribute(sameSiteOption);
  // rfc6265bis §5.6.7: browsers drop SameSite=None cookies that are not Secure.
  if (sameSite === 'None' && !secure) {
    throw new ConfigError(`Cookie ${name}: SameSite=None requires Secure`);
  }
  // rfc6265bis §4.1.3 / §5.4: UAs match the prefixes case-insensitively, so check them that way.
  const prefix = prefixOf(name);
  if (prefix !== null && !secure) {
    throw new ConfigError(`Cookie ${name}: the ${prefix} prefix requires Secure`);
  }
  if (prefix === '__Host-' && (path !== '/' || domain !== undefined)) {
    throw new ConfigError(`Cookie ${name}: the __Host- prefix requires Path=/ and no Domain`);
  }

  let cookie = `${name}=${value}`;
  if (maxAgeSeconds !== undefined) cookie += `; Max-Age=${maxAge(maxAgeSeconds)}`;
  if (domain !== undefined) cookie += `; Domain=${domain}`;
  cookie += `; Path=${path}`;
  if (httpOnly) cookie += '; HttpOnly';
  if (secure) cookie += '; Secure';
  return `${cookie}; SameSite=${sameSite}`;
}

/**
 * A Set-Cookie that deletes `name`: empty value, `Max-Age=0`, and the same Path, Domain, Secure,
 * SameSite and HttpOnly as when it was set (so a `__Host-` cookie is still accepted and replaced).
 */
export function clearCookie(name: string, options: ClearCookieOptions = {}): string {
  return serializeCookie(name, '', { ...options, maxAgeSeconds: 0 });
}

/** Why the named cookie could not be read. */
export type CookieReadFailure = 'absent' | 'duplicate' | 'too_large' | 'invalid';

/** Outcome of reading one cookie: its raw value, or why there is none (worth logging). */
export type CookieRead =
  | { readonly ok: true; readonly value: string }
  | { readonly ok: false; readonly reason: CookieReadFailure };

const ABSENT: CookieRead = Object.freeze({ ok: false, reason: 'absent' });
const DUPLICATE: CookieRead = Object.freeze({ ok: false, reason: 'duplicate' });
const TOO_LARGE: CookieRead = Object.freeze({ ok: false, reason: 'too_large' });
const INVALID: CookieRead = Object.freeze({ ok: false, reason: 'invalid' });

/**
 * Reads the cookie named exactly `name` (case-sensitive) from a Cookie header. Never throws.
 * - `absent`: no such cookie, no header, or `name` is not a token.
 * - `duplicate`: the name appears twice. A sibling subdomain can plant a second cookie with the
 *   same name (cookie tossing); we cannot tell which is ours, so neither is used.
 * - `too_large`: the header exceeds MAX_COOKIE_HEADER_LENGTH or the value MAX_COOKIE_SIZE.
 * - `invalid`: the value has characters outside cookie-octet (RFC 6265 §4.1.1).
 *
 * The value is returned raw, with one pair of surrounding double quotes removed (RFC 6265 allows
 * a quoted cookie-value). It is deliberately not percent-decoded: our tokens are base64url and
 * never need it, and decoding would let `%41` stand for `A`, i.e. give one token many spellings,
 * throw on malformed escapes, and invite double-decoding bugs. Callers storing encoded data decode
 * it themselves.
 *
 * Only `;` separates pairs. A `,` is not a separator (it was one in RFC 2965): honouring it would
 * let a planted `x=a,__Host-coatcheck=evil` smuggle a prefixed cookie past the browser's prefix
 * rules. Adapters must join several Cookie fields with `; ` (RFC 9113 §8.2.3), never `, `.
 */
export function readCookieDetailed(header: string | null | undefined, name: string): CookieRead {
  if (typeof header !== 'string' || (name !== validName && !isValidName(name))) return ABSENT;
  if (header.length > MAX_COOKIE_HEADER_LENGTH) return TOO_LARGE;
  // Fast exit, and the only work done on most requests without our cookie: one indexOf.
  let at = header.indexOf(name);
  if (at === -1) return ABSENT;

  let valueStart = -1;
  while (at !== -1) {
    const eq = skipWhitespace(header, at + name.length);
    if (header.charCodeAt(eq) === EQUALS && isPairStart(header, at)) {
      if (valueStart !== -1) return DUPLICATE;
      valueStart = eq + 1;
    }
    at = header.indexOf(name, at + 1);
  }
  if (valueStart === -1) return ABSENT;

  const semicolon = header.indexOf(';', valueStart);
  let end = semicolon === -1 ? header.length : semicolon;
  let start = skipWhitespace(header, valueStart);
  while (end > start && isWhitespace(header.charCodeAt(end - 1))) end--;
  if (
    end - start >= 2 &&
    header.charCodeAt(start) === QUOTE &&
    header.charCodeAt(end - 1) === QUOTE
  ) {
    start++;
    end--;
  }
  if (name.length + end - start > MAX_COOKIE_SIZE) return TOO_LARGE;
  const value = header.slice(start, end);
  return COOKIE_VALUE.test(value) ? { ok: true, value } : INVALID;
}

/**
 * The last name readCookieDetailed found to be a token: adapters pass the same name on every
 * request, and checking it each time cost ~600 instructions a read (callgrind, bench/scratch).
 * Starts as a name known to be a token; only names that passed isToken are kept.
 */
let validName = DEFAULT_COOKIE_BASE_NAME;

function isValidName(name: string): boolean {
  if (!isToken(name)) return false;
  validName = name;
  return true;
}

/** The raw value of the cookie named exactly `name`, or null (see readCookieDetailed). Never throws. */
export function readCookie(header: string | null | undefined, name: string): string | null {
  const read = readCookieDetailed(header, name);
  return read.ok ? read.value : null;
}

const EQUALS = 0x3d;
const QUOTE = 0x22;
const SEMICOLON = 0x3b;

function sameSiteAttribute(value: unknown): 'Strict' | 'Lax' | 'None' {
  if (value === 'lax') return 'Lax';
  if (value === 'strict') return 'Strict';
  if (value === 'none') return 'None';
  throw new ConfigError(`Cookie SameSite ${JSON.stringify(value)} is not strict, lax or none`);
}

/** `__Host-` / `__Secure-` when `name` starts with one, in any letter case (rfc6265bis §5.4). */
function prefixOf(name: string): '__Host-' | '__Secure-' | null {
  const lower = name.slice(0, 9).toLowerCase();
  if (lower.startsWith('__host-')) return '__Host-';
  if (lower.startsWith('__secure-')) return '__Secure-';
  return null;
}

function maxAge(seconds: number): number {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) {
    throw new ConfigError(`Cookie maxAgeSeconds must be a non-negative number, got ${seconds}`);
  }
  return Math.min(Math.floor(seconds), MAX_AGE_CAP_SECONDS);
}

/** True when the pair starting at `at` begins the header or follows `;` and optional whitespace. */
function isPairStart(header: string, at: number): boolean {
  let i = at - 1;
  while (i >= 0 && isWhitespace(header.charCodeAt(i))) i--;
  return i < 0 || header.charCodeAt(i) === SEMICOLON;
}

function skipWhitespace(s: string, i: number): number {
  while (i < s.length && isWhitespace(s.charCodeAt(i))) i++;
  return i;
}

function isWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** RFC 9110 §5.6.2 token: the grammar of a cookie name (RFC 6265 §4.1.1). */
function isToken(s: unknown): s is string {
  if (typeof s !== 'string' || s.length === 0 || s.length > MAX_COOKIE_SIZE) return false;
  for (let i = 0; i < s.length; i++) if (TCHAR[s.charCodeAt(i)] !== 1) return false;
  return true;
}

/**
 * RFC 6265 §4.1.1 cookie-octets: visible ASCII except `"` `,` `;` `\`. A regular expression rather
 * than a charCodeAt loop over a slice of the header, which cost ~3.6k instructions a request
 * (callgrind; the same reason as TOKEN_PATTERN in core/token.ts).
 */
const COOKIE_VALUE = /^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*$/;

/** An attribute value a Set-Cookie line can carry: visible ASCII or space, no `;`, ≤ 1024. */
function isAttributeValue(s: unknown): s is string {
  if (typeof s !== 'string' || s.length > MAX_ATTRIBUTE_LENGTH) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === SEMICOLON) return false;
  }
  return true;
}

const TCHAR = (() => {
  const table = new Uint8Array(128);
  const chars = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  for (let i = 0; i < chars.length; i++) table[chars.charCodeAt(i)] = 1;
  return table;
})();
