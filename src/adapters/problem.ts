import { CoatcheckError, StoreUnavailableError } from '../core/errors.ts';
import { type Problem, toProblem } from '../core/problem.ts';

/**
 * Refusals as RFC 9457 problem details, the same shape the standalone server sends, so an app
 * behaves alike whichever adapter it uses. 5xx details are generic: the cause (a store's message)
 * belongs in the app's log, never in a response.
 */

/** A problem response in framework-neutral form. */
export interface ProblemReply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Problem;
}

const SERVER_SIDE_DETAIL = {
  store_unavailable: 'The service is temporarily unavailable. Try again shortly.',
  other: 'Something went wrong on our side.',
} as const;

/** Status, headers (content type, no-store, Retry-After when throttled) and body for `error`. */
export function problemReply(error: unknown): ProblemReply {
  const body = toProblem(error);
  if (body.status >= 500) {
    body.detail =
      body.code === 'store_unavailable'
        ? SERVER_SIDE_DETAIL.store_unavailable
        : SERVER_SIDE_DETAIL.other;
  }
  const headers: Record<string, string> = {
    'content-type': 'application/problem+json',
    'cache-control': 'no-store',
  };
  if (body.retryAfter !== undefined) headers['retry-after'] = String(body.retryAfter);
  return { status: body.status, headers, body };
}

/** A Web Response for `error` (see problemReply). */
export function problemResponse(error: unknown): Response {
  const { status, headers, body } = problemReply(error);
  return new Response(JSON.stringify(body), { status, headers });
}

/**
 * A CoatcheckError a wrapped handler threw, as its problem response (a store failure told to
 * `onError`); anything else rethrown, for the runtime's or the framework's own error handling.
 */
export function thrownProblem(error: unknown, onError: (error: unknown) => void): Response {
  if (!(error instanceof CoatcheckError)) throw error;
  if (error instanceof StoreUnavailableError) onError(error);
  return problemResponse(error);
}

/**
 * The status Express's (finalhandler) and Fastify's default error handlers answer `error` with:
 * its `status` or `statusCode` when 4xx-5xx, else the response's own status when 4xx-5xx, else 500.
 */
export function defaultErrorStatus(error: unknown, responseStatus: number): number {
  const { status, statusCode } = (error ?? {}) as { status?: unknown; statusCode?: unknown };
  for (const code of [status, statusCode, responseStatus]) {
    if (typeof code === 'number' && code >= 400 && code <= 599) return code;
  }
  return 500;
}

/**
 * The Set-Cookie lines of a Node response with `line` added, dropping any earlier line for the same
 * cookie (a clearing cookie queued for a refused token must not follow the new session's cookie).
 */
export function replaceSetCookie(
  existing: string | number | readonly string[] | undefined,
  line: string,
): string[] {
  const name = line.slice(0, line.indexOf('=') + 1);
  let lines: readonly string[] = [];
  if (typeof existing === 'object') lines = existing;
  else if (existing !== undefined) lines = [String(existing)];
  return [...lines.filter((l) => !l.startsWith(name)), line];
}
