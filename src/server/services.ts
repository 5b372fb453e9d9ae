import { join } from 'node:path';
import { Accounts } from '../accounts/accounts.ts';
import { THROTTLE_PRESETS, Throttle } from '../accounts/throttle.ts';
import type { UserStore } from '../accounts/user-store.ts';
import { SessionEngine } from '../core/engine.ts';
import { createOriginCheck, type OriginCheck } from '../core/origin.ts';
import type { AuditLog, SessionStore } from '../core/store.ts';
import { openSqliteStores } from '../stores/sqlite.ts';
import { SqliteKeyStore } from '../stores/sqlite-keys.ts';
import { createKeySeal } from '../tokens/key-seal.ts';
import { SigningKeys } from '../tokens/keys.ts';
import { type DownloadPolicy, ownFolderPolicy } from '../tokens/resource.ts';
import type { ServerConfig } from './config.ts';
import { createLogger, type Logger } from './logger.ts';
import { createMetrics, type Metrics } from './metrics.ts';

/** Everything the HTTP layer needs, built once at start-up. The app knows no particular store. */
export interface Services {
  readonly config: ServerConfig;
  readonly engine: SessionEngine;
  readonly accounts: Accounts;
  readonly users: UserStore;
  readonly sessions: SessionStore;
  readonly audit: AuditLog;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly originCheck: OriginCheck;
  /** The Ed25519 keys of download tokens and identity assertions (published as JWKS). */
  readonly keys: SigningKeys;
  /** Who may download what (POST /auth/download-tokens, the account page's Files). */
  readonly downloadPolicy: DownloadPolicy;
  /** The services' clock, epoch ms (tests inject one). */
  readonly now: () => number;
  /** True when every store answers (for /readyz). Never throws. */
  ready(): Promise<boolean>;
  /** Closes the stores. */
  close(): Promise<void>;
}

/** Options of createServices. */
export interface CreateServicesOptions {
  /** @default a pino logger at `config.logLevel` */
  logger?: Logger;
  /** @default Date.now */
  now?: () => number;
  /** @default ownFolderPolicy: the user's own folder and `public/` */
  downloadPolicy?: DownloadPolicy;
}

/** Builds the services on the embedded SQLite store under `config.dataDir`. */
export function createServices(
  config: ServerConfig,
  options: CreateServicesOptions = {},
): Services {
  const stores = openSqliteStores(join(config.dataDir, 'coatcheck.db'));
  const now = options.now ?? Date.now;
  const engine = new SessionEngine({
    store: stores.sessions,
    users: stores.users,
    audit: stores.audit,
    policy: config.session,
    guessLimiter: new Throttle({ ...THROTTLE_PRESETS.tokenGuessPerIp, now }),
    now,
  });
  const accounts = new Accounts({ users: stores.users, engine, audit: stores.audit, now });
  const publicOrigin = config.publicUrl?.origin;
  const secret = config.keysSecret === null ? null : Buffer.from(config.keysSecret, 'base64url');
  const keys = new SigningKeys({
    store: new SqliteKeyStore(stores.db),
    seal: createKeySeal(secret),
    now,
  });
  return {
    config,
    engine,
    accounts,
    users: stores.users,
    sessions: stores.sessions,
    audit: stores.audit,
    logger: options.logger ?? createLogger({ level: config.logLevel }),
    metrics: createMetrics(),
    originCheck: createOriginCheck({
      trustedOrigins: config.trustedOrigins,
      ...(publicOrigin ? { publicOrigin } : {}),
    }),
    keys,
    downloadPolicy: options.downloadPolicy ?? ownFolderPolicy,
    now,
    async ready() {
      try {
        await stores.users.count();
        return true;
      } catch {
        return false;
      }
    },
    close: () => stores.close(),
  };
}
