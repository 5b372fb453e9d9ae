import { isIP } from 'node:net';
import { PWNED_PASSWORDS_URL } from '../accounts/breached.ts';
import { normaliseEmail } from '../accounts/input.ts';
import { checkPasswordPolicy } from '../accounts/password-policy.ts';
import { sessionCookieName } from '../core/cookie.ts';
import { ConfigError, InvalidInputError, WeakPasswordError } from '../core/errors.ts';
import { createOriginCheck } from '../core/origin.ts';
import { decodable, redisUrlProblem } from '../stores/redis-url.ts';
import { decodeKeysSecret, MIN_SECRET_BYTES } from '../tokens/key-seal.ts';
import { createProxyTrust } from './http/proxy-trust.ts';

/**
 * Parsers of single configuration values (internal to config.ts). Each takes a raw value, a
 * string from the environment or any JSON value from a config file, and returns its typed form
 * or throws BadValue with one reason per problem. Reasons quote the value they refuse, except
 * for secrets, whose parsers never echo their input.
 */

/** A refused value: one human reason per problem (a list may hold several bad entries). */
export class BadValue extends Error {
  readonly reasons: readonly string[];
  constructor(reasons: string | readonly string[]) {
    const list = typeof reasons === 'string' ? [reasons] : reasons;
    super(list.join('; '));
    this.reasons = list;
  }
}

/** The value as shown in a message: JSON, cut to 80 characters. Never call it on a secret. */
export function shown(raw: unknown): string {
  const text = JSON.stringify(raw) ?? String(raw);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** A TCP port, 0 (any free port) to 65535. */
export function parsePort(raw: unknown): number {
  const n = typeof raw === 'string' && /^\d{1,5}$/.test(raw.trim()) ? Number(raw) : raw;
  if (typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 65_535) return n;
  throw new BadValue(`must be a port number from 0 to 65535, got ${shown(raw)}`);
}

/** An interface address or host name to listen on. */
export function parseHost(raw: unknown): string {
  const host = typeof raw === 'string' ? raw.trim() : '';
  if (isIP(host) !== 0 || /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/i.test(host)) return host;
  throw new BadValue(
    `must be an IP address or host name (e.g. 127.0.0.1, 0.0.0.0), got ${shown(raw)}`,
  );
}

/** A non-empty path. */
export function parsePath(raw: unknown): string {
  if (typeof raw === 'string' && raw.trim() !== '' && !raw.includes('\0')) return raw.trim();
  throw new BadValue(`must be a directory path, got ${shown(raw)}`);
}

/** An absolute http(s) URL naming an origin only; returned as the canonical origin URL. */
export function parsePublicUrl(raw: unknown): URL {
  const url = typeof raw === 'string' ? URL.parse(raw.trim()) : null;
  if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new BadValue(`must be an absolute http:// or https:// URL, got ${shown(raw)}`);
  }
  if (url.href !== `${url.origin}/`) {
    throw new BadValue(
      `must be an origin only (scheme://host[:port], no path, query or user info), got ` +
        `${shown(raw)}; did you mean ${shown(url.origin)}?`,
    );
  }
  return new URL(url.origin);
}

/** A list: a comma-separated string or a JSON array of strings; blanks dropped. */
export function parseList(raw: unknown): string[] {
  if (typeof raw === 'string') {
    return raw
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  }
  if (Array.isArray(raw) && raw.every((s) => typeof s === 'string')) {
    return raw.map((s) => s.trim()).filter((s) => s !== '');
  }
  throw new BadValue(`must be a comma-separated list or an array of strings, got ${shown(raw)}`);
}

/** Exact origins, each validated by core/origin.ts (the check that will use them). */
export function parseOrigins(raw: unknown): string[] {
  const origins = parseList(raw);
  const reasons: string[] = [];
  for (const origin of origins) {
    try {
      createOriginCheck({ trustedOrigins: [origin] });
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      reasons.push(error.message);
    }
  }
  if (reasons.length > 0) throw new BadValue(reasons);
  return origins;
}

/** IP addresses and CIDR ranges (`10.0.0.0/8`, `::1`), each validated by http/proxy-trust.ts. */
export function parseProxies(raw: unknown): string[] {
  const entries = parseList(raw);
  const reasons: string[] = [];
  for (const entry of entries) {
    try {
      createProxyTrust([entry]);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      reasons.push(error.message);
    }
  }
  if (reasons.length > 0) throw new BadValue(reasons);
  return entries;
}

const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };
/** Browsers cap cookie lifetimes at 400 days (rfc6265bis §5.6); no session needs longer. */
const MAX_DURATION_SECONDS = 400 * 86_400;

/** A positive duration in whole seconds: `90`, `90s`, `30m`, `12h`, `7d` (≤ 400 days). */
export function parseDuration(raw: unknown): number {
  let seconds = Number.NaN;
  if (typeof raw === 'number') seconds = raw;
  else if (typeof raw === 'string') {
    const m = /^(\d{1,9})\s*([smhd]?)$/i.exec(raw.trim());
    if (m) seconds = Number(m[1]) * (UNIT_SECONDS[(m[2] || 's').toLowerCase()] ?? Number.NaN);
  }
  if (Number.isInteger(seconds) && seconds > 0 && seconds <= MAX_DURATION_SECONDS) return seconds;
  throw new BadValue(
    `must be a positive duration up to 400d: seconds or a number with s, m, h or d ` +
      `(e.g. 30m, 12h, 7d), got ${shown(raw)}`,
  );
}

/** A positive integer (e.g. a count). */
export function parsePositiveInt(raw: unknown): number {
  const n = typeof raw === 'string' && /^\d{1,9}$/.test(raw.trim()) ? Number(raw) : raw;
  if (typeof n === 'number' && Number.isInteger(n) && n >= 1) return n;
  throw new BadValue(`must be a positive whole number, got ${shown(raw)}`);
}

/** `true/false`, `1/0`, `yes/no`, `on/off` (any case), or a JSON boolean. */
export function parseBoolean(raw: unknown): boolean {
  if (typeof raw === 'boolean') return raw;
  const text = typeof raw === 'string' ? raw.trim().toLowerCase() : '';
  if (['true', '1', 'yes', 'on'].includes(text)) return true;
  if (['false', '0', 'no', 'off'].includes(text)) return false;
  throw new BadValue(`must be true or false, got ${shown(raw)}`);
}

/** `lax` or `strict`. `none` is refused: the cookie would ride along on cross-site requests. */
export function parseSameSite(raw: unknown): 'lax' | 'strict' {
  const text = typeof raw === 'string' ? raw.trim().toLowerCase() : '';
  if (text === 'lax' || text === 'strict') return text;
  if (text === 'none') {
    throw new BadValue(
      'SameSite=None is refused: browsers would send the session cookie on cross-site ' +
        'requests (CSRF); use lax (the default) or strict',
    );
  }
  throw new BadValue(`must be lax or strict, got ${shown(raw)}`);
}

/** A cookie base name: an RFC 9110 token without a `__Host-`/`__Secure-` prefix. */
export function parseCookieBase(raw: unknown): string {
  try {
    if (typeof raw !== 'string') throw new ConfigError(`Cookie name ${shown(raw)} is not a token`);
    sessionCookieName({ secure: false, base: raw.trim() });
    return raw.trim();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new BadValue(
      `${error.message} (letters, digits and !#$%&'*+-.^_\`|~; the __Host- prefix is added ` +
        `automatically over https)`,
    );
  }
}

const BYTE_UNITS: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1024,
  kib: 1024,
  mb: 1 << 20,
  mib: 1 << 20,
};

/** A body size from 1 KiB to 16 MiB: bytes, or with kb/mb (1024-based), e.g. `16kb`. */
export function parseByteSize(raw: unknown): number {
  let bytes = Number.NaN;
  if (typeof raw === 'number') bytes = raw;
  else if (typeof raw === 'string') {
    const m = /^(\d{1,9})\s*([a-z]*)$/i.exec(raw.trim());
    if (m) bytes = Number(m[1]) * (BYTE_UNITS[(m[2] || 'b').toLowerCase()] ?? Number.NaN);
  }
  if (Number.isInteger(bytes) && bytes >= 1024 && bytes <= 16 << 20) return bytes;
  throw new BadValue(`must be a size from 1kb to 16mb (bytes, or with kb/mb), got ${shown(raw)}`);
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** A pino level name. */
export function parseLogLevel(raw: unknown): string {
  const text = typeof raw === 'string' ? raw.trim().toLowerCase() : '';
  if (LOG_LEVELS.includes(text)) return text;
  throw new BadValue(`must be one of ${LOG_LEVELS.join(', ')}, got ${shown(raw)}`);
}

/** An email address in the form accounts store it (normalised). */
export function parseEmail(raw: unknown): string {
  const email = normaliseEmail(raw);
  if (email !== null) return email;
  throw new BadValue(`must be an email address, got ${shown(raw)}`);
}

/** A password that passes the password policy. Secret: the reason never quotes the value. */
export function parsePassword(raw: unknown): string {
  try {
    return checkPasswordPolicy(raw);
  } catch (error) {
    if (error instanceof WeakPasswordError) throw new BadValue(error.message);
    if (error instanceof InvalidInputError) throw new BadValue('must be a string');
    throw error;
  }
}

/** An absolute http(s) URL with any path (e.g. a JWKS URL); no user info, no fragment. */
export function parseHttpUrl(raw: unknown): URL {
  const url = typeof raw === 'string' ? URL.parse(raw.trim()) : null;
  if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new BadValue(`must be an absolute http:// or https:// URL, got ${shown(raw)}`);
  }
  if (url.username !== '' || url.password !== '' || url.hash !== '') {
    throw new BadValue(`must not hold user info or a #fragment, got ${shown(raw)}`);
  }
  return url;
}

/**
 * Where new passwords are screened for breaches: `off` (null), `hibp` (Have I Been Pwned's range
 * API) or the http(s) URL of a range API mirror, to which the 5-character hash prefix is appended.
 */
export function parseBreachedPasswords(raw: unknown): URL | null {
  const text = typeof raw === 'string' ? raw.trim().toLowerCase() : '';
  if (text === 'off') return null;
  if (text === 'hibp') return new URL(PWNED_PASSWORDS_URL);
  try {
    return parseHttpUrl(raw);
  } catch {
    throw new BadValue(`must be off, hibp or an http(s) URL of a range API, got ${shown(raw)}`);
  }
}

/** A JWT audience: 1 to 256 visible characters (typically the internal service's URL). */
export function parseAudience(raw: unknown): string {
  const text = typeof raw === 'string' ? raw.trim() : '';
  if (/^[\x21-\x7e]{1,256}$/.test(text)) return text;
  throw new BadValue(`must be 1 to 256 visible ASCII characters without spaces, got ${shown(raw)}`);
}

/**
 * The secret sealing private signing keys: at least 32 bytes, as hex or base64/base64url
 * (`openssl rand -base64 32`). Returned as canonical base64url. Secret: never echoed.
 */
export function parseKeysSecret(raw: unknown): string {
  const bytes = typeof raw === 'string' ? decodeKeysSecret(raw) : null;
  if (bytes !== null) return Buffer.from(bytes).toString('base64url');
  throw new BadValue(
    `must be at least ${MIN_SECRET_BYTES} random bytes written as hex or base64 ` +
      '(e.g. the output of `openssl rand -base64 32`)',
  );
}

/** Shortest accepted metrics token: 32 characters (`openssl rand -base64 32` gives 44). */
export const MIN_METRICS_TOKEN_LENGTH = 32;

/**
 * The bearer token Prometheus sends to scrape /metrics: at least 32 visible ASCII characters, no
 * spaces (it travels as `Authorization: Bearer <token>`). Secret: never echoed.
 */
export function parseMetricsToken(raw: unknown): string {
  const text = typeof raw === 'string' ? raw.trim() : '';
  if (!/^[\x21-\x7e]*$/.test(text)) {
    throw new BadValue(
      'must be visible ASCII characters without spaces: it is sent as ' +
        '`Authorization: Bearer <token>` (value not shown: it is a secret)',
    );
  }
  if (text.length < MIN_METRICS_TOKEN_LENGTH) {
    throw new BadValue(
      `must be at least ${MIN_METRICS_TOKEN_LENGTH} characters, e.g. the output of ` +
        '`openssl rand -base64 32` (value not shown: it is a secret)',
    );
  }
  return text;
}

/** Said after every refusal of a URL: the reason never quotes it. */
const NOT_SHOWN = '(value not shown: it may hold a password)';

/**
 * A Redis URL for the session store: `redis[s]://…`, `redis[s]+sentinel://h:p,…/<master>` or
 * `redis[s]+cluster://h:p,…`. Never echoed (it may carry a password). Checked here by the code the
 * stores read it with (stores/redis-url.ts), so that a URL the store cannot use is
 * refused with the other settings rather than at connect time, without loading a Redis driver.
 */
export function parseSessionStoreUrl(raw: unknown): string {
  const text = typeof raw === 'string' ? raw.trim() : '';
  const problem = redisUrlProblem(text);
  if (problem === null) return text;
  throw new BadValue(`${problem} ${NOT_SHOWN}`);
}

/**
 * A PostgreSQL URL (`postgres://` or `postgresql://`), also in libpq's multi-host form
 * `postgres://user:password@h1:5432,h2:5432/db` (the driver tries the hosts in order; add
 * `?target_session_attrs=read-write` to skip standbys). Never echoed (it may carry a password).
 */
export function parseDatabaseUrl(raw: unknown): string {
  const text = typeof raw === 'string' ? raw.trim() : '';
  // Checked first: URL.parse silently drops tabs and newlines, and the driver gets the text.
  const url = /[\s\p{Cc}]/u.test(text) ? null : URL.parse(withFirstHostOnly(text) ?? '');
  if (url === null || (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:')) {
    throw new BadValue(`must be a postgres://user:password@host:port/database URL ${NOT_SHOWN}`);
  }
  if (!decodable(url.username, url.password)) {
    throw new BadValue(
      `must be a postgres:// URL whose user name and password are percent-encoded ` +
        `(e.g. @ as %40, % as %25) ${NOT_SHOWN}`,
    );
  }
  return text;
}

/**
 * The URL with only the first of its hosts, for URL.parse to check, or null when one of several
 * hosts is not a `host[:port]` that URL.parse accepts. With several hosts the user info must not
 * hold a raw @: the driver cuts the host list at the first @, URL.parse at the last.
 */
function withFirstHostOnly(text: string): string | null {
  const match = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(text);
  if (match === null) return text;
  const [prefix, authority = ''] = match;
  const userInfoEnd = authority.lastIndexOf('@');
  const hosts = authority.slice(userInfoEnd + 1).split(',');
  if (hosts.length === 1) return text;
  if (authority.indexOf('@') !== userInfoEnd) return null;
  if (!hosts.every((host) => host !== '' && URL.parse(`postgres://${host}`)?.host === host)) {
    return null;
  }
  const hostsStart = prefix.length - authority.length + userInfoEnd + 1;
  return text.slice(0, hostsStart) + hosts[0] + text.slice(prefix.length);
}

/**
 * A URL as safe to log: scheme, hosts and path, never user info. Everything up to the LAST @ goes:
 * a password may hold a raw @ (WHATWG URL and the PostgreSQL driver both split at the last one),
 * and over-redacting an @ in a path costs only detail in a log line.
 */
export function withoutCredentials(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/).*@/is, '$1');
}
