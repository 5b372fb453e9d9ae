import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
  jwtVerify,
} from 'jose';
import { DOWNLOAD_TOKEN_TYPE } from '../tokens/download.ts';
import { MAX_TOKEN_LIFETIME_SECONDS } from '../tokens/keys.ts';

/**
 * Verifying download tokens (RFC 8725, ASVS 5.0 V9): the signature before any claim is used; one
 * algorithm (EdDSA: `none`, HMAC with the public key as secret and every other swap are refused
 * before a key is looked up); keys only from the configured set, chosen by `kid` alone (a `jwk`,
 * `jku`, `x5u` or `x5c` header is never read, so nothing is fetched on a token's say-so); `typ`
 * must be `download+jwt`; `iss` and `aud` must be the configured ones; `exp` is required and at
 * most 300 s after `iat`.
 */

/** A verified download token's claims. */
export interface VerifiedDownload {
  readonly iss: string;
  readonly sub: string;
  readonly resource: string;
  readonly jti: string;
  readonly exp: number;
}

/** The verdict: 401 for a refused token, 503 when the keys cannot be read (fail closed). */
export type DownloadVerdict =
  | { readonly ok: true; readonly claims: VerifiedDownload }
  | { readonly ok: false; readonly status: 401 | 503; readonly reason: string };

/**
 * Where the public keys come from: a JWKS URL or a local key set. A fetched set is used for up to
 * `jwksCacheMaxAgeMs` (default 60 000, the app's `max-age`), so a key the app revoked
 * (`coatcheck keys rotate --revoke`) is refused within a minute; a token with an unknown kid
 * triggers a refetch at most every `jwksCooldownMs` (default 5000), so a rotated-in key is picked
 * up within seconds.
 */
export type KeySource =
  | {
      readonly jwksUrl: string | URL;
      readonly jwksCooldownMs?: number;
      readonly jwksCacheMaxAgeMs?: number;
    }
  | { readonly keys: JSONWebKeySet };

/** Options of createDownloadVerifier. */
export type DownloadVerifierOptions = KeySource & {
  /** The app's public origin: the only accepted `iss`. */
  readonly issuer: string;
  /** This download server's origin: the only accepted `aud`. */
  readonly audience: string;
  /** @default Date.now */
  readonly now?: () => number;
  /** Clock skew allowed on exp and iat, in seconds. @default 5 */
  readonly clockToleranceSeconds?: number;
};

/** A key id as Coatcheck mints them (RFC 7638 thumbprints): base64url, bounded. */
const KID = /^[A-Za-z0-9_-]{1,128}$/;
/** The key set could not be read: says nothing about the token, so 503 (fail closed), not 401. */
class KeysUnavailable extends Error {}

/** Builds the verifier once; `verify` never throws. */
export function createDownloadVerifier(options: DownloadVerifierOptions) {
  const now = options.now ?? Date.now;
  const tolerance = options.clockToleranceSeconds ?? 5;
  const keySet: JWTVerifyGetKey =
    'jwksUrl' in options
      ? createRemoteJWKSet(new URL(options.jwksUrl), {
          timeoutDuration: 5000,
          cooldownDuration: options.jwksCooldownMs ?? 5000,
          cacheMaxAge: options.jwksCacheMaxAgeMs ?? 60_000,
        })
      : createLocalJWKSet(options.keys);
  // Only `kid` (and the pinned alg) choose a key: a token without a well-formed kid has none.
  const getKey: JWTVerifyGetKey = async (header, token) => {
    if (typeof header.kid !== 'string' || !KID.test(header.kid)) {
      throw new errors.JWKSNoMatchingKey();
    }
    try {
      return await keySet({ alg: header.alg, kid: header.kid }, token);
    } catch (error) {
      // No key for this kid is the token's fault (401). Anything else is the key set failing to
      // load: a refused connection, a timeout (JWKSTimeout), a status other than 200 or a body
      // that is not JSON (jose's plain JOSEError, ERR_JOSE_GENERIC), JSON that is no key set
      // (JWKSInvalid). The alg is pinned before the key is looked up, so nothing here is the token.
      if (error instanceof errors.JWKSNoMatchingKey) throw error;
      if (error instanceof errors.JWKSMultipleMatchingKeys) throw error;
      throw new KeysUnavailable('The JSON Web Key Set could not be read.', { cause: error });
    }
  };

  const verify = async (token: string): Promise<DownloadVerdict> => {
    try {
      const { payload } = await jwtVerify(token, getKey, {
        algorithms: ['EdDSA'],
        typ: DOWNLOAD_TOKEN_TYPE,
        issuer: options.issuer,
        audience: options.audience,
        requiredClaims: ['exp', 'iat', 'jti', 'sub', 'resource'],
        maxTokenAge: MAX_TOKEN_LIFETIME_SECONDS,
        clockTolerance: tolerance,
        currentDate: new Date(now()),
      });
      const { iss, sub, resource, jti, exp, iat } = payload;
      if (
        typeof iss !== 'string' ||
        typeof sub !== 'string' ||
        typeof resource !== 'string' ||
        typeof jti !== 'string' ||
        jti.length < 16 ||
        jti.length > 128 ||
        typeof exp !== 'number' ||
        typeof iat !== 'number' ||
        exp - iat > MAX_TOKEN_LIFETIME_SECONDS
      ) {
        return { ok: false, status: 401, reason: 'bad_claims' };
      }
      return { ok: true, claims: { iss, sub, resource, jti, exp } };
    } catch (error) {
      if (error instanceof KeysUnavailable || !(error instanceof errors.JOSEError)) {
        return { ok: false, status: 503, reason: 'keys_unavailable' };
      }
      return { ok: false, status: 401, reason: reasonOf(error) };
    }
  };

  return Object.freeze({ verify });
}

/** A short, bounded log label for a refused token. */
function reasonOf(error: InstanceType<typeof errors.JOSEError>): string {
  if (error instanceof errors.JWTClaimValidationFailed) return `claim_${error.claim}`;
  return error.code.replace(/^ERR_/, '').toLowerCase();
}
