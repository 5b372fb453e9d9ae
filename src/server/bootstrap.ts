import { type PublicUser, toPublicUser } from '../accounts/public-user.ts';
import { ConfigError, EmailTakenError, WeakPasswordError } from '../core/errors.ts';
import type { Logger } from './logger.ts';
import type { Services } from './services.ts';

/** The roles of an administrator: admin rights plus everything a user may do. */
export const ADMIN_ROLES: readonly string[] = Object.freeze(['admin', 'user']);

/** What `createUser` needs from the services. */
export type UserServices = Pick<Services, 'accounts' | 'users' | 'engine' | 'audit'>;

/**
 * Creates an account through `Accounts.signup` (so the password policy, argon2id hashing, id
 * generation and the audit trail are the same as for a sign-up over HTTP), then ends the session
 * sign-up opened: an operator creating an account is not signing in as it. With `admin`, the
 * account gets ADMIN_ROLES. Throws EmailTakenError, WeakPasswordError or InvalidInputError.
 */
export async function createUser(
  services: UserServices,
  input: { email: string; password: string; name?: string | null },
  options: { admin?: boolean; actor: string },
): Promise<PublicUser> {
  const { user } = await services.accounts.signup(input);
  await services.engine.revokeAll(user.id);
  if (!options.admin) return user;
  const updated = await services.users.update(user.id, { roles: ADMIN_ROLES });
  await services.audit.record({
    type: 'user.roles_changed',
    at: Date.now(),
    userId: user.id,
    ip: null,
    sessionId: null,
    detail: { actor: options.actor, roles: ADMIN_ROLES.join(','), previous: user.roles.join(',') },
  });
  return updated === null ? user : toPublicUser(updated);
}

/**
 * First start only: creates the configured admin when the user store is empty, and does nothing
 * when any user exists (there is never a default account). Safe when two processes start at once.
 */
export async function bootstrapAdmin(
  services: UserServices,
  admin: { readonly email: string; readonly password: string } | null,
  logger: Logger,
): Promise<'created' | 'skipped'> {
  if (admin === null) return 'skipped';
  if ((await services.users.count()) > 0) {
    if ((await services.users.findByEmail(admin.email)) === null) {
      logger.warn(
        { email: admin.email },
        'COATCHECK_ADMIN_EMAIL is ignored: users already exist (it applies on first start only)',
      );
    }
    return 'skipped';
  }
  try {
    await createUser(services, admin, { admin: true, actor: 'bootstrap' });
  } catch (error) {
    if (error instanceof EmailTakenError) return 'skipped'; // another process won the race
    if (error instanceof WeakPasswordError) {
      // The config check already applied the offline rules; this is the breach screening.
      throw new ConfigError(`COATCHECK_ADMIN_PASSWORD: ${error.message}`);
    }
    throw error;
  }
  logger.info(
    { email: admin.email },
    'Created the first admin; unset COATCHECK_ADMIN_PASSWORD now, it is not needed again',
  );
  return 'created';
}
