import assert from 'node:assert/strict';
import { argon2 } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  type Argon2Function,
  DEFAULT_ARGON2_PARAMS,
  decodePhc,
  hashPassword,
  meetsArgon2Floor,
  PasswordHasher,
  resolveArgon2Params,
  verifyPassword,
} from '../../src/accounts/password.ts';
import {
  checkPasswordPolicy,
  MAX_PASSWORD_BYTES,
  readPassword,
} from '../../src/accounts/password-policy.ts';
import { ConfigError, InvalidInputError, WeakPasswordError } from '../../src/core/errors.ts';

const PHC = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

/** crypto.argon2 wrapped to count calls: "refused before hashing" is then an exact assertion. */
function countingArgon2(): { fn: Argon2Function; calls: () => number } {
  let calls = 0;
  const fn = ((...args: Parameters<Argon2Function>) => {
    calls++;
    return argon2(...args);
  }) as Argon2Function;
  return { fn, calls: () => calls };
}

function weakReason(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof WeakPasswordError, `expected WeakPasswordError, got ${err}`);
    return err.reason;
  }
  assert.fail('expected a WeakPasswordError');
}

describe('argon2id hashing', () => {
  it('stores a PHC argon2id string at or above the ASVS floor, under a second', async () => {
    const started = performance.now();
    const phc = await hashPassword('correct horse battery staple');
    assert.ok(performance.now() - started < 1000);
    const m = PHC.exec(phc);
    assert.ok(m, phc);
    const [memory, passes, lanes] = [Number(m[1]), Number(m[2]), Number(m[3])];
    assert.deepEqual([memory, passes, lanes], [19_456, 2, 1]);
    assert.ok(meetsArgon2Floor({ memoryKiB: memory, passes, parallelism: lanes }));
    assert.equal(Buffer.from(m[4] ?? '', 'base64').length, 16, 'salt is 16 bytes');
    assert.equal(Buffer.from(m[5] ?? '', 'base64').length, 32, 'tag is 32 bytes');
    assert.deepEqual([m[4]?.length, m[5]?.length], [22, 43], 'base64 without padding');
  });

  it('gives the same password a different salt and hash each time', async () => {
    const [a, b] = await Promise.all([
      hashPassword('same password'),
      hashPassword('same password'),
    ]);
    assert.notEqual(a, b);
    assert.notDeepEqual(decodePhc(a)?.salt, decodePhc(b)?.salt);
  });

  it('verifies the right password and refuses a wrong one', async () => {
    const phc = await hashPassword('tr0ub4dor&3 but longer');
    assert.deepEqual(await verifyPassword('tr0ub4dor&3 but longer', phc), {
      ok: true,
      needsRehash: false,
    });
    assert.equal((await verifyPassword('tr0ub4dor&3 but longe', phc)).ok, false);
  });

  it('flags a hash for rehash when the current parameters differ', async () => {
    const old = new PasswordHasher({ params: { memoryKiB: 12_288, passes: 3 } });
    const phc = await old.hash('an older password hash');
    assert.match(phc, /\$m=12288,t=3,p=1\$/);
    assert.deepEqual(await new PasswordHasher().verify('an older password hash', phc), {
      ok: true,
      needsRehash: true,
    });
    assert.deepEqual(await old.verify('an older password hash', phc), {
      ok: true,
      needsRehash: false,
    });
  });

  it('refuses parameters below the ASVS floor (OWASP 9 MiB/t=4 and 7 MiB/t=5 included)', () => {
    for (const params of [
      { memoryKiB: 19_455 },
      { passes: 1 },
      { memoryKiB: 9_216, passes: 4 },
      { memoryKiB: 7_168, passes: 5 },
      { parallelism: 0 },
      { memoryKiB: Number.NaN },
    ]) {
      assert.throws(() => resolveArgon2Params(params), ConfigError, JSON.stringify(params));
    }
    assert.ok(resolveArgon2Params({ memoryKiB: 47_104, passes: 1 }));
    assert.ok(resolveArgon2Params({ memoryKiB: 12_288, passes: 3 }));
    assert.deepEqual(resolveArgon2Params(), DEFAULT_ARGON2_PARAMS);
  });

  it('never matches a malformed or foreign stored hash, and does not throw', async () => {
    const hasher = new PasswordHasher();
    for (const bad of [
      '',
      '$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA',
      '$argon2id$v=16$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA',
      '$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA',
      '$2b$10$abcdefghijklmnopqrstuu5Q3TzX0K2bq7vF9yMAk2q4bQmKx0dS.',
    ]) {
      assert.equal((await hasher.verify('whatever password', bad)).ok, false, bad);
    }
  });
});

describe('hashing off the event loop, a bounded number at a time', () => {
  it('keeps the event loop turning while a hash is computed', async () => {
    // ~5× the default cost, so the hash spans many timer ticks; a synchronous hash would let
    // none of them run before it finished.
    const hasher = new PasswordHasher({ params: { memoryKiB: 65_536, passes: 3 } });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    try {
      await hasher.verifyDummy('warm-up');
      ticks = 0;
      await hasher.hash('correct horse battery staple');
    } finally {
      clearInterval(timer);
    }
    assert.ok(ticks >= 3, `only ${ticks} timer ticks ran during the hash`);
  });

  it('computes at most maxConcurrent hashes at once, the others in arrival order', async () => {
    let running = 0;
    let most = 0;
    const started: string[] = [];
    const fake = ((_algorithm, params, callback) => {
      running++;
      most = Math.max(most, running);
      started.push(Buffer.from(params.message as Buffer).toString());
      setTimeout(() => {
        running--;
        callback(null, Buffer.alloc(params.tagLength));
      }, 10);
    }) as Argon2Function;
    const hasher = new PasswordHasher({ argon2: fake, maxConcurrent: 2 });
    await hasher.verifyDummy('dummy'); // the start-up dummy hash, then one verification
    started.length = 0;
    most = 0;
    const names = ['a', 'b', 'c', 'd', 'e', 'f'].map((n) => `password-${n}`);
    await Promise.all(names.map((name) => hasher.hash(name)));
    assert.equal(most, 2);
    assert.deepEqual(started, names);
  });

  it('refuses a maxConcurrent that is not a positive integer', () => {
    for (const maxConcurrent of [0, -1, 1.5, Number.NaN]) {
      assert.throws(() => new PasswordHasher({ maxConcurrent }), ConfigError);
    }
  });
});

describe('password policy', () => {
  it('refuses 7 characters and accepts 8', () => {
    assert.equal(
      weakReason(() => checkPasswordPolicy('x7#kq2!')),
      'too_short',
    );
    assert.equal(checkPasswordPolicy('x7#kq2!z'), 'x7#kq2!z');
  });

  it('accepts 64 characters and more, up to the byte limit', () => {
    const long = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit sed do e'; // 64
    assert.equal([...long].length, 64);
    assert.equal(checkPasswordPolicy(long), long);
    assert.equal(checkPasswordPolicy('q'.repeat(MAX_PASSWORD_BYTES)).length, MAX_PASSWORD_BYTES);
    // 64 four-byte code points still fit.
    assert.equal(checkPasswordPolicy('🔐'.repeat(64)), '🔐'.repeat(64));
  });

  it('counts code points: 8 emoji pass though they are 16 UTF-16 units; 7 fail', () => {
    assert.equal(checkPasswordPolicy('🦊🐙🌵🎻🚲🧊🪁🫖'), '🦊🐙🌵🎻🚲🧊🪁🫖');
    assert.equal(
      weakReason(() => checkPasswordPolicy('🦊🐙🌵🎻🚲🧊🪁')),
      'too_short',
    );
    assert.equal(checkPasswordPolicy('пароль-ёж'), 'пароль-ёж');
  });

  it('refuses a 1 MB password quickly, without computing any hash', async () => {
    const argon = countingArgon2();
    const hasher = new PasswordHasher({ argon2: argon.fn });
    await hasher.verifyDummy('x'); // the dummy is made at start-up; count from here
    const before = argon.calls();
    const huge = 'a'.repeat(1024 * 1024);
    const started = performance.now();
    assert.equal(
      weakReason(() => checkPasswordPolicy(huge)),
      'too_long',
    );
    assert.throws(() => readPassword(huge), InvalidInputError);
    assert.ok(performance.now() - started < 50, 'well under one hash');
    assert.equal(argon.calls(), before, 'argon2 was not called');
    // One byte over the limit in multi-byte characters is refused too.
    assert.equal(
      weakReason(() => checkPasswordPolicy(`${'é'.repeat(128)}x`)),
      'too_long',
    );
  });

  it('verifies exactly as typed: no 72-byte truncation (bcrypt trap), no case folding', async () => {
    const password = 'Kx9!'.repeat(20); // 80 bytes
    const phc = await hashPassword(checkPasswordPolicy(password));
    assert.equal((await verifyPassword(readPassword(password), phc)).ok, true);
    assert.equal((await verifyPassword(readPassword(password.slice(0, 72)), phc)).ok, false);
    const flipped = password.replace(/[a-z]/gi, (c) =>
      c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase(),
    );
    assert.equal((await verifyPassword(readPassword(flipped), phc)).ok, false);
  });

  it('NFKC-normalises, so full-width and ASCII forms are one password', () => {
    assert.equal(checkPasswordPolicy('ｈｕｎｔｅｒ４２ｘｙ'), 'hunter42xy');
    assert.equal(readPassword('ｈｕｎｔｅｒ４２ｘｙ'), 'hunter42xy');
  });

  it('refuses the most common passwords, whatever their case', () => {
    for (const p of ['password123', 'Password123', 'PASSWORD123', 'qwertyuiop', 'iloveyou']) {
      assert.equal(
        weakReason(() => checkPasswordPolicy(p)),
        'too_common',
        p,
      );
    }
  });

  it('refuses context-specific words: the email, its local part, the name, the service', () => {
    const context = ['alexander.h@example.test', 'Ada Lovelace'];
    for (const p of [
      'alexander.h@example.test',
      'ALEXANDER.H@EXAMPLE.TEST',
      'alexander.h@example.test1!',
      'alexander.h',
      'alexander.h2024',
      'Ada Lovelace',
      'ada lovelace 1',
      'coatcheck',
      'Coatcheck123!',
      'ｃｏａｔｃｈｅｃｋ',
    ]) {
      assert.equal(
        weakReason(() => checkPasswordPolicy(p, 'password', context)),
        'context_specific',
        p,
      );
    }
    // A password that merely contains a context word, or has it after other text, is fine.
    for (const p of ['alexander the great wall', 'my ada lovelace notes', 'x coatcheck']) {
      assert.equal(checkPasswordPolicy(p, 'password', context), p);
    }
    assert.equal(checkPasswordPolicy('alexander.h2024', 'password', [null, '']), 'alexander.h2024');
  });

  it('answers wrong types with InvalidInputError naming the field, never a TypeError', () => {
    const body = JSON.parse('{"password":[1],"newPassword":{"a":1},"currentPassword":null}');
    for (const [field, value] of Object.entries(body)) {
      for (const fn of [checkPasswordPolicy, readPassword]) {
        assert.throws(
          () => fn(value, field),
          (err) => err instanceof InvalidInputError && err.issues[0]?.field === field,
        );
      }
    }
    for (const value of [undefined, 12345678, true, Symbol('x'), 10n]) {
      assert.throws(() => checkPasswordPolicy(value), InvalidInputError);
    }
  });

  it('refuses lone surrogates, which would collide once encoded as UTF-8', () => {
    assert.throws(() => checkPasswordPolicy('abcdefgh\ud800'), InvalidInputError);
    assert.throws(() => readPassword('abcdefgh\udc00'), InvalidInputError);
  });
});
