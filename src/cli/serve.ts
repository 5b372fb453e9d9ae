import { loadConfig } from '../server/config.ts';
import { createLogger } from '../server/logger.ts';
import { exitOnSignal, startServer } from '../server/serve.ts';
import { COMMON_HELP, type Command } from './command.ts';

/** `coatcheck serve`: runs the server until SIGTERM/SIGINT, then shuts down gracefully. */
export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the Coatcheck server (until SIGTERM or Ctrl-C)',
  positionals: 0,
  help: `Usage: coatcheck serve [--config <path>]

Runs the HTTP server with the embedded SQLite store under COATCHECK_DATA_DIR (default ./data).
Every setting comes from COATCHECK_* environment variables or the config file; all of them are
checked before anything starts, and every problem is reported at once. On first start with an
empty database, COATCHECK_ADMIN_EMAIL and COATCHECK_ADMIN_PASSWORD create the first admin.

On SIGTERM or SIGINT the server stops accepting connections, lets in-flight requests finish
(at most 10 s), closes the database and exits 0.

Example:
  COATCHECK_PORT=8080 coatcheck serve
${COMMON_HELP}`,
  async run(args, io) {
    const warnings: string[] = [];
    const configPath = typeof args.values.config === 'string' ? args.values.config : undefined;
    const config = loadConfig({
      env: io.env,
      ...(configPath ? { configPath } : {}),
      warn: (message) => warnings.push(message),
    });
    const logger = createLogger({ level: config.logLevel });
    for (const message of warnings) logger.warn(message);
    const running = await startServer(config, { logger });
    exitOnSignal(running, logger);
    return 0;
  },
};
