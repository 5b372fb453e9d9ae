import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  generateToken,
  hashSecret,
  isSessionId,
  parseToken,
  type RandomBytes,
  secretMatches,
  TOKEN_LENGTH,
  TOKEN_PREFIX,
} from '../../src/core/token.ts';

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** A CSPRNG wrapper that records every request size. */
function countingRandom(): { random: RandomBytes; sizes: number[] } {
  const sizes: number[] = [];
  return {
    sizes,
    random: (size) => {
      sizes.push(size);
      return randomBytes(size);
    },
  };
}

/** Replaces the character at `index`, guaranteeing a different one. */
function flip(s: string, index: number): string {
  const c = s[index] === 'A' ? 'B' : 'A';
  return s.slice(0, index) + c + s.slice(index + 1);
}

describe('token generation', () => {
  test('issues ccs_<22-char id>.<32-char secret>, all base64url', () => {
    const { token, id, secret } = generateToken();
    assert.equal(token.length, TOKEN_LENGTH);
    assert.equal(TOKEN_LENGTH, 4 + 22 + 1 + 32);
    assert.ok(token.startsWith(TOKEN_PREFIX));
    assert.equal(token, `${TOKEN_PREFIX}${id}.${secret}`);
    assert.equal(id.length, 22);
    assert.equal(secret.length, 32);
    assert.match(id, BASE64URL);
    assert.match(secret, BASE64URL);
  });

  test('draws id and secret from the random source, each at least 16 bytes', () => {
    const { random, sizes } = countingRandom();
    generateToken(random);
    assert.equal(sizes.length, 2);
    for (const size of sizes) assert.ok(size >= 16, `randomBytes(${size}) is below 128 bits`);
    assert.ok(sizes.reduce((a, b) => a + b, 0) >= 16 + 20, 'id ≥ 120 bits and secret ≥ 160 bits');
  });

  test('takes all its randomness from the injected source (one CSPRNG to audit, no hidden state)', () => {
    const zeros: RandomBytes = (size) => new Uint8Array(size);
    const ones: RandomBytes = (size) => new Uint8Array(size).fill(0xff);
    assert.notEqual(generateToken(zeros).token, generateToken(ones).token);
    assert.equal(generateToken(zeros).token, generateToken(zeros).token);
  });

  test('100,000 tokens have no duplicate id or secret', () => {
    const ids = new Set<string>();
    const secrets = new Set<string>();
    for (let i = 0; i < 100_000; i++) {
      const { id, secret } = generateToken();
      ids.add(id);
      secrets.add(secret);
    }
    assert.equal(ids.size, 100_000);
    assert.equal(secrets.size, 100_000);
  });

  test('stores only SHA-256 of the secret, never the secret itself', () => {
    const { secret, secretHash } = generateToken();
    assert.equal(secretHash.length, 32);
    assert.deepEqual(secretHash, hashSecret(secret));
    assert.ok(!Buffer.from(secretHash).toString('latin1').includes(secret));
  });

  test('every generated token parses back to its id and secret', () => {
    for (let i = 0; i < 1000; i++) {
      const { token, id, secret } = generateToken();
      assert.deepEqual(parseToken(token), { id, secret });
      assert.ok(isSessionId(id));
    }
  });
});

describe('token parsing refuses anything not issued here', () => {
  const { token } = generateToken();

  test('rejects non-strings and the empty string', () => {
    for (const input of [undefined, null, 42, {}, [], Buffer.from(token), '']) {
      assert.equal(parseToken(input), null);
    }
  });

  test('rejects a wrong or case-flipped prefix', () => {
    assert.equal(parseToken(`ccx_${token.slice(4)}`), null);
    assert.equal(parseToken(`CCS_${token.slice(4)}`), null);
    assert.equal(parseToken(`ghp_${token.slice(4)}`), null);
  });

  test('rejects a truncated or extended token', () => {
    assert.equal(parseToken(token.slice(0, -1)), null);
    assert.equal(parseToken(`${token}A`), null);
    assert.equal(parseToken(token.slice(4)), null);
  });

  test('rejects characters outside base64url (standard base64, padding, spaces)', () => {
    for (const bad of ['+', '/', '=', ' ', '%', 'é', '\u0000']) {
      assert.equal(parseToken(token.slice(0, 10) + bad + token.slice(11)), null, bad);
      assert.equal(parseToken(token.slice(0, -1) + bad), null, bad);
    }
  });

  test('rejects a token with two dots or the dot moved', () => {
    const dot = token.indexOf('.');
    assert.equal(parseToken(`${token.slice(0, 10)}.${token.slice(11)}`), null);
    const moved = `${token.slice(0, dot - 1)}.${token[dot - 1]}${token.slice(dot + 1)}`;
    assert.equal(moved.length, TOKEN_LENGTH);
    assert.equal(parseToken(moved), null);
    assert.equal(parseToken(token.replace('.', 'A')), null);
  });

  test('rejects a non-canonical last id character (one id, one spelling)', () => {
    const dot = token.indexOf('.');
    const canonical = new Set(['A', 'Q', 'g', 'w']);
    for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_') {
      const variant = token.slice(0, dot - 1) + c + token.slice(dot);
      assert.equal(parseToken(variant) !== null, canonical.has(c), `last id char ${c}`);
    }
  });
});

describe('secret verification', () => {
  test('accepts the right secret against its stored hash', () => {
    const { secret, secretHash } = generateToken();
    assert.equal(secretMatches(secret, secretHash), true);
  });

  test('rejects another session’s secret and a tampered secret', () => {
    const a = generateToken();
    const b = generateToken();
    assert.equal(secretMatches(b.secret, a.secretHash), false);
    for (let i = 0; i < a.secret.length; i++) {
      assert.equal(secretMatches(flip(a.secret, i), a.secretHash), false);
    }
  });

  test('rejects a stored hash that differs from the right one in any single bit', () => {
    const { secret, secretHash } = generateToken();
    for (let bit = 0; bit < secretHash.length * 8; bit++) {
      const changed = new Uint8Array(secretHash);
      changed[bit >> 3] = (changed[bit >> 3] ?? 0) ^ (1 << (bit & 7));
      assert.equal(secretMatches(secret, changed), false, `bit ${bit}`);
    }
    assert.equal(secretMatches(secret, new Uint8Array(secretHash)), true);
  });

  test('rejects any hash of the wrong length without throwing', () => {
    const { secret, secretHash } = generateToken();
    assert.equal(secretMatches(secret, secretHash.subarray(0, 31)), false);
    assert.equal(secretMatches(secret, new Uint8Array(0)), false);
  });

  test('a token tampered anywhere either fails to parse or fails the secret check', () => {
    const { token, id, secretHash } = generateToken();
    for (let i = 0; i < token.length; i++) {
      const parsed = parseToken(flip(token, i));
      if (parsed === null) continue;
      // Tampering the id points at another (nonexistent) record; tampering the secret fails here.
      assert.ok(parsed.id !== id || !secretMatches(parsed.secret, secretHash), `position ${i}`);
    }
  });
});

describe('session ids', () => {
  test('isSessionId accepts only 22 base64url characters', () => {
    assert.equal(isSessionId(generateToken().id), true);
    for (const bad of ['', 'short', `${generateToken().id}A`, '+'.repeat(22), 42, null]) {
      assert.equal(isSessionId(bad), false);
    }
  });
});
