import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import { getRequestListener, RequestError } from '@hono/node-server';
import type { EarlyRefusals } from './early-refusals.ts';

/**
 * A node:http server running a Web `fetch` handler (as @hono/node-server's `serve()` does, not yet
 * listening) where the requests the handler never sees get the server's early refusals
 * (early-refusals.ts): what Node's parser refuses ('clientError'), an Expect other than
 * 100-continue ('checkExpectation'), a missing, repeated or empty Host (checked before the
 * handler, in place of Node's `requireHostHeader`, which answers a bare 400), and a Host or target
 * @hono/node-server cannot build a URL from (its `errorHandler`). Used by both servers.
 */
export function createRefusingServer(
  fetch: Parameters<typeof getRequestListener>[0],
  options: {
    /** The Host of an HTTP/1.0 request without one: the bind address (IPv6 is bracketed here). */
    readonly host: string;
    readonly refusals: EarlyRefusals;
  },
): Server {
  const { refusals } = options;
  // Node's own Host check answers a bare 400; refusals.refusedHost answers in its place.
  const server = createServer(
    { requireHostHeader: false },
    requestListener(fetch, bracketed(options.host), refusals),
  );
  server.on('clientError', refusals.clientError);
  server.on('checkExpectation', refusals.expectationFailed);
  return server;
}

/** An address as the host of a URL: an IPv6 address in brackets. */
export function bracketed(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * The Host check (refusedHost), then @hono/node-server's listener (what its `serve()` builds) with
 * an `errorHandler`. That handler is given only the error, yet answering a bad Host well needs the
 * request (method, peer for the access log): @hono/node-server calls it synchronously, inside the
 * listener call, when it cannot build the URL, so the request in hand is kept for exactly that
 * call. A later failure (a rejected fetch) finds none and gets the generic 500. Per request this
 * costs two assignments; and with an errorHandler, @hono/node-server awaits the app's promise
 * instead of chaining a `.catch()` onto it, one promise fewer.
 */
function requestListener(
  fetch: Parameters<typeof getRequestListener>[0],
  hostname: string,
  refusals: EarlyRefusals,
): RequestListener {
  let current: IncomingMessage | null = null;
  const listener = getRequestListener(fetch, {
    // Host of an HTTP/1.0 request without one (as serve() does).
    hostname,
    errorHandler: (error) =>
      current !== null && error instanceof RequestError
        ? refusals.malformed(current)
        : refusals.failed(error),
  });
  return (incoming, outgoing) => {
    if (refusals.refusedHost(incoming, outgoing)) return;
    current = incoming;
    const done = listener(incoming, outgoing);
    current = null;
    return done;
  };
}
