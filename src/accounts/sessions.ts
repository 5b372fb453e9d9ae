import type { ClientInfo, SessionView } from '../core/engine.ts';
import { NotFoundError, ReauthRequiredError } from '../core/errors.ts';
import type { SessionRecord } from '../core/store.ts';
import type { AccountsContext } from './context.ts';

/**
 * A signed-in user's own sessions ("your devices"): list, sign out, revoke one, revoke the rest.
 * `session` is always the caller's current session as returned by `engine.validate`.
 */

/** Ends the session server-side. */
export async function logout(
  ctx: AccountsContext,
  session: SessionRecord,
  client: ClientInfo = {},
): Promise<void> {
  await ctx.engine.revoke(session.id);
  await ctx.record('logout', { userId: session.userId, client, sessionId: session.id });
}

/** The caller's live sessions, the current one marked; opaque handles only, never tokens. */
export function listSessions(ctx: AccountsContext, session: SessionRecord): Promise<SessionView[]> {
  return ctx.engine.list(session.userId, session.id);
}

/**
 * Revokes one of the caller's sessions. Another user's id gets NotFoundError, exactly like an
 * unknown one; the current id is a logout; any other needs a fresh session (ASVS 5.0 V7.5.2).
 */
export async function revokeSession(
  ctx: AccountsContext,
  session: SessionRecord,
  targetId: unknown,
  client: ClientInfo = {},
): Promise<void> {
  if (targetId === session.id) return logout(ctx, session, client);
  const mine = typeof targetId === 'string' ? await ctx.engine.list(session.userId) : [];
  const target = mine.find((s) => s.id === targetId);
  if (target === undefined) throw new NotFoundError('No such session.');
  if (!ctx.engine.isFresh(session)) throw new ReauthRequiredError();
  await ctx.engine.revoke(target.id);
  await ctx.record('session.revoked', {
    userId: session.userId,
    client,
    sessionId: session.id,
    detail: { revokedSessionId: target.id },
  });
}

/** Revokes all the caller's other sessions (needs a fresh session). Returns how many were live. */
export async function revokeOtherSessions(
  ctx: AccountsContext,
  session: SessionRecord,
  client: ClientInfo = {},
): Promise<number> {
  if (!ctx.engine.isFresh(session)) throw new ReauthRequiredError();
  const count = await ctx.engine.revokeAll(session.userId, { exceptId: session.id });
  await ctx.record('session.revoked_all', {
    userId: session.userId,
    client,
    sessionId: session.id,
    detail: { count },
  });
  return count;
}
