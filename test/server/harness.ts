import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import { createApp } from '../../src/server/app.ts';
import { type DownloadConfig, type ServerConfig, testConfig } from '../../src/server/config.ts';
import type { AppEnv } from '../../src/server/context.ts';
import { createLogger } from '../../src/server/logger.ts';
import { createServices, type Services } from '../../src/server/services.ts';
import type { DownloadPolicy } from '../../src/tokens/resource.ts';

/**
 * The real app on real SQLite in a temp dir, listening on an ephemeral port of 127.0.0.1, spoken
 * to with fetch. Logs are captured (JSON lines) so tests can assert on security events and on
 * what never reaches a log.
 */

/** A password that passes the policy. */
export const PW = 'correct horse battery staple';

/** The download server's origin in tests that mint download tokens. */
export const DOWNLOAD_ORIGIN = 'https://files.example.test';

/** The `download` settings of a server minting tokens for files under `root`. */
export function downloadSettings(root: string, tokenTtlSeconds = 120): DownloadConfig {
  return {
    url: new URL(DOWNLOAD_ORIGIN),
    root,
    tokenTtlSeconds,
    port: 0,
    jwksUrl: null,
    replayStore: null,
  };
}

/** What a test needs from a running server. */
export interface Harness {
  readonly base: string;
  readonly services: Services;
  readonly config: ServerConfig;
  /** The app's clock (epoch ms); move it to age sessions. */
  readonly clock: { now: number };
  /** Every log line written so far, raw. */
  readonly logs: string[];
  /** fetch against the server; `json` sets the body and Content-Type; `cookie` the session cookie. */
  request(path: string, init?: RequestOptions): Promise<Response>;
  /** Creates a user directly (no HTTP, no sign-up throttle) and returns a signed-in session. */
  createUser(options?: { email?: string; roles?: string[] }): Promise<TestUser>;
  /** Parsed log lines carrying `event`. */
  events(event: string): Record<string, unknown>[];
  close(): Promise<void>;
}

/** Options of Harness.request. */
export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  json?: unknown;
  body?: string | Uint8Array | ReadableStream<Uint8Array>;
  /** Sent as `Cookie: <cookie name>=<value>`. */
  cookie?: string;
}

/** A user and a live session token. */
export interface TestUser {
  readonly id: string;
  readonly email: string;
  readonly token: string;
}

let userCount = 0;

/** Starts a server with `testConfig({ dataDir: <temp>, ...overrides })`. */
export async function startServer(
  overrides: Partial<ServerConfig> = {},
  options: { extend?: (app: Hono<AppEnv>) => void; downloadPolicy?: DownloadPolicy } = {},
): Promise<Harness> {
  const dataDir = await mkdtemp(join(tmpdir(), 'coatcheck-server-'));
  const config = testConfig({ dataDir, ...overrides });
  const logs: string[] = [];
  const logger = createLogger({ level: 'debug', destination: { write: (s) => logs.push(s) } });
  const clock = { now: Date.now() };
  const services = createServices(config, {
    logger,
    now: () => clock.now,
    ...(options.downloadPolicy ? { downloadPolicy: options.downloadPolicy } : {}),
  });
  const app = createApp(services);
  options.extend?.(app);
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () =>
      resolve(s as Server),
    );
  });
  const { port } = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;

  const request = (path: string, init: RequestOptions = {}) => {
    const headers = new Headers(init.headers);
    if (init.cookie !== undefined) headers.set('cookie', `${config.cookie.name}=${init.cookie}`);
    let body = init.body;
    if (init.json !== undefined) {
      body = JSON.stringify(init.json);
      if (!headers.has('content-type')) headers.set('content-type', 'application/json');
    }
    const method = init.method ?? (body === undefined ? 'GET' : 'POST');
    return fetch(base + path, {
      method,
      headers,
      body,
      redirect: 'manual',
      ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
    } as RequestInit);
  };

  const createUser = async (options: { email?: string; roles?: string[] } = {}) => {
    userCount++;
    const email = options.email ?? `user${userCount}-${process.pid}@example.test`;
    const client = { ip: `198.51.100.${userCount % 250}`, userAgent: 'harness' };
    const { user, issued } = await services.accounts.signup({ email, password: PW }, client);
    // Straight into the store: roles are read afresh on every validate, so the session stays.
    if (options.roles) await services.users.update(user.id, { roles: options.roles });
    return { id: user.id, email: user.email, token: issued.token };
  };

  const events = (event: string) =>
    logs
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((l) => l.event === event);

  const close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await services.close();
    await rm(dataDir, { recursive: true, force: true });
  };

  return { base, services, config, clock, logs, request, createUser, events, close };
}

/** The value of the session cookie a response sets, or null. */
export function setCookieValue(res: Response, name: string): string | null {
  for (const line of res.headers.getSetCookie()) {
    if (line.startsWith(`${name}=`)) return line.slice(name.length + 1).split(';')[0] ?? '';
  }
  return null;
}

/** The Set-Cookie line for `name`, or null. */
export function setCookieLine(res: Response, name: string): string | null {
  return res.headers.getSetCookie().find((line) => line.startsWith(`${name}=`)) ?? null;
}

/** Asserts `res` is an RFC 9457 problem with this status and code; returns the problem. */
export async function assertProblem(
  res: Response,
  status: number,
  code: string,
): Promise<Record<string, unknown>> {
  const text = await res.text();
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status}: ${text}`);
  assert.equal(res.headers.get('content-type'), 'application/problem+json');
  const problem = JSON.parse(text) as Record<string, unknown>;
  assert.equal(problem.code, code);
  assert.equal(problem.status, status);
  return problem;
}
