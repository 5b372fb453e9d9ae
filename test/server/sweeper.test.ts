import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import postgres from 'postgres';
import { type ServerConfig, testConfig } from '../../src/server/config.ts';
import { createLogger } from '../../src/server/logger.ts';
import { type RunningServer, startServer } from '../../src/server/serve.ts';
import { sqlitePath } from '../../src/server/stores.ts';
import { eventually, sessionCookie } from '../support/nodes.ts';
import { startPostgres } from '../support/postgres.ts';
import { PW } from './harness.ts';

// The server's periodic sweep (src/server/serve.ts): expired sessions leave the store without
// anyone presenting them, and a sweep failing during a store outage adds nothing to the one
// store_down line (issue #4: the log says what is wrong once per outage, not per sweep).

const SWEEP_MS = 50;
/** A sign-in without "remember me" lives this long; with it, the default 30 days. */
const BROWSER_SESSION_SECONDS = 0.4;

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A running server (the real startServer) and its parsed log lines. */
interface Server {
  readonly running: RunningServer;
  readonly dataDir: string;
  readonly logs: Record<string, unknown>[];
  /** POST with a same-origin Origin (cross-origin protection lets it through). */
  post(path: string, json: unknown): Promise<Response>;
  get(path: string, cookie?: string): Promise<Response>;
  /** Log lines from index `from` on with this message. */
  lines(msg: string, from?: number): Record<string, unknown>[];
}

async function start(overrides: Partial<ServerConfig> = {}): Promise<Server> {
  const dataDir = mkdtempSync(join(tmpdir(), 'coatcheck-sweeper-'));
  dirs.push(dataDir);
  const logs: Record<string, unknown>[] = [];
  const logger = createLogger({
    level: 'debug',
    destination: { write: (line: string) => logs.push(JSON.parse(line)) },
  });
  const config = testConfig({
    dataDir,
    session: { browserSessionLifetimeSeconds: BROWSER_SESSION_SECONDS },
    ...overrides,
  });
  const running = await startServer(config, {
    logger,
    sweepIntervalMs: SWEEP_MS,
    shutdownGraceMs: 1000,
  });
  const base = running.url;
  return {
    running,
    dataDir,
    logs,
    post: (path, json) =>
      fetch(base + path, {
        method: 'POST',
        headers: { origin: base, 'content-type': 'application/json' },
        body: JSON.stringify(json),
      }),
    get: (path, cookie) =>
      fetch(base + path, { headers: cookie ? { cookie: `coatcheck=${cookie}` } : {} }),
    lines: (msg, from = 0) => logs.slice(from).filter((l) => l.msg === msg),
  };
}

/** Signs up (a browser session: expires after BROWSER_SESSION_SECONDS) and signs in remembered. */
async function twoSessions(server: Server, email: string) {
  const signup = await server.post('/auth/signup', { email, password: PW });
  assert.equal(signup.status, 201, await signup.text());
  const login = await server.post('/auth/login', { email, password: PW, remember: true });
  assert.equal(login.status, 200, await login.text());
  const browser = sessionCookie(signup);
  const remembered = sessionCookie(login);
  assert.ok(browser && remembered);
  return { browser, remembered };
}

const SWEPT = 'Swept expired sessions';
const FAILED = 'Sweeping expired sessions failed';
const DEBUG = 20;
const ERROR = 50;

describe('the periodic sweep of expired sessions', { timeout: 30_000 }, () => {
  it('removes expired sessions from SQLite without anyone presenting them, and keeps live ones', async () => {
    const server = await start();
    try {
      const { browser, remembered } = await twoSessions(server, 'sweep-sqlite@example.test');
      const db = new DatabaseSync(sqlitePath(server.dataDir), { readOnly: true });
      const rows = () =>
        (db.prepare('SELECT id FROM sessions ORDER BY id').all() as { id: string }[]).map(
          (r) => r.id,
        );
      try {
        // The token is `ccs_<id>.<secret>`; the store keeps the id.
        const ids = (token: string) => token.slice(token.indexOf('_') + 1, token.indexOf('.'));
        assert.deepEqual(rows(), [ids(browser), ids(remembered)].sort(), 'both sessions stored');
        // Nobody presents the expired one: only the sweeper can remove its row.
        await eventually(() => rows().length === 1, 'the sweep of the expired session', 5000);
        assert.deepEqual(rows(), [ids(remembered)]);
      } finally {
        db.close();
      }
      const swept = server.lines(SWEPT).filter((l) => l.removed === 1);
      assert.equal(swept.length, 1, 'one sweep removed it, and said so at debug');
      assert.equal(swept[0]?.level, DEBUG);
      assert.ok(server.lines(SWEPT).length >= 3, 'the sweep runs every sweepIntervalMs');
      assert.equal((await server.get('/auth/session', remembered)).status, 200);
      assert.equal((await server.get('/auth/session', browser)).status, 401);
    } finally {
      await server.running.close();
    }
  });

  it('logs a failed sweep at error when no outage is being reported', async () => {
    const server = await start();
    try {
      await eventually(() => server.lines(SWEPT).length > 0, 'a first sweep');
      assert.equal(server.running.services.inOutage(), false, 'SQLite never reports an outage');
      // A broken database, not an outage: nothing else will say so, so the sweep must.
      const db = new DatabaseSync(sqlitePath(server.dataDir));
      db.exec('DROP TABLE sessions');
      db.close();
      const mark = server.logs.length;
      await eventually(() => server.lines(FAILED, mark).length >= 2, 'failed sweeps', 5000);
      for (const line of server.lines(FAILED, mark)) {
        assert.equal(line.level, ERROR);
        assert.match(String((line.err as { message?: string })?.message), /sweep/i);
      }
    } finally {
      await server.running.close();
    }
  });

  it('during a PostgreSQL outage, failed sweeps log at debug under the one store_down line; afterwards sweeping resumes', async () => {
    const pg = await startPostgres();
    const sql = postgres(pg.url, { max: 1, onnotice: () => {} });
    const server = await start({ databaseUrl: pg.url });
    try {
      await eventually(() => server.lines(SWEPT).length > 0, 'a first sweep');
      await pg.halt('fast');
      // A probe notices the outage; the sweeps then fail every SWEEP_MS meanwhile.
      await eventually(async () => (await server.get('/readyz')).status === 503, '/readyz 503');
      const downs = () => server.logs.filter((l) => l.event === 'store_down');
      await eventually(() => downs().length === 1, 'store_down');
      assert.equal(server.running.services.inOutage(), true);
      const mark = server.logs.length;
      await eventually(() => server.lines(FAILED, mark).length >= 5, 'failed sweeps', 5000);
      for (const line of server.lines(FAILED, mark)) assert.equal(line.level, DEBUG);
      const errors = server.logs.slice(mark).filter((l) => Number(l.level) >= ERROR);
      assert.deepEqual(errors, [], 'no error line per failed sweep');
      assert.equal(downs().length, 1, 'still one store_down');

      await pg.restart();
      await eventually(() => server.logs.some((l) => l.event === 'store_up'), 'store_up', 10_000);
      const back = server.logs.length;
      await eventually(() => server.lines(SWEPT, back).length > 0, 'a sweep after the outage');
      // And it still sweeps: an expired session leaves PostgreSQL without anyone presenting it.
      const { remembered } = await twoSessions(server, 'sweep-pg@example.test');
      const count = async () => Number((await sql`SELECT count(*) AS n FROM sessions`)[0]?.n);
      assert.equal(await count(), 2);
      await eventually(async () => (await count()) === 1, 'the sweep of the expired session', 5000);
      assert.equal((await server.get('/auth/session', remembered)).status, 200);
      assert.equal(downs().length, 1, 'one store_down for the whole outage');
      // Not even the sweep on a pooled connection the halt just cut (a dropped connection alone is
      // no outage): its immediate retry found the outage, which store_down reports.
      const failedAtError = server.logs.filter((l) => l.msg === FAILED && l.level === ERROR);
      assert.deepEqual(failedAtError, [], 'no failed sweep at error for the whole outage');
    } finally {
      await server.running.close();
      await sql.end({ timeout: 1 });
      await pg.stop();
    }
  });
});
