import { createRedisReplayGuard } from '../download/index.ts';
import { MemoryReplayGuard } from '../download/replay.ts';
import { createDownloadServer } from '../download/server.ts';
import { debugParseErrors } from '../server/http/malformed-requests.ts';
import { createLogger } from '../server/logger.ts';
import { COMMON_HELP, type Command, configFor, UsageError } from './command.ts';

/** `coatcheck download-server`: serves files to holders of download tokens until SIGTERM. */
export const downloadServerCommand: Command = {
  name: 'download-server',
  summary: 'run the download server (files for holders of download tokens)',
  positionals: 0,
  help: `Usage: coatcheck download-server [--config <path>]

Serves the files under COATCHECK_DOWNLOAD_ROOT at /files/<path>?token=<download token>. It keeps
no session and no database: a request is served when its token verifies against the app's public
keys (COATCHECK_DOWNLOAD_JWKS_URL, default <COATCHECK_PUBLIC_URL>/.well-known/jwks.json), was
issued by COATCHECK_PUBLIC_URL for COATCHECK_DOWNLOAD_URL, names exactly this file, and has not
been used before. Listens on COATCHECK_HOST:COATCHECK_DOWNLOAD_PORT (default 3001).

Run it on a host name of its own (e.g. files.example.com), never on the app's host with another
port: cookies are not isolated by port (see docs/forward-auth.md). Each used token is remembered
until it expires: in memory (one node), or in Redis when COATCHECK_DOWNLOAD_REPLAY_STORE names one
(several nodes behind a load balancer must share it, or a token would work once per node).

Example:
  COATCHECK_PUBLIC_URL=https://app.example.com COATCHECK_DOWNLOAD_URL=https://files.example.com \\
  COATCHECK_DOWNLOAD_ROOT=/srv/files coatcheck download-server
${COMMON_HELP}`,
  async run(args, io) {
    const config = configFor(args, io);
    const { download } = config;
    const missing = [
      config.publicUrl === null ? 'COATCHECK_PUBLIC_URL (the issuer)' : null,
      download.url === null ? 'COATCHECK_DOWNLOAD_URL (this server, the audience)' : null,
      download.root === null ? 'COATCHECK_DOWNLOAD_ROOT (the directory to serve)' : null,
    ].filter((m) => m !== null);
    if (missing.length > 0) throw new UsageError(`set ${missing.join(', ')}`);
    const logger = createLogger({ level: config.logLevel }).child({
      service: 'coatcheck-download',
    });
    const replay =
      download.replayStore === null
        ? new MemoryReplayGuard()
        : await createRedisReplayGuard(download.replayStore);
    const server = createDownloadServer({
      root: download.root as string,
      issuer: (config.publicUrl as URL).origin,
      audience: (download.url as URL).origin,
      jwksUrl: download.jwksUrl as URL,
      replay,
      log: (entry) => logger.info(entry, 'request'),
      // As the app's server logs them: at debug, so a scanner's garbage cannot flood the log.
      logParseError: debugParseErrors(logger),
    });
    const running = await server.listen({ port: download.port, host: config.host });
    logger.info(
      {
        url: running.url,
        root: download.root,
        replay: replay instanceof MemoryReplayGuard ? 'memory' : 'redis',
      },
      `Download server listening on ${running.url}`,
    );
    const stop = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'Shutting down');
      running.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    return 0;
  },
};
