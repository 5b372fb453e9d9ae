import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import {
  BadValue,
  parseAudience,
  parseBoolean,
  parseBreachedPasswords,
  parseByteSize,
  parseCookieBase,
  parseDatabaseUrl,
  parseDuration,
  parseEmail,
  parseHost,
  parseHttpUrl,
  parseKeysSecret,
  parseLogLevel,
  parseMetricsToken,
  parseOrigins,
  parsePassword,
  parsePath,
  parsePort,
  parsePositiveInt,
  parseProxies,
  parsePublicUrl,
  parseSameSite,
  parseSessionStoreUrl,
} from './config-values.ts';

/**
 * Where each setting comes from (internal to config.ts): the environment first, then the JSON
 * config file, each value parsed by config-values.ts, every problem collected rather than thrown.
 */

const setting = <T>(env: readonly string[], parse: (raw: unknown) => T) => ({ env, parse });

/**
 * Every setting: its config-file key, its environment variables (first set one wins) and its
 * parser. The README's Configuration table lists the same set (a test checks they match).
 */
export const SETTINGS = Object.freeze({
  port: setting(['COATCHECK_PORT', 'PORT'], parsePort),
  host: setting(['COATCHECK_HOST'], parseHost),
  dataDir: setting(['COATCHECK_DATA_DIR'], parsePath),
  sessionStore: setting(['COATCHECK_SESSION_STORE'], parseSessionStoreUrl),
  databaseUrl: setting(['COATCHECK_DATABASE_URL'], parseDatabaseUrl),
  nearCache: setting(['COATCHECK_NEAR_CACHE'], parseBoolean),
  publicUrl: setting(['COATCHECK_PUBLIC_URL'], parsePublicUrl),
  trustedOrigins: setting(['COATCHECK_TRUSTED_ORIGINS'], parseOrigins),
  trustedProxies: setting(['COATCHECK_TRUSTED_PROXIES'], parseProxies),
  idleTimeout: setting(['COATCHECK_IDLE_TIMEOUT'], parseDuration),
  absoluteLifetime: setting(['COATCHECK_ABSOLUTE_LIFETIME'], parseDuration),
  adminIdleTimeout: setting(['COATCHECK_ADMIN_IDLE_TIMEOUT'], parseDuration),
  adminAbsoluteLifetime: setting(['COATCHECK_ADMIN_ABSOLUTE_LIFETIME'], parseDuration),
  browserSessionLifetime: setting(['COATCHECK_BROWSER_SESSION_LIFETIME'], parseDuration),
  freshWindow: setting(['COATCHECK_FRESH_WINDOW'], parseDuration),
  renewalInterval: setting(['COATCHECK_RENEWAL_INTERVAL'], parseDuration),
  rotationGrace: setting(['COATCHECK_ROTATION_GRACE'], parseDuration),
  maxSessionsPerUser: setting(['COATCHECK_MAX_SESSIONS_PER_USER'], parsePositiveInt),
  cookieName: setting(['COATCHECK_COOKIE_NAME'], parseCookieBase),
  cookieSameSite: setting(['COATCHECK_COOKIE_SAMESITE'], parseSameSite),
  cookieSecure: setting(['COATCHECK_COOKIE_SECURE'], parseBoolean),
  bearerTransport: setting(['COATCHECK_BEARER_TRANSPORT'], parseBoolean),
  bodyLimit: setting(['COATCHECK_BODY_LIMIT'], parseByteSize),
  logLevel: setting(['COATCHECK_LOG_LEVEL'], parseLogLevel),
  metricsToken: setting(['COATCHECK_METRICS_TOKEN'], parseMetricsToken),
  adminEmail: setting(['COATCHECK_ADMIN_EMAIL'], parseEmail),
  adminPassword: setting(['COATCHECK_ADMIN_PASSWORD'], parsePassword),
  breachedPasswords: setting(['COATCHECK_BREACHED_PASSWORDS'], parseBreachedPasswords),
  keysSecret: setting(['COATCHECK_KEYS_SECRET'], parseKeysSecret),
  downloadUrl: setting(['COATCHECK_DOWNLOAD_URL'], parsePublicUrl),
  downloadRoot: setting(['COATCHECK_DOWNLOAD_ROOT'], parsePath),
  downloadTokenTtl: setting(['COATCHECK_DOWNLOAD_TOKEN_TTL'], parseDuration),
  downloadPort: setting(['COATCHECK_DOWNLOAD_PORT'], parsePort),
  downloadJwksUrl: setting(['COATCHECK_DOWNLOAD_JWKS_URL'], parseHttpUrl),
  identityAudience: setting(['COATCHECK_IDENTITY_AUDIENCE'], parseAudience),
  downloadReplayStore: setting(['COATCHECK_DOWNLOAD_REPLAY_STORE'], parseSessionStoreUrl),
});

/** A setting's name, which is also its key in a config file. */
export type Key = keyof typeof SETTINGS;
const KEYS = Object.keys(SETTINGS) as Key[];
type Value<K extends Key> = ReturnType<(typeof SETTINGS)[K]['parse']>;

/** Variables read besides SETTINGS: not warned about as unknown. */
const OTHER_ENV = new Set(['COATCHECK_CONFIG', 'COATCHECK_PASSWORD']);
/** Every COATCHECK_* (and PORT) variable Coatcheck reads; others are reported as likely typos. */
export const KNOWN_ENV = new Set([...Object.values(SETTINGS).flatMap((s) => s.env), ...OTHER_ENV]);

/** Finds each setting in the environment or the file, collecting one problem per bad value. */
export class Reader {
  /** Problems ranked by their setting's place in SETTINGS (file problems first): table order. */
  readonly #problems: { rank: number; text: string }[] = [];
  readonly #failed = new Set<Key>();
  readonly #env: Readonly<Record<string, string | undefined>>;
  readonly #cwd: string;
  #file: { path: string; values: Record<string, unknown> } | null = null;

  constructor(env: Readonly<Record<string, string | undefined>>, cwd: string) {
    this.#env = env;
    this.#cwd = cwd;
  }

  loadFile(path: string, label: string): void {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      this.#fileProblem(
        `${label}: cannot read ${path} (${code === 'ENOENT' ? 'no such file' : (code ?? 'unreadable')})`,
      );
      return;
    }
    let values: unknown;
    try {
      values = JSON.parse(text);
    } catch {
      // Not the parser's message: V8 quotes the text around the error, which may be a secret.
      this.#fileProblem(`${label}: ${path} is not valid JSON`);
      return;
    }
    if (typeof values !== 'object' || values === null || Array.isArray(values)) {
      this.#fileProblem(`${label}: ${path} must hold a JSON object of settings`);
      return;
    }
    for (const key of Object.keys(values)) {
      if (!Object.hasOwn(SETTINGS, key)) {
        this.#fileProblem(
          `${path}: unknown setting ${JSON.stringify(key)} (see the README's Configuration table)`,
        );
      }
    }
    this.#file = { path, values: values as Record<string, unknown> };
  }

  /** The parsed value, or `fallback` when unset (or invalid: the problem is recorded). */
  get<K extends Key, F>(key: K, fallback: F): Value<K> | F {
    const found = this.#find(key);
    if (found === undefined) return fallback;
    try {
      return SETTINGS[key].parse(found.raw) as Value<K>;
    } catch (error) {
      if (!(error instanceof BadValue)) throw error;
      for (const reason of error.reasons) this.problem(key, reason);
      return fallback;
    }
  }

  /** A path setting, absolute: relative to the config file's directory when it came from there. */
  path<F extends string | null>(key: 'dataDir' | 'downloadRoot', fallback: F): string | F {
    const found = this.#find(key);
    const value = this.get(key, fallback);
    if (value === null) return fallback;
    const base = found?.fromFile && this.#file ? dirname(this.#file.path) : this.#cwd;
    return resolve(base, value);
  }

  /** True when none of these settings had a bad value (so cross-checks don't pile on). */
  ok(...keys: Key[]): boolean {
    return keys.every((k) => !this.#failed.has(k));
  }

  problem(key: Key, reason: string): void {
    this.#failed.add(key);
    this.#problems.push({ rank: KEYS.indexOf(key), text: `${this.#label(key)}: ${reason}` });
  }

  /** Every problem so far, in table order. */
  problems(): string[] {
    return this.#problems.toSorted((a, b) => a.rank - b.rank).map((p) => p.text);
  }

  #fileProblem(text: string): void {
    this.#problems.push({ rank: -1, text });
  }

  #find(key: Key): { raw: unknown; name: string; fromFile: boolean } | undefined {
    for (const name of SETTINGS[key].env) {
      const raw = nonEmpty(this.#env[name]);
      if (raw !== undefined) return { raw, name, fromFile: false };
    }
    const values = this.#file?.values;
    if (values && Object.hasOwn(values, key) && values[key] !== null) {
      return { raw: values[key], name: key, fromFile: true };
    }
    return undefined;
  }

  #label(key: Key): string {
    const found = this.#find(key);
    if (found?.fromFile && this.#file) return `${JSON.stringify(key)} in ${this.#file.path}`;
    return found?.name ?? (SETTINGS[key].env[0] as string);
  }
}

/** The value, or undefined when it is absent or blank (`COATCHECK_X=` means unset). */
export function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

/** Freezes `value` and every nested object and array (a URL is left as is). */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !(value instanceof URL)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
