import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import { csrfTokenFor, verifyCsrfToken } from '../../src/core/csrf.ts';
import { generateToken } from '../../src/core/token.ts';

function newSession() {
  const { id, secretHash } = generateToken();
  return { id, secretHash };
}

describe('synchronizer tokens', () => {
  test('is HMAC-SHA256(secretHash, "coatcheck-csrf-v1:" + id), base64url, 43 chars', () => {
    const session = newSession();
    const expected = createHmac('sha256', session.secretHash)
      .update(`coatcheck-csrf-v1:${session.id}`)
      .digest('base64url');
    assert.equal(csrfTokenFor(session), expected);
    assert.match(csrfTokenFor(session), /^[A-Za-z0-9_-]{43}$/);
  });

  test('is stable for a session, so every form of that session carries the same token', () => {
    const session = newSession();
    assert.equal(csrfTokenFor(session), csrfTokenFor({ ...session }));
    assert.equal(verifyCsrfToken(session, csrfTokenFor(session)), true);
  });

  test('rejects the token of session A used in session B', () => {
    const a = newSession();
    const b = newSession();
    assert.equal(verifyCsrfToken(b, csrfTokenFor(a)), false);
  });

  test('rejects an old token after rotation (new id and secret hash)', () => {
    const before = newSession();
    const after = newSession();
    assert.equal(verifyCsrfToken(after, csrfTokenFor(before)), false);
  });

  test('rejects a token forged without the secret hash (same id, other key)', () => {
    const session = newSession();
    const forged = createHmac('sha256', new Uint8Array(32))
      .update(`coatcheck-csrf-v1:${session.id}`)
      .digest('base64url');
    assert.equal(verifyCsrfToken(session, forged), false);
  });

  test('does not leak the secret hash or the session id into the token', () => {
    const session = newSession();
    const token = csrfTokenFor(session);
    assert.ok(!token.includes(session.id));
    assert.ok(!token.includes(Buffer.from(session.secretHash).toString('base64url').slice(0, 8)));
  });

  test('rejects every single-character tampering', () => {
    const session = newSession();
    const token = csrfTokenFor(session);
    for (let i = 0; i < token.length; i++) {
      const c = token[i] === 'A' ? 'B' : 'A';
      assert.equal(
        verifyCsrfToken(session, token.slice(0, i) + c + token.slice(i + 1)),
        false,
        `${i}`,
      );
    }
  });

  test('rejects other spellings of the same bytes (padding, standard base64, spare bits)', () => {
    const session = newSession();
    const token = csrfTokenFor(session);
    const bytes = Buffer.from(token, 'base64url');
    assert.equal(verifyCsrfToken(session, `${token}=`), false);
    assert.equal(verifyCsrfToken(session, bytes.toString('base64')), false);
    // The last character carries 4 data bits and 2 spare bits: setting a spare bit keeps the
    // decoded bytes but changes the string, which must not verify.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(token.at(-1) ?? '');
    const twin = token.slice(0, -1) + alphabet[last ^ 1];
    assert.deepEqual(Buffer.from(twin, 'base64url'), bytes);
    assert.equal(verifyCsrfToken(session, twin), false);
  });

  test('never throws on garbage and rejects it', () => {
    const session = newSession();
    const garbage: unknown[] = [
      undefined,
      null,
      0,
      Number.NaN,
      {},
      [],
      Buffer.from(csrfTokenFor(session)),
      [csrfTokenFor(session)],
      '',
      'x'.repeat(43),
      'é'.repeat(43),
      '\uD800'.repeat(43),
      'x'.repeat(1_000_000),
      { toString: () => csrfTokenFor(session) },
    ];
    for (const candidate of garbage) assert.equal(verifyCsrfToken(session, candidate), false);
  });
});
