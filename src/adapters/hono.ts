import type { Context, ErrorHandler, MiddlewareHandler } from 'hono';
import type { PublicUser } from '../accounts/public-user.ts';
import { readBodyLimited } from '../core/body.ts';
import type { ClientInfo } from '../core/engine.ts';
import {
  CoatcheckError,
  ConfigError,
  CsrfTokenError,
  PayloadTooLargeError,
  StoreUnavailableError,
  ThrottledError,
} from '../core/errors.ts';
import type { SessionUser } from '../core/store.ts';
import {
  type AdapterOptions,
  type Auth,
  checkOrigin,
  compileGuards,
  formToken,
  formTokenMatches,
  type GuardVerdict,
  type HandlerOptions,
  isSafeMethod,
  needsFormToken,
  type Resolution,
  requestHost,
  resolveAdapterOptions,
  resolveSession,
} from './core.ts';
import { problemResponse, thrownProblem } from './problem.ts';
import {
  endAllSessions,
  endSession,
  isSessionCookie,
  signInWithPassword,
  startSession,
} from './sign-in.ts';
import { DEFAULT_MAX_FORM_BYTES } from './web-form.ts';

/**
 * Coatcheck as Hono middleware, for any runtime Hono runs on: the cross-origin check, the session
 * in `c.get('auth')` (typed through CoatcheckEnv), the form token, guards, and sign-in/sign-out
 * helpers; or the same pipeline wrapped around one route's handler (`handler()`). Loads nothing
 * from hono at run time (types only).
 */

export type { AdapterOptions, Auth, HandlerOptions } from './core.ts';

/** The Hono environment Coatcheck's middleware provides: `c.get('auth')` / `c.var.auth`. */
export interface CoatcheckEnv {
  Variables: {
    /** The signed-in caller, or null when signed out. */
    auth: Auth | null;
  };
}

/** Options of the Hono adapter. */
export interface HonoAdapterOptions extends AdapterOptions {
  /**
   * Largest body the middleware reads to find the form token of a signed-in form post (413
   * problem beyond it; a token in the CSRF header needs no read). @default 65536
   */
  maxFormBytes?: number;
  /**
   * The client's IP, for throttling and session metadata. Hono has no runtime-neutral way to read
   * it: on Node, `(c) => getConnInfo(c).remote.address ?? null` from `@hono/node-server/conninfo`.
   * @default () => null (IP throttling off, sessions record no IP)
   */
  clientIp?: (c: Context) => string | null | undefined;
}

/**
 * The Set-Cookie line a helper (signIn, startSession, signOut) set on a context. `c.header` only
 * reaches responses built through `c`, so after `next()` the middleware also puts it on one built
 * without (`new Response()`), and takes it off a 5xx. A symbol on the context costs the hot path
 * one property read.
 */
const QUEUED = Symbol('coatcheck.setCookie');
type Queued = { [QUEUED]?: string };

/** A route handler wrapped by `handler()`: Hono's, answering with a Response. */
export type HonoHandler = (c: Context<CoatcheckEnv>) => Response | Promise<Response>;

/**
 * What runs once the request passed the checks, with `auth` set: next() for the middleware, the
 * guards and the route's handler for `handler()`. `refused`: a refused cookie to clear.
 */
type Proceed<R> = (c: Context<CoatcheckEnv>, refused: boolean) => Response | Promise<R>;
/** The pipeline's answer: a refusal, or what `go` returned. */
type Passed<R> = Response | Promise<Response | R>;

/** Options of requireAuth. */
export interface RequireAuthOptions {
  /** Send signed-out GET/HEAD requests here (303) instead of a 401 problem. @default undefined */
  redirectTo?: string;
}

/** Coatcheck bound to one engine and cookie configuration, as Hono middleware and helpers. */
export interface HonoCoatcheck {
  /**
   * Refuses cross-origin unsafe requests (403), sets `auth`, refuses a signed-in form post without
   * this session's token (403), answers 429 while the IP is blocked for token guessing and 503
   * when the store fails (never signed in, never signed out), and clears a refused cookie.
   */
  readonly middleware: MiddlewareHandler<CoatcheckEnv>;
  /**
   * One route's handler with the middleware's whole pipeline around it, plus the guards: the
   * route's only handler (`app.get('/me', auth.handler(fn, { requireAuth: true }))`), in place of
   * the middleware and guard middleware. CoatcheckErrors `fn` throws answer as problem+json; other
   * errors go on to `app.onError`. Answers with a plain Response when the store and `fn` answer
   * synchronously (memory, SQLite): Hono then skips `compose`, and `@hono/node-server` writes it
   * on its fast path. Behind `middleware`, it only applies the guards.
   */
  handler(fn: HonoHandler, options?: HandlerOptions): HonoHandler;
  /** Signed-in requests only; 401 problem (or a redirect) otherwise. */
  requireAuth(options?: RequireAuthOptions): MiddlewareHandler<CoatcheckEnv>;
  /** Users holding any of `roles`; 401 when signed out, 403 otherwise. */
  requireRole(...roles: string[]): MiddlewareHandler<CoatcheckEnv>;
  /** Password sign-in (needs `accounts`): new session id, cookie set, `auth` updated. */
  signIn(c: Context<CoatcheckEnv>, input: unknown): Promise<PublicUser>;
  /** Starts a session for a user the app authenticated itself; the previous one is revoked. */
  startSession(
    c: Context<CoatcheckEnv>,
    user: SessionUser,
    options?: { remember?: boolean },
  ): Promise<Auth>;
  /** Ends this session server-side and clears the cookie (also when already signed out). */
  signOut(c: Context<CoatcheckEnv>): Promise<void>;
  /** Ends every session of the signed-in user, this one included; returns how many others. */
  signOutEverywhere(c: Context<CoatcheckEnv>): Promise<number>;
  /** The form token for this session (a hidden `csrf_token` field), null when signed out. */
  csrfToken(c: Context<CoatcheckEnv>): string | null;
  /**
   * For `app.onError`: CoatcheckErrors as problem+json (a store failure told to `onError`), else a
   * 500 told to `onError`; a 5xx leaves without Set-Cookie.
   */
  readonly errorHandler: ErrorHandler;
  /** The session cookie's name (`__Host-coatcheck` by default). */
  readonly cookieName: string;
}

/** Builds the middleware and helpers; throws ConfigError for bad options, never per request. */
export function coatcheck(options: HonoAdapterOptions): HonoCoatcheck {
  const config = resolveAdapterOptions(options);
  const clientIp = options.clientIp ?? (() => null);
  const clientOf = (c: Context): ClientInfo => ({
    ip: clientIp(c) ?? null,
    userAgent: c.req.header('user-agent') ?? null,
  });
  const onError = config.onError ?? console.error;
  const maxFormBytes = options.maxFormBytes ?? DEFAULT_MAX_FORM_BYTES;

  /**
   * The checks before any handler: origin (unsafe methods), the session into `auth`, the guessing
   * throttle, and a signed-in form post's token; then `go`. Not async: when the store answers
   * synchronously (memory, SQLite) so does this, up to whatever `go` returns.
   */
  const pipeline = <R>(c: Context<CoatcheckEnv>, go: Proceed<R>): Passed<R> => {
    const request = c.req.raw;
    const method = request.method;
    const headers = request.headers;
    if (!isSafeMethod(method)) {
      const refusal = checkOrigin(config, {
        method,
        headers,
        host: requestHost(headers, request.url),
      });
      if (refusal) return refuse(c, refusal);
    }
    const pending = resolveSession(config, headers.get('cookie'), clientIp(c) ?? null);
    if (!(pending instanceof Promise)) return proceed(c, go, pending);
    return pending.then(
      (resolution): Passed<R> => proceed(c, go, resolution),
      (error: unknown): Response => {
        c.set('auth', null);
        if (!(error instanceof StoreUnavailableError)) throw error;
        onError(error);
        return refuse(c, error);
      },
    );
  };

  const proceed = <R>(
    c: Context<CoatcheckEnv>,
    go: Proceed<R>,
    resolution: Resolution,
  ): Passed<R> => {
    if (resolution.kind === 'throttled') {
      return refuse(c, new ThrottledError(resolution.retryAfterSeconds));
    }
    if (resolution.kind !== 'signed-in') {
      c.set('auth', null);
      return go(c, resolution.kind === 'refused');
    }
    const auth = resolution.auth;
    c.set('auth', auth);
    const method = c.req.raw.method;
    if (!isSafeMethod(method) && needsFormToken(method, c.req.raw.headers.get('content-type'))) {
      return checkFormToken(c, auth).then(
        (refusal): Passed<R> => (refusal ? problemResponse(refusal) : go(c, false)),
      );
    }
    return go(c, false);
  };

  // The after-handler step rides on next()'s promise (~2k instructions a request less than an
  // async middleware setting `auth` twice; docs/library.md, Cost per request).
  const middleware: MiddlewareHandler<CoatcheckEnv> = (c, next) => {
    const passed = pipeline(c, (c, refused) => next().then(() => finishContext(c, refused)));
    return passed instanceof Promise ? passed : Promise.resolve(passed);
  };

  const handler = (fn: HonoHandler, guards: HandlerOptions = {}): HonoHandler => {
    const guard = compileGuards(guards);

    /** The guards, then `fn`; a CoatcheckError it throws as its problem, anything else thrown on. */
    const run = (c: Context<CoatcheckEnv>): Response | Promise<Response> => {
      const verdict = guard(c.get('auth'), c.req.method);
      if (verdict !== null) return guardAnswer(c, verdict);
      try {
        const response = fn(c);
        return response instanceof Promise ? response.catch(problemOf) : response;
      } catch (error) {
        return problemOf(error);
      }
    };

    /** run(), with the cookie a helper set or a refused cookie's clearing put on its answer. */
    const go = (c: Context<CoatcheckEnv>, refused: boolean): Response | Promise<Response> => {
      const response = run(c);
      return response instanceof Promise
        ? response.then((r) => finished(c, r, refused))
        : finished(c, response, refused);
    };

    // The middleware already ran the checks and finishes the response itself.
    return (c) => (c.get('auth') === undefined ? pipeline(c, go) : run(c));
  };

  /** A CoatcheckError thrown by a wrapped handler as its problem (503 told to onError). */
  const problemOf = (error: unknown): Response => thrownProblem(error, onError);

  /** CsrfTokenError or PayloadTooLargeError when a signed-in form post lacks this session's token. */
  const checkFormToken = async (c: Context, auth: Auth): Promise<CoatcheckError | null> => {
    let token: unknown = c.req.raw.headers.get(config.csrfHeader);
    try {
      token ??= await formField(c, config.csrfField, maxFormBytes);
    } catch (error) {
      if (error instanceof PayloadTooLargeError) return error;
      throw error;
    }
    return formTokenMatches(auth, token) ? null : new CsrfTokenError();
  };

  /**
   * The handler's response with the cookie a helper set, else a refused cookie's clearing, unless
   * it carries a session cookie already; never on a server failure (a 5xx says nothing about the
   * session, so one there is taken off). A copy when its headers are immutable (redirects).
   */
  const finished = (c: Context, response: Response, refused: boolean): Response => {
    const queued = (c as Queued)[QUEUED];
    if (queued === undefined && !refused) return response;
    const lines = response.headers.getSetCookie();
    const isSession = (line: string) => isSessionCookie(config, line);
    if (response.status >= 500) {
      if (!lines.some(isSession)) return response;
      return withSetCookie(
        response,
        lines.filter((line) => !isSession(line)),
      );
    }
    if (lines.some(isSession)) return response;
    return withSetCookie(response, [...lines, queued ?? config.clearingCookie]);
  };

  /** finished() on `c.res`, after next(): also reaches a response built without `c`. */
  const finishContext = (c: Context, refused: boolean): void => {
    const response = finished(c, c.res, refused);
    if (response === c.res) return;
    // Hono's setter merges the old response's headers into the new one (its Set-Cookie lines
    // included) and merges only into a response it holds: setting undefined first replaces it.
    c.res = undefined;
    c.res = response;
  };

  const setCookie = (c: Context, line: string) => {
    c.header('Set-Cookie', line, { append: true });
    c.header('Cache-Control', 'no-store');
    (c as Queued)[QUEUED] = line;
  };

  return Object.freeze({
    middleware,
    handler,
    cookieName: config.cookieName,
    // The guards are plain functions returning next()'s promise: an async wrapper would cost a
    // promise and two microtask turns per request (callgrind: ~1.4k instructions, ~1%).
    requireAuth(guard: RequireAuthOptions = {}): MiddlewareHandler<CoatcheckEnv> {
      return guardMiddleware({ requireAuth: true, redirectTo: guard.redirectTo });
    },
    requireRole(...roles: string[]): MiddlewareHandler<CoatcheckEnv> {
      return guardMiddleware({ requireRole: roles });
    },
    async signIn(c: Context<CoatcheckEnv>, input: unknown) {
      const done = await signInWithPassword(config, input, clientOf(c), authOf(c));
      setCookie(c, done.setCookie);
      c.set('auth', done.auth);
      return done.user;
    },
    async startSession(
      c: Context<CoatcheckEnv>,
      user: SessionUser,
      opts: { remember?: boolean } = {},
    ) {
      const client = { ...clientOf(c), remember: opts.remember ?? false };
      const done = await startSession(config, user, client, authOf(c));
      setCookie(c, done.setCookie);
      c.set('auth', done.auth);
      return done.auth;
    },
    async signOut(c: Context<CoatcheckEnv>) {
      setCookie(c, await endSession(config, authOf(c), clientOf(c)));
      c.set('auth', null);
    },
    async signOutEverywhere(c: Context<CoatcheckEnv>) {
      const done = await endAllSessions(config, authOf(c), clientOf(c));
      setCookie(c, done.setCookie);
      c.set('auth', null);
      return done.revoked;
    },
    csrfToken(c: Context<CoatcheckEnv>) {
      const auth = authOf(c);
      return auth ? formToken(auth) : null;
    },
    errorHandler: ((error, c) => {
      if (error instanceof CoatcheckError) {
        if (error instanceof StoreUnavailableError) onError(error);
        const problem = problemResponse(error);
        if (problem.status >= 500) dropSetCookie(c);
        return problem;
      }
      if ('getResponse' in error && typeof error.getResponse === 'function') {
        return error.getResponse() as Response; // Hono's HTTPException
      }
      onError(error);
      dropSetCookie(c);
      return c.text('Internal Server Error', 500);
    }) satisfies ErrorHandler,
  });
}

/** Guards as middleware: next() when they let the request through, else their answer. */
function guardMiddleware(options: HandlerOptions): MiddlewareHandler<CoatcheckEnv> {
  const guard = compileGuards(options);
  return (c, next) => {
    const verdict = guard(authOf(c), c.req.method);
    return verdict === null ? next() : Promise.resolve(guardAnswer(c, verdict));
  };
}

/** A guard's refusal as its problem, or its redirect of a signed-out page visit (303). */
function guardAnswer(c: Context, verdict: NonNullable<GuardVerdict>): Response {
  return verdict instanceof CoatcheckError
    ? problemResponse(verdict)
    : c.redirect(verdict.redirectTo, 303);
}

/** Refuses before the handler: `auth` is null for whatever runs around this middleware. */
function refuse(c: Context<CoatcheckEnv>, error: CoatcheckError): Response {
  c.set('auth', null);
  return problemResponse(error);
}

/** `c.get('auth')`, insisting the middleware ran (a guard without it would refuse everyone). */
function authOf(c: Context<CoatcheckEnv>): Auth | null {
  const auth = c.get('auth');
  if (auth === undefined) {
    throw new ConfigError(
      'Use coatcheck(...).middleware (or handler()) before requireAuth/requireRole/signIn',
    );
  }
  return auth;
}

/**
 * One field of the form body, reading at most `maxFormBytes` (PayloadTooLargeError beyond) and
 * leaving the body for the handler: `c.req.raw` becomes a request over the bytes read, as Hono's
 * own bodyLimit does. A body that cannot be read or parsed (multipart without a boundary, say) has
 * no fields.
 */
async function formField(c: Context, field: string, maxFormBytes: number): Promise<unknown> {
  const raw = c.req.raw;
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = await readBodyLimited(raw, maxFormBytes);
  } catch (error) {
    if (error instanceof PayloadTooLargeError) throw error;
    return undefined;
  }
  c.req.raw = new Request(raw, { body: bytes });
  const body = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
  return body[field];
}

/**
 * `response` with `lines` as its Set-Cookie and `Cache-Control: no-store` when it carries any;
 * a copy when its headers are immutable (redirects).
 */
function withSetCookie(response: Response, lines: readonly string[]): Response {
  const edit = (headers: Headers) => {
    headers.delete('Set-Cookie');
    for (const line of lines) headers.append('Set-Cookie', line);
    if (lines.length > 0) headers.set('Cache-Control', 'no-store');
  };
  try {
    edit(response.headers);
    return response;
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    const copy = new Response(response.body, response);
    edit(copy.headers);
    return copy;
  }
}

/**
 * Removes every Set-Cookie from the headers Hono carries over to the error response (`c.header`'s,
 * and those of a response finished before an outer middleware threw): a 5xx sets no cookie.
 */
function dropSetCookie(c: Context): void {
  c.header('Set-Cookie', undefined);
}
