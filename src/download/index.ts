/**
 * `coatcheck/download`: the download server, to run with `coatcheck download-server` or to embed
 * (`createDownloadServer(...).fetch` is a Web-standard handler; `.listen()` runs it on node:http),
 * and, for an app built on the library, what mints the tokens it accepts: SigningKeys over a key
 * store (memory here; SqliteKeyStore and PostgresKeyStore from their entry points), the JWKS they
 * publish, and issueDownloadToken.
 * It loads no database driver unless asked (createRedisReplayGuard): it needs the directory to
 * serve, the app's public keys (a JWKS URL or a local key set), the issuer and audience to expect,
 * and a replay guard (in memory for one node, Redis for several).
 */

export {
  DEFAULT_DOWNLOAD_TTL_SECONDS,
  DOWNLOAD_TOKEN_TYPE,
  type DownloadClaims,
  type DownloadGrant,
  type DownloadRequest,
  issueDownloadToken,
} from '../tokens/download.ts';
export { IDENTITY_TOKEN_TYPE, type IdentityClaims } from '../tokens/identity.ts';
export { createKeySeal, decodeKeysSecret, type KeySeal } from '../tokens/key-seal.ts';
export {
  type KeyStore,
  MemoryKeyStore,
  type PublicOkpJwk,
  type SigningKeyRecord,
} from '../tokens/key-store.ts';
export {
  type KeyInfo,
  MAX_TOKEN_LIFETIME_SECONDS,
  type PublishedJwk,
  type RotateOptions,
  type RotateResult,
  SigningKeys,
  type SigningKeysOptions,
} from '../tokens/keys.ts';
export { attachmentDisposition, filesPathSegments, mediaType } from './files.ts';
export { maskTokens } from './log-mask.ts';
export { decideRange, type RangeDecision } from './range.ts';
export {
  MemoryReplayGuard,
  type MemoryReplayGuardOptions,
  type ReplayEntry,
  type ReplayGuard,
} from './replay.ts';
export type { RedisReplayGuardOptions } from './replay-redis.ts';
export {
  createDownloadServer,
  type DownloadLogEntry,
  type DownloadServer,
  type DownloadServerOptions,
  type ListeningDownloadServer,
} from './server.ts';
export {
  createDownloadVerifier,
  type DownloadVerdict,
  type DownloadVerifierOptions,
  type KeySource,
  type VerifiedDownload,
} from './verify.ts';

/**
 * A replay guard shared by several download nodes through Redis (see replay-redis.ts). The Redis
 * driver is loaded only when this is called, so importing `coatcheck/download` loads none.
 */
export async function createRedisReplayGuard(
  url: string,
  options: import('./replay-redis.ts').RedisReplayGuardOptions = {},
): Promise<import('./replay.ts').ReplayGuard> {
  const { createRedisReplayGuard: create } = await import('./replay-redis.ts');
  return create(url, options);
}
