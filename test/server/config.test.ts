import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  describeConfig,
  loadConfig,
  SETTINGS,
  type ServerConfig,
  ServerConfigError,
} from '../../src/server/config.ts';
import { parseRedisUrl } from '../../src/stores/redis-connect.ts';

const root = mkdtempSync(join(tmpdir(), 'coatcheck-config-'));
after(() => rmSync(root, { recursive: true, force: true }));

const SECRET = 'Tr0ub4dor&3-horse-staple';
const METRICS_TOKEN = 'metrics-Tr0ub4dor&3-horse-staple-0123456789';

/** loadConfig with only the given variables, relative paths against a temp directory. */
function load(env: Record<string, string>, configPath?: string): ServerConfig {
  return loadConfig({ env, cwd: root, ...(configPath ? { configPath } : {}) });
}

/** The problems loadConfig reports for this environment (fails when it does not throw). */
function problems(env: Record<string, string>, configPath?: string): readonly string[] {
  try {
    load(env, configPath);
  } catch (error) {
    assert.ok(error instanceof ServerConfigError, `unexpected ${String(error)}`);
    assert.equal(error.code, 'invalid_config');
    for (const p of error.problems) assert.ok(error.message.includes(p));
    return error.problems;
  }
  assert.fail('loadConfig should have refused this configuration');
}

function writeJson(name: string, value: unknown): string {
  const dir = mkdtempSync(join(root, 'file-'));
  const path = join(dir, name);
  writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value));
  return path;
}

describe('loadConfig defaults', () => {
  it('starts with no settings at all: local, SQLite under ./data, secure cookie', () => {
    const c = load({});
    assert.equal(c.port, 3000);
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.dataDir, join(root, 'data'));
    assert.equal(c.publicUrl, null);
    assert.deepEqual(c.trustedOrigins, []);
    assert.deepEqual(c.trustedProxies, []);
    assert.deepEqual(c.cookie, { name: 'coatcheck', sameSite: 'lax', secure: true });
    assert.equal(c.bearerTransport, false);
    assert.equal(c.bodyLimitBytes, 16_384);
    assert.equal(c.logLevel, 'info');
    assert.equal(c.metricsToken, null);
    assert.equal(c.bootstrapAdmin, null);
    assert.equal(c.production, false);
    assert.deepEqual(c.session, {
      idleTimeoutSeconds: 604_800,
      absoluteLifetimeSeconds: 2_592_000,
      roles: { admin: { idleTimeoutSeconds: 1800, absoluteLifetimeSeconds: 43_200 } },
      browserSessionLifetimeSeconds: 86_400,
      freshWindowSeconds: 600,
      renewalIntervalSeconds: 60,
      rotationGraceSeconds: 30,
      maxSessionsPerUser: null,
    });
  });

  it('returns a deeply frozen object', () => {
    const c = load({ COATCHECK_TRUSTED_ORIGINS: 'https://app.example' });
    for (const part of [c, c.session, c.session.roles, c.cookie, c.trustedOrigins]) {
      assert.ok(Object.isFrozen(part));
    }
    assert.throws(() => {
      (c as { port: number }).port = 1;
    }, TypeError);
  });
});

describe('loadConfig from the environment', () => {
  it('parses every kind of value', () => {
    const c = load({
      COATCHECK_PORT: '8080',
      COATCHECK_HOST: '0.0.0.0',
      COATCHECK_DATA_DIR: 'var/db',
      COATCHECK_PUBLIC_URL: 'https://auth.example.com/',
      COATCHECK_TRUSTED_ORIGINS: 'https://app.example.com, http://localhost:5173',
      COATCHECK_TRUSTED_PROXIES: '10.0.0.0/8,127.0.0.1, fd00::/8',
      COATCHECK_IDLE_TIMEOUT: '2h',
      COATCHECK_ABSOLUTE_LIFETIME: '7d',
      COATCHECK_ADMIN_IDLE_TIMEOUT: '15m',
      COATCHECK_ADMIN_ABSOLUTE_LIFETIME: '3600',
      COATCHECK_BROWSER_SESSION_LIFETIME: '90s',
      COATCHECK_FRESH_WINDOW: '5m',
      COATCHECK_RENEWAL_INTERVAL: '30',
      COATCHECK_ROTATION_GRACE: '10s',
      COATCHECK_MAX_SESSIONS_PER_USER: '5',
      COATCHECK_COOKIE_NAME: 'sid',
      COATCHECK_COOKIE_SAMESITE: 'Strict',
      COATCHECK_BEARER_TRANSPORT: 'yes',
      COATCHECK_BODY_LIMIT: '32kb',
      COATCHECK_LOG_LEVEL: 'warn',
      COATCHECK_METRICS_TOKEN: ` ${METRICS_TOKEN}\n`,
      COATCHECK_ADMIN_EMAIL: ' Ada@Example.COM ',
      COATCHECK_ADMIN_PASSWORD: SECRET,
    });
    assert.equal(c.port, 8080);
    assert.equal(c.host, '0.0.0.0');
    assert.equal(c.dataDir, join(root, 'var/db'));
    assert.equal(c.publicUrl?.href, 'https://auth.example.com/');
    assert.deepEqual(c.trustedOrigins, ['https://app.example.com', 'http://localhost:5173']);
    assert.deepEqual(c.trustedProxies, ['10.0.0.0/8', '127.0.0.1', 'fd00::/8']);
    assert.deepEqual(c.session, {
      idleTimeoutSeconds: 7200,
      absoluteLifetimeSeconds: 604_800,
      roles: { admin: { idleTimeoutSeconds: 900, absoluteLifetimeSeconds: 3600 } },
      browserSessionLifetimeSeconds: 90,
      freshWindowSeconds: 300,
      renewalIntervalSeconds: 30,
      rotationGraceSeconds: 10,
      maxSessionsPerUser: 5,
    });
    assert.deepEqual(c.cookie, { name: '__Host-sid', sameSite: 'strict', secure: true });
    assert.equal(c.bearerTransport, true);
    assert.equal(c.bodyLimitBytes, 32 * 1024);
    assert.equal(c.logLevel, 'warn');
    assert.equal(c.metricsToken, METRICS_TOKEN);
    assert.deepEqual(c.bootstrapAdmin, { email: 'ada@example.com', password: SECRET });
  });

  it('honours PORT, but COATCHECK_PORT wins', () => {
    assert.equal(load({ PORT: '5000' }).port, 5000);
    assert.equal(load({ PORT: '5000', COATCHECK_PORT: '6000' }).port, 6000);
  });

  it('treats a blank variable as unset', () => {
    const c = load({ COATCHECK_PORT: '', COATCHECK_PUBLIC_URL: '  ' });
    assert.equal(c.port, 3000);
    assert.equal(c.publicUrl, null);
  });

  it('warns about an unknown COATCHECK_ variable (a likely typo) without failing', () => {
    const warnings: string[] = [];
    loadConfig({ env: { COATCHECK_IDLE_TIMOUT: '1h' }, warn: (m) => warnings.push(m) });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /COATCHECK_IDLE_TIMOUT/);
  });
});

describe('loadConfig from a file', () => {
  it('reads a JSON file, and the environment overrides it', () => {
    const path = writeJson('coatcheck.json', {
      port: 4000,
      host: '0.0.0.0',
      dataDir: 'state',
      idleTimeout: '1d',
      trustedOrigins: ['https://app.example.com'],
      bearerTransport: true,
    });
    const c = load({ COATCHECK_PORT: '4001', COATCHECK_BEARER_TRANSPORT: 'off' }, path);
    assert.equal(c.port, 4001);
    assert.equal(c.host, '0.0.0.0');
    assert.equal(c.session.idleTimeoutSeconds, 86_400);
    assert.deepEqual(c.trustedOrigins, ['https://app.example.com']);
    assert.equal(c.bearerTransport, false);
    // A path in the file is relative to the file, wherever the server is started from.
    assert.equal(c.dataDir, join(path, '..', 'state'));
  });

  it('is found through COATCHECK_CONFIG, relative to the working directory', () => {
    mkdirSync(join(root, 'etc'), { recursive: true });
    writeFileSync(join(root, 'etc', 'c.json'), JSON.stringify({ port: 4100 }));
    assert.equal(load({ COATCHECK_CONFIG: 'etc/c.json' }).port, 4100);
  });

  it('reports a missing file, bad JSON, a non-object and unknown keys', () => {
    assert.match(
      problems({ COATCHECK_CONFIG: 'nope.json' })[0] ?? '',
      /nope\.json \(no such file\)/,
    );
    const badJson = writeJson('bad.json', `{"adminPassword": "${SECRET}",}`);
    const [jsonProblem] = problems({}, badJson);
    assert.match(jsonProblem ?? '', /is not valid JSON/);
    assert.ok(!jsonProblem?.includes(SECRET), 'the JSON parser message quotes the file');
    assert.match(problems({}, writeJson('a.json', '[1]'))[0] ?? '', /must hold a JSON object/);
    const typo = problems({}, writeJson('t.json', { prot: 1, port: 'x' }));
    assert.equal(typo.length, 2);
    assert.match(typo[0] ?? '', /unknown setting "prot"/);
    assert.match(typo[1] ?? '', /^"port" in .*t\.json: must be a port number/);
  });
});

describe('loadConfig refuses bad values', () => {
  it('gives each bad value its own message, and reports them all together', () => {
    const found = problems({
      COATCHECK_PORT: '70000',
      COATCHECK_HOST: 'not a host!',
      COATCHECK_PUBLIC_URL: 'ftp://auth.example.com',
      COATCHECK_IDLE_TIMEOUT: '7 weeks',
      COATCHECK_ABSOLUTE_LIFETIME: '0',
      COATCHECK_MAX_SESSIONS_PER_USER: '-1',
      COATCHECK_COOKIE_NAME: 'bad name',
      COATCHECK_COOKIE_SECURE: 'maybe',
      COATCHECK_BEARER_TRANSPORT: '2',
      COATCHECK_BODY_LIMIT: '1gb',
      COATCHECK_LOG_LEVEL: 'loud',
      COATCHECK_METRICS_TOKEN: 'short',
      COATCHECK_ADMIN_EMAIL: 'not-an-email',
    });
    const names = found.map((p) => p.slice(0, p.indexOf(':')));
    assert.deepEqual(names, [
      'COATCHECK_PORT',
      'COATCHECK_HOST',
      'COATCHECK_PUBLIC_URL',
      'COATCHECK_IDLE_TIMEOUT',
      'COATCHECK_ABSOLUTE_LIFETIME',
      'COATCHECK_MAX_SESSIONS_PER_USER',
      'COATCHECK_COOKIE_NAME',
      'COATCHECK_COOKIE_SECURE',
      'COATCHECK_BEARER_TRANSPORT',
      'COATCHECK_BODY_LIMIT',
      'COATCHECK_LOG_LEVEL',
      'COATCHECK_METRICS_TOKEN',
      'COATCHECK_ADMIN_EMAIL',
    ]);
    assert.match(found[0] ?? '', /port number from 0 to 65535, got "70000"/);
    assert.match(found[3] ?? '', /e\.g\. 30m, 12h, 7d/);
  });

  it('refuses a public URL with a path, and suggests the origin', () => {
    const [p] = problems({ COATCHECK_PUBLIC_URL: 'https://example.com/auth' });
    assert.match(p ?? '', /origin only.*did you mean "https:\/\/example\.com"/);
  });

  it('refuses SameSite=None: the cookie would ride along on cross-site requests', () => {
    assert.match(
      problems({ COATCHECK_COOKIE_SAMESITE: 'None' })[0] ?? '',
      /SameSite=None is refused/,
    );
  });

  it('refuses a wildcard trusted origin such as https://*.example.com, one message per origin', () => {
    const found = problems({
      COATCHECK_TRUSTED_ORIGINS: 'https://*.example.com,https://ok.example,http://a.example/',
    });
    assert.equal(found.length, 2);
    assert.match(found[0] ?? '', /^COATCHECK_TRUSTED_ORIGINS: .*wildcards are not allowed/);
    assert.match(found[1] ?? '', /did you mean "http:\/\/a\.example"/);
  });

  it('accepts trusted proxy addresses and CIDR ranges, refuses anything else', () => {
    const ok = load({ COATCHECK_TRUSTED_PROXIES: '192.168.0.0/16,::1,2001:db8::/32,10.1.2.3' });
    assert.deepEqual(ok.trustedProxies, ['192.168.0.0/16', '::1', '2001:db8::/32', '10.1.2.3']);
    const found = problems({
      COATCHECK_TRUSTED_PROXIES: '10.0.0.0/33,proxy.internal,1.2.3.4/8/1,::1/129,10.0.0.0/8',
    });
    assert.equal(found.length, 4);
    for (const p of found) assert.match(p, /^COATCHECK_TRUSTED_PROXIES: Trusted proxy "/);
  });

  it('needs the first admin email and password together', () => {
    const [p] = problems({ COATCHECK_ADMIN_EMAIL: 'ada@example.com' });
    assert.match(p ?? '', /^COATCHECK_ADMIN_PASSWORD: must be set together/);
  });

  it('refuses a metrics token under 32 characters or with spaces, without echoing it', () => {
    const short = METRICS_TOKEN.slice(0, 31);
    const [tooShort] = problems({ COATCHECK_METRICS_TOKEN: short });
    assert.match(tooShort ?? '', /^COATCHECK_METRICS_TOKEN: must be at least 32 characters/);
    assert.equal(tooShort?.includes(short), false);
    const spaced = `${METRICS_TOKEN.slice(0, 20)} ${METRICS_TOKEN.slice(20)}`;
    const [withSpace] = problems({ COATCHECK_METRICS_TOKEN: spaced });
    assert.match(withSpace ?? '', /^COATCHECK_METRICS_TOKEN: must be visible ASCII/);
    assert.equal(withSpace?.includes(METRICS_TOKEN.slice(20)), false);
    const file = writeJson('m.json', { metricsToken: short });
    const [fromFile] = problems({}, file);
    assert.match(fromFile ?? '', /^"metricsToken" in .*m\.json: must be at least 32 characters/);
    assert.equal(fromFile?.includes(short), false);
    // 32 characters is enough; a file works like the environment.
    const exact = METRICS_TOKEN.slice(0, 32);
    assert.equal(load({}, writeJson('ok.json', { metricsToken: exact })).metricsToken, exact);
  });

  it('holds the first admin password to the password policy', () => {
    const found = problems({
      COATCHECK_ADMIN_EMAIL: 'a@example.com',
      COATCHECK_ADMIN_PASSWORD: 'admin',
    });
    assert.deepEqual(found, [
      'COATCHECK_ADMIN_PASSWORD: The password must be at least 8 characters.',
    ]);
  });
});

describe('loadConfig for the scale-out stores (Redis sessions, PostgreSQL users)', () => {
  const PASSWORD = 'hunter2-Sw0rdfish';

  /** The one problem `env` gives, asserting neither it nor the error's message quotes `secret`. */
  function refusedWithout(env: Record<string, string>, secret: string): string {
    let message = '';
    try {
      load(env);
    } catch (error) {
      message = error instanceof Error ? error.message : String(error);
    }
    const found = problems(env);
    assert.equal(found.length, 1, found.join('\n'));
    assert.ok(!message.includes(secret), `the error quotes the password: ${message}`);
    return found[0] ?? '';
  }

  it('starts on the embedded store when no store URL is set, with its near cache unless off', () => {
    const c = load({});
    assert.equal(c.sessionStore, null);
    assert.equal(c.databaseUrl, null);
    assert.equal(c.nearCache, true);
    assert.equal(load({ COATCHECK_NEAR_CACHE: 'false' }).nearCache, false);
    assert.equal(describeConfig(load({ COATCHECK_NEAR_CACHE: 'false' })).nearCache, false);
    const postgres = { COATCHECK_DATABASE_URL: 'postgres://db/auth' };
    assert.equal(load(postgres).nearCache, false, 'not claimed for sessions in PostgreSQL');
    assert.equal(load({ ...postgres, COATCHECK_NEAR_CACHE: 'true' }).nearCache, false);
    assert.deepEqual(problems({ COATCHECK_NEAR_CACHE: 'maybe' }), [
      'COATCHECK_NEAR_CACHE: must be true or false, got "maybe"',
    ]);
  });

  it('accepts redis://, rediss://, redis+sentinel:// and redis+cluster://, as the store reads them', () => {
    const cases = [
      {
        url: `redis://:${PASSWORD}@127.0.0.1:6379/2`,
        parsed: { kind: 'standalone', url: `redis://:${PASSWORD}@127.0.0.1:6379/2` },
        logged: 'redis://127.0.0.1:6379/2',
      },
      {
        url: `rediss://app:${PASSWORD}@redis.internal`,
        parsed: { kind: 'standalone', url: `rediss://app:${PASSWORD}@redis.internal` },
        logged: 'rediss://redis.internal',
      },
      {
        url: `redis+sentinel://:${PASSWORD}@10.0.0.1:26379,[::1]:26380,s3/my%20master`,
        parsed: {
          kind: 'sentinel',
          tls: false,
          hosts: [
            { host: '10.0.0.1', port: 26379 },
            { host: '::1', port: 26380 },
            { host: 's3', port: 26379 },
          ],
          name: 'my master',
          password: PASSWORD,
        },
        logged: 'redis+sentinel://10.0.0.1:26379,[::1]:26380,s3/my%20master',
      },
      {
        url: 'redis+cluster://10.0.0.1:7000,10.0.0.2:7001',
        parsed: {
          kind: 'cluster',
          tls: false,
          hosts: [
            { host: '10.0.0.1', port: 7000 },
            { host: '10.0.0.2', port: 7001 },
          ],
          name: '',
        },
        logged: 'redis+cluster://10.0.0.1:7000,10.0.0.2:7001',
      },
      {
        url: `rediss+cluster://app:${PASSWORD}@a,b:7001`,
        parsed: {
          kind: 'cluster',
          tls: true,
          hosts: [
            { host: 'a', port: 6379 },
            { host: 'b', port: 7001 },
          ],
          name: '',
          username: 'app',
          password: PASSWORD,
        },
        logged: 'rediss+cluster://a,b:7001',
      },
    ];
    for (const { url, parsed, logged } of cases) {
      // Kept as given (trimmed): the store parses it when it connects, to exactly this.
      const c = load({ COATCHECK_SESSION_STORE: ` ${url}\n`, COATCHECK_NEAR_CACHE: 'false' });
      assert.equal(c.sessionStore, url);
      assert.equal(c.nearCache, false);
      assert.deepEqual(parseRedisUrl(c.sessionStore ?? ''), parsed);
      // The start-up log line shows where, never the credentials.
      assert.equal(describeConfig(c).sessionStore, logged);
    }
    const file = writeJson('redis.json', { sessionStore: 'redis://cache:6379' });
    assert.equal(load({}, file).sessionStore, 'redis://cache:6379');
  });

  it('refuses a URL the Redis store cannot use, saying why, without echoing the password', () => {
    const bad: [string, RegExp][] = [
      [`http://:${PASSWORD}@127.0.0.1:6379`, /must be a redis:\/\/, rediss:\/\/, redis\+sentinel/],
      [`redis+replica://:${PASSWORD}@h:6379`, /must be a redis:\/\/, rediss:\/\/, redis\+sentinel/],
      [`postgres://:${PASSWORD}@h:5432/db`, /must be a redis:\/\//],
      [`redis://:${PASSWORD}@127.0.0.1:99999`, /not a valid URL/],
      [`redis://:${PASSWORD} @127.0.0.1:6379`, /must be a redis:\/\//],
      [`redis://:${PASSWORD}@`, /not a valid URL/],
      [`redis://:${PASSWORD}@h:6379/sessions`, /only have a database number as its path/],
      [`redis://:${PASSWORD}%zz@h:6379`, /must be percent-encoded \(e\.g\. @ as %40/],
      [`redis+sentinel://:${PASSWORD}@h:26379`, /must end with the name of the master/],
      [`redis+sentinel://:${PASSWORD}@h:port/mymaster`, /Sentinels as host:port pairs/],
      [`redis+cluster://:${PASSWORD}@h:7000,h:99999`, /Cluster nodes as host:port pairs/],
      [`redis+cluster://:${PASSWORD}@h:7000?tls=1`, /query or #fragment, or no host/],
      // Split at the first @ by the store: the password's tail would become a host name, and
      // then part of a connection error message.
      [`redis+cluster://:${PASSWORD}@x@h:7000`, /percent-encoded \(e\.g\. @ as %40/],
    ];
    for (const [url, reason] of bad) {
      const problem = refusedWithout({ COATCHECK_SESSION_STORE: url }, PASSWORD);
      assert.match(problem, /^COATCHECK_SESSION_STORE: /, url);
      assert.match(problem, reason, url);
      assert.match(problem, /\(value not shown: it may hold a password\)$/, url);
      assert.ok(!problem.includes(PASSWORD) && !problem.includes('@h'), problem);
    }
    // The same parser guards the download server's replay store, and a file's value.
    const replay = `redis+sentinel://:${PASSWORD}@h:1`;
    assert.match(
      refusedWithout({ COATCHECK_DOWNLOAD_REPLAY_STORE: replay }, PASSWORD),
      /^COATCHECK_DOWNLOAD_REPLAY_STORE: must end with the name of the master/,
    );
    const file = writeJson('bad-redis.json', { sessionStore: `redis://:${PASSWORD}@h:0x1` });
    const [fromFile] = problems({}, file);
    assert.match(fromFile ?? '', /^"sessionStore" in .*bad-redis\.json: .*not a valid URL/);
    assert.ok(!fromFile?.includes(PASSWORD));
  });

  it('never logs any part of a password holding a raw @ (user info ends at the last @)', () => {
    const raw = 'Qx9z@Kw7v-Ss@Jm4t'; // each part distinctive: none may reach the log
    const standalone = load({ COATCHECK_SESSION_STORE: `redis://:${raw}@127.0.0.1:6379` });
    // node-redis reads it with WHATWG URL: the password is everything up to the last @.
    assert.equal(URL.parse(standalone.sessionStore ?? '')?.hostname, '127.0.0.1');
    assert.equal(describeConfig(standalone).sessionStore, 'redis://127.0.0.1:6379');
    const pg = load({ COATCHECK_DATABASE_URL: `postgres://app:${raw}@db.internal:5432/auth` });
    assert.equal(describeConfig(pg).databaseUrl, 'postgres://db.internal:5432/auth');
    for (const part of raw.split('@')) {
      const described = JSON.stringify([describeConfig(standalone), describeConfig(pg)]);
      assert.ok(!described.includes(part), `${part} in ${described}`);
    }
  });

  it('accepts a postgres:// or postgresql:// database URL, logged without credentials', () => {
    const cases = [
      [
        `postgres://coatcheck:${PASSWORD}@db.internal:5432/coatcheck`,
        'postgres://db.internal:5432/coatcheck',
      ],
      [
        `postgresql://app:${PASSWORD}@[::1]/auth?sslmode=require`,
        'postgresql://[::1]/auth?sslmode=require',
      ],
      // libpq defaults (PGHOST, the local socket...): the driver fills in what the URL leaves out.
      ['postgresql://', 'postgresql://'],
      // libpq's multi-host form: the driver tries each in turn.
      [
        `postgres://app:${PASSWORD}@db1:5432,db2:5433,[::1]/auth?target_session_attrs=read-write`,
        'postgres://db1:5432,db2:5433,[::1]/auth?target_session_attrs=read-write',
      ],
    ] as const;
    for (const [url, logged] of cases) {
      const c = load({ COATCHECK_DATABASE_URL: url, COATCHECK_SESSION_STORE: 'redis://r:6379' });
      assert.equal(c.databaseUrl, url);
      assert.equal(c.sessionStore, 'redis://r:6379');
      assert.equal(describeConfig(c).databaseUrl, logged);
    }
    const file = writeJson('pg.json', { databaseUrl: 'postgres://db/auth', nearCache: false });
    const fromFile = load({}, file);
    assert.equal(fromFile.databaseUrl, 'postgres://db/auth');
    assert.equal(fromFile.nearCache, false);
  });

  it('refuses a bad database URL without echoing the password', () => {
    const bad: [string, RegExp][] = [
      [`mysql://app:${PASSWORD}@db:3306/auth`, /must be a postgres:\/\/user:password@host/],
      [`postgres://app:${PASSWORD}@db:99999/auth`, /must be a postgres:\/\/user:password@host/],
      [`postgres://app:${PASSWORD}@db1:5432,,db2:5432/auth`, /must be a postgres:\/\//],
      [`postgres://app:${PASSWORD}@db1:5432,db2:99999/auth`, /must be a postgres:\/\//],
      [`postgres://app:${PASSWORD}@db1,db2:port/auth`, /must be a postgres:\/\//],
      // With several hosts the driver would cut the host list at the raw @ of the password.
      [`postgres://app:pass@${PASSWORD}@db1,db2/auth`, /must be a postgres:\/\//],
      [`postgres://app:${PASSWORD}\n@db/auth`, /must be a postgres:\/\//],
      [`db.internal:5432/auth?password=${PASSWORD}`, /must be a postgres:\/\//],
      [`postgres://app:${PASSWORD}%@db/auth`, /percent-encoded \(e\.g\. @ as %40/],
    ];
    for (const [url, reason] of bad) {
      const problem = refusedWithout({ COATCHECK_DATABASE_URL: url }, PASSWORD);
      assert.match(problem, /^COATCHECK_DATABASE_URL: /, url);
      assert.match(problem, reason, url);
      assert.match(problem, /\(value not shown: it may hold a password\)$/, url);
    }
  });

  it('reads COATCHECK_NEAR_CACHE as a boolean (default true), refusing anything else', () => {
    const redis = { COATCHECK_SESSION_STORE: 'redis://127.0.0.1:6379' };
    assert.equal(load(redis).nearCache, true);
    for (const on of ['true', 'TRUE', '1', 'yes', ' on ']) {
      assert.equal(load({ ...redis, COATCHECK_NEAR_CACHE: on }).nearCache, true, on);
    }
    for (const off of ['false', 'False', '0', 'no', 'off']) {
      assert.equal(load({ ...redis, COATCHECK_NEAR_CACHE: off }).nearCache, false, off);
    }
    for (const garbage of ['maybe', 'disabled', '2', 'truee']) {
      assert.deepEqual(problems({ ...redis, COATCHECK_NEAR_CACHE: garbage }), [
        `COATCHECK_NEAR_CACHE: must be true or false, got ${JSON.stringify(garbage)}`,
      ]);
    }
    // Every store problem is reported at once, in table order.
    const all = problems({
      COATCHECK_SESSION_STORE: 'memcached://h',
      COATCHECK_DATABASE_URL: 'sqlite:///tmp/x',
      COATCHECK_NEAR_CACHE: 'sometimes',
    });
    assert.deepEqual(
      all.map((p) => p.slice(0, p.indexOf(':'))),
      ['COATCHECK_SESSION_STORE', 'COATCHECK_DATABASE_URL', 'COATCHECK_NEAR_CACHE'],
    );
  });
});

describe('loadConfig refuses insecure cookies over https and in production', () => {
  it('names the cookie __Host-<base> and keeps it Secure with an https public URL', () => {
    const c = load({ COATCHECK_PUBLIC_URL: 'https://auth.example.com' });
    assert.deepEqual(c.cookie, { name: '__Host-coatcheck', sameSite: 'lax', secure: true });
    assert.match(
      problems({
        COATCHECK_PUBLIC_URL: 'https://auth.example.com',
        COATCHECK_COOKIE_SECURE: 'false',
      })[0] ?? '',
      /^COATCHECK_COOKIE_SECURE: must stay true with an https public URL/,
    );
  });

  it('allows Secure off only for plain-http development', () => {
    const c = load({
      COATCHECK_COOKIE_SECURE: 'false',
      COATCHECK_PUBLIC_URL: 'http://localhost:3000',
    });
    assert.deepEqual(c.cookie, { name: 'coatcheck', sameSite: 'lax', secure: false });
  });

  it('in production, requires an https public URL (so the __Host- prefix) and Secure', () => {
    const prod = { NODE_ENV: 'production' };
    assert.match(
      problems(prod)[0] ?? '',
      /^COATCHECK_PUBLIC_URL: is required when NODE_ENV=production/,
    );
    assert.match(
      problems({ ...prod, COATCHECK_PUBLIC_URL: 'http://auth.example.com' })[0] ?? '',
      /must be https when NODE_ENV=production/,
    );
    const insecure = problems({
      ...prod,
      COATCHECK_PUBLIC_URL: 'https://auth.example.com',
      COATCHECK_COOKIE_SECURE: '0',
      COATCHECK_COOKIE_SAMESITE: 'none',
    });
    assert.equal(insecure.length, 2);
    const c = load({ ...prod, COATCHECK_PUBLIC_URL: 'https://auth.example.com' });
    assert.equal(c.production, true);
    assert.equal(c.cookie.name, '__Host-coatcheck');
  });
});

describe('secrets stay out of logs and errors', () => {
  it('describeConfig shows the admin email but never the password', () => {
    const c = load({ COATCHECK_ADMIN_EMAIL: 'ada@example.com', COATCHECK_ADMIN_PASSWORD: SECRET });
    const described = JSON.stringify(describeConfig(c));
    assert.ok(!described.includes(SECRET));
    assert.match(described, /ada@example\.com/);
  });

  it('describeConfig says whether metrics are on, never the metrics token', () => {
    assert.equal(describeConfig(load({})).metricsEnabled, false);
    const described = describeConfig(load({ COATCHECK_METRICS_TOKEN: METRICS_TOKEN }));
    assert.equal(described.metricsEnabled, true);
    assert.ok(!JSON.stringify(described).includes(METRICS_TOKEN));
  });

  it('error messages never quote the admin password, from the environment or a file', () => {
    for (const password of [SECRET, 'qwertyuiop', 'x'.repeat(300)]) {
      const env = { COATCHECK_ADMIN_PASSWORD: password, COATCHECK_PORT: 'bad' };
      const found = problems(env).join('\n');
      assert.ok(!found.includes(password), found);
      const file = writeJson('c.json', { adminPassword: password, adminEmail: 'nope' });
      assert.ok(!problems({}, file).join('\n').includes(password));
    }
  });
});

describe('README', () => {
  it('documents every setting in its Configuration section', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('## CLI'));
    for (const [key, setting] of Object.entries(SETTINGS)) {
      assert.ok(section.includes(`\`${key}\``), `README lacks the file key ${key}`);
      for (const env of setting.env) assert.ok(section.includes(env), `README lacks ${env}`);
    }
  });
});
