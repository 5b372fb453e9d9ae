import { realpathSync, statSync } from 'node:fs';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { CoatcheckError, ConfigError, type ErrorCode } from '../core/errors.ts';
import { type Problem, toProblem } from '../core/problem.ts';
import type { ParseErrorEvent } from '../server/http/early-refusals.ts';
import { attachmentDisposition, filesPathSegments, mediaType, openUnderRoot } from './files.ts';
import { maskTokens } from './log-mask.ts';
import { decideRange } from './range.ts';
import { MemoryReplayGuard, type ReplayGuard } from './replay.ts';
import { createDownloadVerifier, type KeySource } from './verify.ts';

/**
 * The download server: stateless apart from its replay guard. It trusts nothing but a download
 * token's signature (verify.ts), serves exactly the file the token names from one directory
 * (files.ts), once (replay.ts), and never renders it: every response is an attachment with
 * nosniff, a sandbox CSP, CORP same-origin, no-referrer and no-store. Cookies and other headers
 * are never read (only Range and If-Range; under `listen`, Host and Expect are checked before
 * `fetch`, as the app's server checks them) and never logged; the token is masked in the log.
 */

/** One access-log line. */
export interface DownloadLogEntry {
  readonly method: string;
  /** The request target with `token=` masked. */
  readonly path: string;
  readonly status: number;
  readonly ms: number;
  readonly ip: string | null;
  /** Why a request was refused (a short label), or absent. */
  readonly reason?: string;
  /** On success: who downloaded, with which token id. */
  readonly sub?: string;
  readonly jti?: string;
}

/** Options of createDownloadServer. */
export type DownloadServerOptions = KeySource & {
  /** The directory served (must exist). */
  readonly root: string;
  /** The app's public origin: the only accepted `iss`. */
  readonly issuer: string;
  /** This server's origin: the only accepted `aud`. */
  readonly audience: string;
  /** @default a MemoryReplayGuard (one node only) */
  readonly replay?: ReplayGuard;
  /** @default Date.now */
  readonly now?: () => number;
  /** Clock skew allowed on exp and iat, in seconds; a used jti is remembered that much longer. @default 5 */
  readonly clockToleranceSeconds?: number;
  /** Receives one line per request, refused ones included. @default none */
  readonly log?: (entry: DownloadLogEntry) => void;
  /**
   * With `listen`: receives each refusal of Node's HTTP parser (code, status, peer; never the raw
   * bytes), where no request exists to log. @default none
   */
  readonly logParseError?: (event: ParseErrorEvent) => void;
};

/** A download server: a fetch handler, and `listen` to run it on node:http. */
export interface DownloadServer {
  /**
   * Answers one request. Under @hono/node-server pass its env (the raw request target and the
   * peer address are read from it); elsewhere `request.url` is used.
   */
  fetch(request: Request, env?: unknown): Promise<Response>;
  /**
   * Listens on `host:port` (port 0: any free one); resolves with the URL and a closer. Requests
   * refused before `fetch` runs (a missing, repeated, empty or malformed Host, broken HTTP, an
   * unmet Expect) get problems with the same headers, as the app's server answers them.
   */
  listen(options: { port: number; host?: string }): Promise<ListeningDownloadServer>;
  /** Closes the replay guard. */
  close(): Promise<void>;
}

/** A listening download server. */
export interface ListeningDownloadServer {
  readonly url: string;
  readonly server: Server;
  /** Stops listening (open connections are cut) and closes the replay guard. */
  close(): Promise<void>;
}

const BASE_HEADERS: readonly [string, string][] = [
  ['Cache-Control', 'no-store'],
  ['Referrer-Policy', 'no-referrer'],
  ['X-Content-Type-Options', 'nosniff'],
  ['Cross-Origin-Resource-Policy', 'same-origin'],
  ['Content-Security-Policy', "default-src 'none'; sandbox; frame-ancestors 'none'"],
  ['X-Frame-Options', 'DENY'],
];

/** The headers of every response, refusals included (HSTS when served over https). */
function responseHeaders(hsts: boolean): readonly (readonly [string, string])[] {
  const headers: [string, string][] = [...BASE_HEADERS];
  if (hsts) headers.push(['Strict-Transport-Security', 'max-age=31536000; includeSubDomains']);
  return headers;
}

/** A refusal: status, log label and the problem's stable code. */
class Refusal {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string) {
    this.status = status;
    this.reason = reason;
  }
}

const CODES: Readonly<Record<number, [ErrorCode, string]>> = {
  401: ['unauthenticated', 'The download link is invalid, expired or already used.'],
  403: ['forbidden', 'This download link is for another file.'],
  404: ['not_found', 'Not found.'],
  405: ['method_not_allowed', 'Method not allowed.'],
  503: ['store_unavailable', 'Downloads are temporarily unavailable. Try again shortly.'],
};

/**
 * Builds a download server. Throws ConfigError when `root` is not a directory; the key source,
 * issuer and audience are fixed here, never taken from a request or a token.
 */
export function createDownloadServer(options: DownloadServerOptions): DownloadServer {
  const root = realRoot(options.root);
  const now = options.now ?? Date.now;
  const replay = options.replay ?? new MemoryReplayGuard({ now });
  // One tolerance for the verifier and the replay record: a token accepted late must still be
  // remembered as used until the verifier would refuse it anyway.
  const tolerance = options.clockToleranceSeconds ?? 5;
  const verifier = createDownloadVerifier({ ...options, now, clockToleranceSeconds: tolerance });
  const headers = responseHeaders(new URL(options.audience).protocol === 'https:');

  const serveFile = async (request: Request, target: string): Promise<[Response, object]> => {
    if (request.method !== 'GET' && request.method !== 'HEAD') throw new Refusal(405, 'method');
    const segments = filesPathSegments(target);
    if (segments === null) throw new Refusal(404, 'bad_path');
    const tokens = new URLSearchParams(target.split('?')[1]?.split('#')[0] ?? '').getAll('token');
    if (tokens.length !== 1 || !tokens[0]) throw new Refusal(401, 'no_token');
    const verdict = await verifier.verify(tokens[0]);
    if (!verdict.ok) throw new Refusal(verdict.status, verdict.reason);
    const { claims } = verdict;
    if (claims.resource !== segments.join('/')) throw new Refusal(403, 'other_resource');
    const expiresAt = (claims.exp + tolerance) * 1000;
    let first: boolean;
    try {
      first = await replay.claim({ issuer: claims.iss, jti: claims.jti, expiresAt });
    } catch {
      throw new Refusal(503, 'replay_unavailable');
    }
    if (!first) throw new Refusal(401, 'replayed');
    const file = await openUnderRoot(root, segments);
    if (file === null) throw new Refusal(404, 'no_file');
    const name = segments[segments.length - 1] as string;
    const modified = file.modified.toUTCString();
    const ifRange = request.headers.get('if-range');
    const range =
      ifRange === null || ifRange === modified
        ? decideRange(request.headers.get('range'), file.size)
        : ({ kind: 'full' } as const);
    const headers = new Headers({
      'Content-Type': mediaType(name),
      'Content-Disposition': attachmentDisposition(name),
      'Accept-Ranges': 'bytes',
      'Last-Modified': modified,
    });
    const who = { sub: claims.sub, jti: claims.jti };
    if (range.kind === 'unsatisfiable') {
      await file.handle.close();
      headers.set('Content-Range', `bytes */${file.size}`);
      return [new Response(null, { status: 416, headers }), { ...who, reason: 'range' }];
    }
    const [start, end] = range.kind === 'partial' ? [range.start, range.end] : [0, file.size - 1];
    headers.set('Content-Length', String(Math.max(0, end - start + 1)));
    if (range.kind === 'partial')
      headers.set('Content-Range', `bytes ${start}-${end}/${file.size}`);
    const status = range.kind === 'partial' ? 206 : 200;
    if (request.method === 'HEAD' || file.size === 0) {
      await file.handle.close();
      return [new Response(null, { status, headers }), who];
    }
    const stream = file.handle.createReadStream({ start, end, autoClose: true });
    const body = Readable.toWeb(stream) as ReadableStream<Uint8Array>;
    return [new Response(body, { status, headers }), who];
  };

  const fetch = async (request: Request, env?: unknown): Promise<Response> => {
    const started = performance.now();
    const incoming = incomingOf(env);
    const target = incoming?.url ?? rawTarget(request.url);
    let response: Response;
    let extra: object = {};
    try {
      [response, extra] = await serveFile(request, target);
    } catch (error) {
      const refusal = error instanceof Refusal ? error : new Refusal(500, 'error');
      response = problem(refusal.status);
      if (refusal.status === 405) response.headers.set('Allow', 'GET, HEAD');
      extra = { reason: refusal.reason };
    }
    for (const [name, value] of headers) response.headers.set(name, value);
    options.log?.({
      method: request.method,
      path: maskTokens(target),
      status: response.status,
      ms: Math.round((performance.now() - started) * 10) / 10,
      ip: incoming?.socket?.remoteAddress ?? null,
      ...extra,
    });
    return response;
  };

  const close = async () => {
    await replay.close?.();
  };

  const listen = async (listenOptions: { port: number; host?: string }) => {
    // Loaded here, not at the top: `fetch` alone runs on any runtime (Bun, Deno, workers), and
    // importing coatcheck/download then loads no HTTP framework.
    const { createEarlyRefusals } = await import('../server/http/early-refusals.ts');
    const { bracketed, createRefusingServer } = await import('../server/http/refusing-server.ts');
    const host = listenOptions.host ?? '127.0.0.1';
    const refusals = createEarlyRefusals({
      headers: Object.fromEntries(headers.map(([name, value]) => [name.toLowerCase(), value])),
      record(incoming, refused) {
        options.log?.({
          method: incoming.method ?? '',
          path: maskTokens(incoming.url ?? ''),
          status: refused.status,
          ms: 0,
          ip: incoming.socket.remoteAddress ?? null,
          reason: refusalReason(refused),
        });
        return undefined;
      },
      // `fetch` answers and logs its own failures; only a throwing `log` gets here, and there is
      // then nowhere left to report it.
      fault: () => {},
      parseError: (event) => options.logParseError?.(event),
    });
    const server = createRefusingServer(fetch, { host, refusals });
    return new Promise<ListeningDownloadServer>((resolve, reject) => {
      server.once('error', reject);
      server.once('listening', () => {
        const { port } = server.address() as AddressInfo;
        const stop = () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }).then(close);
        resolve({ url: `http://${bracketed(host)}:${port}`, server, close: stop });
      });
      server.listen(listenOptions.port, host);
    });
  };

  return Object.freeze({ fetch, listen, close });
}

function realRoot(root: string): string {
  try {
    const resolved = realpathSync(root);
    if (statSync(resolved).isDirectory()) return resolved;
  } catch {
    // reported below
  }
  throw new ConfigError(`The download root ${JSON.stringify(root)} is not a directory.`);
}

/** The node:http request behind a @hono/node-server env, if that is what `env` is. */
function incomingOf(env: unknown): IncomingMessage | null {
  if (typeof env !== 'object' || env === null || !('incoming' in env)) return null;
  return env.incoming as IncomingMessage;
}

/** Path and query of a URL string as sent (a parsed URL has already resolved dot segments). */
function rawTarget(url: string): string {
  const parsed = URL.parse(url);
  return parsed === null ? '/' : `${parsed.pathname}${parsed.search}`;
}

/** The log label of a request refused before `fetch`: what was wrong, e.g. `bad_host`. */
function refusalReason(refused: Problem): string {
  return `bad_${refused.errors?.[0]?.field ?? 'request'}`;
}

/** The RFC 9457 problem for a refusal, with the same type, title and code as the app's. */
function problem(status: number): Response {
  const [code, detail] = CODES[status] ?? ['internal_error', 'Something went wrong.'];
  const body = JSON.stringify(toProblem(new CoatcheckError(code, detail)));
  return new Response(body, {
    status,
    headers: { 'Content-Type': 'application/problem+json' },
  });
}
