import type { ClientInfo, SessionEngine } from '../core/engine.ts';
import {
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  ReauthRequiredError,
} from '../core/errors.ts';
import type { SessionRecord, SessionUser } from '../core/store.ts';
import type { AccountsContext } from './context.ts';
import { parseRoles } from './input.ts';
import { type PublicUser, toPublicUser } from './public-user.ts';
import type { UserPatch, UserRecord, UserStore } from './user-store.ts';

/**
 * Administrator operations on other users. Every one requires the role `admin` (read fresh by
 * `engine.validate` on this very request) and a fresh session (password entered within the fresh
 * window, ASVS 5.0 V7.5.3), and each is effective at the target's next request because validate
 * reads the user's roles and lock afresh.
 *
 * Role and lock changes are written with `UserStore.updateAuthorised`, which checks once more, in
 * the same atomic step as the write, that the actor is still an unlocked admin (and stays one):
 * between validate and the write, another admin may have demoted or locked them. So the service
 * always keeps an unlocked admin, concurrent requests included: each such write leaves the actor
 * one. Two admins demoting (or locking) each other at once: the first write lands, the second is
 * refused with ForbiddenError, just as if it had arrived a moment later.
 */

/** The signed-in caller: exactly what a successful `engine.validate` returned. */
export interface Actor {
  readonly session: SessionRecord;
  readonly user: SessionUser;
}

/** The role that may use this module. */
export const ADMIN_ROLE = 'admin';

/**
 * Replaces the target's roles. Gaining a role revokes the target's sessions (fixation). An admin
 * cannot remove their own admin role.
 */
export async function setRoles(
  ctx: AccountsContext,
  actor: Actor,
  targetUserId: unknown,
  roles: unknown,
  client?: ClientInfo,
): Promise<PublicUser> {
  authoriseAdmin(ctx.engine, actor);
  const next = checkRoles(actor, targetUserId, roles);
  const { user: updated, previous: target } = await writeAsAdmin(ctx, actor, targetUserId, {
    roles: next,
  });
  const previous = target.roles;
  // A privilege gain gets a new session id at the next sign-in (OWASP Session Management, "Renew
  // the Session ID After Any Privilege Level Change"). A demotion needs nothing: validate reads
  // roles afresh (near caches are told via invalidateUser), so the lost role is gone on the next
  // request on every node. Self-promotion ends the actor's own sessions too, the current one
  // included.
  const gained = next.some((role) => !previous.includes(role));
  const revoked = gained ? await ctx.engine.revokeAll(target.id) : 0;
  if (!gained) await ctx.engine.invalidateUser(target.id);
  await ctx.record('user.roles_changed', {
    userId: target.id,
    client,
    sessionId: actor.session.id,
    detail: {
      actor: actor.user.id,
      roles: next.join(','),
      previous: previous.join(','),
      revokedSessions: revoked,
    },
  });
  return toPublicUser(updated);
}

/**
 * Checks a combined change (roles and/or lock) before any of it is written: bad roles, an admin
 * removing their own admin role, a lock flag that is not a boolean, or an admin locking themselves
 * throw InvalidInputError here, so a request changing both never applies one half and then
 * refuses the other.
 */
export function checkUserChange(
  actor: Actor,
  targetUserId: unknown,
  change: {
    roles?: unknown;
    locked?: unknown;
  },
): void {
  if (change.roles !== undefined) checkRoles(actor, targetUserId, change.roles);
  if (change.locked !== undefined) checkLock(actor, targetUserId, change.locked);
}

/**
 * The parsed roles, or InvalidInputError when they are invalid or would take the admin role from
 * the actor. Like self-lock, self-demotion is refused so the last admin cannot leave the service
 * without one (only the CLI could recover); another admin may still demote them.
 */
function checkRoles(actor: Actor, targetUserId: unknown, roles: unknown): string[] {
  const next = parseRoles(roles);
  if (targetUserId === actor.user.id && !next.includes(ADMIN_ROLE)) {
    throw new InvalidInputError([
      { field: 'roles', message: 'you cannot remove your own admin role' },
    ]);
  }
  return next;
}

/** InvalidInputError unless `locked` is a boolean and does not lock the actor out. */
function checkLock(
  actor: Actor,
  targetUserId: unknown,
  locked: unknown,
): asserts locked is boolean {
  if (typeof locked !== 'boolean') {
    throw new InvalidInputError([{ field: 'locked', message: 'must be a boolean' }]);
  }
  if (locked && targetUserId === actor.user.id) {
    throw new InvalidInputError([{ field: 'locked', message: 'you cannot lock your own account' }]);
  }
}

/** Locks (and ends every session of) or unlocks the target. An admin cannot lock themselves. */
export async function setLocked(
  ctx: AccountsContext,
  actor: Actor,
  targetUserId: unknown,
  locked: unknown,
  client?: ClientInfo,
): Promise<PublicUser> {
  authoriseAdmin(ctx.engine, actor);
  checkLock(actor, targetUserId, locked);
  const { user: updated, previous: target } = await writeAsAdmin(ctx, actor, targetUserId, {
    locked,
  });
  // validate already refuses a locked user's sessions; deleting them also frees the store and
  // keeps them from coming back to life if the account is unlocked (ASVS 5.0 V7.4.2).
  const revoked = locked ? await ctx.engine.revokeAll(target.id) : 0;
  await ctx.record(locked ? 'user.locked' : 'user.unlocked', {
    userId: target.id,
    client,
    sessionId: actor.session.id,
    detail: { actor: actor.user.id, revokedSessions: revoked },
  });
  return toPublicUser(updated);
}

/** Ends every session of the target (ASVS 5.0 V7.4.5). Returns how many were live. */
export async function adminRevokeAll(
  ctx: AccountsContext,
  actor: Actor,
  targetUserId: unknown,
  client?: ClientInfo,
): Promise<number> {
  authoriseAdmin(ctx.engine, actor);
  const target = await findTarget(ctx, targetUserId);
  const revoked = await ctx.engine.revokeAll(target.id);
  await ctx.record('session.revoked_all', {
    userId: target.id,
    client,
    sessionId: actor.session.id,
    detail: { actor: actor.user.id, count: revoked },
  });
  return revoked;
}

/** Users read per page while ending everyone's sessions. */
const EVERYONE_PAGE = 500;

/**
 * Ends every session of every user, except the session `keep` when given. User by user, so it
 * works on every store and every node's near cache hears it; sessions started after a user's turn
 * are new sign-ins and stay. Returns how many were live. No authorisation: see the callers.
 */
export async function endEveryonesSessions(
  users: Pick<UserStore, 'list'>,
  engine: SessionEngine,
  keep?: { userId: string; sessionId: string },
): Promise<number> {
  let revoked = 0;
  for (let offset = 0; ; offset += EVERYONE_PAGE) {
    const page = await users.list({ limit: EVERYONE_PAGE, offset });
    for (const user of page) {
      const except = user.id === keep?.userId ? { exceptId: keep.sessionId } : {};
      revoked += await engine.revokeAll(user.id, except);
    }
    if (page.length < EVERYONE_PAGE) break;
  }
  return revoked;
}

/**
 * Ends every session of every user but the one making the request (ASVS 5.0 V7.4.5: after a
 * breach, everyone signs in again). Audited once. Returns how many were live.
 */
export async function adminRevokeEveryone(
  ctx: AccountsContext,
  actor: Actor,
  client?: ClientInfo,
): Promise<number> {
  authoriseAdmin(ctx.engine, actor);
  const keep = { userId: actor.user.id, sessionId: actor.session.id };
  const revoked = await endEveryonesSessions(ctx.users, ctx.engine, keep);
  await ctx.record('session.revoked_all', {
    userId: null,
    client,
    sessionId: actor.session.id,
    detail: { actor: actor.user.id, count: revoked, scope: 'everyone' },
  });
  return revoked;
}

/**
 * The one admin rule, for Accounts, the admin API and the admin page: ForbiddenError unless the
 * actor holds the admin role, then ReauthRequiredError unless its session is fresh. Role first,
 * so a 403 says nothing about freshness to non-admins.
 */
export function authoriseAdmin(engine: Pick<SessionEngine, 'isFresh'>, actor: Actor): void {
  if (actor.session.userId !== actor.user.id || !actor.user.roles.includes(ADMIN_ROLE)) {
    throw new ForbiddenError();
  }
  if (!engine.isFresh(actor.session)) throw new ReauthRequiredError();
}

/**
 * Writes `patch` to the target only while the actor is still an unlocked admin who keeps the role
 * (see the top of this file): ForbiddenError when they no longer are, NotFoundError when there is
 * no such target. Returns the user as written and as it was just before, both read in the write's
 * atomic step (so no separate read of the target first).
 */
async function writeAsAdmin(
  ctx: AccountsContext,
  actor: Actor,
  targetUserId: unknown,
  patch: UserPatch,
): Promise<{ user: UserRecord; previous: UserRecord }> {
  if (!isUserId(targetUserId)) throw noSuchUser();
  const by = { userId: actor.user.id, role: ADMIN_ROLE };
  const result = await ctx.users.updateAuthorised(targetUserId, patch, by);
  if (result.status === 'refused') throw new ForbiddenError();
  if (result.status === 'no_user') throw noSuchUser();
  return result;
}

async function findTarget(ctx: AccountsContext, id: unknown): Promise<UserRecord> {
  const target = isUserId(id) ? await ctx.users.findById(id) : null;
  if (target === null) throw noSuchUser();
  return target;
}

/** A plausible user id: anything else is no user, without asking the store. */
function isUserId(id: unknown): id is string {
  return typeof id === 'string' && id.length <= 128;
}

function noSuchUser(): NotFoundError {
  return new NotFoundError('No such user.');
}
