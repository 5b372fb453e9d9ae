import { randomBytes } from 'node:crypto';
import type { ClientInfo, IssuedSession, SessionEngine, SessionView } from '../core/engine.ts';
import {
  EmailTakenError,
  type FieldIssue,
  UnauthenticatedError,
  WeakPasswordError,
} from '../core/errors.ts';
import type { AuditLog, SessionRecord, SessionUser } from '../core/store.ts';
import { type Actor, adminRevokeAll, adminRevokeEveryone, setLocked, setRoles } from './admin.ts';
import type { BreachCheck } from './breached.ts';
import { type AccountsContext, eventRecorder } from './context.ts';
import { Credentials, type PasswordOperation, refuseThrottled } from './credentials.ts';
import { asObject, collect, readEmail, readFlag, readName, throwIssues } from './input.ts';
import { PasswordHasher } from './password.ts';
import { checkPasswordPolicy, readPassword } from './password-policy.ts';
import { type PublicUser, toPublicUser } from './public-user.ts';
import * as own from './sessions.ts';
import { THROTTLE_PRESETS, Throttle } from './throttle.ts';
import type { UserRecord, UserStore } from './user-store.ts';

/** Options of Accounts. `users`, `engine` and `audit` are required. */
export interface AccountsOptions {
  users: UserStore;
  engine: SessionEngine;
  audit: AuditLog;
  /** @default new PasswordHasher() (ASVS parameters) */
  hasher?: PasswordHasher;
  /** Per-process limiters; see throttle.ts. @default THROTTLE_PRESETS */
  throttles?: { loginPerAccount?: Throttle; loginPerIp?: Throttle; signupPerIp?: Throttle };
  /** Roles of a new account. @default ['user'] */
  defaultRoles?: readonly string[];
  /** Clock in epoch ms; give it the engine's clock. @default Date.now */
  now?: () => number;
  /**
   * Refuses new passwords found in a breach corpus (sign-up, password change), e.g.
   * `pwnedPasswordsCheck()`. @default none (only the common-password list, offline)
   */
  breachCheck?: BreachCheck;
}

/** A signed-in user and the session to set as a cookie. */
export interface SignedIn {
  readonly user: PublicUser;
  readonly issued: IssuedSession;
}

/**
 * Sign-up, sign-in, sign-out, re-authentication, password change and session management on top of
 * a UserStore and a SessionEngine. Every session it issues has a brand-new id (no fixation), every
 * password check is throttled per account and per IP, and every outcome lands in the audit log.
 * IP throttling needs `client.ip`; without it only the per-account limit applies.
 */
export class Accounts {
  readonly #ctx: AccountsContext;
  readonly #hasher: PasswordHasher;
  readonly #credentials: Credentials;
  readonly #signupPerIp: Throttle;
  readonly #defaultRoles: readonly string[];
  readonly #breachCheck: BreachCheck | null;

  constructor(options: AccountsOptions) {
    const now = options.now ?? Date.now;
    const t = options.throttles ?? {};
    this.#ctx = {
      users: options.users,
      engine: options.engine,
      now,
      record: eventRecorder(options.audit, now),
    };
    this.#hasher = options.hasher ?? new PasswordHasher();
    this.#breachCheck = options.breachCheck ?? null;
    this.#credentials = new Credentials(this.#ctx, this.#hasher, {
      perAccount: t.loginPerAccount ?? new Throttle({ ...THROTTLE_PRESETS.loginPerAccount, now }),
      perIp: t.loginPerIp ?? new Throttle({ ...THROTTLE_PRESETS.loginPerIp, now }),
    });
    this.#signupPerIp = t.signupPerIp ?? new Throttle({ ...THROTTLE_PRESETS.signupPerIp, now });
    this.#defaultRoles = Object.freeze([...(options.defaultRoles ?? ['user'])]);
  }

  /**
   * Creates an account and signs it in. Sign-up does reveal that an email is taken
   * (EmailTakenError): hiding it needs an email round-trip we don't have, so instead every attempt
   * counts against a per-IP limit, which bounds enumeration through this door.
   */
  async signup(input: unknown, client: ClientInfo = {}): Promise<SignedIn> {
    const { users, engine, now } = this.#ctx;
    const ip = client.ip ?? null;
    if (ip !== null) {
      const wait = this.#signupPerIp.blockedForSeconds(ip, now());
      if (wait > 0) {
        await refuseThrottled(this.#ctx, wait, null, client, { operation: 'signup', scope: 'ip' });
      }
      this.#signupPerIp.recordFailure(ip, now());
    }
    const body = asObject(input) ?? {};
    const issues: FieldIssue[] = [];
    const email = collect(issues, () => readEmail(body.email), '');
    const name = collect(issues, () => readName(body.name), null);
    if (typeof body.password !== 'string') {
      issues.push({ field: 'password', message: 'must be a string' });
    }
    throwIssues(issues);
    const password = checkPasswordPolicy(body.password, 'password', [email, name]);
    await this.#refuseBreached(password);
    if ((await users.findByEmail(email)) !== null) throw new EmailTakenError();
    const at = now();
    const user: UserRecord = {
      id: newUserId(),
      email,
      name,
      roles: this.#defaultRoles,
      locked: false,
      passwordHash: await this.#hasher.hash(password),
      passwordChangedAt: at,
      createdAt: at,
    };
    if (!(await users.create(user))) throw new EmailTakenError(); // lost a race for the email
    const issued = await engine.create(user, { ...client, authenticatedAt: at });
    await this.#ctx.record('signup', { userId: user.id, client, sessionId: issued.session.id });
    return { user: toPublicUser(user), issued };
  }

  /**
   * Signs in with a brand-new session id; the session presented with the request, if any, is
   * revoked (fixation). `currentSessionId` must come from `engine.validate`, never from a raw
   * cookie. An unknown email costs one dummy hash and fails exactly like a wrong password.
   */
  async login(
    input: unknown,
    client: ClientInfo = {},
    options: { currentSessionId?: string | null } = {},
  ): Promise<SignedIn> {
    const { users, engine, now } = this.#ctx;
    const body = asObject(input) ?? {};
    const issues: FieldIssue[] = [];
    const email = collect(issues, () => readEmail(body.email), '');
    const password = collect(issues, () => readPassword(body.password), '');
    const remember = collect(issues, () => readFlag(body.remember, 'remember'), false);
    throwIssues(issues);
    const find = () => users.findByEmail(email);
    const checked = await this.#credentials.verify(email, find, password, client, 'login');
    const user = checked.user;
    if (options.currentSessionId) await engine.revoke(options.currentSessionId);
    const issued = await engine.create(user, { ...client, remember, authenticatedAt: now() });
    await this.#ctx.record('login.succeeded', {
      userId: user.id,
      client,
      sessionId: issued.session.id,
      detail: { method: 'password', remember, rehashed: checked.rehashed },
    });
    return { user: toPublicUser(user), issued };
  }

  /** Ends the session server-side. See sessions.ts. */
  logout(session: SessionRecord, client?: ClientInfo): Promise<void> {
    return own.logout(this.#ctx, session, client);
  }

  /** Re-enters the password: refreshes `authenticatedAt` and rotates the session (new id). */
  async reauth(
    session: SessionRecord,
    user: SessionUser,
    password: unknown,
    client: ClientInfo = {},
  ): Promise<IssuedSession> {
    const typed = readPassword(password);
    const owner = await this.#verifyOwner(session, user, typed, client, 'reauth');
    const issued = await this.#ctx.engine.rotate(session, owner, {
      authenticatedAt: this.#ctx.now(),
    });
    if (issued === null) throw new UnauthenticatedError('The session has ended. Sign in again.');
    await this.#ctx.record('reauth.succeeded', {
      userId: owner.id,
      client,
      sessionId: issued.session.id,
      detail: { previousSessionId: session.id },
    });
    return issued;
  }

  /**
   * Changes the password (current one required, ASVS 6.2.3), revokes every other session and
   * rotates this one (ASVS 7.4.3). Returns the session to set as the new cookie, and how many
   * other sessions were revoked.
   */
  async changePassword(
    session: SessionRecord,
    user: SessionUser,
    input: unknown,
    client: ClientInfo = {},
  ): Promise<IssuedSession & { readonly revokedSessions: number }> {
    const { users, engine, now } = this.#ctx;
    const body = asObject(input) ?? {};
    const issues: FieldIssue[] = [];
    const current = collect(
      issues,
      () => readPassword(body.currentPassword, 'currentPassword'),
      '',
    );
    if (typeof body.newPassword !== 'string') {
      issues.push({ field: 'newPassword', message: 'must be a string' });
    }
    throwIssues(issues);
    const next = checkPasswordPolicy(body.newPassword, 'newPassword', [user.email, user.name]);
    const owner = await this.#verifyOwner(session, user, current, client, 'password.change');
    await this.#refuseBreached(next);
    const at = now();
    const updated = await users.update(owner.id, {
      passwordHash: await this.#hasher.hash(next),
      passwordChangedAt: at,
    });
    if (updated === null) throw new UnauthenticatedError();
    const revoked = await engine.revokeAll(owner.id, { exceptId: session.id });
    const issued = await engine.rotate(session, updated, { authenticatedAt: at });
    // A concurrent request rotated or ended this session: end the rest too, and say so.
    if (issued === null) await engine.revokeAll(owner.id);
    await this.#ctx.record('password.changed', {
      userId: owner.id,
      client,
      sessionId: issued?.session.id ?? session.id,
      detail: { revokedSessions: revoked, previousSessionId: session.id },
    });
    if (issued === null) throw new UnauthenticatedError('Password changed. Sign in again.');
    return { ...issued, revokedSessions: revoked };
  }

  /** The caller's live sessions, the current one marked. See sessions.ts. */
  listSessions(session: SessionRecord): Promise<SessionView[]> {
    return own.listSessions(this.#ctx, session);
  }

  /** Revokes one of the caller's own sessions (others' ids: NotFoundError). See sessions.ts. */
  revokeSession(session: SessionRecord, targetId: unknown, client?: ClientInfo): Promise<void> {
    return own.revokeSession(this.#ctx, session, targetId, client);
  }

  /** Revokes all the caller's other sessions (fresh session required). See sessions.ts. */
  revokeOtherSessions(session: SessionRecord, client?: ClientInfo): Promise<number> {
    return own.revokeOtherSessions(this.#ctx, session, client);
  }

  /** Admin: replaces a user's roles; a gain revokes their sessions. See admin.ts. */
  setRoles(
    actor: Actor,
    targetUserId: unknown,
    roles: unknown,
    client?: ClientInfo,
  ): Promise<PublicUser> {
    return setRoles(this.#ctx, actor, targetUserId, roles, client);
  }

  /** Admin: locks (ending every session) or unlocks a user. See admin.ts. */
  setLocked(
    actor: Actor,
    targetUserId: unknown,
    locked: unknown,
    client?: ClientInfo,
  ): Promise<PublicUser> {
    return setLocked(this.#ctx, actor, targetUserId, locked, client);
  }

  /** Admin: ends every session of a user; returns how many were live. See admin.ts. */
  adminRevokeAll(actor: Actor, targetUserId: unknown, client?: ClientInfo): Promise<number> {
    return adminRevokeAll(this.#ctx, actor, targetUserId, client);
  }

  /** Admin: ends every session of every user but the actor's current one; returns how many. */
  adminRevokeEveryone(actor: Actor, client?: ClientInfo): Promise<number> {
    return adminRevokeEveryone(this.#ctx, actor, client);
  }

  /** WeakPasswordError('breached') when the breach check finds the new password. */
  async #refuseBreached(password: string): Promise<void> {
    if (this.#breachCheck === null || !(await this.#breachCheck(password))) return;
    throw new WeakPasswordError(
      'breached',
      'This password has appeared in a data breach. Choose another.',
    );
  }

  /** Password check for a signed-in user (re-auth, password change), throttled like login. */
  async #verifyOwner(
    session: SessionRecord,
    user: SessionUser,
    password: string,
    client: ClientInfo,
    operation: PasswordOperation,
  ): Promise<UserRecord> {
    const owner = session.userId === user.id ? await this.#ctx.users.findById(user.id) : null;
    if (owner === null) throw new UnauthenticatedError();
    const load = async () => owner;
    return (await this.#credentials.verify(owner.email, load, password, client, operation)).user;
  }
}

/** A user id: 128 random bits from the CSPRNG, base64url (opaque; never derived from the email). */
function newUserId(): string {
  return randomBytes(16).toString('base64url');
}
