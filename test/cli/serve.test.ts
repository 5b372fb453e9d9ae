import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { request } from 'node:http';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { testConfig } from '../../src/server/config.ts';
import { createLogger } from '../../src/server/logger.ts';
import { startServer } from '../../src/server/serve.ts';
import { createServices } from '../../src/server/services.ts';
import { childEnv, cli, freshDataDir, MAIN, PW } from './run-cli.ts';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function dataDir(): string {
  const dir = freshDataDir();
  dirs.push(dir);
  return dir;
}

/** `coatcheck serve` in a child process; resolves with its URL once the start-up line is logged. */
async function serveChild(env: Record<string, string>) {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [MAIN, 'serve'], {
    env: childEnv({ COATCHECK_PORT: '0', COATCHECK_LOG_LEVEL: 'info', ...env }),
  });
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const url = new Promise<string>((resolve, reject) => {
    let buffered = '';
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      for (const part of parts) {
        const line = JSON.parse(part) as Record<string, unknown>;
        lines.push(line);
        if (typeof line.url === 'string') resolve(line.url);
      }
    });
    child.on('exit', (code) =>
      reject(new Error(`serve exited ${code} before listening: ${stderr}`)),
    );
  });
  return { child, url: await url, lines, stderr: () => stderr };
}

/** POST /auth/login as JSON. */
function login(url: string, email: string, password: string): Promise<Response> {
  return fetch(`${url}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
}

describe('coatcheck serve', () => {
  it('serves /healthz, has no default account, and on SIGTERM finishes an in-flight request then exits 0', {
    timeout: 30_000,
  }, async () => {
    const dir = dataDir();
    const { child, url, lines } = await serveChild({ COATCHECK_DATA_DIR: dir });
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const start = lines.find((l) => l.url === url);
    assert.equal((start?.config as { dataDir?: string } | undefined)?.dataDir, dir);

    const health = await fetch(`${url}/healthz`);
    assert.equal(health.status, 200);
    for (const [email, password] of [
      ['admin', 'admin'],
      ['admin@localhost', 'admin'],
      ['admin@example.com', 'admin'],
    ]) {
      assert.notEqual((await login(url, email as string, password as string)).status, 200);
    }

    // An in-flight request: headers sent, body still coming when SIGTERM arrives.
    const body = JSON.stringify({ email: 'nobody@example.com', password: PW });
    const { port } = new URL(url);
    const slow = request({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/auth/login',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    });
    const response = once(slow, 'response');
    slow.write(body.slice(0, 10));
    await sleep(200);
    const exited = once(child, 'exit');
    const signalledAt = Date.now();
    child.kill('SIGTERM');
    await sleep(300);
    // No new connections once shutting down.
    await assert.rejects(fetch(`${url}/healthz`));
    slow.end(body.slice(10));
    const [res] = (await response) as [import('node:http').IncomingMessage];
    res.resume();
    assert.equal(res.statusCode, 401);
    const [code] = await exited;
    assert.equal(code, 0);
    assert.ok(Date.now() - signalledAt < 5000, 'exits promptly');
    assert.ok(lines.some((l) => l.msg === 'Stopped'));
  });

  it('creates the first admin from COATCHECK_ADMIN_EMAIL/PASSWORD, who can sign in', {
    timeout: 30_000,
  }, async () => {
    const dir = dataDir();
    const secret = 'first-admin correct horse';
    const { child, url, lines, stderr } = await serveChild({
      COATCHECK_DATA_DIR: dir,
      COATCHECK_ADMIN_EMAIL: 'Root@Example.com',
      COATCHECK_ADMIN_PASSWORD: secret,
    });
    const res = await login(url, 'root@example.com', secret);
    assert.equal(res.status, 200);
    const { user } = (await res.json()) as { user: { roles: string[] } };
    assert.deepEqual(user.roles, ['admin', 'user']);
    const exited = once(child, 'exit');
    child.kill('SIGINT');
    assert.deepEqual(await exited, [0, null]);
    // The password is in no log line.
    assert.ok(!JSON.stringify(lines).includes(secret) && !stderr().includes(secret));
  });

  it('with its near cache warm, refuses at the very next request a session the CLI revoked, and shows a role the CLI removed', {
    timeout: 60_000,
  }, async () => {
    const dir = dataDir();
    const email = 'ops@example.com';
    const added = await cli(['user', 'add', email, '--admin', '--password-stdin'], {
      dataDir: dir,
      input: `${PW}\n`,
    });
    assert.equal(added.code, 0, added.stderr);
    const { child, url, lines } = await serveChild({ COATCHECK_DATA_DIR: dir });
    try {
      assert.ok(
        lines.some((l) => (l.config as { nearCache?: boolean } | undefined)?.nearCache === true),
      );
      const signIn = async () => {
        const res = await login(url, email, PW);
        assert.equal(res.status, 200);
        return (res.headers.getSetCookie()[0] ?? '').split(';')[0] ?? '';
      };
      const session = (cookie: string) => fetch(`${url}/auth/session`, { headers: { cookie } });

      const first = await signIn();
      for (let i = 0; i < 3; i++) assert.equal((await session(first)).status, 200);
      const revoke = await cli(['sessions', 'revoke', email, '--all'], { dataDir: dir });
      assert.equal(revoke.code, 0, revoke.stderr);
      assert.equal((await session(first)).status, 401, 'revoked by another process');

      const second = await signIn();
      for (let i = 0; i < 3; i++) assert.equal((await session(second)).status, 200);
      const demote = await cli(['user', 'set-roles', email, 'user'], { dataDir: dir });
      assert.equal(demote.code, 0, demote.stderr);
      const after = await session(second);
      assert.equal(after.status, 200);
      const { user } = (await after.json()) as { user: { roles: string[] } };
      assert.deepEqual(user.roles, ['user'], 'the removed role is gone at the next request');
    } finally {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('exits 1 with every problem listed when the configuration is bad', async () => {
    const child = spawn(process.execPath, [MAIN, 'serve'], {
      env: childEnv({ COATCHECK_DATA_DIR: dataDir(), NODE_ENV: 'production', COATCHECK_PORT: 'x' }),
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const [code] = await once(child, 'exit');
    assert.equal(code, 1);
    assert.match(stderr, /Invalid configuration \(2 problems\)/);
    assert.match(stderr, /COATCHECK_PORT/);
    assert.match(stderr, /COATCHECK_PUBLIC_URL: is required when NODE_ENV=production/);
  });
});

describe('startServer', () => {
  it('creates the first admin only in an empty database, never a second one', async () => {
    const dir = dataDir();
    const logger = createLogger({ level: 'silent' });
    const first = { email: 'first@example.com', password: PW };
    const a = await startServer(testConfig({ dataDir: dir, bootstrapAdmin: first }), { logger });
    await a.close();
    const later = { email: 'later@example.com', password: PW };
    const b = await startServer(testConfig({ dataDir: dir, bootstrapAdmin: later }), { logger });
    await b.close();
    await a.close(); // idempotent
    const services = createServices(testConfig({ dataDir: dir }));
    assert.equal(await services.users.count(), 1);
    const admin = await services.users.findByEmail('first@example.com');
    assert.deepEqual(admin?.roles, ['admin', 'user']);
    // Sign-up's session was ended: the operator did not sign in as the admin.
    assert.deepEqual(await services.sessions.listByUser(admin.id), []);
    await services.close();
  });

  it('rejects with a readable error when the port is taken, and closes the stores', async () => {
    const logger = createLogger({ level: 'silent' });
    const a = await startServer(testConfig({ dataDir: dataDir() }), { logger });
    const port = Number(new URL(a.url).port);
    await assert.rejects(
      startServer(testConfig({ dataDir: dataDir(), port }), { logger }),
      /Cannot listen on 127\.0\.0\.1:\d+ \(in use: set COATCHECK_PORT\)/,
    );
    await a.close();
  });
});
