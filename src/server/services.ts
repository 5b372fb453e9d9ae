import { Accounts } from '../accounts/accounts.ts';
import { pwnedPasswordsCheck } from '../accounts/breached.ts';
import { THROTTLE_PRESETS, Throttle } from '../accounts/throttle.ts';
import type { UserStore } from '../accounts/user-store.ts';
import { SessionEngine } from '../core/engine.ts';
import { ConfigError } from '../core/errors.ts';
import { createOriginCheck, type OriginCheck } from '../core/origin.ts';
import type { AuditLog, SessionStore } from '../core/store.ts';
import { createKeySeal } from '../tokens/key-seal.ts';
import { SigningKeys } from '../tokens/keys.ts';
import { type DownloadPolicy, ownFolderPolicy } from '../tokens/resource.ts';
import type { ServerConfig } from './config.ts';
import { createLogger, type Logger } from './logger.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { openServerStores, openSqliteServerStores, type ServerStores } from './stores.ts';

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
  /** Which stores are in use, for the start-up log line (no credentials). */
  readonly storeDescription: string;
  /** True when every store answers (for /readyz). Never throws. */
  ready(): Promise<boolean>;
  /**
   * True while a store outage is being reported (its `store_down` line logged, its `store_up` not
   * yet): the requests failing meanwhile need no error line each.
   */
  inOutage(): boolean;
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

/**
 * Builds the services on the embedded SQLite store under `config.dataDir`, synchronously (tests,
 * embedding). A config naming Redis or PostgreSQL needs `startServer` (openServices inside).
 */
export function createServices(
  config: ServerConfig,
  options: CreateServicesOptions = {},
): Services {
  if (config.sessionStore !== null || config.databaseUrl !== null) {
    throw new ConfigError('createServices opens SQLite only; use startServer for Redis/PostgreSQL');
  }
  return assemble(openSqliteServerStores(config.dataDir), config, options);
}

/** Builds the services on the stores the config names (SQLite, or Redis and/or PostgreSQL). */
export async function openServices(
  config: ServerConfig,
  options: CreateServicesOptions = {},
): Promise<Services> {
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const stores = await openServerStores(
    {
      dataDir: config.dataDir,
      sessionStoreUrl: config.sessionStore,
      databaseUrl: config.databaseUrl,
      nearCache: config.nearCache,
    },
    logger,
  );
  return assemble(stores, config, { ...options, logger });
}

function assemble(stores: ServerStores, config: ServerConfig, options: CreateServicesOptions) {
  const now = options.now ?? Date.now;
  const engine = new SessionEngine({
    store: stores.sessions,
    users: stores.users,
    audit: stores.audit,
    policy: config.session,
    guessLimiter: new Throttle({ ...THROTTLE_PRESETS.tokenGuessPerIp, now }),
    now,
    // Redis: over the pub/sub feed; SQLite: the engine's default, the file's own change probe.
    nearCache: stores.feed ? { feed: stores.feed } : config.nearCache ? {} : false,
  });
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const breachCheck = config.breachedPasswords
    ? pwnedPasswordsCheck({
        url: config.breachedPasswords.href,
        onError: (err) =>
          logger.warn({ event: 'breach_check_failed', err }, 'breached-password check failed'),
      })
    : undefined;
  const accounts = new Accounts({
    users: stores.users,
    engine,
    audit: stores.audit,
    now,
    ...(breachCheck ? { breachCheck } : {}),
  });
  const publicOrigin = config.publicUrl?.origin;
  const secret = config.keysSecret === null ? null : Buffer.from(config.keysSecret, 'base64url');
  const keys = new SigningKeys({ store: stores.keys, seal: createKeySeal(secret), now });
  const services: Services = {
    config,
    engine,
    accounts,
    users: stores.users,
    sessions: stores.sessions,
    audit: stores.audit,
    logger,
    metrics: createMetrics(),
    originCheck: createOriginCheck({
      trustedOrigins: config.trustedOrigins,
      ...(publicOrigin ? { publicOrigin } : {}),
    }),
    keys,
    downloadPolicy: options.downloadPolicy ?? ownFolderPolicy,
    now,
    storeDescription: stores.description,
    ready: () => stores.ready(),
    inOutage: () => stores.inOutage(),
    async close() {
      await engine.close();
      await stores.close();
    },
  };
  return services;
}
