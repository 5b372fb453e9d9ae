import assert from 'node:assert/strict';
import { createHmac, createPublicKey } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { issueIdentityToken } from '../../src/tokens/identity.ts';
import {
  AUDIENCE,
  type DownloadFixture,
  ISSUER,
  pathOf,
  REPORT,
  startDownloadFixture,
  user,
} from './fixture.ts';

// Every way to get a file without a genuine, fresh, unused token for exactly that file is refused
// (401/403) and serves nothing. RFC 8725 and the "JWT download tokens" rows of the checklist.

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const FILE = '/files/users/u1/report.txt';
const RESOURCE = 'users/u1/report.txt';

describe('download tokens at the download server', () => {
  let f: DownloadFixture;
  let kid: string;
  before(async () => {
    f = await startDownloadFixture();
    kid = (await f.keys.jwks()).keys[0]?.kid as string;
  });
  after(() => f.close());

  const refused = async (token: string, status = 401, path = FILE) => {
    const res = await f.get(`${path}?token=${token}`);
    assert.equal(res.status, status, res.body.toString());
    assert.equal(res.body.includes(REPORT), false);
    assert.equal(res.headers['content-disposition'], undefined);
    assert.equal(res.headers['content-type'], 'application/problem+json');
    return res;
  };

  test('a valid download works once; the second use is refused', async () => {
    const grant = await f.mint(RESOURCE);
    const first = await f.get(pathOf(grant));
    assert.equal(first.status, 200);
    assert.equal(first.body.toString(), REPORT);
    await refused(grant.token);
    assert.equal(f.logs.at(-1)?.reason, 'replayed');
  });

  test('the same token re-encoded (padding, a trailing dot) is the same jti: refused after use', async () => {
    const grant = await f.mint(RESOURCE);
    assert.equal((await f.get(pathOf(grant))).status, 200);
    for (const variant of [`${grant.token}=`, `${grant.token}.`, grant.token.replace(/.$/, 'A')]) {
      await refused(encodeURIComponent(variant));
    }
  });

  test('no token, an empty one, two of them, or garbage: 401', async () => {
    for (const target of [FILE, `${FILE}?token=`, `${FILE}?token=a.b.c`, `${FILE}?x=1`]) {
      const res = await f.get(target);
      assert.equal(res.status, 401);
    }
    const grant = await f.mint(RESOURCE);
    const res = await f.get(`${pathOf(grant)}&token=${grant.token}`);
    assert.equal(res.status, 401);
  });

  test('an expired token is refused', async () => {
    const grant = await f.mint(RESOURCE);
    f.clock.now += 126_000; // past exp (120 s) and the 5 s tolerance
    try {
      await refused(grant.token);
    } finally {
      f.clock.now -= 126_000;
    }
  });

  test('with a longer clock tolerance, a token used late is still remembered as used until it would be refused', async () => {
    const tolerant = await startDownloadFixture({ clockToleranceSeconds: 30 });
    try {
      const grant = await tolerant.mint(RESOURCE);
      tolerant.clock.now += 140_000; // 20 s past exp (120 s): inside the 30 s tolerance
      assert.equal((await tolerant.get(pathOf(grant))).status, 200);
      tolerant.clock.now += 8_000; // still inside it: the replay record must outlive exp + 5 s
      const again = await tolerant.get(pathOf(grant));
      assert.equal(again.status, 401, again.body.toString());
      assert.equal(tolerant.logs.at(-1)?.reason, 'replayed');
    } finally {
      await tolerant.close();
    }
  });

  test('a token for another resource is refused (403) and stays usable for its own', async () => {
    const grant = await f.mint('users/u1/other.txt');
    await refused(grant.token, 403);
    assert.equal((await f.get(pathOf(grant))).status, 200);
  });

  test('wrong or missing audience, wrong issuer: refused', async () => {
    await refused(await f.sign({ ...f.claims(RESOURCE), aud: 'https://api.example.test' }));
    await refused(await f.sign({ ...f.claims(RESOURCE), aud: undefined }));
    await refused(await f.sign({ ...f.claims(RESOURCE), iss: 'https://evil.example' }));
  });

  test('missing exp, missing jti, a lifetime over 300 s, iat in the future: refused', async () => {
    const c = f.claims(RESOURCE);
    await refused(await f.sign({ ...c, exp: undefined }));
    await refused(await f.sign({ ...c, jti: undefined }));
    await refused(await f.sign({ ...c, exp: (c.iat as number) + 3600 }));
    await refused(
      await f.sign({ ...c, iat: (c.iat as number) + 600, exp: (c.iat as number) + 700 }),
    );
  });

  test('a tampered payload is refused (signature checked before any claim is used)', async () => {
    const grant = await f.mint('users/u1/other.txt');
    const [h, p, s] = grant.token.split('.');
    const claims = JSON.parse(Buffer.from(p as string, 'base64url').toString());
    await refused(`${h}.${b64({ ...claims, resource: RESOURCE })}.${s}`);
    const flipped = (p as string).replace(/^./, (ch) => (ch === 'e' ? 'f' : 'e'));
    await refused(`${h}.${flipped}.${s}`, 401, '/files/users/u1/other.txt');
  });

  test('alg none is refused', async () => {
    const header = b64({ alg: 'none', typ: 'download+jwt', kid });
    await refused(`${header}.${b64(f.claims(RESOURCE))}.`);
  });

  test('HS256 signed with the public key (JWK, raw bytes, SPKI PEM and DER) is refused', async () => {
    const jwk = (await f.keys.jwks()).keys[0];
    const spki = createPublicKey({ key: { ...jwk }, format: 'jwk' });
    const secrets = [
      JSON.stringify(jwk),
      Buffer.from(jwk?.x as string, 'base64url'),
      spki.export({ type: 'spki', format: 'pem' }),
      spki.export({ type: 'spki', format: 'der' }),
    ];
    for (const secret of secrets) {
      const input = `${b64({ alg: 'HS256', typ: 'download+jwt', kid })}.${b64(f.claims(RESOURCE))}`;
      const mac = createHmac('sha256', secret).update(input).digest('base64url');
      await refused(`${input}.${mac}`);
    }
  });

  test('an embedded jwk, or a jku/x5u pointing at the attacker, is never used or fetched', async () => {
    let fetched = 0;
    const attacker: Server = createServer((_req, res) => {
      fetched++;
      res.end('{"keys":[]}');
    });
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    const evil = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}/jwks.json`;
    try {
      const { privateKey, publicKey } = await generateKeyPair('EdDSA');
      const attackerJwk = await exportJWK(publicKey);
      const forge = (header: Record<string, unknown>) =>
        new SignJWT(f.claims(RESOURCE))
          .setProtectedHeader({ alg: 'EdDSA', typ: 'download+jwt', ...header })
          .sign(privateKey);
      await refused(await forge({ kid: 'attacker', jwk: attackerJwk }));
      await refused(await forge({ kid, jwk: attackerJwk })); // our kid, the attacker's signature
      await refused(await forge({ kid: 'attacker', jku: evil }));
      await refused(await forge({ kid, jku: evil }));
      await refused(await forge({ kid: 'attacker', x5u: evil }));
      assert.equal(fetched, 0);
    } finally {
      attacker.close();
    }
  });

  test('an unknown, missing or hostile kid is refused', async () => {
    for (const bad of ['unknown-kid', '../x', "' OR 1=1 --", '', undefined]) {
      const header = { alg: 'EdDSA', typ: 'download+jwt', kid: bad };
      const { privateKey } = await generateKeyPair('EdDSA');
      const token = await new SignJWT(f.claims(RESOURCE))
        .setProtectedHeader(header)
        .sign(privateKey);
      await refused(token);
    }
  });

  test('another kind of token signed with the same key (typ) is refused', async () => {
    await refused(await f.sign(f.claims(RESOURCE), 'identity+jwt'));
    await refused(await f.sign(f.claims(RESOURCE), 'JWT'));
    const identity = await issueIdentityToken(f.keys, {
      issuer: ISSUER,
      audience: AUDIENCE,
      user,
      sessionId: 's1',
      now: f.clock.now,
    });
    await refused(identity);
  });

  test('refusals are logged with a reason and never with the token', async () => {
    const grant = await f.mint(RESOURCE);
    await f.get(pathOf(grant));
    await f.get(pathOf(grant));
    const text = JSON.stringify(f.logs);
    assert.equal(text.includes(grant.token), false);
    assert.equal(text.includes(grant.token.split('.')[2] as string), false);
    assert.match(text, /token=\[redacted\]/);
    assert.ok(f.logs.some((l) => l.reason === 'replayed' && l.status === 401));
  });
});
