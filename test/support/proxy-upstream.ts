/**
 * What the reverse-proxy tests (nginx, Caddy) put behind the proxy and how they call through it:
 * a demo upstream that echoes the identity headers it was given and records every call, and a
 * fetch through the proxy with an optional session cookie that never follows redirects.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The demo upstream: echoes what it was told about the user; records calls. */
export interface Upstream {
  readonly server: Server;
  /** `127.0.0.1:<port>`, for the proxy's configuration. */
  readonly address: string;
  readonly calls: { method: string; url: string; headers: IncomingHttpHeaders }[];
  /** How many calls reached `path`. */
  callsTo(path: string): number;
}

/** Starts the upstream on a free port of 127.0.0.1. */
export async function startUpstream(): Promise<Upstream> {
  const calls: Upstream['calls'] = [];
  const server = createServer((req, res) => {
    calls.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    req.resume();
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        userId: req.headers['x-auth-user-id'] ?? null,
        email: req.headers['x-auth-user-email'] ?? null,
        roles: req.headers['x-auth-user-roles'] ?? null,
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    address: `127.0.0.1:${port}`,
    calls,
    callsTo: (path) => calls.filter((c) => c.url === path).length,
  };
}

/** Options of a request through the proxy; a POST gets a `{}` body. */
export interface ThroughInit {
  method?: string;
  headers?: Record<string, string>;
  /** The `coatcheck` session cookie's value. */
  cookie?: string;
}

/** A fetch of `path` at the proxy `base()` (read per call: the proxy starts in a hook). */
export function fetchThrough(base: () => string) {
  return (path: string, init: ThroughInit = {}) => {
    const headers = new Headers(init.headers);
    if (init.cookie) headers.set('cookie', `coatcheck=${init.cookie}`);
    return fetch(`${base()}${path}`, {
      method: init.method ?? 'GET',
      headers,
      redirect: 'manual',
      ...(init.method === 'POST' ? { body: '{}' } : {}),
    });
  };
}
