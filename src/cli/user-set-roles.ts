import { parseRoles } from '../accounts/input.ts';
import { InvalidInputError } from '../core/errors.ts';
import {
  auditCli,
  COMMON_HELP,
  type Command,
  emailArg,
  findUser,
  plural,
  UsageError,
  withServices,
} from './command.ts';

/** `coatcheck user set-roles`: replaces a user's roles, effective on their next request. */
export const userSetRolesCommand: Command = {
  name: 'user set-roles',
  summary: "replace a user's roles",
  positionals: 2,
  help: `Usage: coatcheck user set-roles <email> <role,...>

Replaces the user's roles with the comma-separated list (role names: lower-case letters, digits,
_ and -, starting with a letter). A removed role is gone on the user's next request. A gained
role ends all of the user's sessions, so the new privilege starts with a new sign-in (a new
session id: no fixation).

Examples:
  coatcheck user set-roles ada@example.com admin,user
  coatcheck user set-roles bob@example.com user
${COMMON_HELP}`,
  async run(args, io) {
    const email = emailArg(args.positionals[0]);
    let roles: string[];
    try {
      roles = parseRoles((args.positionals[1] ?? '').split(',').map((r) => r.trim()));
    } catch (error) {
      if (!(error instanceof InvalidInputError)) throw error;
      throw new UsageError(error.issues.map((i) => i.message).join('; '));
    }
    const { revoked, previous } = await withServices(args, io, async (services) => {
      const user = await findUser(services, email);
      await services.users.update(user.id, { roles });
      // Same rule as the admin API (accounts/admin.ts): a gain ends the sessions, a loss is read
      // afresh on the next request (near caches are told).
      const gained = roles.some((role) => !user.roles.includes(role));
      const revoked = gained ? await services.engine.revokeAll(user.id) : 0;
      if (!gained) await services.engine.invalidateUser(user.id);
      await auditCli(services, 'user.roles_changed', user.id, {
        roles: roles.join(','),
        previous: user.roles.join(','),
        revokedSessions: revoked,
      });
      return { revoked, previous: user.roles };
    });
    const ended = revoked > 0 ? `; ended ${plural(revoked, 'session')}` : '';
    io.out(`${email}: roles ${roles.join(',')} (were ${previous.join(',')})${ended}\n`);
    return 0;
  },
};
