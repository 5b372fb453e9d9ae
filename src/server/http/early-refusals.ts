import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { CoatcheckError, InvalidInputError } from '../../core/errors.ts';
import { isSafeMethod } from '../../core/origin.ts';
import { type Problem, toProblem } from '../../core/problem.ts';
import { normaliseIp } from './proxy-trust.ts';

/**
 * Answers for requests refused before the app runs, which would otherwise get a bare status line
 * with no body and none of the security headers: what Node's HTTP parser refuses (broken framing,
 * oversized headers, an unknown method, a timeout), an `Expect` other than 100-continue, a Host
 * field RFC 9112 §3.2 refuses (missing, repeated, empty), and a Host or target @hono/node-server
 * cannot build a URL from. Each is an RFC 9457 problem like any other bad input. Only the Host
 * check runs for every request (one pass over the raw header list); the rest only for failures.
 * Both servers use them, each with its own headers and log: the app's (malformed-requests.ts)
 * and the download server (download/server.ts); refusing-server.ts puts them on node:http.
 */

/** The answers of one server for requests its app never sees (see refusing-server.ts). */
export interface EarlyRefusals {
  /**
   * The 400 for a request whose Host fields RFC 9112 §3.2 refuses (see hostIssue), written with
   * `Connection: close`; true when it answered, and then the app must not run. Node's own check
   * (`requireHostHeader`, a bare 400) is turned off in its favour (refusing-server.ts). Recorded.
   */
  refusedHost(req: IncomingMessage, res: ServerResponse): boolean;
  /**
   * The 400 for a request whose Host or target makes no URL (`Host: a b`, a port of 99999): what
   * @hono/node-server's `errorHandler` answers for its RequestError. Recorded.
   */
  malformed(incoming: IncomingMessage): Response;
  /**
   * The 417 for an `Expect` other than 100-continue: http.Server's 'checkExpectation', which Node
   * emits instead of 'request'; a refused Host is answered first, as Node's own check did. Recorded.
   */
  expectationFailed(req: IncomingMessage, res: ServerResponse): void;
  /** A 500 `internal_error` for a fault outside the app (the app answers its own); reported. */
  failed(error: unknown): Response;
  /** http.Server's 'clientError' listener (see parserRefusals). */
  clientError(error: Error & { code?: string }, socket: Duplex): void;
}

/** What Node's parser refused: its error code, the status answered, the peer (no raw bytes). */
export interface ParseErrorEvent {
  readonly code: string | undefined;
  readonly status: number | undefined;
  readonly peer: string | null;
}

/** How one server's early refusals look and are recorded: its headers, its logs. */
export interface RefusalPolicy {
  /** Headers on every refusal (the server's security headers and caching), names lower-cased. */
  readonly headers: Readonly<Record<string, string>>;
  /**
   * Records one refused request (its access-log line), called once per answer; returns headers
   * to add to that answer (a request id), if any.
   */
  record(incoming: IncomingMessage, problem: Problem): Readonly<Record<string, string>> | undefined;
  /** Reports a fault outside the app, answered with the generic 500. */
  fault(error: unknown): void;
  /** Reports what Node's parser refused (no request exists to record). */
  parseError(event: ParseErrorEvent): void;
}

/** Early refusals answered and recorded as `policy` says; one per server (it tracks sockets). */
export function createEarlyRefusals(policy: RefusalPolicy): EarlyRefusals {
  const base = policy.headers;

  /** The problem's headers and body, recorded once. */
  const answer = (incoming: IncomingMessage, problem: Problem) => {
    const extra = policy.record(incoming, problem);
    const headers = { ...base, 'content-type': 'application/problem+json', ...extra };
    return { headers, body: JSON.stringify(problem) };
  };

  // Connections closing after a refused Host. RFC 9112 §9.6: after a response with `close`, no
  // further request on the connection is processed; Node still parses and emits what was
  // pipelined behind it, and would never send those answers.
  const closing = new WeakSet<object>();
  const refusedHost = (req: IncomingMessage, res: ServerResponse): boolean => {
    if (closing.has(req.socket)) {
      req.resume();
      return true;
    }
    const message = hostIssue(req);
    if (message === null) return false;
    const issue = new InvalidInputError([{ field: 'host', message }]);
    const { headers, body } = answer(req, toProblem(issue));
    // Closed: whatever else this connection carries was framed by a client (or a proxy in front)
    // that disagrees with us about the host, as in Host confusion and request smuggling. Whatever
    // body has arrived is read and dropped.
    closing.add(req.socket);
    req.resume();
    const length = String(Buffer.byteLength(body));
    res.writeHead(400, { ...headers, 'content-length': length, connection: 'close' }).end(body);
    return true;
  };

  return {
    refusedHost,
    malformed(incoming) {
      const { headers, body } = answer(incoming, toProblem(urlIssue(incoming.url ?? '')));
      return new Response(body, { status: 400, headers });
    },
    expectationFailed(req, res) {
      if (refusedHost(req, res)) return;
      const issue = { field: 'expect', message: 'must be 100-continue, or absent' };
      const { headers, body } = answer(req, withStatus(new InvalidInputError([issue]), 417));
      res.writeHead(417, headers).end(body);
    },
    failed(error) {
      policy.fault(error);
      const headers = { ...base, 'content-type': 'application/problem+json' };
      // toProblem of a non-CoatcheckError: the generic internal_error, revealing nothing.
      return new Response(JSON.stringify(toProblem(null)), { status: 500, headers });
    },
    clientError: parserRefusals(base, (event) => policy.parseError(event)),
  };
}

/**
 * An http.Server 'clientError' listener: writes a problem (431 for headers over the limit, 413
 * for oversized chunk extensions, Node's 408 for a request too slow to arrive, 400 for the rest)
 * with `headers` and `Connection: close`, then destroys the socket. A reset connection is just
 * destroyed. Each refusal is reported with its code, status and peer; the raw bytes never are
 * (they may hold a cookie or a token).
 */
function parserRefusals(
  headers: Readonly<Record<string, string>>,
  report: (event: ParseErrorEvent) => void,
): (error: Error & { code?: string }, socket: Duplex) => void {
  const responses = new Map<string, Buffer>();
  for (const [code, problem] of Object.entries(PARSER_REFUSALS)) {
    const body = JSON.stringify(problem);
    const head = {
      ...headers,
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
    report({ code: error.code, status, peer });
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

/**
 * What RFC 9112 §3.2 refuses in the request's Host fields, or null: more than one field line,
 * an empty value (an http URI has a non-empty host, and @hono/node-server would take the bind
 * address instead), or none at all in anything but HTTP/1.0. HTTP/1.0 may omit it (load balancer
 * probes do), but only on a safe method: the request's URL then carries the bind address, a guess
 * the cross-origin check must not compare Origin with. An absolute-form target is not checked
 * against Host: its authority is the target (§3.2.2), as @hono/node-server takes it. The raw
 * list is read because Node's `headers` keeps the first of repeated Host lines only.
 */
function hostIssue(req: IncomingMessage): string | null {
  const raw = req.rawHeaders;
  let value: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length !== 4 || name.toLowerCase() !== 'host') continue;
    if (value !== undefined) return 'must be sent once';
    value = raw[i + 1] as string;
  }
  if (value === undefined) {
    const http10 = req.httpVersionMajor === 1 && req.httpVersionMinor === 0;
    // Allowed only for the methods the cross-origin check lets through without comparing Origin.
    return http10 && isSafeMethod(req.method ?? '') ? null : 'is required';
  }
  return value === '' ? 'must be a valid host[:port]' : null;
}

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

/** True when a response on this connection has sent its headers (Node's `_httpMessage`). */
function responseStarted(socket: Duplex): boolean {
  const message = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  return message?.headersSent === true;
}
