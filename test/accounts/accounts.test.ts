import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PasswordHasher } from '../../src/accounts/password.ts';
import { THROTTLE_PRESETS, Throttle } from '../../src/accounts/throttle.ts';
import type { CoatcheckError } from '../../src/core/errors.ts';
import {
  EmailTakenError,
  InvalidCredentialsError,
  InvalidInputError,
  ThrottledError,
  WeakPasswordError,
} from '../../src/core/errors.ts';
import { CLIENT, countingHasher, hasher, PW, rejectsWith, S, setup } from './setup.ts';

describe('signup', () => {
  it('creates a normalised, public user and signs them in', async () => {
    const t = setup();
    const { user, issued } = await t.accounts.signup(
      { email: '  Ada@Example.TEST ', password: PW, name: '  Ada L. ' },
      CLIENT,
    );
    assert.equal(user.email, 'ada@example.test');
    assert.equal(user.name, 'Ada L.');
    assert.deepEqual(user.roles, ['user']);
    assert.ok(!('passwordHash' in user), 'public user has no password hash');
    assert.ok(!JSON.stringify(user).includes('argon2'));
    assert.equal((await t.signedIn(issued.token)).user.id, user.id);
    const [event] = await t.events('signup');
    assert.equal(event?.userId, user.id);
    assert.equal(event?.ip, CLIENT.ip);
    assert.equal(event?.at, t.clock.now);
  });

  it('refuses an email taken in any case (and says so: sign-up is throttled per IP instead)', async () => {
    const t = setup();
    await t.signup('ada@example.test');
    await rejectsWith(
      t.accounts.signup({ email: 'ADA@example.test', password: PW }),
      EmailTakenError,
    );
  });

  it('refuses look-alikes of a taken email: full-width letters, a trailing dot', async () => {
    const t = setup();
    await t.signup('ada@example.test');
    for (const email of ['ａｄａ@example.test', 'ＡＤＡ＠ＥＸＡＭＰＬＥ.ＴＥＳＴ']) {
      await rejectsWith(t.accounts.signup({ email, password: PW }), EmailTakenError);
    }
    await rejectsWith(
      t.accounts.signup({ email: 'ada@example.test.', password: PW }),
      InvalidInputError,
    );
    const found = await t.accounts.login({ email: 'ａｄａ@example.test', password: PW }, CLIENT);
    assert.equal(found.user.email, 'ada@example.test');
  });

  it('lists every bad field at once, never a TypeError', async () => {
    const t = setup();
    for (const body of [{ email: 5, password: [1], name: 7 }, null, 'x', [], { email: [] }]) {
      await rejectsWith(t.accounts.signup(body), InvalidInputError);
    }
    await assert.rejects(t.accounts.signup({ email: 5, password: [1], name: 7 }), (err) => {
      assert.ok(err instanceof InvalidInputError);
      assert.deepEqual(err.issues.map((i) => i.field).sort(), ['email', 'name', 'password']);
      return true;
    });
    for (const email of ['no-at', '@x.test', 'a@', 'a@@x.test', 'a b@x.test', 'a\u0000@x.test']) {
      await rejectsWith(t.accounts.signup({ email, password: PW }), InvalidInputError);
    }
    await rejectsWith(
      t.accounts.signup({ email: 'n@x.test', password: PW, name: 'x'.repeat(101) }),
      InvalidInputError,
    );
  });

  it('refuses weak passwords: too short, too common, too long', async () => {
    const t = setup();
    for (const password of ['short', 'Password123', 'x'.repeat(1024 * 1024)]) {
      await rejectsWith(t.accounts.signup({ email: 'w@x.test', password }), WeakPasswordError);
    }
  });

  it('refuses a password that is the new account’s email or name', async () => {
    const t = setup();
    const refused = async (body: object) => {
      const error = await t.accounts.signup(body).catch((e: unknown) => e);
      assert.ok(error instanceof WeakPasswordError, JSON.stringify(body));
      assert.equal(error.reason, 'context_specific');
    };
    await refused({ email: 'margaret@x.test', password: 'margaret@x.test' });
    await refused({ email: 'margaret@x.test', password: 'Margaret1984' });
    await refused({ email: 'm@x.test', password: 'Grace Hopper!', name: 'Grace Hopper' });
    assert.equal(await t.users.count(), 0);
  });

  it('throttles sign-ups per IP', async () => {
    const t = setup();
    const client = { ip: '198.51.100.7' };
    for (let i = 0; i < THROTTLE_PRESETS.signupPerIp.freeFailures; i++) {
      await rejectsWith(
        t.accounts.signup({ email: 'bad', password: PW }, client),
        InvalidInputError,
      );
    }
    await rejectsWith(t.accounts.signup({ email: 'bad', password: PW }, client), InvalidInputError);
    await rejectsWith(
      t.accounts.signup({ email: 'ok@x.test', password: PW }, client),
      ThrottledError,
    );
  });
});

describe('login and logout', () => {
  it('issues a new session id at every login and revokes the one presented (fixation)', async () => {
    const t = setup();
    const first = await t.signup('ada@example.test');
    const a = await t.accounts.login({ email: 'ADA@example.test', password: PW }, CLIENT, {
      currentSessionId: first.session.id,
    });
    assert.notEqual(a.issued.session.id, first.session.id);
    assert.equal((await t.engine.validate(first.token)).ok, false, 'the pre-login session is dead');
    const b = await t.accounts.login({ email: 'ada@example.test', password: PW }, CLIENT);
    assert.notEqual(b.issued.session.id, a.issued.session.id);
    assert.equal(b.user.email, 'ada@example.test');
    const [ok] = await t.events('login.succeeded');
    assert.equal(ok?.ip, CLIENT.ip);
    assert.equal(ok?.detail?.userAgent, CLIENT.userAgent);
    assert.equal(ok?.detail?.method, 'password');
  });

  it('gives an unknown email and a wrong password the identical error', async () => {
    const t = setup();
    await t.signup('ada@example.test');
    const errors: unknown[] = [];
    for (const email of ['ada@example.test', 'nobody@example.test']) {
      await assert.rejects(
        t.accounts.login({ email, password: 'wrong password!' }, CLIENT),
        (e) => {
          errors.push(e);
          return true;
        },
      );
    }
    const [wrong, unknown] = errors as InvalidCredentialsError[];
    assert.ok(
      wrong instanceof InvalidCredentialsError && unknown instanceof InvalidCredentialsError,
    );
    assert.deepEqual([wrong.code, wrong.message], [unknown.code, unknown.message]);
    const failed = await t.events('login.failed');
    assert.equal(failed.length, 2);
    assert.ok(!JSON.stringify(failed).includes('wrong password!'), 'no password in the log');
    assert.ok(!JSON.stringify(failed).includes('nobody@'), 'no typed email in the log');
  });

  it('costs an unknown email exactly one argon2 run, like a wrong password (no timing oracle)', async () => {
    const { hasher: h, calls } = countingHasher();
    const t = setup({ hasher: h });
    await t.signup('ada@example.test');
    const cost = async (email: string) => {
      const before = calls();
      await rejectsWith(
        t.accounts.login({ email, password: 'wrong password!' }, CLIENT),
        InvalidCredentialsError,
      );
      return calls() - before;
    };
    assert.equal(await cost('ada@example.test'), 1);
    assert.equal(await cost('nobody@example.test'), 1);
  });

  it('verifies exactly as typed: an 80-byte password cut to 72 bytes or case-flipped fails', async () => {
    const t = setup();
    const password = 'Kx9!'.repeat(20);
    await t.signup('long@x.test', password);
    for (const attempt of [password.slice(0, 72), password.toLowerCase()]) {
      await rejectsWith(
        t.accounts.login({ email: 'long@x.test', password: attempt }, CLIENT),
        InvalidCredentialsError,
      );
    }
    assert.ok(await t.accounts.login({ email: 'long@x.test', password }, CLIENT));
  });

  it('refuses a 1 MB or wrongly typed password before computing any hash', async () => {
    const { hasher: h, calls } = countingHasher();
    await h.verifyDummy('warm-up'); // the start-up dummy hash is not what we count
    const t = setup({ hasher: h });
    const before = calls();
    const started = performance.now();
    const huge = 'a'.repeat(1024 * 1024);
    for (const password of [huge, [1], { a: 1 }, null, 12345678]) {
      await rejectsWith(
        t.accounts.login({ email: 'a@x.test', password }, CLIENT),
        InvalidInputError,
      );
    }
    await rejectsWith(t.accounts.signup({ email: 'a@x.test', password: huge }), WeakPasswordError);
    assert.ok(performance.now() - started < 50, 'refused well within one hash time');
    assert.equal(calls(), before, 'argon2 never ran');
  });

  it('ends the session server-side at logout', async () => {
    const t = setup();
    const a = await t.signup('ada@example.test');
    await t.accounts.logout(a.session, CLIENT);
    assert.equal((await t.engine.validate(a.token)).ok, false);
    const [event] = await t.events('logout');
    assert.deepEqual([event?.userId, event?.sessionId, event?.ip], [a.id, a.session.id, CLIENT.ip]);
  });

  it('re-hashes at the next login when the parameters change', async () => {
    const t = setup({ hasher: new PasswordHasher({ params: { memoryKiB: 12_288, passes: 3 } }) });
    const a = await t.signup('old@x.test');
    assert.match((await t.users.findById(a.id))?.passwordHash ?? '', /m=12288,t=3,p=1/);
    const today = t.make(hasher);
    await today.login({ email: 'old@x.test', password: PW }, CLIENT);
    assert.match((await t.users.findById(a.id))?.passwordHash ?? '', /m=19456,t=2,p=1/);
    const [event] = await t.events('login.succeeded');
    assert.equal(event?.detail?.rehashed, true);
    assert.ok(await today.login({ email: 'old@x.test', password: PW }, CLIENT));
  });
});

describe('login throttling', () => {
  it('throttles an account after failures from 10 IPs; other accounts are unaffected', async () => {
    const t = setup();
    await t.signup('victim@x.test');
    await t.signup('other@x.test');
    const outcomes: string[] = [];
    for (let i = 0; i < 10; i++) {
      const client = { ip: `192.0.2.${i}` };
      await assert.rejects(
        t.accounts.login({ email: 'victim@x.test', password: `guess number ${i}` }, client),
        (err: CoatcheckError) => {
          outcomes.push(err.code);
          return true;
        },
      );
    }
    assert.deepEqual(outcomes.slice(0, 6), Array(6).fill('invalid_credentials'));
    assert.deepEqual(outcomes.slice(6), Array(4).fill('too_many_requests'));
    // Even the right password waits (the block is per account, not per IP) …
    await assert.rejects(
      t.accounts.login({ email: 'victim@x.test', password: PW }, { ip: '192.0.2.99' }),
      (err) => err instanceof ThrottledError && err.retryAfterSeconds === 1,
    );
    // … but another account from an attacking IP is not.
    assert.ok(await t.accounts.login({ email: 'other@x.test', password: PW }, { ip: '192.0.2.3' }));
    assert.ok((await t.events('login.throttled')).length >= 5);
    // The delay is bounded: after Retry-After the victim signs in, which resets the count.
    t.clock.now += 1 * S;
    assert.ok(await t.accounts.login({ email: 'victim@x.test', password: PW }, CLIENT));
    await rejectsWith(
      t.accounts.login({ email: 'victim@x.test', password: 'wrong again' }, CLIENT),
      InvalidCredentialsError,
    );
  });

  it('counts concurrent guesses before hashing, so a burst cannot outrun the throttle', async () => {
    const { hasher: h, calls } = countingHasher();
    await h.verifyDummy('warm-up');
    const t = setup({ hasher: h });
    await t.signup('victim@x.test');
    const before = calls();
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) =>
        t.accounts.login(
          { email: 'victim@x.test', password: `guess ${i}` },
          { ip: `192.0.2.${i}` },
        ),
      ),
    );
    const codes = results.map((r) => (r.status === 'rejected' ? r.reason.code : 'ok'));
    assert.equal(codes.filter((c) => c === 'invalid_credentials').length, 6);
    assert.equal(codes.filter((c) => c === 'too_many_requests').length, 24);
    assert.equal(calls() - before, 6, 'only the attempts let through were hashed');
  });

  it('gives a successful login its IP attempt back, without clearing the IP’s earlier failures', async () => {
    const loginPerIp = new Throttle({ freeFailures: 2, maxDelaySeconds: 300, decaySeconds: 60 });
    const t = setup({ loginPerIp });
    await t.signup('ada@x.test');
    const client = { ip: '198.51.100.1' };
    await rejectsWith(
      t.accounts.login({ email: 'x@x.test', password: PW }, client),
      InvalidCredentialsError,
    );
    await rejectsWith(
      t.accounts.login({ email: 'y@x.test', password: PW }, client),
      InvalidCredentialsError,
    );
    assert.ok(await t.accounts.login({ email: 'ada@x.test', password: PW }, client));
    await rejectsWith(
      t.accounts.login({ email: 'z@x.test', password: PW }, client),
      InvalidCredentialsError,
    );
    await rejectsWith(
      t.accounts.login({ email: 'ada@x.test', password: PW }, client),
      ThrottledError,
    );
  });

  it('throttles an IP spraying many accounts, unknown emails included', async () => {
    const loginPerIp = new Throttle({ freeFailures: 2, maxDelaySeconds: 300, decaySeconds: 60 });
    const t = setup({ loginPerIp });
    const attacker = { ip: '198.51.100.66' };
    for (const email of ['a@x.test', 'b@x.test', 'c@x.test']) {
      await rejectsWith(
        t.accounts.login({ email, password: PW }, attacker),
        InvalidCredentialsError,
      );
    }
    await rejectsWith(
      t.accounts.login({ email: 'd@x.test', password: PW }, attacker),
      ThrottledError,
    );
    await rejectsWith(
      t.accounts.login({ email: 'd@x.test', password: PW }, CLIENT),
      InvalidCredentialsError,
    );
  });
});
