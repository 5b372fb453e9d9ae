import { endEveryonesSessions } from '../accounts/admin.ts';
import {
  auditCli,
  COMMON_HELP,
  type Command,
  CommandFailure,
  emailArg,
  findUser,
  plural,
  UsageError,
  withServices,
} from './command.ts';

/** `coatcheck sessions revoke`: ends one session of a user, all of them, or everyone's. */
export const sessionsRevokeCommand: Command = {
  name: 'sessions revoke',
  summary: "end one of a user's sessions, all of them, or every user's",
  positionals: [0, 2],
  options: { all: { type: 'boolean' }, everyone: { type: 'boolean' } },
  help: `Usage: coatcheck sessions revoke <email> <session-id>
       coatcheck sessions revoke <email> --all
       coatcheck sessions revoke --everyone

Ends the session with that id (see coatcheck sessions list), with --all every session of the
user, or with --everyone every session of every user (after a breach: everyone signs in again).
A running server refuses the revoked sessions from its next request on.

Options:
  --all       end every session of the user
  --everyone  end every session of every user

Examples:
  coatcheck sessions revoke ada@example.com 3q2-7wKxL0vZ6m1QeR8s9A
  coatcheck sessions revoke ada@example.com --all
  coatcheck sessions revoke --everyone
${COMMON_HELP}`,
  async run(args, io) {
    if (args.values.everyone === true) {
      if (args.positionals.length > 0 || args.values.all === true) {
        throw new UsageError('--everyone takes no email, session id or --all');
      }
      const revoked = await withServices(args, io, async (services) => {
        const count = await endEveryonesSessions(services.users, services.engine);
        await auditCli(services, 'session.revoked_all', null, { count, scope: 'everyone' });
        return count;
      });
      io.out(`ended ${plural(revoked, 'session')} of every user\n`);
      return 0;
    }
    if (args.positionals.length === 0) throw new UsageError('missing arguments');
    const email = emailArg(args.positionals[0]);
    const sessionId = args.positionals[1];
    const all = args.values.all === true;
    if (all === (sessionId !== undefined)) {
      throw new UsageError('give either a session id or --all');
    }
    const revoked = await withServices(args, io, async (services) => {
      const user = await findUser(services, email);
      if (all) {
        const count = await services.engine.revokeAll(user.id);
        await auditCli(services, 'session.revoked_all', user.id, { count });
        return count;
      }
      // Only a session of this user: an id alone must not reach someone else's session.
      const live = await services.engine.list(user.id);
      if (!live.some((s) => s.id === sessionId)) {
        // Not quoted when it holds a dot: a whole session token must not be printed back.
        const shown = sessionId?.includes('.') ? '(give the id, not the token)' : sessionId;
        throw new CommandFailure(`${email} has no live session ${JSON.stringify(shown)}`);
      }
      await services.engine.revoke(sessionId as string);
      await auditCli(services, 'session.revoked', user.id, {}, sessionId as string);
      return 1;
    });
    io.out(`${email}: ended ${plural(revoked, 'session')}\n`);
    return 0;
  },
};
