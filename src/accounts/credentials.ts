import type { ClientInfo } from '../core/engine.ts';
import { AccountLockedError, InvalidCredentialsError, ThrottledError } from '../core/errors.ts';
import type { AccountsContext } from './context.ts';
import type { PasswordHasher } from './password.ts';
import type { Throttle } from './throttle.ts';
import type { UserRecord } from './user-store.ts';

/** Which flow is checking a password; named in audit events. */
export type PasswordOperation = 'login' | 'reauth' | 'password.change';

/** Refuses with ThrottledError (Retry-After) after recording a `login.throttled` event. */
export async function refuseThrottled(
  ctx: AccountsContext,
  seconds: number,
  userId: string | null,
  client: ClientInfo,
  detail: { operation: string; scope: 'account' | 'ip' },
): Promise<never> {
  await ctx.record('login.throttled', {
    userId,
    client,
    detail: { ...detail, retryAfterSeconds: seconds },
  });
  throw new ThrottledError(seconds);
}

/**
 * Password checks for every flow (login, re-auth, password change): throttled per account
 * (normalised email) and per IP, audited, constant-cost for unknown accounts, and re-hashed at
 * today's parameters on success (OWASP Password Storage, "Upgrading the Work Factor").
 */
export class Credentials {
  readonly #ctx: AccountsContext;
  readonly #hasher: PasswordHasher;
  readonly #perAccount: Throttle;
  readonly #perIp: Throttle;

  constructor(
    ctx: AccountsContext,
    hasher: PasswordHasher,
    throttles: { perAccount: Throttle; perIp: Throttle },
  ) {
    this.#ctx = ctx;
    this.#hasher = hasher;
    this.#perAccount = throttles.perAccount;
    this.#perIp = throttles.perIp;
  }

  /**
   * Checks a password for the account behind `email` (`load` finds it; null when unknown, which
   * costs the dummy hash and fails the same way). Refuses with ThrottledError while the account
   * or the IP is blocked, before any hashing; unknown emails are throttled like known ones.
   * Throws InvalidCredentialsError, or AccountLockedError but only after the right password.
   * Returns the user record, re-hashed when its parameters are outdated.
   */
  async verify(
    email: string,
    load: () => Promise<UserRecord | null>,
    password: string,
    client: ClientInfo,
    operation: PasswordOperation,
  ): Promise<{ user: UserRecord; rehashed: boolean }> {
    const now = this.#ctx.now();
    const ip = client.ip ?? null;
    const account = this.#perAccount.blockedForSeconds(email, now);
    const byIp = ip === null ? 0 : this.#perIp.blockedForSeconds(ip, now);
    if (account > 0 || byIp > 0) {
      const scope = account >= byIp ? 'account' : 'ip';
      const userId = (await load())?.id ?? null;
      return refuseThrottled(this.#ctx, Math.max(account, byIp), userId, client, {
        operation,
        scope,
      });
    }
    // Counted as a failure now, in the same synchronous step as the check, so a burst of
    // concurrent guesses cannot all pass the check while the first hashes run; a success
    // refunds it.
    this.#perAccount.recordFailure(email, now);
    if (ip !== null) this.#perIp.recordFailure(ip, now);

    const user = await load();
    let result = { ok: false, needsRehash: false };
    if (user === null) await this.#hasher.verifyDummy(password);
    else result = await this.#hasher.verify(password, user.passwordHash);
    const failedType = operation === 'login' ? 'login.failed' : 'reauth.failed';
    if (user === null || !result.ok) {
      // The email typed for an unknown account is not logged: people type passwords there.
      const reason = user === null ? 'unknown_user' : 'wrong_password';
      await this.#ctx.record(failedType, {
        userId: user?.id ?? null,
        client,
        detail: { method: 'password', operation, reason },
      });
      throw new InvalidCredentialsError();
    }
    if (user.locked) {
      await this.#ctx.record(failedType, {
        userId: user.id,
        client,
        detail: { method: 'password', operation, reason: 'locked' },
      });
      throw new AccountLockedError();
    }
    // The account starts afresh; the IP only gets this attempt back, or one good account
    // would launder an attacking IP's count.
    this.#perAccount.reset(email);
    if (ip !== null) this.#perIp.refund(ip, this.#ctx.now());
    if (!result.needsRehash) return { user, rehashed: false };
    const passwordHash = await this.#hasher.hash(password);
    const updated = await this.#ctx.users.update(user.id, { passwordHash });
    return { user: updated ?? user, rehashed: updated !== null };
  }
}
