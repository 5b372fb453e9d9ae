import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';
import { normaliseEmail } from '../accounts/input.ts';
import type { UserRecord } from '../accounts/user-store.ts';
import type { AuditEventType } from '../core/store.ts';
import { loadConfig, type ServerConfig } from '../server/config.ts';
import { createLogger } from '../server/logger.ts';
import { openServices, type Services } from '../server/services.ts';

/** What a command may touch of the outside world (the real process, or a test's fakes). */
export interface CliIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdin: NodeJS.ReadableStream & { readonly isTTY?: boolean };
  out(text: string): void;
  err(text: string): void;
}

/** Parsed arguments: option values by name and the positionals, in order. */
export interface CliArgs {
  readonly values: Readonly<Record<string, string | boolean | (string | boolean)[] | undefined>>;
  readonly positionals: readonly string[];
}

/** One `coatcheck <command>`: its help text, its options and what it does. */
export interface Command {
  /** The words that select it, e.g. `user add`. */
  readonly name: string;
  /** One line for `coatcheck --help`. */
  readonly summary: string;
  /** The full `--help` text, starting with the usage line. */
  readonly help: string;
  /** Options besides the --help and --config every command has. */
  readonly options?: ParseArgsOptionsConfig;
  /** Exact number of positionals, or [min, max]. */
  readonly positionals: number | readonly [number, number];
  /** Runs the command; resolves to the process exit code. */
  run(args: CliArgs, io: CliIo): Promise<number>;
}

/** A mistake in how the command was called: exit code 2, with a pointer to --help. */
export class UsageError extends Error {}

/** The command was understood but could not be done (unknown user, …): exit code 1. */
export class CommandFailure extends Error {}

/** Options every command accepts. */
export const COMMON_OPTIONS: ParseArgsOptionsConfig = Object.freeze({
  help: { type: 'boolean', short: 'h' },
  config: { type: 'string' },
});

/** The help lines for COMMON_OPTIONS, appended to every command's help. */
export const COMMON_HELP = `
Common options:
  --config <path>  JSON config file (else COATCHECK_CONFIG); environment variables override it
  -h, --help       show this help`;

/** parseArgs, strict, with its errors turned into UsageError and the positional count checked. */
export function parseCommandArgs(command: Command, argv: readonly string[]): CliArgs {
  if (argv.some((a) => a === '--password' || a.startsWith('--password='))) {
    throw new UsageError(
      'passwords are never taken as arguments (other users can read them with ps); see --help',
    );
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: { ...COMMON_OPTIONS, ...command.options },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const [min, max] =
    typeof command.positionals === 'number'
      ? [command.positionals, command.positionals]
      : command.positionals;
  const n = parsed.positionals.length;
  if (n < min && parsed.values.help !== true) throw new UsageError('missing arguments');
  // The extra argument is not quoted back: it may be a password typed in the wrong place.
  if (n > max) throw new UsageError(`too many arguments (expected at most ${max})`);
  return { values: parsed.values, positionals: parsed.positionals };
}

/** The configuration the server would use, from the environment and `--config`. */
export function configFor(args: CliArgs, io: CliIo): ServerConfig {
  const configPath = typeof args.values.config === 'string' ? args.values.config : undefined;
  return loadConfig({ env: io.env, ...(configPath ? { configPath } : {}) });
}

/**
 * Runs `fn` on the server's own services over the same stores (the SQLite file in WAL mode, or
 * Redis/PostgreSQL: safe beside a running server, which reads fresh state per request; with a near
 * cache the CLI's changes are published like the server's), and closes them afterwards.
 */
export async function withServices<T>(
  args: CliArgs,
  io: CliIo,
  fn: (services: Services) => Promise<T>,
): Promise<T> {
  const services = await openServices(configFor(args, io), {
    logger: createLogger({ level: 'silent' }),
  });
  try {
    return await fn(services);
  } finally {
    await services.close();
  }
}

/**
 * The positional as a normalised email, else UsageError. The refusal does not quote the argument:
 * a password typed in the email's place must not be printed back.
 */
export function emailArg(value: string | undefined): string {
  const email = normaliseEmail(value);
  if (email === null) throw new UsageError('the first argument is not an email address');
  return email;
}

/** The user with this email, else CommandFailure. */
export async function findUser(services: Services, email: string): Promise<UserRecord> {
  const user = await services.users.findByEmail(email);
  if (user === null) throw new CommandFailure(`no user with email ${email}`);
  return user;
}

/** Appends an audit event for an operator action taken through the CLI (actor `cli`). */
export function auditCli(
  services: Services,
  type: AuditEventType,
  userId: string | null,
  detail: Record<string, string | number | boolean | null> = {},
  sessionId: string | null = null,
): Promise<void> {
  return services.audit.record({
    type,
    at: Date.now(),
    userId,
    ip: null,
    sessionId,
    detail: { actor: 'cli', ...detail },
  });
}

/** "1 session", "2 sessions". */
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
