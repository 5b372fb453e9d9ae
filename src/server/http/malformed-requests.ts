import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { CoatcheckError, InvalidInputError } from '../../core/errors.ts';
import { type Problem, toProblem } from '../../core/problem.ts';
import type { ServerConfig } from '../config.ts';
import { accessLogWriter, type Logger } from '../logger.ts';
import type { Services } from '../services.ts';
import { normaliseIp, type ProxyTrust } from './proxy-trust.ts';
import { methodLabel, newRequestId } from './request-context.ts';
import { securityHeaderList } from './security-headers.ts';

/**
 * Answers for requests refused before the app runs, which would otherwise get a bare status line
 * with no body and none of the security headers: what Node's HTTP parser refuses (broken framing,
 * oversized headers, an unknown method, a timeout), an `Expect` other than 100-continue, and a
 * Host or target @hono/node-server cannot build a URL from. Each is an RFC 9457 problem like any
 * other bad input. Only failures reach this code: nothing here runs for a well-formed request.
 */

/** The answers of one server for requests its app never sees (see serve.ts). */
export interface EarlyRefusals {
  /**
   * The 400 for a request whose Host or target makes no URL (`Host: a b`, a port of 99999): what
   * @hono/node-server's `errorHandler` answers for its RequestError. Logged as an access-log line.
   */
  malformed(incoming: IncomingMessage): Response;
  /** The 417 for an `Expect` other than 100-continue: http.Server's 'checkExpectation'. Logged. */
  expectationFailed(req: IncomingMessage, res: ServerResponse): void;
  /** A 500 `internal_error` for a fault outside the app (the app answers its own); logged at error. */
  failed(error: unknown): Response;
}

/** The early refusals of these services; the peer's address is read behind these proxies. */
export function earlyRefusals(
  services: Pick<Services, 'config' | 'logger' | 'metrics'>,
  proxies: ProxyTrust,
): EarlyRefusals {
  const { logger, metrics } = services;
  const accessLog = accessLogWriter(logger);
  const base = baseHeaders(services.config);

  /** The problem's headers and body; one access-log line and one latency observation. */
  const answer = (incoming: IncomingMessage, problem: Problem) => {
    const requestId = newRequestId();
    const method = methodLabel(incoming.method);
    const peer = normaliseIp(incoming.socket.remoteAddress);
    const forwarded = incoming.headers['x-forwarded-for']; // Node joins repeated ones with ', '
    const ip = proxies.clientIp(peer, Array.isArray(forwarded) ? forwarded.join(', ') : forwarded);
    const { status } = problem;
    metrics.httpDuration.observe(method, 'unmatched', status, 0);
    accessLog({ requestId, method, route: 'unmatched', status, ms: 0, ip: ip ?? '' });
    const headers = {
      ...base,
      'content-type': 'application/problem+json',
      'x-request-id': requestId,
    };
    return { headers, body: JSON.stringify(problem) };
  };

  return {
    malformed(incoming) {
      const { headers, body } = answer(incoming, toProblem(urlIssue(incoming.url ?? '')));
      return new Response(body, { status: 400, headers });
    },
    expectationFailed(req, res) {
      const issue = { field: 'expect', message: 'must be 100-continue, or absent' };
      const { headers, body } = answer(req, withStatus(new InvalidInputError([issue]), 417));
      res.writeHead(417, headers).end(body);
    },
    failed(error) {
      logger.error({ err: error }, 'request failed outside the app');
      const headers = { ...base, 'content-type': 'application/problem+json' };
      // toProblem of a non-CoatcheckError: the generic internal_error, revealing nothing.
      return new Response(JSON.stringify(toProblem(null)), { status: 500, headers });
    },
  };
}

/**
 * http.Server's 'clientError' listener: writes a problem (431 for headers over the limit, 413 for
 * oversized chunk extensions, Node's 408 for a request too slow to arrive, 400 for the rest) with
 * `Connection: close`, then destroys the socket. A reset connection is just destroyed. Logged at
 * debug only: no request exists to put in the access log, and at warn a flood of garbage from
 * one scanner would flood the log; the raw bytes are never logged (they may hold a cookie).
 */
export function clientErrorHandler(
  config: Pick<ServerConfig, 'download' | 'publicUrl'>,
  logger: Logger,
): (error: Error & { code?: string }, socket: Duplex) => void {
  const base = baseHeaders(config);
  const responses = new Map<string, Buffer>();
  for (const [code, problem] of Object.entries(PARSER_REFUSALS)) {
    const body = JSON.stringify(problem);
    const head = {
      ...base,
      'content-type': 'application/problem+json',
      'content-length': String(Buffer.byteLength(body)),
      connection: 'close',
    };
    const lines = Object.entries(head).map(([name, value]) => `${name}: ${value}\r\n`);
    const status = `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status]}\r\n`;
    responses.set(code, Buffer.from(`${status}${lines.join('')}\r\n${body}`, 'utf8'));
  }
  return (error, socket) => {
    // Nothing to a peer that is gone, nor into a response already under way on this connection
    // (a pipelined request): Node's own handler (socketOnError, lib/_http_server.js) checks the same.
    if (error.code === 'ECONNRESET' || !socket.writable || responseStarted(socket)) {
      socket.destroy();
      return;
    }
    const code = error.code !== undefined && responses.has(error.code) ? error.code : 'default';
    const response = responses.get(code) as Buffer;
    const status = PARSER_REFUSALS[code]?.status;
    const peer = normaliseIp((socket as Partial<Record<'remoteAddress', string>>).remoteAddress);
    logger.debug({ event: 'http_parse_error', code: error.code, status, peer }, 'http_parse_error');
    // Destroyed once written: the parser cannot read on after an error, and a peer that keeps its
    // side open must not keep the socket.
    socket.end(response, () => socket.destroy());
  };
}

/** The problems the parser's refusals get, by Node's error code (`default` for any other). */
const PARSER_REFUSALS: Readonly<Record<string, Problem>> = {
  HPE_HEADER_OVERFLOW: withStatus(
    new InvalidInputError([{ field: 'headers', message: 'are larger than the server accepts' }]),
    431,
  ),
  HPE_CHUNK_EXTENSIONS_OVERFLOW: toProblem(
    new CoatcheckError(
      'payload_too_large',
      'The chunk extensions are larger than the server accepts.',
    ),
  ),
  ERR_HTTP_REQUEST_TIMEOUT: withStatus(
    new InvalidInputError([{ field: 'request', message: 'did not arrive in time' }]),
    408,
  ),
  HPE_INVALID_METHOD: toProblem(
    new InvalidInputError([{ field: 'method', message: 'is not an HTTP method' }]),
  ),
  default: toProblem(
    new InvalidInputError([{ field: 'request', message: 'must be well-formed HTTP/1.1' }]),
  ),
};

/** Why no URL could be built: the target (not a path, a backslash in the path), else the Host. */
function urlIssue(target: string): InvalidInputError {
  const path = target.split('?', 1)[0] ?? '';
  if (!target.startsWith('/') || path.includes('\\')) {
    return new InvalidInputError([{ field: 'target', message: 'must be a path starting with /' }]);
  }
  return new InvalidInputError([{ field: 'host', message: 'must be a valid host[:port]' }]);
}

/**
 * `error`'s problem, sent with another status than its code's usual one (431, 408, 417 are
 * invalid input too, but HTTP has a more precise status for them).
 */
function withStatus(error: CoatcheckError, status: number): Problem {
  return { ...toProblem(error), status };
}

/** The security headers and no-store, lower-cased, as every response of the app carries them. */
function baseHeaders(config: Pick<ServerConfig, 'download' | 'publicUrl'>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of securityHeaderList(config)) headers[name.toLowerCase()] = value;
  headers['cache-control'] = 'no-store';
  return headers;
}

/** True when a response on this connection has sent its headers (Node's `_httpMessage`). */
function responseStarted(socket: Duplex): boolean {
  const message = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  return message?.headersSent === true;
}
