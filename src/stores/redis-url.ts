import { ConfigError } from '../core/errors.ts';

/**
 * The Redis store URLs, read without loading the Redis driver (the server's config checks them
 * with the same code the stores parse them with):
 * - `redis://` / `rediss://[user:pass@]host:port[/db]`: one server (createClient);
 * - `redis+sentinel://` / `rediss+sentinel://[user:pass@]host:port,host:port/<master name>`:
 *   the master that the Sentinels name (createSentinel; credentials are the data nodes');
 * - `redis+cluster://` / `rediss+cluster://[user:pass@]host:port,host:port`: a Cluster discovered
 *   from these root nodes (createCluster).
 */

/** A parsed store URL. */
export type RedisTarget =
  | { readonly kind: 'standalone'; readonly url: string }
  | {
      readonly kind: 'sentinel' | 'cluster';
      readonly tls: boolean;
      readonly hosts: readonly { readonly host: string; readonly port: number }[];
      readonly username?: string;
      readonly password?: string;
      /** Sentinel only: the monitored master's name. */
      readonly name: string;
    };

/** The Redis URL forms, named in every refusal of one. */
const REDIS_FORMS =
  'must be a redis://, rediss://, redis+sentinel://host:port,…/<master> or ' +
  'redis+cluster://host:port,… URL';
const ENCODING_HINT =
  'the user name, password and master name must be percent-encoded (e.g. @ as %40, % as %25)';
/** `scheme+kind://[user:pass@]host[:port],…[/path]`; user info ends at the FIRST @. */
const MULTI = /^(rediss?)\+(sentinel|cluster):\/\/(?:([^@/]*)@)?([^/?#]+)(?:\/([^?#]*))?$/;
const HOST_PORT = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/i;

/**
 * Why a Redis store could not use this URL, or null. Never quotes any part of it. `redis://`
 * URLs are checked as node-redis reads them (WHATWG URL); the others as parseRedisUrl does.
 */
export function redisUrlProblem(text: string): string | null {
  const scheme = /^rediss?(?:\+(sentinel|cluster))?:\/\//.exec(text);
  if (scheme === null || /[\s\p{Cc}]/u.test(text)) return REDIS_FORMS;
  const kind = scheme[1];
  if (kind === undefined) {
    // One server: node-redis reads it with WHATWG URL (user info ends at the LAST @).
    const url = URL.parse(text);
    if (url === null) return `${REDIS_FORMS}: this one is not a valid URL`;
    if (url.hostname === '') return 'must name a host: redis://[user:password@]host[:port][/db]';
    if (!/^\/?\d*$/.test(url.pathname)) {
      return 'may only have a database number as its path, e.g. redis://host:6379/0';
    }
    return decodable(url.username, url.password) ? null : ENCODING_HINT;
  }
  const match = MULTI.exec(text);
  if (match === null) return `${REDIS_FORMS}: this one has a query or #fragment, or no host`;
  const [, , , auth = '', hosts = '', path = ''] = match;
  // User info ends at the FIRST @: a raw @ in the password would become a host name (and the
  // rest of the password part of a connection error message).
  if (hosts.includes('@')) return ENCODING_HINT;
  for (const entry of hosts.split(',')) {
    const hostPort = HOST_PORT.exec(entry.trim());
    const port = Number(hostPort?.[2] ?? 1);
    if (hostPort === null || port < 1 || port > 65_535) {
      const nodes = kind === 'sentinel' ? 'Sentinels' : 'Cluster nodes';
      return `must list its ${nodes} as host:port pairs separated by commas`;
    }
  }
  if (kind === 'sentinel' && path === '') {
    return 'must end with the name of the master the Sentinels monitor: …/<master>';
  }
  return decodable(auth, path) ? null : ENCODING_HINT;
}

/** True when every part is valid percent-encoding (decodeURIComponent would not throw). */
export function decodable(...parts: string[]): boolean {
  try {
    for (const part of parts) decodeURIComponent(part);
    return true;
  } catch {
    return false;
  }
}

/**
 * Parses a store URL; a ConfigError says what is wrong (never echoing a password). A `redis://`
 * URL is handed to node-redis as it is; the others must pass redisUrlProblem.
 */
export function parseRedisUrl(url: string): RedisTarget {
  if (/^rediss?:\/\//.test(url)) return { kind: 'standalone', url };
  const problem = redisUrlProblem(url);
  const match = problem === null ? MULTI.exec(url) : null;
  if (match === null) throw new ConfigError(`The Redis URL ${problem ?? REDIS_FORMS}.`);
  const [, scheme, kind, auth = '', hostList = '', path = ''] = match;
  const hosts = hostList.split(',').map((entry) => {
    const [, host = '', port] = HOST_PORT.exec(entry.trim()) ?? [];
    const fallback = kind === 'sentinel' ? 26379 : 6379;
    return { host: host.replace(/^\[|\]$/g, ''), port: Number(port ?? fallback) };
  });
  const colon = auth.indexOf(':');
  const user = colon < 0 ? auth : auth.slice(0, colon);
  const pass = colon < 0 ? undefined : auth.slice(colon + 1);
  return {
    kind: kind as 'sentinel' | 'cluster',
    tls: scheme === 'rediss',
    hosts,
    name: decodeURIComponent(path),
    ...(user !== '' && { username: decodeURIComponent(user) }),
    ...(pass !== undefined && { password: decodeURIComponent(pass) }),
  };
}
