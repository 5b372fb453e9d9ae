/**
 * Where to send someone after they sign in. The `next` parameter is attacker-controlled (a link
 * anyone can send), so only a path on this origin is honoured; anything else would make the sign-in
 * page an open redirect (OWASP Unvalidated Redirects cheat sheet; ASVS 5.0 V3.7.2).
 */

/** Where people land after signing in when `next` is absent or refused. */
export const DEFAULT_RETURN_PATH = '/account';

/** Longest `next` we consider; real paths of this app are short. */
const MAX_RETURN_PATH_LENGTH = 512;
/** Controls (C0, DEL, C1): the URL parser strips tabs and newlines, so `/\t/x` is `//x`. */
const CONTROL = /\p{Cc}/u;
/** Any base will do: we only check that resolving against it stays on it. */
const BASE = 'http://coatcheck.invalid';

/**
 * The same-origin path `value` names, normalised by the URL parser, or null when it is not one.
 * Accepts only strings starting with a single `/` and holding no backslash (browsers read `/\x`
 * as `//x`, a network-path reference to host `x`) and no control character; the result is then
 * re-checked by resolving it against a fixed origin. Never throws.
 */
export function safeReturnPath(value: unknown): string | null {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_RETURN_PATH_LENGTH) {
    return null;
  }
  if (value[0] !== '/' || value[1] === '/' || value.includes('\\') || CONTROL.test(value)) {
    return null;
  }
  let url: URL;
  try {
    url = new URL(value, BASE);
  } catch {
    return null;
  }
  if (url.origin !== BASE) return null;
  const path = `${url.pathname}${url.search}${url.hash}`;
  // Dot segments can collapse into `//` (e.g. `/.//x` → `//x`); refuse what resolves that way.
  return path.startsWith('//') ? null : path;
}

/** `safeReturnPath(value)`, or the account page when `value` is not a same-origin path. */
export function returnPathOrDefault(value: unknown): string {
  return safeReturnPath(value) ?? DEFAULT_RETURN_PATH;
}

/** The sign-in URL that comes back to `path` afterwards, e.g. `/login?next=%2Faccount`. */
export function loginUrl(path: string): string {
  return `/login?next=${encodeURIComponent(path)}`;
}
