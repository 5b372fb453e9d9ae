import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { decodeProtectedHeader } from 'jose';
import { testConfig } from '../../src/server/config.ts';
import { createServices } from '../../src/server/services.ts';
import { startRedis } from '../support/redis.ts';
import { childEnv, cli, freshDataDir, MAIN } from './run-cli.ts';

// `coatcheck keys rotate|list` beside a running server (same SQLite file), and `download-server`.

const SECRET = Buffer.alloc(32, 3).toString('base64');

describe('coatcheck keys', () => {
  it('rotate: a running server signs with the new kid at once; list shows both keys', async () => {
    const dir = freshDataDir();
    const keysSecret = Buffer.alloc(32, 3).toString('base64url');
    const services = createServices(testConfig({ dataDir: dir, keysSecret }));
    try {
      const oldKid = await services.keys.check();
      const run = await cli(['keys', 'rotate'], {
        dataDir: dir,
        env: { COATCHECK_KEYS_SECRET: SECRET },
      });
      assert.equal(run.code, 0, run.stderr);
      const newKid = /new signing key (\S+);/.exec(run.stdout)?.[1];
      assert.ok(newKid && newKid !== oldKid);
      const token = await services.keys.sign({}, { typ: 'x+jwt' });
      assert.equal(decodeProtectedHeader(token).kid, newKid);
      const kids = (await services.keys.jwks()).keys.map((k) => k.kid).sort();
      assert.deepEqual(kids, [oldKid, newKid].sort());

      const list = await cli(['keys', 'list'], { dataDir: dir });
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, new RegExp(`${newKid}\\s+created \\S+\\s+signing`));
      assert.match(
        list.stdout,
        new RegExp(`${oldKid}\\s+created \\S+\\s+retired, published until`),
      );
      assert.doesNotMatch(list.stdout, /"d"|PRIVATE/);
    } finally {
      await services.close();
    }
  });

  it('rotate --revoke: the earlier keys leave the JWKS of a running server at once', async () => {
    const dir = freshDataDir();
    const services = createServices(testConfig({ dataDir: dir }));
    try {
      const oldKid = await services.keys.check();
      const rotated = await cli(['keys', 'rotate'], { dataDir: dir });
      assert.equal(rotated.code, 0, rotated.stderr);
      const run = await cli(['keys', 'rotate', '--revoke'], { dataDir: dir });
      assert.equal(run.code, 0, run.stderr);
      const newKid = /new signing key (\S+); earlier keys are revoked/.exec(run.stdout)?.[1];
      assert.ok(newKid && newKid !== oldKid, run.stdout);
      const kids = (await services.keys.jwks()).keys.map((k) => k.kid);
      assert.deepEqual(kids, [newKid]);
      const token = await services.keys.sign({}, { typ: 'x+jwt' });
      assert.equal(decodeProtectedHeader(token).kid, newKid);
    } finally {
      await services.close();
    }
  });

  it('rotate refuses a secret the current key was not sealed with, and changes nothing', async () => {
    const dir = freshDataDir();
    const first = await cli(['keys', 'rotate'], {
      dataDir: dir,
      env: { COATCHECK_KEYS_SECRET: SECRET },
    });
    assert.equal(first.code, 0, first.stderr);
    const wrong = Buffer.alloc(32, 4).toString('base64');
    const run = await cli(['keys', 'rotate'], {
      dataDir: dir,
      env: { COATCHECK_KEYS_SECRET: wrong },
    });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /does not open/);
    assert.equal(run.stderr.includes(wrong), false);
    const list = await cli(['keys', 'list'], { dataDir: dir });
    assert.equal(list.stdout.trim().split('\n').length, 1);
  });

  it('a short keys secret is refused without being echoed', async () => {
    const short = Buffer.alloc(16, 5).toString('base64');
    const run = await cli(['keys', 'list'], {
      dataDir: freshDataDir(),
      env: { COATCHECK_KEYS_SECRET: short },
    });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /COATCHECK_KEYS_SECRET: must be at least 32 random bytes/);
    assert.equal(run.stderr.includes(short), false);
  });
});

describe('coatcheck download-server', () => {
  it('names every missing setting (exit 2)', async () => {
    const run = await cli(['download-server'], { dataDir: freshDataDir() });
    assert.equal(run.code, 2);
    for (const name of [
      'COATCHECK_PUBLIC_URL',
      'COATCHECK_DOWNLOAD_URL',
      'COATCHECK_DOWNLOAD_ROOT',
    ]) {
      assert.match(run.stderr, new RegExp(name));
    }
  });

  const serverEnv = (extra: Record<string, string> = {}) => {
    const root = freshDataDir(); // any fresh directory removed at exit: here, the download root
    return {
      COATCHECK_DATA_DIR: freshDataDir(),
      COATCHECK_PUBLIC_URL: 'http://127.0.0.1:9',
      COATCHECK_DOWNLOAD_URL: 'http://files.localhost:3001',
      COATCHECK_DOWNLOAD_ROOT: root,
      COATCHECK_DOWNLOAD_PORT: '0',
      ...extra,
    };
  };

  it('an unreachable replay store: exit 1, the password in its URL never shown', async () => {
    const env = serverEnv({ COATCHECK_DOWNLOAD_REPLAY_STORE: 'redis://:s3cret-pw@127.0.0.1:1' });
    const run = await cli(['download-server'], { dataDir: env.COATCHECK_DATA_DIR, env });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /Cannot connect to Redis for the replay guard/);
    assert.equal(`${run.stdout}${run.stderr}`.includes('s3cret-pw'), false);
  });

  it('serves until SIGTERM with its replay set in Redis when one is configured', async () => {
    const redis = await startRedis();
    try {
      const { stdout, code } = await runServer(
        serverEnv({ COATCHECK_DOWNLOAD_REPLAY_STORE: redis.url }),
      );
      assert.equal(code, 0);
      assert.match(stdout, /"replay":"redis"/);
    } finally {
      await redis.stop();
    }
  });

  /** Starts the download server, sends one token-less request, stops it with SIGTERM. */
  async function runServer(env: Record<string, string>) {
    const child = spawn(process.execPath, [MAIN, 'download-server'], {
      env: childEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      let url: string | undefined;
      for (let i = 0; i < 200 && url === undefined; i++) {
        url = /"url":"(http:\/\/[^"]+)"/.exec(stdout)?.[1];
        if (url === undefined) await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(url, stdout);
      const res = await fetch(`${url}/files/a.txt?token=abc.def.ghi`, {
        headers: { cookie: 'coatcheck=cookie-value-never-logged' },
      });
      assert.equal(res.status, 401);
      await res.text();
    } finally {
      child.kill('SIGTERM');
    }
    const code = await exited; // stdout is complete only once the child has exited
    return { stdout, code };
  }

  it('serves until SIGTERM: refuses a request without a token, masks tokens in its log', async () => {
    const { stdout, code } = await runServer(serverEnv());
    assert.equal(code, 0);
    assert.match(stdout, /"replay":"memory"/);
    assert.match(stdout, /token=\[redacted\]/);
    assert.equal(stdout.includes('abc.def.ghi'), false);
    assert.equal(stdout.includes('cookie-value-never-logged'), false);
  });
});
