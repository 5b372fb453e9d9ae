import type { PolicyOptions } from '../core/policy.ts';

/** The resolved, validated server configuration (frozen). Secrets are never logged. */
export interface ServerConfig {
  /** @default 3000 (COATCHECK_PORT, or PORT) */
  readonly port: number;
  /** @default '0.0.0.0'... see loadConfig */
  readonly host: string;
  /** Where the SQLite file lives. @default './data' */
  readonly dataDir: string;
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
  /** First start only: create this admin when there are no users. */
  readonly bootstrapAdmin: { readonly email: string; readonly password: string } | null;
  readonly production: boolean;
}

/** A development configuration for tests and `createApp` callers; override what you need. */
export function testConfig(overrides: Partial<ServerConfig> = {}): ServerConfig {
  const config: ServerConfig = {
    port: 0,
    host: '127.0.0.1',
    dataDir: './data',
    publicUrl: null,
    trustedOrigins: [],
    trustedProxies: [],
    session: {},
    cookie: { name: 'coatcheck', sameSite: 'lax', secure: true },
    bearerTransport: false,
    bodyLimitBytes: 16_384,
    logLevel: 'silent',
    bootstrapAdmin: null,
    production: false,
    ...overrides,
  };
  return Object.freeze(config);
}
