import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { getRequestListener } from '@hono/node-server';
import type { DownloadPolicy } from '../tokens/resource.ts';
import { createApp } from './app.ts';
import { bootstrapAdmin } from './bootstrap.ts';
import { describeConfig, type ServerConfig } from './config.ts';
import type { EarlyRefusals } from './http/early-refusals.ts';
import { earlyRefusals } from './http/malformed-requests.ts';
import { createProxyTrust } from './http/proxy-trust.ts';
import { bracketed, createRefusingServer } from './http/refusing-server.ts';
import { createLogger, type Logger } from './logger.ts';
import { openServices, type Services } from './services.ts';

/** A listening Coatcheck server. */
export interface RunningServer {
  /** Where it answers, e.g. `http://127.0.0.1:3000` (the port actually bound when 0 was asked). */
  readonly url: string;
  readonly server: Server;
  readonly services: Services;
  /**
   * Graceful stop: refuses new connections, lets in-flight requests finish (up to the grace
   * period, then cuts the rest), then closes the stores. Idempotent; never rejects for a second call.
   */
  close(): Promise<void>;
}

/** Options of startServer. */
export interface StartServerOptions {
  /** @default a pino logger at `config.logLevel` */
  logger?: Logger;
  /** How long in-flight requests may take to finish on close. @default 10000 */
  shutdownGraceMs?: number;
  /** How often expired sessions are swept from the store. @default 600000 (10 min) */
  sweepIntervalMs?: number;
  /**
   * What a user may download (POST /auth/download-tokens, the account page).
   * @default ownFolderPolicy
   */
  downloadPolicy?: DownloadPolicy;
}

/**
 * Starts the server: services on the configured stores (SQLite by default), the first admin when configured and no user exists, the
 * app on @hono/node-server, a periodic sweep of expired sessions. Resolves once listening; on any
 * start-up failure the stores are closed again and the error is rethrown.
 */
export async function startServer(
  config: ServerConfig,
  options: StartServerOptions = {},
): Promise<RunningServer> {
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const services = await openServices(config, {
    logger,
    ...(options.downloadPolicy ? { downloadPolicy: options.downloadPolicy } : {}),
  });
  let server: Server;
  try {
    // Only a server that signs (download tokens, identity assertions) must open the signing key,
    // and it fails here rather than on its first signature; one that signs nothing starts
    // whatever the key table holds (its JWKS route needs no private key).
    if (config.download.url !== null || config.identityAudience !== null) {
      await services.keys.check();
    }
    if (config.keysSecret === null) {
      logger.warn(
        'COATCHECK_KEYS_SECRET is not set: the private keys signing download and identity tokens ' +
          'are stored unencrypted in the database (set it to 32+ random bytes, base64 or hex)',
      );
    }
    await bootstrapAdmin(services, config.bootstrapAdmin, logger);
    const refusals = earlyRefusals(services, createProxyTrust(config.trustedProxies));
    server = await listen(createApp(services).fetch, config, refusals);
  } catch (error) {
    await services.close();
    throw error;
  }
  const { port } = server.address() as AddressInfo;
  const url = `http://${urlHost(config.host)}:${port}`;

  let sweeping: Promise<unknown> = Promise.resolve();
  const sweep = () => {
    sweeping = services.engine
      .sweep()
      // Idempotent, so a failed sweep is retried once at once. A sweep on a pooled connection
      // the database just dropped fails before the store can tell a dropped connection from an
      // outage; the retry tells: it succeeds, or the store reports the outage (store_down).
      .catch(() => services.engine.sweep())
      .then(
        (removed) => logger.debug({ removed }, 'Swept expired sessions'),
        (error: unknown) => {
          // During a reported outage its store_down line says it all: the log says what is wrong
          // once per outage, not once per sweep (issue #4). Any other failure is news.
          const level = services.inOutage() ? 'debug' : 'error';
          logger[level]({ err: error }, 'Sweeping expired sessions failed');
        },
      );
  };
  sweep();
  // unref: the sweeper alone never keeps the process alive.
  const sweeper = setInterval(sweep, options.sweepIntervalMs ?? 600_000).unref();

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      clearInterval(sweeper);
      await drain(server, options.shutdownGraceMs ?? 10_000);
      await sweeping;
      await services.close();
    })();
    return closing;
  };

  logger.info(
    {
      url,
      publicUrl: config.publicUrl?.origin ?? null,
      stores: services.storeDescription,
      config: describeConfig(config),
    },
    `Coatcheck listening on ${url} (${services.storeDescription})`,
  );
  return { url, server, services, close };
}

/**
 * Runs until SIGTERM or SIGINT, then shuts down gracefully and exits 0 (1 if closing failed).
 * A second signal during shutdown exits at once with 1.
 */
export function exitOnSignal(running: RunningServer, logger: Logger): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'Second signal: exiting without waiting for requests');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'Shutting down: finishing in-flight requests');
    running.close().then(
      () => {
        logger.info('Stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'Shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

/**
 * Listens on the configured host and port; rejects with a readable error (e.g. port in use).
 * Requests the app never sees get problems too (http/refusing-server.ts): what Node's parser
 * refuses, an Expect other than 100-continue, a missing, repeated or empty Host, and a Host or
 * target @hono/node-server cannot build a URL from.
 */
function listen(
  fetch: Parameters<typeof getRequestListener>[0],
  config: ServerConfig,
  refusals: EarlyRefusals,
): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createRefusingServer(fetch, { host: config.host, refusals });
    server.listen(config.port, config.host);
    const onError = (error: NodeJS.ErrnoException) => {
      const where = `${config.host}:${config.port}`;
      const hint = error.code === 'EADDRINUSE' ? ' (in use: set COATCHECK_PORT)' : '';
      reject(new Error(`Cannot listen on ${where}${hint}: ${error.message}`, { cause: error }));
    };
    server.once('error', onError);
    server.once('listening', () => {
      server.off('error', onError);
      resolve(server);
    });
  });
}

/**
 * Stops accepting connections and resolves once every connection has ended. Idle keep-alive
 * connections are closed as they become idle (so a finished request frees its socket); after
 * `graceMs` whatever is still open is cut.
 */
function drain(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const idle = setInterval(() => server.closeIdleConnections(), 50);
    const deadline = setTimeout(() => server.closeAllConnections(), graceMs);
    server.close(() => {
      clearInterval(idle);
      clearTimeout(deadline);
      resolve();
    });
    server.closeIdleConnections();
  });
}

/** The host part of a URL for the bound address: wildcards shown as localhost, IPv6 bracketed. */
function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return 'localhost';
  return bracketed(host);
}
