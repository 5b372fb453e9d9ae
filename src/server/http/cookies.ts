import type { Context } from 'hono';
import { clearCookie, serializeCookie } from '../../core/cookie.ts';
import type { IssuedSession } from '../../core/engine.ts';
import type { ServerConfig } from '../config.ts';

/**
 * The session cookie as the JSON API sets and clears it: `HttpOnly; Path=/`, no Domain, Secure and
 * SameSite from the config, Max-Age only for remember-me. The token goes nowhere else.
 */

/** Appends a Set-Cookie carrying the new session's token. */
export function setSessionCookie(c: Context, config: ServerConfig, issued: IssuedSession): void {
  const { name, secure, sameSite } = config.cookie;
  const cookie = serializeCookie(name, issued.token, {
    secure,
    sameSite,
    ...(issued.cookieMaxAge === undefined ? {} : { maxAgeSeconds: issued.cookieMaxAge }),
  });
  c.header('Set-Cookie', cookie, { append: true });
}

/** A Set-Cookie value that deletes the session cookie (same attributes, `Max-Age=0`). */
export function sessionClearingCookie(config: ServerConfig): string {
  const { name, secure, sameSite } = config.cookie;
  return clearCookie(name, { secure, sameSite });
}

/** Appends a Set-Cookie that deletes the session cookie. */
export function clearSessionCookie(c: Context, config: ServerConfig): void {
  c.header('Set-Cookie', sessionClearingCookie(config), { append: true });
}

/**
 * Sign-out: clears the session cookie and asks the browser to drop this origin's cache, cookies
 * and storage too (Clear-Site-Data, ASVS 5.0 V14.3.1). The JSON API and the pages both use it.
 */
export function signOutHeaders(c: Context, config: ServerConfig): void {
  clearSessionCookie(c, config);
  c.header('Clear-Site-Data', '"cache", "cookies", "storage"');
}

/** True when `headers` already set (or clear) the session cookie named `name`. */
export function setsSessionCookie(headers: Headers, name: string): boolean {
  return headers.getSetCookie().some((line) => line.startsWith(`${name}=`));
}
