import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { generateKeyPair, SignJWT } from 'jose';
import { loadConfig, ServerConfigError } from '../../src/server/config.ts';
import { issueDownloadToken } from '../../src/tokens/download.ts';
import { issueIdentityToken } from '../../src/tokens/identity.ts';
import { type DownloadFixture, REPORT, startDownloadFixture } from '../download/fixture.ts';
import { assertProblem, type Harness, startServer } from '../server/harness.ts';

// JWT rows of the security checklist (docs/security.md) that had no test of their own: the
// download server against tokens it must refuse, the app against JWTs offered as sessions, and
// the configuration that keeps the download server off the app's host name.

const FILE = '/files/users/u1/report.txt';
const RESOURCE = 'users/u1/report.txt';

describe('the download server (ASVS 9.1.2, 9.2.1, 3.4.1)', () => {
  let f: DownloadFixture;
  let kid: string;
  before(async () => {
    f = await startDownloadFixture();
    kid = (await f.keys.jwks()).keys[0]?.kid as string;
  });
  after(() => f.close());

  const refused = async (token: string) => {
    const res = await f.get(`${FILE}?token=${token}`);
    assert.equal(res.status, 401, res.body.toString());
    assert.equal(res.body.includes(REPORT), false);
    assert.equal(res.headers['content-disposition'], undefined);
  };

  test('a token that is not valid yet (nbf in the future) is refused', async () => {
    const claims = f.claims(RESOURCE);
    await refused(await f.sign({ ...claims, nbf: (claims.iat as number) + 60 }));
    // The same claims without nbf are accepted: the refusal is the nbf alone.
    const res = await f.get(`${FILE}?token=${await f.sign(claims)}`);
    assert.equal(res.status, 200);
  });

  test('every answer of an https download server carries HSTS (one year, subdomains), refusals included', async () => {
    const ok = await f.get(`${FILE}?token=${(await f.mint(RESOURCE)).token}`);
    assert.equal(ok.status, 200);
    const answers = [
      ok,
      await f.get(FILE),
      await f.get('/nowhere'),
      await f.get(FILE, { method: 'POST' }),
    ];
    assert.deepEqual(
      answers.map((res) => res.status),
      [200, 401, 404, 405],
    );
    for (const res of answers) {
      assert.equal(res.headers['strict-transport-security'], 'max-age=31536000; includeSubDomains');
    }
  });

  test('a token signed with RS256, PS256 or ES256 under our kid is refused: only EdDSA is accepted', async () => {
    for (const alg of ['RS256', 'PS256', 'ES256']) {
      const { privateKey } = await generateKeyPair(alg);
      const token = await new SignJWT(f.claims(RESOURCE))
        .setProtectedHeader({ alg, typ: 'download+jwt', kid })
        .sign(privateKey);
      await refused(token);
    }
  });
});

describe('the app (ASVS 9.2.3, RFC 8725 §3.11)', () => {
  let h: Harness;
  before(async () => {
    h = await startServer({ bearerTransport: true });
  });
  after(() => h.close());

  test('a download token or an identity assertion offered as a session (cookie or bearer) is refused', async () => {
    const u = await h.createUser();
    const user = await h.services.users.findById(u.id);
    assert.ok(user);
    const download = await issueDownloadToken(h.services.keys, {
      issuer: h.base,
      downloadUrl: new URL('https://files.example.test'),
      user,
      sessionId: u.token.slice(4, 26),
      resource: `users/${u.id}/report.txt`,
      now: h.clock.now,
    });
    const identity = await issueIdentityToken(h.services.keys, {
      issuer: h.base,
      audience: h.base,
      user,
      sessionId: u.token.slice(4, 26),
      now: h.clock.now,
    });
    for (const jwt of [download.token, identity]) {
      for (const path of ['/auth/session', '/auth/verify']) {
        await assertProblem(await h.request(path, { cookie: jwt }), 401, 'unauthenticated');
        const bearer = await h.request(path, { headers: { authorization: `Bearer ${jwt}` } });
        await assertProblem(bearer, 401, 'unauthenticated');
      }
    }
  });
});

describe('the download server host (RFC 6265bis §8.5, ASVS 3.5.4)', () => {
  test('a download server on the app host name (another port) is refused in production and warned about elsewhere', () => {
    const env = {
      COATCHECK_PUBLIC_URL: 'https://app.example',
      COATCHECK_DOWNLOAD_URL: 'https://app.example:8443',
    };
    assert.throws(
      () => loadConfig({ env: { ...env, NODE_ENV: 'production' } }),
      (error: unknown) =>
        error instanceof ServerConfigError &&
        error.problems.some((p) =>
          /^COATCHECK_DOWNLOAD_URL: must be on a host name of its own/.test(p),
        ),
    );
    const warnings: string[] = [];
    loadConfig({ env, warn: (message) => warnings.push(message) });
    assert.ok(
      warnings.some((w) => /host name of its own/.test(w)),
      warnings.join('\n'),
    );
    const separate = loadConfig({
      env: { ...env, NODE_ENV: 'production', COATCHECK_DOWNLOAD_URL: 'https://files.example' },
    });
    assert.equal(separate.download.url?.origin, 'https://files.example');
  });
});
