import {
  auditCli,
  COMMON_HELP,
  type Command,
  emailArg,
  findUser,
  plural,
  withServices,
} from './command.ts';

/** `coatcheck user lock`: refuses the user's sign-ins and ends every session they have. */
export const userLockCommand: Command = {
  name: 'user lock',
  summary: 'lock an account and end all its sessions',
  positionals: 1,
  help: `Usage: coatcheck user lock <email>

Locks the account: its sessions are deleted and refused from the server's next request on, and
sign-in is refused (after a correct password, with "account locked"). Works beside a running
server: both use the same database file.

Example:
  coatcheck user lock mallory@example.com
${COMMON_HELP}`,
  run: (args, io) => setLocked(args.positionals[0], true, args, io),
};

/** `coatcheck user unlock`: allows the user to sign in again. */
export const userUnlockCommand: Command = {
  name: 'user unlock',
  summary: 'unlock an account',
  positionals: 1,
  help: `Usage: coatcheck user unlock <email>

Unlocks the account so the user can sign in again. Sessions ended by the lock stay ended.

Example:
  coatcheck user unlock mallory@example.com
${COMMON_HELP}`,
  run: (args, io) => setLocked(args.positionals[0], false, args, io),
};

async function setLocked(
  emailInput: string | undefined,
  locked: boolean,
  args: Parameters<Command['run']>[0],
  io: Parameters<Command['run']>[1],
): Promise<number> {
  const email = emailArg(emailInput);
  const { was, revoked } = await withServices(args, io, async (services) => {
    const user = await findUser(services, email);
    await services.users.update(user.id, { locked });
    // As the admin API does (accounts/admin.ts): a lock also deletes the sessions, so they cannot
    // come back to life on unlock (ASVS 5.0 V7.4.2).
    const revoked = locked ? await services.engine.revokeAll(user.id) : 0;
    if (!locked) await services.engine.invalidateUser(user.id);
    await auditCli(services, locked ? 'user.locked' : 'user.unlocked', user.id, {
      revokedSessions: revoked,
    });
    return { was: user.locked, revoked };
  });
  const state = locked ? 'locked' : 'unlocked';
  const note = was === locked ? ` (was already ${state})` : '';
  const ended = locked ? `; ended ${plural(revoked, 'session')}` : '';
  io.out(`${email}: ${state}${note}${ended}\n`);
  return 0;
}
