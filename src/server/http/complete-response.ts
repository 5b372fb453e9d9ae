import type { Context } from 'hono';
import type { ServerConfig } from '../config.ts';
import type { AppEnv } from '../context.ts';
import { securityHeaderList } from './security-headers.ts';

/**
 * Responses built with every header the middleware would add after the handler (the security
 * headers, `Cache-Control: no-store`, `Vary: Origin`, `X-Request-Id`), as a plain object. The
 * middleware then leaves them alone instead of editing them through a `Headers` object: on the
 * hot route (GET /auth/session) those after-the-fact edits cost ~15% of the server's CPU
 * (profiled in bench/: undici's per-header validation, then @hono/node-server converting the
 * `Headers` back for Node), where a plain object goes straight to `writeHead`.
 *
 * Safe by construction: only the exact Response object built here is recognised (a WeakSet of
 * them); anything that replaces or wraps it (Hono merging earlier `c.header()` calls, an error
 * handler, a HEAD rewrite) yields another object, which gets the usual edits.
 */

const complete = new WeakSet<Response>();

/** True for a Response built by a CompleteResponses of this process (headers already final). */
export function isComplete(response: Response): boolean {
  return complete.has(response);
}

/** Builds complete responses for one configuration (the header set is computed once). */
export class CompleteResponses {
  readonly #base: Readonly<Record<string, string>>;

  constructor(config: Pick<ServerConfig, 'download' | 'publicUrl'>) {
    const base: Record<string, string> = {};
    for (const [name, value] of securityHeaderList(config)) base[name.toLowerCase()] = value;
    base['cache-control'] = 'no-store';
    base.vary = 'Origin';
    this.#base = Object.freeze(base);
  }

  /**
   * A JSON response carrying the final header set. Only for handlers that set no header of their
   * own (use `c.json` otherwise: this one would not carry them).
   */
  json(c: Context<AppEnv>, body: string, status = 200): Response {
    const response = new Response(body, {
      status,
      headers: {
        ...this.#base,
        'content-type': 'application/json',
        'x-request-id': c.get('requestId'),
      },
    });
    complete.add(response);
    return response;
  }
}
