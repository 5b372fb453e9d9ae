/**
 * A download URL carries its token in the query (a documented deviation from ASVS 5.0 V14.2.1:
 * the token is single-use, short-lived, bound to one file, and the response says no-referrer and
 * no-store). Whatever logs a request target masks it first.
 */

const TOKEN_PARAM = /([?&;]token=)[^&#;]*/gi;

/** `target` with every `token=` query value replaced by `[redacted]`. */
export function maskTokens(target: string): string {
  return target.replace(TOKEN_PARAM, '$1[redacted]');
}
