import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  InvalidCredentialsError,
  InvalidInputError,
  NotFoundError,
  ReauthRequiredError,
  WeakPasswordError,
} from '../../src/core/errors.ts';
import { CLIENT, PW, rejectsWith, S, setup } from './setup.ts';

describe('re-authentication and password change', () => {
  it('requires a fresh session for revoking others; reauth refreshes it with a new id', async () => {
    const t = setup();
    const a = await t.signup('ada@example.test');
    t.clock.now += 11 * 60 * S; // past the 10-minute fresh window
    const stale = await t.signedIn(a.token);
    await rejectsWith(t.accounts.revokeOtherSessions(stale.session), ReauthRequiredError);
    await rejectsWith(
      t.accounts.reauth(stale.session, stale.user, 'not my password', CLIENT),
      InvalidCredentialsError,
    );
    assert.equal((await t.events('reauth.failed')).length, 1);
    const issued = await t.accounts.reauth(stale.session, stale.user, PW, CLIENT);
    assert.notEqual(issued.session.id, a.session.id);
    assert.equal(issued.session.authenticatedAt, t.clock.now);
    const fresh = await t.signedIn(issued.token);
    assert.ok(t.engine.isFresh(fresh.session));
    assert.equal(await t.accounts.revokeOtherSessions(fresh.session), 0);
    assert.equal((await t.events('reauth.succeeded')).length, 1);
    t.clock.now += 31 * S; // past the rotation grace window
    assert.equal((await t.engine.validate(a.token)).ok, false, 'the pre-reauth token died');
  });

  it('password change kills the other sessions and rotates the current one', async () => {
    const t = setup();
    const a = await t.signup('ada@example.test');
    const other = await t.accounts.login({ email: 'ada@example.test', password: PW }, CLIENT);
    const newPassword = 'a whole new passphrase';
    const issued = await t.accounts.changePassword(
      a.session,
      a.user,
      { currentPassword: PW, newPassword },
      CLIENT,
    );
    assert.equal(
      (await t.engine.validate(other.issued.token)).ok,
      false,
      'other device out at once',
    );
    assert.notEqual(issued.session.id, a.session.id);
    assert.equal(issued.revokedSessions, 1, 'the other device is counted');
    await t.signedIn(issued.token);
    assert.equal(
      (await t.engine.validate(a.token)).ok,
      true,
      'old token lives for the grace window',
    );
    t.clock.now += 31 * S;
    await t.signedIn(issued.token);
    // After it, the old token is refused (and its reuse revokes the chain: suspected theft).
    assert.equal((await t.engine.validate(a.token)).ok, false, '… and not a moment longer');
    await rejectsWith(
      t.accounts.login({ email: 'ada@example.test', password: PW }, CLIENT),
      InvalidCredentialsError,
    );
    assert.ok(await t.accounts.login({ email: 'ada@example.test', password: newPassword }, CLIENT));
    const [event] = await t.events('password.changed');
    assert.equal(event?.detail?.revokedSessions, 1);
  });

  it('refuses a wrong or missing current password and a weak new one, hash unchanged', async () => {
    const t = setup();
    const a = await t.signup('ada@example.test');
    const before = (await t.users.findById(a.id))?.passwordHash;
    const change = (body: unknown) => t.accounts.changePassword(a.session, a.user, body, CLIENT);
    await rejectsWith(
      change({ currentPassword: 'wrong one!', newPassword: 'fine new pass' }),
      InvalidCredentialsError,
    );
    await rejectsWith(change({ newPassword: 'fine new pass' }), InvalidInputError);
    await rejectsWith(change({ currentPassword: PW, newPassword: ['x'] }), InvalidInputError);
    await rejectsWith(
      change({ currentPassword: PW, newPassword: 'password123' }),
      WeakPasswordError,
    );
    await rejectsWith(
      change({ currentPassword: PW, newPassword: 'ada@example.test' }),
      WeakPasswordError,
    );
    assert.equal((await t.users.findById(a.id))?.passwordHash, before);
    await t.signedIn(a.token);
  });
});

describe('own sessions', () => {
  it('lists handles only and revokes only the caller’s own sessions', async () => {
    const t = setup();
    const a = await t.signup('ada@example.test');
    const a2 = await t.accounts.login({ email: 'ada@example.test', password: PW }, CLIENT);
    const b = await t.signup('bob@example.test');
    const list = await t.accounts.listSessions(a.session);
    assert.equal(list.length, 2);
    assert.equal(list.find((s) => s.current)?.id, a.session.id);
    assert.ok(!JSON.stringify(list).includes(a.token.split('.')[1] ?? '?'), 'no secrets listed');
    await rejectsWith(t.accounts.revokeSession(a.session, b.session.id), NotFoundError);
    await rejectsWith(t.accounts.revokeSession(a.session, { id: 1 }), NotFoundError);
    await t.signedIn(b.token);
    await t.accounts.revokeSession(a.session, a2.issued.session.id, CLIENT);
    assert.equal((await t.engine.validate(a2.issued.token)).ok, false);
    assert.equal((await t.events('session.revoked')).length, 1);
    await t.accounts.revokeSession(a.session, a.session.id, CLIENT); // the current one: a logout
    assert.equal((await t.engine.validate(a.token)).ok, false);
  });

  it('needs a fresh session to revoke another of your sessions', async () => {
    const t = setup();
    await t.signup('ada@example.test');
    const a2 = await t.accounts.login({ email: 'ada@example.test', password: PW }, CLIENT);
    t.clock.now += 11 * 60 * S;
    const a = await t.accounts.login({ email: 'ada@example.test', password: PW }, CLIENT);
    t.clock.now += 11 * 60 * S;
    const stale = await t.signedIn(a.issued.token);
    await rejectsWith(
      t.accounts.revokeSession(stale.session, a2.issued.session.id),
      ReauthRequiredError,
    );
  });
});
