import type { Accounts } from '../accounts/accounts.ts';
import { clearCookie, readCookieDetailed, sessionCookieName } from '../core/cookie.ts';
import { csrfTokenFor, verifyCsrfToken } from '../core/csrf.ts';
import type { SessionEngine, ValidateResult } from '../core/engine.ts';
import {
  type CoatcheckError,
  ConfigError,
  CrossOriginError,
  ForbiddenError,
  UnauthenticatedError,
} from '../core/errors.ts';
import { mediaTypeEssence } from '../core/media-type.ts';
import {
  createOriginCheck,
  type HeaderReader,
  isSafeMethod,
  type OriginCheck,
} from '../core/origin.ts';

/** True for methods that never change state (and so skip the origin and form-token checks). */
export { isSafeMethod };

import type { SessionRecord, SessionUser } from '../core/store.ts';

/**
 * What every adapter shares, with no framework inside: options resolved once, the session read
 * from one named cookie, the cross-origin and form-token checks, and the role guard (sign-in and
 * sign-out live in sign-in.ts). Each adapter only translates its framework's request into these.
 */

/** The signed-in caller of a request: the session and its user, read fresh from the store. */
export interface Auth {
  readonly user: SessionUser;
  readonly session: SessionRecord;
}

/** Options shared by every adapter. Only `engine` is required; every default is the secure one. */
export interface AdapterOptions {
  engine: SessionEngine;
  /** Needed by the password sign-in helper (`signIn`); everything else works without it. */
  accounts?: Accounts;
  cookie?: {
    /** Base name; `__Host-` is prepended when `secure`. @default 'coatcheck' */
    name?: string;
    /** Only turn off for plain-HTTP development (Safari refuses Secure on http://localhost). @default true */
    secure?: boolean;
    /** @default 'lax' */
    sameSite?: 'lax' | 'strict';
  };
  /** Other origins allowed to make unsafe requests, exactly `scheme://host[:port]`. @default [] */
  trustedOrigins?: readonly string[];
  /** The origin users reach the app at behind a reverse proxy. @default undefined (the Host header) */
  publicOrigin?: string;
  csrf?: {
    /** Form field carrying the synchronizer token. @default 'csrf_token' */
    field?: string;
    /** Header carrying it for scripted requests. @default 'x-csrf-token' */
    header?: string;
  };
  /**
   * Told of every failure the adapter answers 503 for (the store is down): log it. The response
   * says nothing of the cause. @default console.error (Fastify: `request.log.error`)
   */
  onError?: (error: unknown) => void;
}

/** Guards of a handler wrapped by an adapter's `handler()` (Web, Hono). */
export interface HandlerOptions {
  /** Refuse signed-out requests: 401 problem, or 303 to `redirectTo` for GET/HEAD. @default false */
  requireAuth?: boolean;
  /** Users holding any of these roles only (implies requireAuth); 403 otherwise. */
  requireRole?: readonly string[];
  /** Where signed-out GET/HEAD requests to a guarded handler go. @default undefined (401) */
  redirectTo?: string;
}

/** Options resolved once into a frozen object (the per-request path only reads it). */
export interface AdapterConfig {
  readonly engine: SessionEngine;
  readonly accounts: Accounts | null;
  readonly cookieName: string;
  readonly cookie: { readonly secure: boolean; readonly sameSite: 'lax' | 'strict' };
  /** The Set-Cookie that deletes the session cookie, computed once. */
  readonly clearingCookie: string;
  readonly originCheck: OriginCheck;
  readonly csrfField: string;
  readonly csrfHeader: string;
  readonly onError: ((error: unknown) => void) | null;
}

/** Validates the options (ConfigError on a bad cookie name or origin) and freezes the result. */
export function resolveAdapterOptions(options: AdapterOptions): AdapterConfig {
  if (options?.engine === undefined) {
    throw new ConfigError('Coatcheck adapter: `engine` is required');
  }
  const secure = options.cookie?.secure ?? true;
  const sameSite = options.cookie?.sameSite ?? 'lax';
  if (sameSite !== 'lax' && sameSite !== 'strict') {
    throw new ConfigError(`Coatcheck adapter: cookie.sameSite must be 'lax' or 'strict'`);
  }
  const base = options.cookie?.name;
  const cookieName = sessionCookieName(base === undefined ? { secure } : { secure, base });
  const trustedOrigins = options.trustedOrigins ?? [];
  const originCheck = createOriginCheck(
    options.publicOrigin === undefined
      ? { trustedOrigins }
      : { trustedOrigins, publicOrigin: options.publicOrigin },
  );
  return Object.freeze({
    engine: options.engine,
    accounts: options.accounts ?? null,
    cookieName,
    cookie: Object.freeze({ secure, sameSite }),
    clearingCookie: clearCookie(cookieName, { secure, sameSite }),
    originCheck,
    csrfField: options.csrf?.field ?? 'csrf_token',
    csrfHeader: (options.csrf?.header ?? 'x-csrf-token').toLowerCase(),
    onError: options.onError ?? null,
  });
}

/** The session a request presents. Store failures are thrown (fail closed), never a variant. */
export type Resolution =
  /** No session cookie: signed out. */
  | { readonly kind: 'anonymous' }
  | { readonly kind: 'signed-in'; readonly auth: Auth }
  /** A cookie was presented and refused (expired, revoked, garbage, duplicated): clear it. */
  | { readonly kind: 'refused' }
  /** The client IP is blocked for guessing tokens: answer 429 with Retry-After. */
  | { readonly kind: 'throttled'; readonly retryAfterSeconds: number };

const ANONYMOUS: Resolution = Object.freeze({ kind: 'anonymous' });
const REFUSED: Resolution = Object.freeze({ kind: 'refused' });

/**
 * Reads the session cookie by its exact name and validates it against the store. Answers
 * synchronously (no promise) without a usable cookie, and when the engine can (SessionEngine.check:
 * memory and SQLite stores, near-cache hits). Never throws; rejects with store failures
 * (StoreUnavailableError), so callers answer 503.
 */
export function resolveSession(
  config: AdapterConfig,
  cookieHeader: string | null | undefined,
  ip: string | null,
): Resolution | Promise<Resolution> {
  const read = readCookieDetailed(cookieHeader, config.cookieName);
  if (!read.ok) return read.reason === 'absent' ? ANONYMOUS : REFUSED;
  const result = config.engine.check(read.value, { ip });
  return result instanceof Promise ? result.then(toResolution) : toResolution(result);
}

function toResolution(result: ValidateResult): Resolution {
  if (result.ok) return { kind: 'signed-in', auth: { user: result.user, session: result.session } };
  if (result.reason === 'throttled') {
    return { kind: 'throttled', retryAfterSeconds: result.retryAfterSeconds ?? 1 };
  }
  return REFUSED;
}

/** CrossOriginError for an unsafe cross-origin request (core/origin.ts), else null. Never throws. */
export function checkOrigin(
  config: AdapterConfig,
  request: { method: string; headers: HeaderReader; host: string | null | undefined },
): CrossOriginError | null {
  return config.originCheck.check(request).ok ? null : new CrossOriginError();
}

/**
 * The authority a Web Request was addressed to: its Host header, as Go's `r.Host`, falling back
 * to the URL. Not the URL first: frameworks rebuild `request.url` from their own settings (Next.js
 * reports `localhost` for a request to 127.0.0.1), which would refuse genuine same-origin posts.
 */
export function requestHost(headers: HeaderReader, url: string): string | null {
  const host = headers.get('host');
  if (typeof host === 'string' && host !== '') return host;
  return URL.parse(url)?.host ?? null;
}

/** The media types a cross-origin page can send without a CORS preflight (Fetch §4.1). */
const SIMPLE_TYPES = new Set([
  'application/x-www-form-urlencoded',
  'multipart/form-data',
  'text/plain',
]);

/**
 * True when an unsafe request must carry the synchronizer token: any body a page on another site
 * could send without a preflight (an HTML form, a `no-cors` fetch), i.e. no Content-Type or one of
 * the three CORS-safelisted media types. JSON and other types need a preflight, which only trusted
 * origins pass, so the origin check covers them.
 */
export function needsFormToken(method: string, contentType: string | null | undefined): boolean {
  if (isSafeMethod(method)) return false;
  if (typeof contentType !== 'string' || contentType.trim() === '') return true;
  const essence = mediaTypeEssence(contentType);
  return SIMPLE_TYPES.has(essence) || essence === '' || essence.includes(',');
}

/** The session's synchronizer token for a hidden form field or the CSRF header. */
export function formToken(auth: Auth): string {
  return csrfTokenFor(auth.session);
}

/** True only for this session's token. Constant-time; never throws, whatever `candidate` is. */
export function formTokenMatches(auth: Auth, candidate: unknown): boolean {
  return verifyCsrfToken(auth.session, candidate);
}

/** UnauthenticatedError when signed out, ForbiddenError without one of `roles`, else null. */
export function roleRefusal(auth: Auth | null | undefined, roles: readonly string[]) {
  if (!auth) return new UnauthenticatedError();
  if (roles.some((role) => auth.user.roles.includes(role))) return null;
  return new ForbiddenError();
}

/** What a guard answers: go on (null), a refusal, or a redirect of a signed-out page visit. */
export type GuardVerdict = CoatcheckError | { readonly redirectTo: string } | null;

/**
 * The guards of `options` as one check, built once (ConfigError for a bad role list): signed out
 * and guarded, a 303 to `redirectTo` for GET/HEAD, else UnauthenticatedError; without one of the
 * roles, ForbiddenError.
 */
export function compileGuards(
  options: HandlerOptions,
): (auth: Auth | null | undefined, method: string) => GuardVerdict {
  const roles = options.requireRole ? guardRoles(options.requireRole) : null;
  const requireAuth = options.requireAuth === true || roles !== null;
  const redirectTo = options.redirectTo;
  return (auth, method) => {
    if (!requireAuth) return null;
    if (!auth) {
      const safe = method === 'GET' || method === 'HEAD';
      return redirectTo !== undefined && safe ? { redirectTo } : new UnauthenticatedError();
    }
    return roles ? roleRefusal(auth, roles) : null;
  };
}

/** Checks the role list given to a role guard once, when the guard is built. */
export function guardRoles(roles: readonly string[]): readonly string[] {
  if (roles.length === 0 || roles.some((r) => typeof r !== 'string' || r === '')) {
    throw new ConfigError('requireRole needs at least one non-empty role name');
  }
  return Object.freeze([...roles]);
}
