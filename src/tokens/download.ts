import { randomBytes } from 'node:crypto';
import type { SessionUser } from '../core/store.ts';
import { MAX_TOKEN_LIFETIME_SECONDS, type SigningKeys } from './keys.ts';
import { resourcePath, resourceSegments } from './resource.ts';

/**
 * Download tokens: a short-lived, single-purpose grant from the app (which holds the session) to
 * the download server (which trusts only the signature). An EdDSA JWT whose header says
 * `typ: download+jwt`, so no other kind of token signed by the same keys passes for one
 * (RFC 8725 §3.11), bound to one file, one audience, and used once (the server keeps its `jti`).
 */

/** The JWS `typ` of download tokens. */
export const DOWNLOAD_TOKEN_TYPE = 'download+jwt';
/** Default lifetime of a download token. */
export const DEFAULT_DOWNLOAD_TTL_SECONDS = 120;

/** The claims of a download token (RFC 7519 §4.1 plus `resource` and `sid`). */
export interface DownloadClaims {
  /** The app's public origin. */
  readonly iss: string;
  /** The download server's origin. */
  readonly aud: string;
  /** The user id. */
  readonly sub: string;
  /** The file, relative to the download root (resource.ts). */
  readonly resource: string;
  /** The session that asked for it (for the audit trail; the download server is stateless). */
  readonly sid: string;
  /** 128 random bits: the download server refuses a second use of `(iss, jti)`. */
  readonly jti: string;
  readonly iat: number;
  readonly exp: number;
}

/** What POST /auth/download-tokens answers. */
export interface DownloadGrant {
  /** `<download origin>/files/<resource>?token=<jwt>` */
  readonly url: string;
  readonly token: string;
  /** ISO 8601, UTC. */
  readonly expiresAt: string;
  readonly jti: string;
}

/** What a download token is minted for. */
export interface DownloadRequest {
  readonly issuer: string;
  /** The download server's origin (only its origin is used). */
  readonly downloadUrl: URL;
  readonly user: SessionUser;
  readonly sessionId: string;
  /** Already authorised by the caller's DownloadPolicy. */
  readonly resource: string;
  /** Clamped to 1..300. @default 120 */
  readonly ttlSeconds?: number;
  /** Epoch ms. @default Date.now() */
  readonly now?: number;
}

/**
 * Mints a download token and its URL. The lifetime never exceeds 300 s whatever is asked; a
 * resource that is not a safe relative path throws TypeError (callers validate first).
 */
export async function issueDownloadToken(
  keys: SigningKeys,
  request: DownloadRequest,
): Promise<DownloadGrant> {
  const segments = resourceSegments(request.resource);
  if (segments === null) throw new TypeError('Not a safe resource path.');
  const ttl = Math.min(
    MAX_TOKEN_LIFETIME_SECONDS,
    Math.max(1, Math.floor(request.ttlSeconds ?? DEFAULT_DOWNLOAD_TTL_SECONDS)),
  );
  const iat = Math.floor((request.now ?? Date.now()) / 1000);
  const origin = request.downloadUrl.origin;
  const claims: DownloadClaims = {
    iss: request.issuer,
    aud: origin,
    sub: request.user.id,
    resource: request.resource,
    sid: request.sessionId,
    jti: randomBytes(16).toString('base64url'),
    iat,
    exp: iat + ttl,
  };
  const token = await keys.sign({ ...claims }, { typ: DOWNLOAD_TOKEN_TYPE });
  return {
    url: `${origin}/files/${resourcePath(segments)}?token=${token}`,
    token,
    expiresAt: new Date(claims.exp * 1000).toISOString(),
    jti: claims.jti,
  };
}
