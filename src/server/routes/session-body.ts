import { csrfTokenFor } from '../../core/csrf.ts';
import { toView } from '../../core/engine.ts';
import type { SessionRecord, SessionUser } from '../../core/store.ts';

/**
 * GET /auth/session's body, kept per session id. Formatting it (the form token's HMAC, three ISO
 * times, JSON) cost ~50k instructions, ~12% of an uncached Redis request (callgrind and
 * --cpu-prof, bench/), and it changes only when the session is renewed or its user changes.
 * Validation still runs on every request; this keeps only what the validated state formats to.
 *
 * A kept body is reused only for a record and user equal in every field the body shows, the
 * secret hash included: with the near cache that is the very same objects; without it, a fresh
 * record read from the store is compared field by field. At most MAX_KEPT sessions are kept, the
 * oldest dropped first.
 */

const MAX_KEPT = 4096;

interface Kept {
  readonly session: SessionRecord;
  readonly user: SessionUser;
  readonly body: string;
}

const kept = new Map<string, Kept>();

/** The JSON body of GET /auth/session: `{user, session, csrfToken}` for this session and user. */
export function sessionBody(session: SessionRecord, user: SessionUser): string {
  const entry = kept.get(session.id);
  if (entry !== undefined && entry.session === session && entry.user === user) return entry.body;
  if (entry !== undefined && sameSession(entry.session, session) && sameUser(entry.user, user)) {
    // Kept with these objects from now on: a near cache refilled after its maxAge hands out new,
    // equal objects, and without this every later request compared them field by field
    // (~1.5k instructions a request, callgrind profile, bench/).
    kept.set(session.id, { session, user, body: entry.body });
    return entry.body;
  }
  const body = JSON.stringify({
    user: sessionUserView(user),
    session: toView(session, session.id),
    csrfToken: csrfTokenFor(session),
  });
  if (entry === undefined && kept.size >= MAX_KEPT) {
    kept.delete(kept.keys().next().value as string);
  }
  kept.set(session.id, { session, user, body });
  return body;
}

/** The session the caller is signed in with, as it may be shown: allowlisted fields only. */
export function sessionUserView(user: SessionUser) {
  return { id: user.id, email: user.email, name: user.name, roles: [...user.roles] };
}

/** Equal in every field the body is made of (toView's and the form token's). */
function sameSession(a: SessionRecord, b: SessionRecord): boolean {
  if (a === b) return true;
  if (
    a.id !== b.id ||
    a.createdAt !== b.createdAt ||
    a.lastSeenAt !== b.lastSeenAt ||
    a.expiresAt !== b.expiresAt ||
    a.ip !== b.ip ||
    a.userAgent !== b.userAgent ||
    a.device !== b.device
  ) {
    return false;
  }
  return Buffer.compare(a.secretHash, b.secretHash) === 0;
}

/** Equal in every field sessionUserView shows. */
function sameUser(a: SessionUser, b: SessionUser): boolean {
  if (a === b) return true;
  if (a.id !== b.id || a.email !== b.email || a.name !== b.name) return false;
  if (a.roles.length !== b.roles.length) return false;
  return a.roles.every((role, i) => role === b.roles[i]);
}
