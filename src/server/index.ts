/**
 * `coatcheck/server`: the standalone Coatcheck service as a library, to embed it in your own
 * process (tests, a custom entry point, extra routes on the same Hono app). Loading this entry
 * loads the server's runtime dependencies (hono, @hono/node-server, pino, prom-client); the core
 * entry `coatcheck` and the adapters never do.
 *
 *   const config = loadConfig();                       // COATCHECK_* env and/or a config file
 *   const running = await startServer(config);         // listening, stores open, sweeper running
 *   exitOnSignal(running, running.services.logger);    // graceful stop on SIGTERM/SIGINT
 *
 * or, with your own listener: `createApp(createServices(config)).fetch`. Who may download what is
 * `createServices(config, { downloadPolicy })` (a DownloadPolicy; by default the user's own folder
 * and `public/`).
 */

export { type DownloadPolicy, ownFolderPolicy } from '../tokens/resource.ts';
export { createApp } from './app.ts';
export { ADMIN_ROLES, bootstrapAdmin, createUser, type UserServices } from './bootstrap.ts';
export {
  describeConfig,
  type LoadConfigOptions,
  loadConfig,
  type ServerConfig,
  ServerConfigError,
  testConfig,
} from './config.ts';
export type { AppEnv, Auth } from './context.ts';
export { createLogger, type Logger } from './logger.ts';
export {
  exitOnSignal,
  type RunningServer,
  type StartServerOptions,
  startServer,
} from './serve.ts';
export { type CreateServicesOptions, createServices, type Services } from './services.ts';
