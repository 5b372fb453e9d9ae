import { COMMON_HELP, type Command, emailArg, findUser, withServices } from './command.ts';

/** `coatcheck sessions list`: a user's live sessions (never tokens: ids and metadata only). */
export const sessionsListCommand: Command = {
  name: 'sessions list',
  summary: "list a user's live sessions",
  positionals: 1,
  options: { json: { type: 'boolean' } },
  help: `Usage: coatcheck sessions list <email> [--json]

Lists the user's live sessions, most recently used first: the session id (public, safe to show;
never the token), device, IP address, and when it was created, last used and will expire.

Options:
  --json    print a JSON array instead of a table

Example:
  coatcheck sessions list ada@example.com
${COMMON_HELP}`,
  async run(args, io) {
    const email = emailArg(args.positionals[0]);
    const sessions = await withServices(args, io, async (services) => {
      const user = await findUser(services, email);
      return services.engine.list(user.id);
    });
    if (args.values.json === true) {
      io.out(`${JSON.stringify(sessions, null, 2)}\n`);
      return 0;
    }
    if (sessions.length === 0) {
      io.out(`${email} has no live sessions\n`);
      return 0;
    }
    const rows = [
      ['ID', 'DEVICE', 'IP', 'CREATED', 'LAST SEEN', 'EXPIRES'],
      ...sessions.map((s) => [
        s.id,
        s.device,
        s.ip ?? '-',
        minute(s.createdAt),
        minute(s.lastSeenAt),
        minute(s.expiresAt),
      ]),
    ];
    io.out(table(rows));
    return 0;
  },
};

/** An ISO time to the minute, in UTC: `2026-05-01 12:34Z`. */
function minute(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)}Z`;
}

/** Left-aligned columns separated by two spaces. */
function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows
    .map(
      (r) =>
        `${r
          .map((cell, i) => cell.padEnd(widths[i] ?? 0))
          .join('  ')
          .trimEnd()}\n`,
    )
    .join('');
}
