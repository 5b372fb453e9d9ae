import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { decodeProtectedHeader } from 'jose';
import { testConfig } from '../../src/server/config.ts';
import { createServices } from '../../src/server/services.ts';
import { childEnv, cli, freshDataDir, MAIN } from './run-cli.ts';

// `coatcheck keys rotate` never leaves the servers with a signing key they cannot open by
// accident: a key is sealed the way the current one is, unless --reseal says otherwise (which
// also replaces a key whose secret is lost). A server that signs nothing starts whatever the key
// table holds.

/** A fresh secret as an operator makes one (`openssl rand -hex 32`). */
const newSecret = () => randomBytes(32).toString('hex');
/** The same secret as the server's config holds it (base64url of the bytes). */
const asConfig = (hex: string) => Buffer.from(hex, 'hex').toString('base64url');

/** `keys rotate [...flags]` with `secret` (or none); returns the run and the new kid, if any. */
async function rotate(dir: string, secret: string | null, flags: string[] = []) {
  const run = await cli(['keys', 'rotate', ...flags], {
    dataDir: dir,
    env: secret === null ? {} : { COATCHECK_KEYS_SECRET: secret },
  });
  return { ...run, kid: /new signing key (\S+);/.exec(run.stdout)?.[1] };
}

/** The kid a process with `secret` signs with (it must open the current key). */
async function signingKid(dir: string, secret: string | null): Promise<string | undefined> {
  const keysSecret = secret === null ? null : asConfig(secret);
  const services = createServices(testConfig({ dataDir: dir, keysSecret }));
  try {
    return decodeProtectedHeader(await services.keys.sign({}, { typ: 'x+jwt' })).kid;
  } finally {
    await services.close();
  }
}

async function keyCount(dir: string): Promise<number> {
  const list = await cli(['keys', 'list'], { dataDir: dir });
  return list.stdout.trim().split('\n').length;
}

describe('coatcheck keys rotate and how keys are sealed', () => {
  it('refuses to seal a new key under a secret while the current key is in the clear (a server without the secret could not open it)', async () => {
    const dir = freshDataDir();
    const first = await rotate(dir, null); // as a server without COATCHECK_KEYS_SECRET does
    assert.equal(first.code, 0, first.stderr);

    const run = await rotate(dir, newSecret());
    assert.equal(run.code, 1);
    assert.match(run.stderr, /stored in the clear/);
    assert.match(run.stderr, /every server must/i);
    assert.match(run.stderr, /coatcheck keys rotate --reseal/);
    assert.equal(await keyCount(dir), 1);
    assert.equal(await signingKid(dir, null), first.kid); // the secret-less server still signs
  });

  it('--reseal moves from clear keys to sealed ones: the new key opens only with the secret', async () => {
    const dir = freshDataDir();
    const first = await rotate(dir, null);
    const secret = newSecret();
    const run = await rotate(dir, secret, ['--reseal']);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(run.kid && run.kid !== first.kid);
    assert.equal(await signingKid(dir, secret), run.kid);
    await assert.rejects(signingKid(dir, null), /is encrypted/);
    // Back to the rule: the next plain rotation with that secret needs no flag.
    const next = await rotate(dir, secret);
    assert.equal(next.code, 0, next.stderr);
  });

  it('refuses to store a new key in the clear while the current one is sealed, and says how', async () => {
    const dir = freshDataDir();
    const secret = newSecret();
    const first = await rotate(dir, secret);
    assert.equal(first.code, 0, first.stderr);
    const run = await rotate(dir, null);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /is encrypted/);
    assert.match(run.stderr, /coatcheck keys rotate --reseal/);
    assert.equal(await keyCount(dir), 1);
  });

  it('a lost secret: --reseal with a new secret retires the key that no longer opens and says so', async () => {
    const dir = freshDataDir();
    const lost = await rotate(dir, newSecret());
    const secret = newSecret();
    const refused = await rotate(dir, secret);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /does not open/);
    assert.match(refused.stderr, /lost/);
    assert.match(refused.stderr, /--reseal/);
    assert.equal(refused.stderr.includes(secret), false);

    const run = await rotate(dir, secret, ['--reseal']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, new RegExp(`${lost.kid} did not open`));
    assert.equal(await signingKid(dir, secret), run.kid);
    const list = await cli(['keys', 'list'], { dataDir: dir });
    assert.match(list.stdout, new RegExp(`${lost.kid}\\s+created \\S+\\s+retired`));
  });

  it('--help explains the rule and --reseal', async () => {
    const run = await cli(['keys', 'rotate', '--help'], { dataDir: freshDataDir() });
    assert.equal(run.code, 0);
    assert.match(run.stdout, /--reseal/);
    assert.match(run.stdout, /every server must/i);
  });
});

/** `coatcheck serve`; resolves with its URL, or with its exit code and stderr if it stops first. */
async function serve(env: Record<string, string>) {
  const child = spawn(process.execPath, [MAIN, 'serve'], {
    env: childEnv({ COATCHECK_PORT: '0', COATCHECK_LOG_LEVEL: 'info', ...env }),
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise<{ url?: string; code?: number | null; stderr: string; stop(): void }>(
    (resolve) => {
      const stop = () => child.kill('SIGTERM');
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        const url = /"url":"(http:\/\/[^"]+)"/.exec(stdout)?.[1];
        if (url !== undefined) resolve({ url, stderr, stop });
      });
      child.on('exit', (code) => resolve({ code, stderr: `${stderr}${stdout}`, stop }));
    },
  );
}

describe('coatcheck serve over a key it cannot open', () => {
  it('starts when it signs nothing (no downloads, no identity); the JWKS still publishes the key', {
    timeout: 30_000,
  }, async () => {
    const dir = freshDataDir();
    const sealed = await rotate(dir, newSecret());
    const server = await serve({ COATCHECK_DATA_DIR: dir });
    try {
      assert.ok(server.url, server.stderr);
      assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
      const jwks = await fetch(`${server.url}/.well-known/jwks.json`);
      assert.equal(jwks.status, 200);
      const body = (await jwks.json()) as { keys: { kid: string }[] };
      assert.deepEqual(
        body.keys.map((k) => k.kid),
        [sealed.kid],
      );
    } finally {
      server.stop();
    }
  });

  it('refuses to start when it would sign identity assertions with that key', {
    timeout: 30_000,
  }, async () => {
    const dir = freshDataDir();
    await rotate(dir, newSecret());
    const server = await serve({
      COATCHECK_DATA_DIR: dir,
      COATCHECK_IDENTITY_AUDIENCE: 'https://internal.example',
    });
    server.stop();
    assert.equal(server.url, undefined);
    assert.equal(server.code, 1);
    assert.match(server.stderr, /is encrypted/);
  });
});
