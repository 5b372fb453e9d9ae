import { CoatcheckError, CsrfTokenError, ThrottledError } from '../core/errors.ts';
import type { HeaderReader } from '../core/origin.ts';
import {
  type AdapterOptions,
  type Auth,
  checkOrigin,
  compileGuards,
  formTokenMatches,
  type HandlerOptions,
  isSafeMethod,
  needsFormToken,
  type Resolution,
  requestHost,
  resolveAdapterOptions,
  resolveSession,
} from './core.ts';
import { problemResponse, thrownProblem } from './problem.ts';
import { RequestContext, type WebContext } from './web-context.ts';
import { DEFAULT_MAX_FORM_BYTES, isFormBody } from './web-form.ts';

/**
 * Coatcheck on Web-standard Request and Response, with no framework: Next.js App Router route
 * handlers, server components and proxy (middleware), Bun, Deno, Cloudflare-style `fetch`
 * handlers. `handler()` wraps a route with the whole pipeline; the other functions are its parts.
 */

export type { AdapterOptions, Auth, HandlerOptions } from './core.ts';
export type { WebContext } from './web-context.ts';

/** Options of the Web adapter. */
export interface WebAdapterOptions extends AdapterOptions {
  /**
   * The client's IP, for throttling and session metadata (Bun: `server.requestIP(request)`;
   * behind a proxy you trust: its header). @default () => null (IP throttling off)
   */
  clientIp?: (request: Request) => string | null | undefined;
  /** Largest form body read to check a form token. @default 65536 */
  maxFormBytes?: number;
}

/** A handler wrapped by `handler()`. */
export type WebHandler = (request: Request, ctx: WebContext) => Response | Promise<Response>;

/** Coatcheck bound to one engine and cookie configuration, on Web Request/Response. */
export interface WebCoatcheck {
  /**
   * Wraps a route handler: refuses cross-origin unsafe requests (403), resolves the session,
   * applies the guards, refuses a signed-in form post without this session's token (403), answers
   * 429 while the IP is blocked for token guessing and 503 when the store fails (never signed in,
   * never signed out), maps thrown CoatcheckErrors to problem+json, and puts the session cookie
   * on the response (never on a 5xx).
   */
  handler(
    fn: WebHandler,
    options?: HandlerOptions,
  ): (request: Request) => Response | Promise<Response>;
  /** The cross-origin check alone (e.g. in Next.js proxy.ts): a 403 problem, or null to go on. */
  checkOrigin(request: Request): Response | null;
  /**
   * The session a request (or a server component's `headers()`) presents, or null. A refused
   * token reads as null; throws StoreUnavailableError (fail closed) and ThrottledError.
   */
  authenticate(source: Request | HeaderReader): Promise<Auth | null>;
  /** The session cookie's name (`__Host-coatcheck` by default), for optimistic checks. */
  readonly cookieName: string;
}

/** Builds the functions; throws ConfigError for bad options, never per request. */
export function coatcheck(options: WebAdapterOptions): WebCoatcheck {
  const config = resolveAdapterOptions(options);
  const clientIp = options.clientIp ?? (() => null);
  const maxFormBytes = options.maxFormBytes ?? DEFAULT_MAX_FORM_BYTES;
  const onError = config.onError ?? console.error;

  const originRefusal = (request: Request): Response | null => {
    if (isSafeMethod(request.method)) return null;
    const { method, headers } = request;
    const refusal = checkOrigin(config, {
      method,
      headers,
      host: requestHost(headers, request.url),
    });
    return refusal ? problemResponse(refusal) : null;
  };

  /** A CoatcheckError as its problem response (a 503 told to onError); anything else rethrown. */
  const problemFor = (error: unknown): Response => thrownProblem(error, onError);

  /** problemFor with the cookies `ctx` queued (a refused cookie's clearing), never on a 5xx. */
  const refuse = (error: unknown, ctx: RequestContext): Response =>
    withCookies(problemFor(error), ctx.cookies);

  /** A pending answer with `ctx`'s cookies: the response fn gave, or the problem it threw. */
  const settle = (pending: Promise<Response>, ctx: RequestContext): Promise<Response> =>
    pending.then(
      (response) => withCookies(response, ctx.cookies),
      (error: unknown) => refuse(error, ctx),
    );

  /** Refuses a signed-in unsafe request without this session's form token (CsrfTokenError). */
  const checkFormToken = async (request: Request, ctx: RequestContext, auth: Auth) => {
    const headers = request.headers;
    const candidate =
      headers.get(config.csrfHeader) ??
      (isFormBody(headers.get('content-type')) ? (await ctx.form()).get(config.csrfField) : null);
    if (!formTokenMatches(auth, candidate)) throw new CsrfTokenError();
  };

  const handler = (fn: WebHandler, guards: HandlerOptions = {}) => {
    const guard = compileGuards(guards);

    /**
     * Everything after the session is known. CoatcheckErrors become problem responses carrying the
     * queued cookies (refuse); anything else is thrown or rejected to the runtime.
     */
    const respond = (
      request: Request,
      ip: string | null,
      resolution: Resolution,
    ): Response | Promise<Response> => {
      if (resolution.kind === 'throttled') {
        return problemFor(new ThrottledError(resolution.retryAfterSeconds));
      }
      const auth = resolution.kind === 'signed-in' ? resolution.auth : null;
      const ctx = new RequestContext({ request, config, auth, ip, maxFormBytes });
      if (resolution.kind === 'refused') ctx.setCookie(config.clearingCookie);
      const verdict = guard(auth, request.method);
      if (verdict instanceof CoatcheckError) return refuse(verdict, ctx);
      if (verdict) return redirect(verdict.redirectTo, ctx.cookies);
      if (auth && needsFormToken(request.method, request.headers.get('content-type'))) {
        return settle(
          checkFormToken(request, ctx, auth).then(() => fn(request, ctx)),
          ctx,
        );
      }
      let response: Response | Promise<Response>;
      try {
        response = fn(request, ctx);
      } catch (error) {
        return refuse(error, ctx);
      }
      return response instanceof Promise
        ? settle(response, ctx)
        : withCookies(response, ctx.cookies);
    };

    // Not an async function: when the session store and `fn` answer synchronously, so does this,
    // and @hono/node-server then writes the response on its fast path (an async wrapper alone
    // cost a bare route ~6% of its requests/s, bench:adapters).
    return (request: Request): Response | Promise<Response> => {
      const refused = originRefusal(request);
      if (refused) return refused;
      try {
        const ip = clientIp(request) ?? null;
        const pending = resolveSession(config, request.headers.get('cookie'), ip);
        if (!(pending instanceof Promise)) return respond(request, ip, pending);
        return pending.then((resolution) => respond(request, ip, resolution), problemFor);
      } catch (error) {
        return problemFor(error);
      }
    };
  };

  return Object.freeze({
    handler,
    checkOrigin: originRefusal,
    cookieName: config.cookieName,
    async authenticate(source: Request | HeaderReader) {
      const isRequest = source instanceof Request;
      const headers = isRequest ? source.headers : source;
      const ip = isRequest ? (clientIp(source) ?? null) : null;
      const resolution = await resolveSession(config, headers.get('cookie'), ip);
      if (resolution.kind === 'throttled') throw new ThrottledError(resolution.retryAfterSeconds);
      return resolution.kind === 'signed-in' ? resolution.auth : null;
    },
  });
}

/** The response with the session cookies appended, or untouched when it is a 5xx (fail closed). */
function withCookies(response: Response, cookies: readonly string[]): Response {
  if (cookies.length === 0 || response.status >= 500) return response;
  let out = response;
  try {
    for (const line of cookies) out.headers.append('Set-Cookie', line);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error; // immutable headers (Response.redirect)
    out = new Response(response.body, response);
    for (const line of cookies) out.headers.append('Set-Cookie', line);
  }
  out.headers.set('Cache-Control', 'no-store');
  return out;
}

function redirect(location: string, cookies: readonly string[]): Response {
  const response = new Response(null, { status: 303, headers: { location } });
  return withCookies(response, cookies);
}
