import type { IncomingHttpHeaders } from 'node:http';
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import type { PublicUser } from '../accounts/public-user.ts';
import type { ClientInfo } from '../core/engine.ts';
import {
  CoatcheckError,
  ConfigError,
  CsrfTokenError,
  StoreUnavailableError,
  ThrottledError,
  UnauthenticatedError,
} from '../core/errors.ts';
import type { HeaderReader } from '../core/origin.ts';
import type { SessionUser } from '../core/store.ts';
import {
  type AdapterOptions,
  type Auth,
  checkOrigin,
  formToken,
  formTokenMatches,
  guardRoles,
  isSafeMethod,
  needsFormToken,
  type Resolution,
  resolveAdapterOptions,
  resolveSession,
  roleRefusal,
} from './core.ts';
import { defaultErrorStatus, problemReply, replaceSetCookie } from './problem.ts';
import { endAllSessions, endSession, signInWithPassword, startSession } from './sign-in.ts';

/**
 * Coatcheck for Express 5: one middleware (cross-origin check, session, form token), guards, and
 * sign-in/sign-out helpers that set and clear the cookie. Loads nothing from express at run time.
 */

export type { AdapterOptions, Auth } from './core.ts';

declare global {
  namespace Express {
    interface Request {
      /** The signed-in caller, set by Coatcheck's middleware (null when signed out). */
      auth?: Auth | null;
    }
  }
}

/** Options of requireAuth. */
export interface RequireAuthOptions {
  /** Send signed-out GET/HEAD requests here (303) instead of a 401 problem. @default undefined */
  redirectTo?: string;
}

/** Coatcheck bound to one engine and cookie configuration, as Express middleware and helpers. */
export interface ExpressCoatcheck {
  /**
   * Refuses cross-origin unsafe requests (403), resolves the session into `req.auth`, refuses a
   * signed-in form post without this session's token (403), and answers 429 while the IP is
   * blocked for token guessing and 503 when the store fails (never signed in, never signed out).
   * Mount it after the body parsers (`express.urlencoded()`) so the form field is readable.
   */
  readonly middleware: RequestHandler;
  /** Lets signed-in requests through; 401 problem (or a redirect) otherwise. */
  requireAuth(options?: RequireAuthOptions): RequestHandler;
  /** Lets through users holding any of `roles`; 401 when signed out, 403 otherwise. */
  requireRole(...roles: string[]): RequestHandler;
  /** Password sign-in (needs `accounts`): new session id, cookie set, `req.auth` updated. */
  signIn(req: Request, res: Response, input: unknown): Promise<PublicUser>;
  /** Starts a session for a user the app authenticated itself; the previous one is revoked. */
  startSession(
    req: Request,
    res: Response,
    user: SessionUser,
    options?: { remember?: boolean },
  ): Promise<Auth>;
  /** Ends this session server-side and clears the cookie (also when already signed out). */
  signOut(req: Request, res: Response): Promise<void>;
  /** Ends every session of the signed-in user, this one included; returns how many others ended. */
  signOutEverywhere(req: Request, res: Response): Promise<number>;
  /** The form token for this request's session (a hidden `csrf_token` field), null if signed out. */
  csrfToken(req: Request): string | null;
  /**
   * Error middleware: CoatcheckErrors become problem+json (a store failure told to `onError`);
   * others pass on to Express's handler. Whatever it passes on as a 5xx leaves without Set-Cookie.
   */
  readonly errorHandler: ErrorRequestHandler;
  /** The session cookie's name (`__Host-coatcheck` by default). */
  readonly cookieName: string;
}

/** Builds the middleware and helpers; throws ConfigError for bad options, never per request. */
export function coatcheck(options: AdapterOptions): ExpressCoatcheck {
  const config = resolveAdapterOptions(options);
  const onError = config.onError ?? console.error;

  const middleware: RequestHandler = (req, res, next) => {
    req.auth = null;
    const method = req.method;
    if (!isSafeMethod(method)) {
      const refusal = checkOrigin(config, {
        method,
        headers: headerReader(req.headers),
        host: req.headers.host,
      });
      if (refusal) return sendProblem(res, refusal);
    }
    const pending = resolveSession(config, req.headers.cookie, clientIp(req));
    if (pending instanceof Promise) pending.then(settle, fail);
    else settle(pending);

    function settle(resolution: Resolution): void {
      if (resolution.kind === 'throttled') {
        sendProblem(res, new ThrottledError(resolution.retryAfterSeconds));
        return;
      }
      if (resolution.kind === 'refused') {
        res.append('Set-Cookie', config.clearingCookie);
        res.setHeader('Cache-Control', 'no-store');
      }
      if (resolution.kind !== 'signed-in') {
        next();
        return;
      }
      const auth = resolution.auth;
      req.auth = auth;
      if (needsFormToken(method, req.headers['content-type'])) {
        const body: unknown = req.body;
        const field =
          typeof body === 'object' && body !== null
            ? (body as Record<string, unknown>)[config.csrfField]
            : undefined;
        if (!formTokenMatches(auth, req.headers[config.csrfHeader] ?? field)) {
          sendProblem(res, new CsrfTokenError());
          return;
        }
      }
      next();
    }

    function fail(error: unknown): void {
      if (error instanceof StoreUnavailableError) {
        onError(error);
        sendProblem(res, error);
      } else {
        next(error);
      }
    }
  };

  const installed = (req: Request): void => {
    if (req.auth === undefined) {
      throw new ConfigError('Mount coatcheck(...).middleware before requireAuth/requireRole');
    }
  };

  const setCookie = (res: Response, line: string) => {
    res.setHeader('Set-Cookie', replaceSetCookie(res.getHeader('Set-Cookie'), line));
    res.setHeader('Cache-Control', 'no-store');
  };

  return Object.freeze({
    middleware,
    cookieName: config.cookieName,
    requireAuth(guard: RequireAuthOptions = {}): RequestHandler {
      const redirectTo = guard.redirectTo;
      return (req, res, next) => {
        installed(req);
        if (req.auth) return next();
        if (redirectTo !== undefined && (req.method === 'GET' || req.method === 'HEAD')) {
          return res.redirect(303, redirectTo);
        }
        sendProblem(res, new UnauthenticatedError());
      };
    },
    requireRole(...roles: string[]): RequestHandler {
      const allowed = guardRoles(roles);
      return (req, res, next) => {
        installed(req);
        const refusal = roleRefusal(req.auth, allowed);
        if (refusal) return sendProblem(res, refusal);
        next();
      };
    },
    async signIn(req: Request, res: Response, input: unknown) {
      const done = await signInWithPassword(config, input, clientOf(req), req.auth);
      setCookie(res, done.setCookie);
      req.auth = done.auth;
      return done.user;
    },
    async startSession(
      req: Request,
      res: Response,
      user: SessionUser,
      opts: { remember?: boolean } = {},
    ) {
      const client = { ...clientOf(req), remember: opts.remember ?? false };
      const done = await startSession(config, user, client, req.auth);
      setCookie(res, done.setCookie);
      req.auth = done.auth;
      return done.auth;
    },
    async signOut(req: Request, res: Response) {
      setCookie(res, await endSession(config, req.auth, clientOf(req)));
      req.auth = null;
    },
    async signOutEverywhere(req: Request, res: Response) {
      const done = await endAllSessions(config, req.auth, clientOf(req));
      setCookie(res, done.setCookie);
      req.auth = null;
      return done.revoked;
    },
    csrfToken: (req: Request) => (req.auth ? formToken(req.auth) : null),
    errorHandler: ((error, _req, res, next) => {
      if (res.headersSent) return next(error);
      if (!(error instanceof CoatcheckError)) {
        // Express's own handler answers; a failed request carries no cookie set before the error
        // (a new session, a refused one's clearing): the browser keeps what it had.
        if (defaultErrorStatus(error, res.statusCode) >= 500) res.removeHeader('Set-Cookie');
        return next(error);
      }
      if (error instanceof StoreUnavailableError) onError(error);
      sendProblem(res, error);
    }) satisfies ErrorRequestHandler,
  });
}

/** Writes a problem+json response; a 5xx never carries Set-Cookie (fail closed). */
function sendProblem(res: Response, error: unknown): void {
  const { status, headers, body } = problemReply(error);
  if (status >= 500) res.removeHeader('Set-Cookie');
  res.status(status).set(headers).send(JSON.stringify(body));
}

/** Node's header object as the lower-case `get` the origin check reads. */
function headerReader(headers: IncomingHttpHeaders): HeaderReader {
  return {
    get(name) {
      const value = headers[name];
      return Array.isArray(value) ? value.join(', ') : value;
    },
  };
}

/** IP (Express's `req.ip`, which honours the app's `trust proxy` setting) and user agent. */
function clientOf(req: Request): ClientInfo {
  return { ip: clientIp(req), userAgent: req.headers['user-agent'] ?? null };
}

/**
 * What Express's `req.ip` answers. With `trust proxy` off (Express's default, inherited by
 * sub-apps through their settings' prototype) that getter is the socket's address, reached
 * through proxy-addr's parse of X-Forwarded-For: read here directly, as the Fastify adapter does.
 */
function clientIp(req: Request): string | null {
  if (req.app.settings['trust proxy'] === false) return req.socket.remoteAddress ?? null;
  return req.ip ?? null;
}
