/**
 * A real Coatcheck server for the benchmarks: `startServer` over `openServices` with the
 * production configuration (`loadConfig`, NODE_ENV=production, an https public URL, so the cookie
 * is `__Host-coatcheck` and every security header and the access log are on), on SQLite, Redis
 * or Redis + near cache. Signs up the benchmark user once (nodes sharing a data directory find it)
 * and mints sessions for it on request, without the argon2 cost of a login.
 */
import type { UserRecord } from '../../src/accounts/user-store.ts';
import { loadConfig } from '../../src/server/config.ts';
import { startServer } from '../../src/server/serve.ts';
import type { Credential } from '../lib/child.ts';
import { BENCH_PUBLIC_URL } from '../lib/constants.ts';
import { serve, serverConfig } from './ipc.ts';

/** What the parent asks for. */
export interface CoatcheckServerConfig {
  readonly dataDir: string;
  /** A redis:// URL, or null for SQLite sessions. */
  readonly redisUrl: string | null;
  readonly nearCache: boolean;
  readonly email: string;
  readonly password: string;
  /** @default 'info' (the server's default: one access-log line per request) */
  readonly logLevel?: string;
}

const settings = serverConfig<CoatcheckServerConfig>();
const config = loadConfig({
  env: {
    NODE_ENV: 'production',
    COATCHECK_PORT: '0',
    COATCHECK_HOST: '127.0.0.1',
    COATCHECK_DATA_DIR: settings.dataDir,
    COATCHECK_PUBLIC_URL: BENCH_PUBLIC_URL,
    COATCHECK_LOG_LEVEL: settings.logLevel ?? 'info',
    COATCHECK_KEYS_SECRET: Buffer.alloc(32, 7).toString('base64url'),
    COATCHECK_NEAR_CACHE: String(settings.nearCache),
    ...(settings.redisUrl === null ? {} : { COATCHECK_SESSION_STORE: settings.redisUrl }),
  },
});
const running = await startServer(config);
const { services } = running;

async function benchUser(): Promise<UserRecord> {
  const existing = await services.users.findByEmail(settings.email);
  if (existing) return existing;
  await services.accounts.signup({ email: settings.email, password: settings.password });
  const created = await services.users.findByEmail(settings.email);
  if (!created) throw new Error('bench user missing after sign-up');
  return created;
}

const user = await benchUser();
const mint = async (): Promise<Credential> => {
  const issued = await services.engine.create(user, { ip: '127.0.0.1', userAgent: 'bench' });
  return {
    header: 'cookie',
    value: `${config.cookie.name}=${issued.token}`,
    sessionId: issued.session.id,
  };
};

serve(
  running.url,
  await mint(),
  {
    mint,
    /** Whether the near cache holds `sessionId` right now (the revocation bench warms it). */
    cached: async (args) =>
      services.engine.nearCache?.get(String(args.sessionId), Date.now()) !== undefined,
    /** Creates an account (no client IP: not subject to the sign-up throttle). */
    signup: async (args) => {
      await services.accounts.signup({ email: args.email, password: args.password });
      return true;
    },
    /** Whether the near cache's feed is live. */
    feedLive: async () => services.engine.nearCache?.live ?? false,
  },
  () => running.close(),
);
