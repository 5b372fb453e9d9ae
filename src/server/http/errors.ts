import type { Context, ErrorHandler, Hono, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import {
  CoatcheckError,
  type ErrorCode,
  MethodNotAllowedError,
  NotFoundError,
} from '../../core/errors.ts';
import { toProblem } from '../../core/problem.ts';
import type { AppEnv } from '../context.ts';
import type { Services } from '../services.ts';
import { editHeaders } from './edit-headers.ts';

/**
 * Every error becomes an RFC 9457 problem (`application/problem+json`) with a stable `code`.
 * Unexpected errors are a 500 `internal_error` that reveals nothing; their cause goes to the log.
 */

/** Status codes a framework HTTPException may carry, mapped onto our stable codes. */
const HTTP_EXCEPTION_CODES: Readonly<Record<number, ErrorCode>> = {
  400: 'invalid_input',
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'too_many_requests',
  503: 'store_unavailable',
};

/** What a 5xx says: the cause (a store's message, a config detail) stays in the log. */
const SERVER_SIDE_DETAIL: Partial<Record<ErrorCode, string>> = {
  store_unavailable: 'The service is temporarily unavailable. Try again shortly.',
};

/** The problem response for `error` (Retry-After included when throttled). */
export function problemResponse(c: Context, error: unknown): Response {
  const problem = toProblem(error);
  if (problem.status >= 500) {
    problem.detail = SERVER_SIDE_DETAIL[problem.code] ?? 'Something went wrong on our side.';
  }
  const headers: Record<string, string> = { 'Content-Type': 'application/problem+json' };
  if (problem.retryAfter !== undefined) headers['Retry-After'] = String(problem.retryAfter);
  return c.json(problem, problem.status as ContentfulStatusCode, headers);
}

/**
 * app.onError: a problem for every thrown error; 5xx causes logged with pino's err serializer, at
 * error, except a store failure during a reported outage: its `store_down` line already says what
 * is wrong, once per outage (issue #4), so each request failing meanwhile is logged at debug.
 */
export function errorHandler(
  services: Pick<Services, 'logger'> & Partial<Pick<Services, 'inOutage'>>,
): ErrorHandler<AppEnv> {
  return (err, c) => {
    const error = err instanceof HTTPException ? fromHttpException(err) : err;
    const response = problemResponse(c, error);
    if (response.status >= 500) {
      const code = error instanceof CoatcheckError ? error.code : 'internal_error';
      const level = code === 'store_unavailable' && services.inOutage?.() ? 'debug' : 'error';
      services.logger[level]({ err, code, requestId: c.get('requestId') }, 'request failed');
    }
    return response;
  };
}

/** app.notFound: 404 problem. */
export const notFoundHandler: NotFoundHandler<AppEnv> = (c) =>
  problemResponse(c, new NotFoundError());

/**
 * Fail closed on server errors, a step of the envelope (envelope.ts): a 5xx never carries
 * Set-Cookie, so a store outage can neither sign anyone in nor sign them out (their cookie stays
 * for when the store is back).
 */
export function failClosed(c: Context): void {
  if (c.res.status >= 500 && c.res.headers.has('Set-Cookie')) {
    editHeaders(c, (headers) => headers.delete('Set-Cookie'));
  }
}

/**
 * Answers 405 `method_not_allowed` with an `Allow` header on every path routed so far, for the
 * methods it has no handler for (RFC 9110 §15.5.6), e.g. `GET /auth/logout`. Call it once,
 * after every route is registered; unknown paths stay 404.
 */
export function refuseOtherMethods(app: Hono<AppEnv>): void {
  const allowed = new Map<string, Set<string>>();
  for (const route of app.routes) {
    if (route.method === 'ALL' || route.path.includes('*')) continue;
    const methods = allowed.get(route.path) ?? new Set<string>();
    methods.add(route.method);
    if (methods.has('GET')) methods.add('HEAD');
    allowed.set(route.path, methods);
  }
  for (const [path, methods] of allowed) {
    const allow = [...methods].join(', ');
    app.all(path, (c) => {
      c.header('Allow', allow);
      throw new MethodNotAllowedError();
    });
  }
}

function fromHttpException(err: HTTPException): unknown {
  const code = HTTP_EXCEPTION_CODES[err.status];
  return code === undefined ? err : new CoatcheckError(code, err.message || 'Request refused.');
}
