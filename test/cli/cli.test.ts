import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { COMMANDS } from '../../src/cli/main.ts';
import { AccountLockedError } from '../../src/core/errors.ts';
import { testConfig } from '../../src/server/config.ts';
import { createServices, type Services } from '../../src/server/services.ts';
import { MIGRATIONS, openSqliteDatabase, schemaVersion } from '../../src/stores/sqlite.ts';
import { cli, freshDataDir, PW } from './run-cli.ts';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A fresh data dir and the server's services on it, in this process (like a running server). */
function fixture(): { dataDir: string; services: Services } {
  const dataDir = freshDataDir();
  dirs.push(dataDir);
  return { dataDir, services: createServices(testConfig({ dataDir })) };
}

/** `user add` through the CLI, password on stdin; asserts success. */
async function addUser(dataDir: string, email: string, ...flags: string[]): Promise<void> {
  const run = await cli(['user', 'add', email, '--password-stdin', ...flags], {
    dataDir,
    input: `${PW}\n`,
  });
  assert.equal(run.code, 0, run.stderr);
}

describe('coatcheck --help', () => {
  it('lists every command, and every command has its own --help with an example', async () => {
    const dataDir = freshDataDir();
    dirs.push(dataDir);
    const top = await cli(['--help'], { dataDir });
    assert.equal(top.code, 0);
    for (const c of COMMANDS) assert.ok(top.stdout.includes(c.name), c.name);
    const runs = await Promise.all(
      COMMANDS.map((c) => cli([...c.name.split(' '), '--help'], { dataDir })),
    );
    for (const [i, run] of runs.entries()) {
      const name = COMMANDS[i]?.name;
      assert.equal(run.code, 0, `${name}: ${run.stderr}`);
      assert.ok(run.stdout.startsWith(`Usage: coatcheck ${name}`), run.stdout);
      assert.match(run.stdout, /Examples?:\n {2}/);
      assert.match(run.stdout, /--config <path>/);
    }
  });

  it('explains why user add never takes a password argument', async () => {
    const run = await cli(['help', 'user', 'add'], { dataDir: freshDataDir() });
    assert.match(run.stdout, /--password-stdin/);
    assert.match(run.stdout, /COATCHECK_PASSWORD/);
    assert.match(run.stdout, /\(ps,/);
  });
});

describe('usage errors exit 2 with one line', { concurrency: true }, () => {
  const cases: [string, string[], RegExp][] = [
    ['no command', [], /^Usage: coatcheck <command>/],
    ['unknown command', ['frobnicate'], /unknown command "frobnicate"/],
    ['group without subcommand', ['user'], /user needs a subcommand: user add/],
    ['unknown subcommand', ['sessions', 'purge'], /unknown command "sessions purge"/],
    ['unknown option', ['migrate', '--bogus'], /Unknown option '--bogus'/],
    ['missing email', ['user', 'add'], /missing arguments/],
    ['bad email', ['user', 'lock', 'not-an-email'], /: the first argument is not an email address/],
    ['bad role', ['user', 'set-roles', 'a@example.com', 'user,Root'], /each role must match/],
    ['no password', ['user', 'add', 'a@example.com'], /no password: pipe it in/],
    [
      'neither id nor --all',
      ['sessions', 'revoke', 'a@example.com'],
      /either a session id or --all/,
    ],
    ['both id and --all', ['sessions', 'revoke', 'a@example.com', 'x', '--all'], /either/],
  ];
  for (const [what, args, message] of cases) {
    it(`refuses ${what}`, async () => {
      const run = await cli(args, { dataDir: freshDataDir() });
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, message);
      if (args.length > 0) assert.equal(run.stderr.trimEnd().split('\n').length, 1, run.stderr);
      assert.equal(run.stdout, '');
    });
  }

  it('refuses a password given as an argument without printing it back', async () => {
    for (const args of [
      ['user', 'add', 'a@example.com', 'Hunter2-secret-pw'],
      ['user', 'add', 'a@example.com', '--password=Hunter2-secret-pw'],
      ['user', 'add', 'Hunter2-secret-pw'],
    ]) {
      const run = await cli(args, { dataDir: freshDataDir() });
      assert.equal(run.code, 2);
      assert.ok(!run.stderr.includes('Hunter2'), run.stderr);
    }
  });
});

describe('coatcheck migrate', () => {
  it('creates the schema, prints its version, and is idempotent', async () => {
    const { dataDir, services } = fixture();
    await services.close();
    const first = await cli(['migrate'], { dataDir });
    const second = await cli(['migrate'], { dataDir });
    assert.equal(first.code, 0, first.stderr);
    assert.equal(second.code, 0, second.stderr);
    assert.match(first.stdout, new RegExp(`schema version ${MIGRATIONS.length} of`));
    assert.match(second.stdout, /up to date/);
    const db = openSqliteDatabase(join(dataDir, 'coatcheck.db'));
    assert.equal(schemaVersion(db), MIGRATIONS.length);
    db.close();
  });

  it('fails with exit 1 and every problem on a bad configuration', async () => {
    const run = await cli(['migrate'], {
      dataDir: freshDataDir(),
      env: { COATCHECK_PORT: 'x', COATCHECK_COOKIE_SAMESITE: 'none' },
    });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /2 problems/);
  });
});

describe('coatcheck user', () => {
  it('user add stores an argon2id hash and leaves no session behind', async () => {
    const { dataDir, services } = fixture();
    await addUser(dataDir, 'Ada@Example.com', '--name', 'Ada');
    const env = await cli(['user', 'add', 'root@example.com', '--admin'], {
      dataDir,
      env: { COATCHECK_PASSWORD: PW },
    });
    assert.equal(env.code, 0, env.stderr);
    const ada = await services.users.findByEmail('ada@example.com');
    assert.ok(ada);
    assert.match(ada.passwordHash, /^\$argon2id\$v=19\$m=\d+,t=\d+,p=1\$/);
    assert.deepEqual([ada.name, ada.roles], ['Ada', ['user']]);
    assert.deepEqual(await services.sessions.listByUser(ada.id), []);
    const root = await services.users.findByEmail('root@example.com');
    assert.deepEqual(root?.roles, ['admin', 'user']);
    // The stored password is the one piped in (one trailing newline removed).
    await services.accounts.login({ email: 'ada@example.com', password: PW });
    await services.close();
  });

  it('user add refuses a weak password and a taken email with exit 1', async () => {
    const { dataDir, services } = fixture();
    const weak = await cli(['user', 'add', 'a@example.com', '--password-stdin'], {
      dataDir,
      input: 'password1',
    });
    assert.equal(weak.code, 1);
    assert.match(weak.stderr, /most commonly used/);
    assert.equal(await services.users.count(), 0);
    await addUser(dataDir, 'a@example.com');
    const again = await cli(['user', 'add', 'A@example.com'], {
      dataDir,
      env: { COATCHECK_PASSWORD: PW },
    });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already exists/);
    await services.close();
  });

  it('user add refuses a password on stdin that is not UTF-8 or spans lines, with exit 1', async () => {
    const { dataDir, services } = fixture();
    for (const input of [
      Buffer.from([...Buffer.from('Abc-'), 0xff, 0xfe, ...Buffer.from('-Horse-96')]),
      `${PW}\n\n`,
      `${PW}\nsecond line`,
    ]) {
      const run = await cli(['user', 'add', 'a@example.com', '--password-stdin'], {
        dataDir,
        input,
      });
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr, /not valid UTF-8|spans lines/);
    }
    assert.equal(await services.users.count(), 0);
    await services.close();
  });

  it('user set-roles: a gained role ends the sessions, a removed one is gone at once', async () => {
    const { dataDir, services } = fixture();
    const { issued } = await services.accounts.signup({ email: 'bob@example.com', password: PW });
    const promote = await cli(['user', 'set-roles', 'bob@example.com', 'user,editor'], { dataDir });
    assert.equal(promote.code, 0, promote.stderr);
    assert.match(promote.stdout, /roles user,editor \(were user\); ended 1 session/);
    assert.equal((await services.engine.validate(issued.token)).ok, false);
    const { issued: again } = await services.accounts.login({
      email: 'bob@example.com',
      password: PW,
    });
    assert.equal(
      (await cli(['user', 'set-roles', 'bob@example.com', 'user'], { dataDir })).code,
      0,
    );
    const result = await services.engine.validate(again.token);
    assert.ok(result.ok);
    assert.deepEqual(result.user.roles, ['user']);
    await services.close();
  });

  it('user lock refuses an existing session on the next validate; unlock allows sign-in', async () => {
    const { dataDir, services } = fixture();
    const { issued } = await services.accounts.signup({ email: 'eve@example.com', password: PW });
    assert.equal((await services.engine.validate(issued.token)).ok, true);
    const lock = await cli(['user', 'lock', 'eve@example.com'], { dataDir });
    assert.equal(lock.code, 0, lock.stderr);
    assert.match(lock.stdout, /eve@example\.com: locked; ended 1 session/);
    // The lock also deletes the sessions (as the admin API does), so the token is unknown now.
    const refused = await services.engine.validate(issued.token);
    assert.equal(refused.ok, false);
    await assert.rejects(
      services.accounts.login({ email: 'eve@example.com', password: PW }),
      AccountLockedError,
    );
    const unlock = await cli(['user', 'unlock', 'eve@example.com'], { dataDir });
    assert.equal(unlock.code, 0, unlock.stderr);
    await services.accounts.login({ email: 'eve@example.com', password: PW });
    assert.equal((await services.engine.validate(issued.token)).ok, false, 'stays ended');
    await services.close();
  });

  it('fails with exit 1 for an unknown user', async () => {
    const run = await cli(['user', 'lock', 'ghost@example.com'], { dataDir: freshDataDir() });
    assert.equal(run.code, 1);
    assert.equal(run.stderr, 'coatcheck user lock: no user with email ghost@example.com\n');
  });
});

describe('coatcheck sessions', () => {
  it("lists a user's sessions (ids, never tokens) and revokes one or all", async () => {
    const { dataDir, services } = fixture();
    const client = {
      ip: '203.0.113.9',
      userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/131.0',
    };
    const a = (await services.accounts.signup({ email: 'kim@example.com', password: PW }, client))
      .issued;
    const b = (await services.accounts.login({ email: 'kim@example.com', password: PW })).issued;
    const c = (await services.accounts.login({ email: 'kim@example.com', password: PW })).issued;

    const table = await cli(['sessions', 'list', 'kim@example.com'], { dataDir });
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^ID +DEVICE +IP +CREATED +LAST SEEN +EXPIRES\n/);
    assert.match(table.stdout, /Firefox 131 on Linux +203\.0\.113\.9/);
    const json = await cli(['sessions', 'list', 'kim@example.com', '--json'], { dataDir });
    const listed = JSON.parse(json.stdout) as { id: string }[];
    assert.deepEqual(listed.map((s) => s.id).sort(), [a, b, c].map((i) => i.session.id).sort());
    for (const issued of [a, b, c]) {
      const secret = issued.token.split('.')[1] ?? '';
      assert.ok(!json.stdout.includes(secret) && !table.stdout.includes(secret));
    }

    const one = await cli(['sessions', 'revoke', 'kim@example.com', a.session.id], { dataDir });
    assert.equal(one.code, 0, one.stderr);
    assert.equal(one.stdout, 'kim@example.com: ended 1 session\n');
    assert.equal((await services.engine.validate(a.token)).ok, false);
    assert.equal((await services.engine.validate(b.token)).ok, true);

    const wrong = await cli(['sessions', 'revoke', 'kim@example.com', a.session.id], { dataDir });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /has no live session/);
    // A whole token given for the id: refused without printing it back.
    const token = await cli(['sessions', 'revoke', 'kim@example.com', b.token], { dataDir });
    assert.equal(token.code, 1);
    assert.match(token.stderr, /give the id, not the token/);
    assert.equal(token.stderr.includes(b.token.split('.')[1] as string), false);

    const all = await cli(['sessions', 'revoke', 'kim@example.com', '--all'], { dataDir });
    assert.equal(all.stdout, 'kim@example.com: ended 2 sessions\n');
    assert.equal((await services.engine.validate(c.token)).ok, false);
    const none = await cli(['sessions', 'list', 'kim@example.com'], { dataDir });
    assert.equal(none.stdout, 'kim@example.com has no live sessions\n');
    await services.close();
  });

  it('ends every session of every user with --everyone, and audits it once', async () => {
    const { dataDir, services } = fixture();
    const one = await services.accounts.signup({ email: 'one@example.com', password: PW });
    const two = await services.accounts.signup({ email: 'two@example.com', password: PW });
    const again = await services.accounts.login({ email: 'two@example.com', password: PW });
    const misuse = await cli(['sessions', 'revoke', 'one@example.com', '--everyone'], { dataDir });
    assert.equal(misuse.code, 2);
    assert.equal((await services.engine.validate(one.issued.token)).ok, true);

    const run = await cli(['sessions', 'revoke', '--everyone'], { dataDir });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'ended 3 sessions of every user\n');
    for (const issued of [one.issued, two.issued, again.issued]) {
      assert.equal((await services.engine.validate(issued.token)).ok, false);
    }
    const [event] = await services.audit.list({ limit: 1 });
    assert.deepEqual(
      [event?.type, event?.userId, event?.detail?.scope, event?.detail?.count],
      ['session.revoked_all', null, 'everyone', 3],
    );
    await services.close();
  });

  it("will not revoke another user's session by id", async () => {
    const { dataDir, services } = fixture();
    await services.accounts.signup({ email: 'one@example.com', password: PW });
    const other = await services.accounts.signup({ email: 'two@example.com', password: PW });
    const run = await cli(['sessions', 'revoke', 'one@example.com', other.issued.session.id], {
      dataDir,
    });
    assert.equal(run.code, 1);
    assert.equal((await services.engine.validate(other.issued.token)).ok, true);
    await services.close();
  });
});
