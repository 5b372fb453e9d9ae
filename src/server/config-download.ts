import type { Reader } from './config-reader.ts';

/** The download part of the server configuration (internal to config.ts, which re-exports it). */

/** Settings of download tokens and of `coatcheck download-server`. */
export interface DownloadConfig {
  /** The download server's origin, the `aud` of download tokens. null: download tokens are off. */
  readonly url: URL | null;
  /** The directory the download server serves and the account page lists. */
  readonly root: string | null;
  /** Download token lifetime. @default 120 (at most 300) */
  readonly tokenTtlSeconds: number;
  /** Port of `coatcheck download-server`. @default 3001 */
  readonly port: number;
  /** Where the download server reads the JWKS. @default `<publicUrl>/.well-known/jwks.json` */
  readonly jwksUrl: URL | null;
  /**
   * A Redis URL for the replay guard shared by several download nodes; null: each node keeps its
   * own in memory (run one node). Secret: may hold a password.
   */
  readonly replayStore: string | null;
}

/** The longest download token lifetime accepted (exp ≤ 5 min: a download token is a short-lived grant). */
export const MAX_DOWNLOAD_TOKEN_TTL_SECONDS = 300;

/**
 * The download settings, checked together: a lifetime of at most 300 s; https for the download
 * server and its JWKS in production; and the download server on a host name of its own, because
 * cookies are not isolated by port (RFC 6265 §8.5): on the app's host it would receive the session
 * cookie, and a file it serves would be same-site with the app.
 */
export function readDownload(
  r: Reader,
  context: { publicUrl: URL | null; production: boolean; warn: ((m: string) => void) | undefined },
): DownloadConfig {
  const { publicUrl, production } = context;
  const url = r.get('downloadUrl', null);
  const ttl = r.get('downloadTokenTtl', 120);
  if (ttl > MAX_DOWNLOAD_TOKEN_TTL_SECONDS) {
    r.problem(
      'downloadTokenTtl',
      `must be at most ${MAX_DOWNLOAD_TOKEN_TTL_SECONDS} s (5m), got ${ttl} s`,
    );
  }
  const jwksUrl = r.get('downloadJwksUrl', null);
  if (production && url !== null && url.protocol !== 'https:') {
    r.problem(
      'downloadUrl',
      `must be https when NODE_ENV=production, got ${JSON.stringify(url.origin)}`,
    );
  }
  if (production && jwksUrl !== null && jwksUrl.protocol !== 'https:') {
    r.problem(
      'downloadJwksUrl',
      'must be https when NODE_ENV=production (keys fetched over http can be swapped)',
    );
  }
  if (url !== null && publicUrl !== null && url.hostname === publicUrl.hostname) {
    const why =
      "must be on a host name of its own, not the app's (cookies are not isolated by port; see docs/forward-auth.md)";
    if (production) r.problem('downloadUrl', why);
    else context.warn?.(`COATCHECK_DOWNLOAD_URL ${why}`);
  }
  return {
    url,
    root: r.path('downloadRoot', null),
    tokenTtlSeconds: ttl,
    port: r.get('downloadPort', 3001),
    jwksUrl: jwksUrl ?? (publicUrl === null ? null : new URL('/.well-known/jwks.json', publicUrl)),
    replayStore: r.get('downloadReplayStore', null),
  };
}
