import type { Context } from 'hono';

/**
 * Applies `edit` to the final response's headers. A Response built with `Response.redirect()` or
 * taken from `fetch()` has immutable headers; it is then copied once so the edit still lands (a
 * security header must never be skipped because of how a handler built its response).
 */
export function editHeaders(c: Context, edit: (headers: Headers) => void): void {
  try {
    edit(c.res.headers);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    c.res = new Response(c.res.body, c.res);
    edit(c.res.headers);
  }
}
