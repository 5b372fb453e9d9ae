/**
 * A download URL carries its token in the query (a documented deviation from ASVS 5.0 V14.2.1:
 * the token is single-use, short-lived, bound to one file, and the response says no-referrer and
 * no-store). Whatever logs a request target masks it first.
 */

/**
 * `target` with the value of every query parameter named `token` replaced by `[redacted]`. The
 * name is compared as the server reads it (percent-decoded, `+` as space) and in any case, so
 * `?%74oken=…` is masked too.
 */
export function maskTokens(target: string): string {
  const start = target.indexOf('?');
  if (start === -1) return target;
  const hash = target.indexOf('#', start);
  const end = hash === -1 ? target.length : hash;
  const query = target.slice(start + 1, end).replace(/[^&;]+/g, (pair) => {
    const eq = pair.indexOf('=');
    if (eq === -1 || decodedName(pair.slice(0, eq)).toLowerCase() !== 'token') return pair;
    return `${pair.slice(0, eq)}=[redacted]`;
  });
  return `${target.slice(0, start + 1)}${query}${target.slice(end)}`;
}

/** A query parameter's name as URLSearchParams decodes it (leniently: it never throws). */
function decodedName(raw: string): string {
  return new URLSearchParams(`${raw}=`).keys().next().value ?? '';
}
