import { createUser } from '../server/bootstrap.ts';
import {
  type CliIo,
  COMMON_HELP,
  type Command,
  CommandFailure,
  emailArg,
  UsageError,
  withServices,
} from './command.ts';

/** `coatcheck user add`: creates an account; the password never comes from argv. */
export const userAddCommand: Command = {
  name: 'user add',
  summary: 'create an account (--admin for an administrator)',
  positionals: 1,
  options: {
    name: { type: 'string' },
    admin: { type: 'boolean' },
    'password-stdin': { type: 'boolean' },
  },
  help: `Usage: coatcheck user add <email> [--name <name>] [--admin] [--password-stdin]

Creates an account with roles "user", or "admin,user" with --admin (this is how to make the
first administrator without COATCHECK_ADMIN_EMAIL/PASSWORD). The password must pass the same
policy as a sign-up: at least 8 characters, at most 256 bytes, not a common password.

The password is read from standard input with --password-stdin (one trailing newline is
removed), otherwise from the COATCHECK_PASSWORD environment variable. It is never accepted as
a command-line argument: any user on the machine can read other processes' arguments (ps,
/proc/<pid>/cmdline), and shells keep them in their history.

Options:
  --name <name>       display name
  --admin             give the account the roles admin and user
  --password-stdin    read the password from standard input

Examples:
  printf '%s' "$PASSWORD" | coatcheck user add ada@example.com --admin --password-stdin
  COATCHECK_PASSWORD="$PASSWORD" coatcheck user add bob@example.com --name Bob
${COMMON_HELP}`,
  async run(args, io) {
    const email = emailArg(args.positionals[0]);
    const password = await readPassword(args.values['password-stdin'] === true, io);
    const name = typeof args.values.name === 'string' ? args.values.name : null;
    const admin = args.values.admin === true;
    const user = await withServices(args, io, (services) =>
      createUser(services, { email, password, name }, { admin, actor: 'cli' }),
    );
    io.out(`Created ${user.email} (id ${user.id}, roles ${user.roles.join(',')})\n`);
    return 0;
  },
};

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

async function readPassword(fromStdin: boolean, io: CliIo): Promise<string> {
  if (fromStdin) {
    // A terminal would show the password as it is typed: --password-stdin is for pipes.
    if (io.stdin.isTTY === true) {
      throw new UsageError(
        `--password-stdin reads a pipe, not a terminal: printf '%s' "$PASSWORD" | coatcheck user add …`,
      );
    }
    const chunks: Buffer[] = [];
    for await (const chunk of io.stdin) chunks.push(Buffer.from(chunk));
    let text: string;
    try {
      text = STRICT_UTF8.decode(Buffer.concat(chunks)); // lenient decoding would merge passwords
    } catch {
      throw new CommandFailure('the password on stdin is not valid UTF-8');
    }
    const password = text.replace(/\r?\n$/, '');
    // Nobody can type a line break at a sign-in form: such a password could never be used.
    if (/[\r\n]/.test(password)) throw new CommandFailure('the password on stdin spans lines');
    return password;
  }
  const password = io.env.COATCHECK_PASSWORD;
  if (password !== undefined && password !== '') return password;
  throw new UsageError('no password: pipe it in with --password-stdin or set COATCHECK_PASSWORD');
}
