import { randomBytes } from 'node:crypto';
import type { SessionUser } from '../core/store.ts';
import type { SigningKeys } from './keys.ts';

/**
 * The identity assertion forward-auth may hand to internal services (`X-Auth-Identity`): who the
 * caller is, signed, for one audience, for at most 60 s. A service that verifies it (EdDSA, the
 * JWKS, `typ: identity+jwt`, its own audience) need not trust the proxy's plain headers. Its `typ`
 * keeps it from passing as a download token, and the other way round (RFC 8725 §3.11).
 */

/** The JWS `typ` of identity assertions. */
export const IDENTITY_TOKEN_TYPE = 'identity+jwt';
/** Lifetime of an identity assertion. */
export const IDENTITY_TTL_SECONDS = 60;

/** The claims of an identity assertion. */
export interface IdentityClaims {
  readonly iss: string;
  readonly aud: string;
  /** The user id. */
  readonly sub: string;
  readonly email: string;
  readonly roles: readonly string[];
  readonly sid: string;
  readonly jti: string;
  readonly iat: number;
  readonly exp: number;
}

/** Mints an identity assertion for `user` valid for 60 s from `now` (epoch ms). */
export function issueIdentityToken(
  keys: SigningKeys,
  request: {
    readonly issuer: string;
    readonly audience: string;
    readonly user: SessionUser;
    readonly sessionId: string;
    readonly now?: number;
  },
): Promise<string> {
  const iat = Math.floor((request.now ?? Date.now()) / 1000);
  const claims: IdentityClaims = {
    iss: request.issuer,
    aud: request.audience,
    sub: request.user.id,
    email: request.user.email,
    roles: [...request.user.roles],
    sid: request.sessionId,
    jti: randomBytes(16).toString('base64url'),
    iat,
    exp: iat + IDENTITY_TTL_SECONDS,
  };
  return keys.sign({ ...claims, roles: [...claims.roles] }, { typ: IDENTITY_TOKEN_TYPE });
}
