import type { PublicUser } from '../accounts/public-user.ts';
import { serializeCookie } from '../core/cookie.ts';
import type { ClientInfo, IssuedSession } from '../core/engine.ts';
import { ConfigError, UnauthenticatedError } from '../core/errors.ts';
import { type SessionUser, toSessionUser } from '../core/store.ts';
import type { AdapterConfig, Auth } from './core.ts';

/**
 * Starting and ending sessions for every adapter, as Set-Cookie strings: the adapter only puts
 * them on its framework's response. Every sign-in issues a brand-new session id and revokes the
 * one the request presented (fixation); every sign-out ends the session in the store first.
 */

/** The Set-Cookie carrying a new session's token: secure attributes, Max-Age only for remember-me. */
export function sessionCookie(config: AdapterConfig, issued: IssuedSession): string {
  const { secure, sameSite } = config.cookie;
  return serializeCookie(config.cookieName, issued.token, {
    secure,
    sameSite,
    ...(issued.cookieMaxAge === undefined ? {} : { maxAgeSeconds: issued.cookieMaxAge }),
  });
}

/** True when `line` (a Set-Cookie value) sets or clears the session cookie. */
export function isSessionCookie(config: AdapterConfig, line: string): boolean {
  return line.startsWith(`${config.cookieName}=`);
}

/** A completed sign-in: the new session and the Set-Cookie to send with the response. */
export interface SignInResult {
  readonly auth: Auth;
  readonly setCookie: string;
}

/**
 * Password sign-in through Accounts (throttled, audited, constant-time for unknown emails). The
 * session the request presented, if any, is revoked: the new one always has a new id.
 */
export async function signInWithPassword(
  config: AdapterConfig,
  input: unknown,
  client: ClientInfo,
  current: Auth | null | undefined,
): Promise<SignInResult & { readonly user: PublicUser }> {
  if (config.accounts === null) {
    throw new ConfigError('signIn needs `accounts` in the adapter options');
  }
  const signedIn = await config.accounts.login(input, client, {
    currentSessionId: current?.session.id ?? null,
  });
  // The same shape `auth.user` has on every later request: the SessionUser fields, frozen.
  const auth = { user: toSessionUser(signedIn.user), session: signedIn.issued.session };
  return { auth, user: signedIn.user, setCookie: sessionCookie(config, signedIn.issued) };
}

/**
 * Starts a session for a user the app authenticated itself (OAuth, passkey, magic link). The
 * presented session, if any, is revoked first (fixation).
 */
export async function startSession(
  config: AdapterConfig,
  user: SessionUser,
  client: ClientInfo & { remember?: boolean },
  current: Auth | null | undefined,
): Promise<SignInResult> {
  if (current) await config.engine.revoke(current.session.id);
  const issued = await config.engine.create(user, client);
  return {
    auth: { user: toSessionUser(user), session: issued.session },
    setCookie: sessionCookie(config, issued),
  };
}

/** Ends the current session server-side (audited when `accounts` is set). Returns the clearing cookie. */
export async function endSession(
  config: AdapterConfig,
  current: Auth | null | undefined,
  client: ClientInfo,
): Promise<string> {
  if (current) {
    if (config.accounts) await config.accounts.logout(current.session, client);
    else await config.engine.revoke(current.session.id);
  }
  return config.clearingCookie;
}

/**
 * Ends every session of the signed-in user, this one included (UnauthenticatedError when signed
 * out). Returns how many other sessions ended and the clearing cookie.
 */
export async function endAllSessions(
  config: AdapterConfig,
  current: Auth | null | undefined,
  client: ClientInfo,
): Promise<{ readonly revoked: number; readonly setCookie: string }> {
  if (!current) throw new UnauthenticatedError();
  const revoked = await config.engine.revokeAll(current.user.id, { exceptId: current.session.id });
  return { revoked, setCookie: await endSession(config, current, client) };
}
