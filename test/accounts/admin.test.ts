import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AccountLockedError,
  ForbiddenError,
  InvalidCredentialsError,
  InvalidInputError,
  NotFoundError,
  ReauthRequiredError,
} from '../../src/core/errors.ts';
import { CLIENT, PW, rejectsWith, S, setup } from './setup.ts';

describe('admin', () => {
  it('refuses non-admins and stale admin sessions', async () => {
    const t = setup();
    const user = await t.signup('user@x.test');
    const admin = await t.makeAdmin('admin@x.test');
    await rejectsWith(t.accounts.setRoles(user, admin.id, ['user']), ForbiddenError);
    await rejectsWith(t.accounts.setLocked(user, admin.id, true), ForbiddenError);
    await rejectsWith(t.accounts.adminRevokeAll(user, admin.id), ForbiddenError);
    await rejectsWith(t.accounts.adminRevokeEveryone(user), ForbiddenError);
    assert.equal((await t.engine.validate(admin.token)).ok, true, 'a refusal ends nothing');
    t.clock.now += 11 * 60 * S;
    const stale = await t.signedIn(admin.token);
    await rejectsWith(t.accounts.setRoles(stale, user.id, ['admin']), ReauthRequiredError);
    await rejectsWith(t.accounts.setRoles(admin, 'no-such-id', ['user']), ReauthRequiredError);
  });

  it('validates roles and targets', async () => {
    const t = setup();
    const user = await t.signup('user@x.test');
    const admin = await t.makeAdmin('admin@x.test');
    for (const roles of [[], 'admin', ['Admin'], ['x'.repeat(33)], [1], Array(33).fill('a')]) {
      await rejectsWith(t.accounts.setRoles(admin, user.id, roles), InvalidInputError);
    }
    await rejectsWith(t.accounts.setRoles(admin, 'no-such-id', ['user']), NotFoundError);
    const updated = await t.accounts.setRoles(admin, user.id, ['user', 'editor', 'user']);
    assert.deepEqual(updated.roles, ['user', 'editor']);
    await rejectsWith(t.accounts.setLocked(admin, admin.id, true), InvalidInputError);
    await rejectsWith(t.accounts.setRoles(admin, admin.id, ['user']), InvalidInputError);
    assert.deepEqual((await t.signedIn(admin.token)).user.roles, ['user', 'admin']);
    await rejectsWith(t.accounts.setLocked(admin, user.id, 'yes'), InvalidInputError);
  });

  it('a promotion revokes the target’s sessions; a demoted admin is not admin at next validate', async () => {
    const t = setup();
    const user = await t.signup('user@x.test');
    const admin = await t.makeAdmin('admin@x.test');
    const other = await t.makeAdmin('other@x.test');
    await t.accounts.setRoles(admin, user.id, ['user', 'admin'], CLIENT);
    assert.equal((await t.engine.validate(user.token)).ok, false, 'new privileges, new session');
    await t.accounts.setRoles(admin, other.id, ['user'], CLIENT);
    const demoted = await t.signedIn(other.token);
    assert.deepEqual(demoted.user.roles, ['user']);
    await rejectsWith(t.accounts.setRoles(demoted, admin.id, ['user']), ForbiddenError);
    const changes = await t.events('user.roles_changed');
    assert.equal(changes.length, 2);
    assert.ok(changes.every((e) => e.detail?.actor === admin.id && e.ip === CLIENT.ip));
  });

  it('a lock rejects the user’s sessions at once and refuses login; unlock restores it', async () => {
    const t = setup();
    const user = await t.signup('user@x.test');
    const admin = await t.makeAdmin('admin@x.test');
    const locked = await t.accounts.setLocked(admin, user.id, true, CLIENT);
    assert.equal(locked.locked, true);
    assert.equal((await t.engine.validate(user.token)).ok, false);
    const login = (password: string) =>
      t.accounts.login({ email: 'user@x.test', password }, CLIENT);
    await rejectsWith(login(PW), AccountLockedError);
    await rejectsWith(login('a wrong guess'), InvalidCredentialsError);
    await t.accounts.setLocked(admin, user.id, false, CLIENT);
    assert.ok(await login(PW));
    assert.equal((await t.events('user.locked'))[0]?.detail?.actor, admin.id);
    assert.equal((await t.events('user.unlocked')).length, 1);
  });

  it('revokes all of a user’s sessions', async () => {
    const t = setup();
    const user = await t.signup('user@x.test');
    const second = await t.accounts.login({ email: 'user@x.test', password: PW }, CLIENT);
    const admin = await t.makeAdmin('admin@x.test');
    assert.equal(await t.accounts.adminRevokeAll(admin, user.id, CLIENT), 2);
    for (const token of [user.token, second.issued.token]) {
      assert.equal((await t.engine.validate(token)).ok, false);
    }
    const [event] = await t.events('session.revoked_all');
    assert.deepEqual([event?.userId, event?.detail?.actor], [user.id, admin.id]);
  });

  it('ends every session of every user but the caller’s, past the first page of users', async () => {
    const t = setup();
    const admin = await t.makeAdmin('admin@x.test');
    const adminElsewhere = await t.engine.create(admin.user);
    // 1,200 users straight into the store (no hashing): more than two pages of 500.
    const tokens: string[] = [];
    for (let i = 0; i < 1200; i++) {
      const user = {
        id: `u${i}`,
        email: `u${i}@x.test`,
        name: null,
        roles: ['user'],
        locked: false,
      };
      await t.users.create({ ...user, passwordHash: 'x', passwordChangedAt: 0, createdAt: 0 });
      tokens.push((await t.engine.create(user)).token);
    }
    assert.equal(await t.accounts.adminRevokeEveryone(admin, CLIENT), 1201);
    for (const token of [...tokens, adminElsewhere.token]) {
      assert.equal((await t.engine.validate(token)).ok, false);
    }
    assert.equal((await t.engine.validate(admin.token)).ok, true, 'the caller stays signed in');
    const [event] = await t.events('session.revoked_all');
    assert.deepEqual(
      [event?.userId, event?.detail?.actor, event?.detail?.scope, event?.detail?.count],
      [null, admin.id, 'everyone', 1201],
    );
  });
});
