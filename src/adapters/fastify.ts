import type {
  FastifyError,
  FastifyInstance,
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
} from 'fastify';
import fp from 'fastify-plugin';
import type { PublicUser } from '../accounts/public-user.ts';
import type { ClientInfo } from '../core/engine.ts';
import {
  CoatcheckError,
  CsrfTokenError,
  StoreUnavailableError,
  ThrottledError,
  UnauthenticatedError,
} from '../core/errors.ts';
import type { SessionUser } from '../core/store.ts';
import {
  type AdapterConfig,
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
 * Coatcheck as a Fastify 5 plugin (wrapped with fastify-plugin, so its hooks and decorators apply
 * to the whole app): an `onRequest` hook for the cross-origin check and the session, a
 * `preHandler` hook for the form token (after the body is parsed), `request.auth`, guards on the
 * instance and sign-in/sign-out on the reply.
 */

export type { AdapterOptions, Auth } from './core.ts';

/** A route hook usable as `onRequest` or `preHandler` (callback style: it either calls `done` or replies). */
export type AuthHook = (
  request: FastifyRequest,
  reply: FastifyReply,
  done: (error?: Error) => void,
) => void;

/** Options of requireAuth. */
export interface RequireAuthOptions {
  /** Send signed-out GET/HEAD requests here (303) instead of a 401 problem. @default undefined */
  redirectTo?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The signed-in caller (null when signed out), set by Coatcheck's onRequest hook. */
    auth: Auth | null;
    /** The form token for this session (a hidden `csrf_token` field), null when signed out. */
    csrfToken(): string | null;
  }
  interface FastifyReply {
    /** Password sign-in (needs `accounts`): new session id, cookie set, `request.auth` updated. */
    signIn(input: unknown): Promise<PublicUser>;
    /** Starts a session for a user the app authenticated itself; the previous one is revoked. */
    startSession(user: SessionUser, options?: { remember?: boolean }): Promise<Auth>;
    /** Ends this session server-side and clears the cookie (also when already signed out). */
    signOut(): Promise<void>;
    /** Ends every session of the signed-in user, this one included; returns how many others. */
    signOutEverywhere(): Promise<number>;
  }
  interface FastifyInstance {
    /** Route hook: signed-in requests only; 401 problem (or a redirect) otherwise. */
    requireAuth(options?: RequireAuthOptions): AuthHook;
    /** Route hook: users holding any of `roles`; 401 when signed out, 403 otherwise. */
    requireRole(...roles: string[]): AuthHook;
  }
}

/** Where coatcheckErrorHandler finds the plugin's store-failure reporter (an instance decoration). */
const REPORT = Symbol('coatcheck.reportStoreFailure');

type StoreFailureReporter = (error: StoreUnavailableError, request: FastifyRequest) => void;

/** The default `onError`: the request's logger. */
const logStoreFailure: StoreFailureReporter = (error, request) => {
  request.log.error({ err: error }, 'coatcheck: session store unavailable');
};

async function plugin(app: FastifyInstance, options: AdapterOptions): Promise<void> {
  const config = resolveAdapterOptions(options);
  const onError = config.onError;
  const report: StoreFailureReporter = onError ? (error) => onError(error) : logStoreFailure;
  app.decorate(REPORT, report);
  app.decorateRequest('auth', null);
  app.decorateRequest('csrfToken', function (this: FastifyRequest) {
    return this.auth ? formToken(this.auth) : null;
  });
  /** Applies a resolved session to the request; a plain function, not a closure per request. */
  const settle = (
    request: FastifyRequest,
    reply: FastifyReply,
    done: (error?: Error) => void,
    resolution: Resolution,
  ) => {
    if (resolution.kind === 'throttled') {
      return void sendProblem(reply, new ThrottledError(resolution.retryAfterSeconds));
    }
    if (resolution.kind === 'refused') {
      reply.header('set-cookie', config.clearingCookie).header('cache-control', 'no-store');
    }
    if (resolution.kind === 'signed-in') request.auth = resolution.auth;
    done();
  };
  // Callback-style hooks: no promise per request on the hot path (fastify's own advice).
  app.addHook('onRequest', (request, reply, done) => {
    const method = request.method;
    if (!isSafeMethod(method)) {
      const headers = { get: (name: string) => headerValue(request.headers[name]) };
      const refusal = checkOrigin(config, { method, headers, host: request.headers.host });
      if (refusal) return void sendProblem(reply, refusal);
    }
    const pending = resolveSession(config, request.headers.cookie, ipOf(request));
    if (!(pending instanceof Promise)) return settle(request, reply, done, pending);
    pending.then(
      (resolution) => settle(request, reply, done, resolution),
      (error: unknown) => {
        if (!(error instanceof StoreUnavailableError)) return done(error as Error);
        report(error, request);
        sendProblem(reply, error);
      },
    );
  });
  app.addHook('preHandler', (request, reply, done) => {
    const auth = request.auth;
    const method = request.method;
    // The method first: a safe request never needs the Content-Type read.
    if (!auth || isSafeMethod(method) || !needsFormToken(method, request.headers['content-type'])) {
      return done();
    }
    const body: unknown = request.body;
    const field =
      typeof body === 'object' && body !== null
        ? (body as Record<string, unknown>)[config.csrfField]
        : undefined;
    if (formTokenMatches(auth, request.headers[config.csrfHeader] ?? field)) return done();
    sendProblem(reply, new CsrfTokenError());
  });
  decorateReply(app, config);
  app.decorate('requireAuth', (guard: RequireAuthOptions = {}): AuthHook => {
    const redirectTo = guard.redirectTo;
    return (request, reply, done) => {
      if (request.auth) return done();
      if (redirectTo !== undefined && (request.method === 'GET' || request.method === 'HEAD')) {
        return void reply.redirect(redirectTo, 303);
      }
      sendProblem(reply, new UnauthenticatedError());
    };
  });
  app.decorate('requireRole', (...roles: string[]): AuthHook => {
    const allowed = guardRoles(roles);
    return (request, reply, done) => {
      const refusal = roleRefusal(request.auth, allowed);
      if (refusal) return void sendProblem(reply, refusal);
      done();
    };
  });
}

function decorateReply(app: FastifyInstance, config: AdapterConfig): void {
  const setCookie = (reply: FastifyReply, line: string) => {
    const lines = replaceSetCookie(reply.getHeader('set-cookie'), line);
    reply
      .removeHeader('set-cookie')
      .header('set-cookie', lines)
      .header('cache-control', 'no-store');
  };
  app.decorateReply('signIn', async function (this: FastifyReply, input: unknown) {
    const { request } = this;
    const done = await signInWithPassword(config, input, clientOf(request), request.auth);
    setCookie(this, done.setCookie);
    request.auth = done.auth;
    return done.user;
  });
  app.decorateReply(
    'startSession',
    async function (this: FastifyReply, user: SessionUser, opts: { remember?: boolean } = {}) {
      const { request } = this;
      const client = { ...clientOf(request), remember: opts.remember ?? false };
      const done = await startSession(config, user, client, request.auth);
      setCookie(this, done.setCookie);
      request.auth = done.auth;
      return done.auth;
    },
  );
  app.decorateReply('signOut', async function (this: FastifyReply) {
    setCookie(this, await endSession(config, this.request.auth, clientOf(this.request)));
    this.request.auth = null;
  });
  app.decorateReply('signOutEverywhere', async function (this: FastifyReply) {
    const done = await endAllSessions(config, this.request.auth, clientOf(this.request));
    setCookie(this, done.setCookie);
    this.request.auth = null;
    return done.revoked;
  });
}

/**
 * The plugin: `app.register(coatcheck, { engine, accounts })`. Throws ConfigError at registration
 * for bad options; requires Fastify 5.
 */
export const coatcheck: FastifyPluginAsync<AdapterOptions> = fp(plugin, {
  fastify: '5.x',
  name: 'coatcheck',
});

/**
 * For `app.setErrorHandler`: a CoatcheckError (thrown by `reply.signIn`, say) becomes problem+json
 * with its status (a store failure told to the plugin's `onError`); anything else is rethrown to
 * Fastify's own handler. Whatever it answers or rethrows as a 5xx leaves without Set-Cookie.
 */
export async function coatcheckErrorHandler(
  error: FastifyError | Error,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<FastifyReply> {
  if (!(error instanceof CoatcheckError)) {
    // A failed request carries no cookie set before the error (a new session, a refused one's
    // clearing): the browser keeps what it had.
    if (defaultErrorStatus(error, reply.statusCode) >= 500) reply.removeHeader('set-cookie');
    throw error;
  }
  if (error instanceof StoreUnavailableError) {
    const report = (request.server as { [REPORT]?: StoreFailureReporter })[REPORT];
    (report ?? logStoreFailure)(error, request);
  } else if (problemReply(error).status >= 500) {
    request.log.error({ err: error }, 'request failed');
  }
  return sendProblem(reply, error);
}

/** Sends a problem+json reply; a 5xx never carries Set-Cookie (fail closed). */
function sendProblem(reply: FastifyReply, error: unknown): FastifyReply {
  const { status, headers, body } = problemReply(error);
  if (status >= 500) reply.removeHeader('set-cookie');
  return reply.code(status).headers(headers).send(JSON.stringify(body));
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/**
 * `request.ip`, which honours Fastify's `trustProxy`. Without it (Fastify then defines no `ips`)
 * that getter is `request.raw.socket?.remoteAddress`, read here directly: through Fastify's getter
 * chain it cost ~1.3k instructions a request (callgrind), 1.5% of a bare route.
 */
function ipOf(request: FastifyRequest): string | null {
  if ('ips' in request) return request.ip ?? null;
  return request.raw.socket?.remoteAddress ?? null;
}

/** IP (`ipOf`) and user agent. */
function clientOf(request: FastifyRequest): ClientInfo {
  return { ip: ipOf(request), userAgent: request.headers['user-agent'] ?? null };
}
