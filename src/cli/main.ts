import packageJson from '../../package.json' with { type: 'json' };
import { CoatcheckError, ConfigError } from '../core/errors.ts';
import {
  type CliIo,
  type Command,
  CommandFailure,
  parseCommandArgs,
  UsageError,
} from './command.ts';
import { downloadServerCommand } from './download-server.ts';
import { keysListCommand, keysRotateCommand } from './keys.ts';
import { migrateCommand } from './migrate.ts';
import { serveCommand } from './serve.ts';
import { sessionsListCommand } from './sessions-list.ts';
import { sessionsRevokeCommand } from './sessions-revoke.ts';
import { userAddCommand } from './user-add.ts';
import { userLockCommand, userUnlockCommand } from './user-lock.ts';
import { userSetRolesCommand } from './user-set-roles.ts';

/**
 * `coatcheck <command>`: the entry point. Exit codes: 0 done, 1 failed (bad configuration, unknown
 * user, database error), 2 usage error (unknown command, bad or missing arguments).
 */

/** Every command, in the order `coatcheck --help` lists them. */
export const COMMANDS: readonly Command[] = [
  serveCommand,
  migrateCommand,
  userAddCommand,
  userSetRolesCommand,
  userLockCommand,
  userUnlockCommand,
  sessionsListCommand,
  sessionsRevokeCommand,
  keysRotateCommand,
  keysListCommand,
  downloadServerCommand,
];

const HELP = `Usage: coatcheck <command> [options]

Stateful session authentication: the Coatcheck server and its administration.

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(17)}${c.summary}`).join('\n')}

Run "coatcheck <command> --help" for a command's options and examples. Every command reads the
same settings as the server (COATCHECK_* variables or --config <path>), so it works on the same
database file, also while the server runs.

Options:
  -h, --help       show this help
  --version        print the version`;

/** The real process as CliIo. */
export const processIo: CliIo = {
  env: process.env,
  stdin: process.stdin,
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** Runs one command line (without `node` and the script) and resolves to its exit code. Never rejects. */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const [first, second] = argv;
  if (first === undefined) {
    io.err(`${HELP}\n`);
    return 2;
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    const target = first === 'help' ? find(argv.slice(1)) : undefined;
    io.out(`${target?.help ?? HELP}\n`);
    return 0;
  }
  if (first === '--version') {
    io.out(`${packageJson.version}\n`);
    return 0;
  }
  const command = find(argv);
  if (command === undefined) {
    const group = COMMANDS.filter((c) => c.name.startsWith(`${first} `)).map((c) => c.name);
    const message =
      group.length > 0
        ? second === undefined || second.startsWith('-')
          ? `${first} needs a subcommand: ${group.join(', ')}`
          : `unknown command "${first} ${second}"; try ${group.join(', ')}`
        : `unknown command "${first}"`;
    io.err(`coatcheck: ${message} (see coatcheck --help)\n`);
    return 2;
  }
  const rest = argv.slice(command.name.split(' ').length);
  try {
    const args = parseCommandArgs(command, rest);
    if (args.values.help === true) {
      io.out(`${command.help}\n`);
      return 0;
    }
    return await command.run(args, io);
  } catch (error) {
    return report(command, error, io);
  }
}

function find(argv: readonly string[]): Command | undefined {
  return COMMANDS.find((c) => {
    const words = c.name.split(' ');
    return words.every((w, i) => argv[i] === w);
  });
}

/** One clear line (a bad configuration lists each problem) and the exit code for it. */
function report(command: Command, error: unknown, io: CliIo): number {
  const prefix = `coatcheck ${command.name}`;
  if (error instanceof UsageError) {
    io.err(`${prefix}: ${error.message} (see coatcheck ${command.name} --help)\n`);
    return 2;
  }
  if (error instanceof ConfigError || error instanceof CommandFailure) {
    io.err(`${prefix}: ${error.message}\n`);
    return 1;
  }
  if (error instanceof CoatcheckError) {
    const cause = error.cause instanceof Error ? ` (${error.cause.message})` : '';
    io.err(`${prefix}: ${error.message}${cause}\n`);
    return 1;
  }
  const message = error instanceof Error ? error.message : String(error);
  io.err(`${prefix}: failed: ${message}\n`);
  return 1;
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
