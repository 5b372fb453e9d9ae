import { resolve } from 'node:path';
import { sessionCookieName } from '../core/cookie.ts';
import { ConfigError } from '../core/errors.ts';
import type { PolicyOptions } from '../core/policy.ts';
import { type DownloadConfig, readDownload } from './config-download.ts';
import { deepFreeze, KNOWN_ENV, nonEmpty, Reader } from './config-reader.ts';
import { withoutCredentials } from './config-values.ts';

export { type DownloadConfig, MAX_DOWNLOAD_TOKEN_TTL_SECONDS } from './config-download.ts';
export { SETTINGS } from './config-reader.ts';

/** The resolved, validated server configuration (frozen). Secrets are never logged. */
export interface ServerConfig {
  /** @default 3000 (COATCHECK_PORT, or PORT) */
  readonly port: number;
  /** Interface to listen on. @default '127.0.0.1' (containers set 0.0.0.0; see README) */
  readonly host: string;
  /** Where the SQLite file lives (absolute after loadConfig). @default './data' */
  readonly dataDir: string;
  /** Sessions in Redis (redis://, redis+sentinel://, redis+cluster://). null: the embedded store. */
  readonly sessionStore: string | null;
  /** Users, audit events and keys (and sessions without Redis) in PostgreSQL. null: SQLite. */
  readonly databaseUrl: string | null;
  /**
   * Whether validated sessions are cached in-process: the setting (default true) with Redis
   * sessions (invalidated over pub/sub) or the embedded SQLite store (emptied by any commit to
   * the file, by any process); always false with sessions in PostgreSQL (the start-up log says so).
   */
  readonly nearCache: boolean;
  /**
   * The origin users reach the server at (behind a proxy: the proxy's public https origin).
   * Origin checks compare against it; an https URL turns on Secure + the __Host- prefix + HSTS.
   * null: compare against the request's Host header (local development).
   */
  readonly publicUrl: URL | null;
  /** Extra origins allowed to make credentialed cross-origin requests (exact scheme://host[:port]). */
  readonly trustedOrigins: readonly string[];
  /** Peers whose X-Forwarded-For is believed (IP addresses or CIDR ranges). */
  readonly trustedProxies: readonly string[];
  readonly session: PolicyOptions;
  readonly cookie: {
    /** Full cookie name, e.g. `__Host-coatcheck` over HTTPS or `coatcheck` otherwise. */
    readonly name: string;
    readonly sameSite: 'lax' | 'strict';
    readonly secure: boolean;
  };
  /** Opt-in: `{"transport":"bearer"}` logins and `Authorization: Bearer` for native clients. */
  readonly bearerTransport: boolean;
  /** Largest accepted request body in bytes. @default 16384 */
  readonly bodyLimitBytes: number;
  readonly logLevel: string;
  /**
   * The bearer token GET /metrics requires (≥ 32 characters). null: /metrics is off, a 404 like
   * any unknown path (ASVS 5.0 13.4.5). Secret: never logged.
   */
  readonly metricsToken: string | null;
  /**
   * Screens new passwords (sign-up, change) against this Pwned Passwords range API; null: off
   * (only the offline common-password list).
   */
  readonly breachedPasswords: URL | null;
  /** First start only: create this admin when there are no users. */
  readonly bootstrapAdmin: { readonly email: string; readonly password: string } | null;
  readonly production: boolean;
  /**
   * Seals the private signing keys at rest (AES-256-GCM): ≥ 32 bytes, as base64url. null: keys
   * are stored unencrypted (the server warns at start). Secret: never logged.
   */
  readonly keysSecret: string | null;
  /** Download tokens and the download server (src/tokens/download.ts, src/download/). */
  readonly download: DownloadConfig;
  /** When set, /auth/verify adds `X-Auth-Identity`, a 60 s EdDSA JWT with this audience. */
  readonly identityAudience: string | null;
}

/** A development configuration for tests and `createApp` callers; override what you need. */
export function testConfig(overrides: Partial<ServerConfig> = {}): ServerConfig {
  const config: ServerConfig = {
    port: 0,
    host: '127.0.0.1',
    dataDir: './data',
    sessionStore: null,
    databaseUrl: null,
    nearCache: true,
    publicUrl: null,
    trustedOrigins: [],
    trustedProxies: [],
    session: {},
    cookie: { name: 'coatcheck', sameSite: 'lax', secure: true },
    bearerTransport: false,
    bodyLimitBytes: 16_384,
    logLevel: 'silent',
    metricsToken: null,
    breachedPasswords: null,
    bootstrapAdmin: null,
    production: false,
    keysSecret: null,
    download: {
      url: null,
      root: null,
      tokenTtlSeconds: 120,
      port: 0,
      jwksUrl: null,
      replayStore: null,
    },
    identityAudience: null,
    ...overrides,
  };
  return Object.freeze(config);
}

/** Every problem found while loading the configuration, one message each (never a secret). */
export class ServerConfigError extends ConfigError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    const n = problems.length;
    super(
      `Invalid configuration (${n} problem${n === 1 ? '' : 's'}):\n  - ${problems.join('\n  - ')}`,
    );
    this.problems = Object.freeze([...problems]);
  }
}

/** Options of loadConfig. */
export interface LoadConfigOptions {
  /** @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
  /** A JSON config file (the CLI's `--config`); @default env.COATCHECK_CONFIG */
  configPath?: string;
  /** Base of relative paths given in the environment. @default process.cwd() */
  cwd?: string;
  /** Told about ignorable oddities, such as an unknown COATCHECK_* variable (likely a typo). */
  warn?: (message: string) => void;
}

/**
 * Reads every setting from COATCHECK_* variables over an optional JSON file (environment wins),
 * validates all of them and returns a deeply frozen config, or throws ServerConfigError listing
 * every problem at once. Refuses insecure cookie settings over https and in production.
 */
export function loadConfig(options: LoadConfigOptions = {}): ServerConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const r = new Reader(env, cwd);
  const configPath = options.configPath ?? nonEmpty(env.COATCHECK_CONFIG);
  if (configPath !== undefined) {
    r.loadFile(resolve(cwd, configPath), options.configPath ? '--config' : 'COATCHECK_CONFIG');
  }
  for (const name of Object.keys(env)) {
    if (name.startsWith('COATCHECK_') && !KNOWN_ENV.has(name)) {
      options.warn?.(`Ignoring unknown setting ${name} (see the README's Configuration table)`);
    }
  }

  const production = env.NODE_ENV === 'production';
  const publicUrl = r.get('publicUrl', null);
  const https = publicUrl?.protocol === 'https:';
  const secure = r.get('cookieSecure', true);
  const cookieBase = r.get('cookieName', 'coatcheck');
  const sameSite = r.get('cookieSameSite', 'lax');
  // Refuse insecure cookies where they would matter (issue #3): over https and in production.
  if (!secure && (https || production) && r.ok('cookieSecure')) {
    const why = https ? 'with an https public URL' : 'when NODE_ENV=production';
    r.problem('cookieSecure', `must stay true ${why} (the session cookie must be Secure)`);
  }
  if (production && r.ok('publicUrl') && !https) {
    r.problem(
      'publicUrl',
      publicUrl === null
        ? 'is required when NODE_ENV=production: the https:// origin users reach the server at ' +
            '(it gives the session cookie the __Host- prefix and is what origin checks compare)'
        : `must be https when NODE_ENV=production, got ${JSON.stringify(publicUrl.origin)}`,
    );
  }

  const adminEmail = r.get('adminEmail', null);
  const adminPassword = r.get('adminPassword', null);
  if ((adminEmail === null) !== (adminPassword === null) && r.ok('adminEmail', 'adminPassword')) {
    const missing = adminEmail === null ? 'adminEmail' : 'adminPassword';
    r.problem(
      missing,
      "must be set together with the first admin's other setting (email and password)",
    );
  }

  const download = readDownload(r, { publicUrl, production, warn: options.warn });

  const maxSessions = r.get('maxSessionsPerUser', null);
  const session: PolicyOptions = {
    idleTimeoutSeconds: r.get('idleTimeout', 7 * 86_400),
    absoluteLifetimeSeconds: r.get('absoluteLifetime', 30 * 86_400),
    roles: {
      admin: {
        idleTimeoutSeconds: r.get('adminIdleTimeout', 1800),
        absoluteLifetimeSeconds: r.get('adminAbsoluteLifetime', 12 * 3600),
      },
    },
    browserSessionLifetimeSeconds: r.get('browserSessionLifetime', 86_400),
    freshWindowSeconds: r.get('freshWindow', 600),
    renewalIntervalSeconds: r.get('renewalInterval', 60),
    rotationGraceSeconds: r.get('rotationGrace', 30),
    maxSessionsPerUser: maxSessions,
  };

  const sessionStore = r.get('sessionStore', null);
  const databaseUrl = r.get('databaseUrl', null);
  const config: ServerConfig = {
    port: r.get('port', 3000),
    host: r.get('host', '127.0.0.1'),
    dataDir: r.path('dataDir', './data'),
    sessionStore,
    databaseUrl,
    // Redis sessions: over pub/sub; the embedded SQLite store: on the file's own change probe.
    // Sessions in PostgreSQL have neither, so no cache is claimed there.
    nearCache: r.get('nearCache', true) && (sessionStore !== null || databaseUrl === null),
    publicUrl,
    trustedOrigins: r.get('trustedOrigins', []),
    trustedProxies: r.get('trustedProxies', []),
    session,
    cookie: { name: sessionCookieName({ secure: https, base: cookieBase }), sameSite, secure },
    bearerTransport: r.get('bearerTransport', false),
    bodyLimitBytes: r.get('bodyLimit', 16_384),
    logLevel: r.get('logLevel', 'info'),
    metricsToken: r.get('metricsToken', null),
    breachedPasswords: r.get('breachedPasswords', null),
    bootstrapAdmin:
      adminEmail !== null && adminPassword !== null
        ? { email: adminEmail, password: adminPassword }
        : null,
    production,
    keysSecret: r.get('keysSecret', null),
    download,
    identityAudience: r.get('identityAudience', null),
  };
  const problems = r.problems();
  if (problems.length > 0) throw new ServerConfigError(problems);
  return deepFreeze(config);
}

/**
 * The configuration as a plain object for the start-up log line: an allowlist of fields, so the
 * admin password (and any secret added later) never reaches a log.
 */
export function describeConfig(config: ServerConfig): Record<string, unknown> {
  return {
    host: config.host,
    port: config.port,
    dataDir: config.dataDir,
    sessionStore: config.sessionStore === null ? null : withoutCredentials(config.sessionStore),
    databaseUrl: config.databaseUrl === null ? null : withoutCredentials(config.databaseUrl),
    nearCache: config.nearCache,
    publicUrl: config.publicUrl?.origin ?? null,
    trustedOrigins: [...config.trustedOrigins],
    trustedProxies: [...config.trustedProxies],
    session: config.session,
    // Not `cookie`: the logger redacts every `*.cookie` path.
    sessionCookie: { ...config.cookie },
    bearerTransport: config.bearerTransport,
    bodyLimitBytes: config.bodyLimitBytes,
    logLevel: config.logLevel,
    metricsEnabled: config.metricsToken !== null,
    breachedPasswords: config.breachedPasswords?.href ?? null,
    production: config.production,
    bootstrapAdmin: config.bootstrapAdmin === null ? null : { email: config.bootstrapAdmin.email },
    signingKeysEncrypted: config.keysSecret !== null,
    download: {
      url: config.download.url?.origin ?? null,
      root: config.download.root,
      tokenTtlSeconds: config.download.tokenTtlSeconds,
      port: config.download.port,
      jwksUrl: config.download.jwksUrl?.href ?? null,
      replayStore:
        config.download.replayStore === null
          ? null
          : withoutCredentials(config.download.replayStore),
    },
    identityAudience: config.identityAudience,
  };
}
