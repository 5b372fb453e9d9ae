import { join } from 'node:path';
import { Accounts } from '../accounts/accounts.ts';
import { THROTTLE_PRESETS, Throttle } from '../accounts/throttle.ts';
import type { UserStore } from '../accounts/user-store.ts';
import { SessionEngine } from '../core/engine.ts';
import { createOriginCheck, type OriginCheck } from '../core/origin.ts';
import type { AuditLog, SessionStore } from '../core/store.ts';
import { openSqliteStores } from '../stores/sqlite.ts';
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
  /** True when every store answers (for /readyz). Never throws. */
  ready(): Promise<boolean>;
  /** Closes the stores. */
  close(): Promise<void>;
}

/** Builds the services on the embedded SQLite store under `config.dataDir`. */
export function createServices(
  config: ServerConfig,
  options: { logger?: Logger; now?: () => number } = {},
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
