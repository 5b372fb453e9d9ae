import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { testConfig } from '../../src/server/config.ts';
import { earlyRefusals } from '../../src/server/http/malformed-requests.ts';
import { createProxyTrust } from '../../src/server/http/proxy-trust.ts';
import { createLogger } from '../../src/server/logger.ts';
import { createMetrics } from '../../src/server/metrics.ts';
import { type RunningServer, startServer } from '../../src/server/serve.ts';

// Requests that fail before the app runs, sent as raw bytes to the real server (startServer): a
// Host that makes no URL (@hono/node-server refuses to build the Request), a Host field RFC 9112
// §3.2 refuses (missing, repeated, empty: Node's own check answered a bare 400 or let it through),
// and what Node's HTTP parser refuses itself (broken framing, oversized headers, an unknown
// method, an Expect it cannot meet, a request too slow to arrive). Each used to get a bare status line with an empty
// body and none of the security headers; each now gets an RFC 9457 problem, like any bad input.

let running: RunningServer;
let dataDir: string;
const logs: Record<string, unknown>[] = [];

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'coatcheck-malformed-'));
  const logger = createLogger({
    level: 'debug',
    destination: { write: (line: string) => logs.push(JSON.parse(line)) },
  });
  running = await startServer(testConfig({ dataDir }), { logger, shutdownGraceMs: 500 });
});
after(async () => {
  await running?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** A response read off the wire: status, lower-cased headers, body. */
interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Writes `request` on a fresh connection and reads everything until the server closes. */
function sendRaw(request: string, port = Number(new URL(running.url).port)): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.end(Buffer.from(request, 'latin1'));
  });
}

/**
 * Writes `request` on a fresh connection and reads the one response the server sends until it
 * closes; `halfClose: false` keeps our side open (a client still sending).
 */
function send(
  request: string,
  options: { port?: number; host?: string; halfClose?: boolean } = {},
): Promise<RawResponse> {
  const port = options.port ?? Number(new URL(running.url).port);
  return new Promise((resolve, reject) => {
    const socket = connect(port, options.host ?? '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end === -1) return reject(new Error(`no response: ${JSON.stringify(text)}`));
      const [statusLine = '', ...lines] = text.slice(0, end).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      let body = text.slice(end + 4);
      if (headers['transfer-encoding'] === 'chunked') body = unchunk(body);
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body });
    });
    const bytes = Buffer.from(request, 'latin1');
    if (options.halfClose === false) socket.write(bytes);
    else socket.end(bytes);
  });
}

function unchunk(body: string): string {
  let out = '';
  for (let at = 0; ; ) {
    const eol = body.indexOf('\r\n', at);
    const size = Number.parseInt(body.slice(at, eol), 16);
    if (!(size > 0)) return out;
    out += body.slice(eol + 2, eol + 2 + size);
    at = eol + 2 + size + 2;
  }
}

/** Asserts an RFC 9457 problem with this status and code; returns it. */
function assertProblem(res: RawResponse, status: number, code: string): Record<string, unknown> {
  assert.equal(res.status, status, JSON.stringify(res));
  assert.equal(res.headers['content-type'], 'application/problem+json');
  const problem = JSON.parse(res.body) as Record<string, unknown>;
  assert.equal(problem.code, code);
  assert.equal(problem.status, status);
  assert.equal(typeof problem.detail, 'string');
  return problem;
}

/** Asserts the headers every response of the app carries. */
function assertSecurityHeaders(res: RawResponse): void {
  assert.equal(res.headers['x-content-type-options'], 'nosniff');
  assert.equal(res.headers['x-frame-options'], 'DENY');
  assert.match(res.headers['content-security-policy'] ?? '', /^default-src 'none'/);
  assert.equal(res.headers['referrer-policy'], 'no-referrer');
  assert.equal(res.headers['cache-control'], 'no-store');
}

/** Asserts a request id on `res` and exactly one access-log line for it since `from`: unmatched, 400. */
function assertLoggedOnce(res: RawResponse, from: number, method: string): void {
  const requestId = res.headers['x-request-id'];
  assert.match(requestId ?? '', /^[\w-]{16}$/);
  const lines = logs.slice(from).filter((l) => l.msg === 'request');
  assert.deepEqual(
    lines.map(({ requestId, method, route, status, ip }) => ({
      requestId,
      method,
      route,
      status,
      ip,
    })),
    [{ requestId, method, route: 'unmatched', status: 400, ip: '127.0.0.1' }],
  );
}

describe('a Host header that makes no URL', () => {
  for (const host of [
    'evil.example:99999',
    'a b',
    '[::1',
    'x:y:z',
    '@evil',
    'a/b',
    'é.example',
    'localhost:-1',
    '127.0.0.1:3101:80',
  ]) {
    test(`Host: ${host} is a 400 invalid_input problem with the security headers, logged once`, async () => {
      const from = logs.length;
      const res = await send(
        `GET /auth/session HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      );
      const problem = assertProblem(res, 400, 'invalid_input');
      assert.deepEqual(problem.errors, [{ field: 'host', message: 'must be a valid host[:port]' }]);
      assertSecurityHeaders(res);
      assertLoggedOnce(res, from, 'GET');
    });
  }

  for (const target of ['/auth\\session', '*', 'HTTP://localhost/']) {
    test(`a target that makes no URL (${target}) is a 400 problem naming the target`, async () => {
      const res = await send(
        `OPTIONS ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`,
      );
      const problem = assertProblem(res, 400, 'invalid_input');
      assert.deepEqual(problem.errors, [
        { field: 'target', message: 'must be a path starting with /' },
      ]);
      assertSecurityHeaders(res);
    });
  }

  test('the connection goes on: a bad-Host POST with a body, then a good request on it', async () => {
    const raw = await sendRaw(
      'POST /auth/login HTTP/1.1\r\nHost: a b\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}' +
        'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n',
    );
    assert.match(raw, /^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*\}HTTP\/1\.1 200 OK\r\n/);
  });

  test('an HTTP/1.0 request without Host is still served (a load balancer probe)', async () => {
    const res = await send('GET /healthz HTTP/1.0\r\n\r\n');
    assert.equal(res.status, 200);
  });
});

describe('Host fields RFC 9112 §3.2 refuses', () => {
  /** Asserts the 400 `host` problem with this message, closing the connection, logged once. */
  async function assertHostRefused(request: string, message: string, method = 'GET') {
    const from = logs.length;
    const res = await send(request);
    const problem = assertProblem(res, 400, 'invalid_input');
    assert.deepEqual(problem.errors, [{ field: 'host', message }]);
    assertSecurityHeaders(res);
    assert.equal(res.headers.connection, 'close');
    assert.equal(res.headers['content-length'], String(Buffer.byteLength(res.body)));
    assertLoggedOnce(res, from, method);
    return problem;
  }

  test('an HTTP/1.1 request without Host is the bad-Host 400 problem, not a bare 400', async () => {
    const problem = await assertHostRefused('GET /healthz HTTP/1.1\r\n\r\n', 'is required');
    const badHost = await send('GET /healthz HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n');
    const expected = assertProblem(badHost, 400, 'invalid_input');
    assert.equal(problem.type, expected.type);
    assert.equal(problem.title, expected.title);
  });

  for (const [label, hosts] of [
    ['two different values', 'Host: localhost\r\nHost: evil.example'],
    ['the same value twice', 'Host: localhost\r\nHost: localhost'],
    ['two spellings of the name', 'host: localhost\r\nHOST: localhost'],
  ]) {
    test(`two Host lines (${label}) are a 400 problem, in HTTP/1.1 and 1.0`, async () => {
      for (const version of ['1.1', '1.0']) {
        await assertHostRefused(
          `GET /healthz HTTP/${version}\r\n${hosts}\r\nConnection: close\r\n\r\n`,
          'must be sent once',
        );
      }
    });
  }

  for (const value of ['', '   ']) {
    test(`an empty Host (${JSON.stringify(value)}) is a 400 problem, not the bind address`, async () => {
      await assertHostRefused(
        `GET /healthz HTTP/1.1\r\nHost:${value}\r\nConnection: close\r\n\r\n`,
        'must be a valid host[:port]',
      );
    });
  }

  test('an HTTP/1.0 request without Host is refused on an unsafe method (the URL host would be a guess)', async () => {
    const login =
      'POST /auth/login HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}';
    await assertHostRefused(login, 'is required', 'POST');
    const head = await send('HEAD /healthz HTTP/1.0\r\n\r\n');
    assert.equal(head.status, 200);
  });

  test('an absolute-form target needs a Host too, but its own authority wins over a different one', async () => {
    await assertHostRefused(
      'GET http://localhost/healthz HTTP/1.1\r\nConnection: close\r\n\r\n',
      'is required',
    );
    // RFC 9112 §3.2.2: the server ignores Host and uses the target's authority.
    const res = await send(
      'GET http://other.example/healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n',
    );
    assert.equal(res.status, 200);
  });

  test('a missing Host is answered before an unmet Expect (400, not 417)', async () => {
    await assertHostRefused(
      'POST /auth/login HTTP/1.1\r\nExpect: 100-foo\r\nContent-Length: 2\r\n\r\n{}',
      'is required',
      'POST',
    );
  });

  test('a request pipelined behind a refused Host is not processed (RFC 9112 §9.6)', async () => {
    const from = logs.length;
    const raw = await sendRaw(
      'GET /healthz HTTP/1.1\r\n\r\nGET /auth/session HTTP/1.1\r\nHost: localhost\r\n\r\n',
    );
    assert.equal(raw.match(/HTTP\/1\.1 \d{3}/g)?.length, 1, raw);
    assert.match(raw, /^HTTP\/1\.1 400 /);
    await new Promise((resolve) => setTimeout(resolve, 100)); // an app run would log by now
    const routes = logs.slice(from).flatMap((l) => (l.msg === 'request' ? [l.route] : []));
    assert.deepEqual(routes, ['unmatched']);
  });

  test('an HTTP/1.0 probe without Host is served on an IPv6 address too', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'coatcheck-malformed-v6-'));
    let v6: RunningServer;
    try {
      v6 = await startServer(testConfig({ dataDir: dir, host: '::1' }), { shutdownGraceMs: 500 });
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      t.skip(`no IPv6 loopback here: ${(error as Error).message}`);
      return;
    }
    try {
      const port = Number(new URL(v6.url).port);
      const res = await send('GET /healthz HTTP/1.0\r\n\r\n', { port, host: '::1' });
      assert.equal(res.status, 200, res.body);
    } finally {
      await v6.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("requests Node's HTTP parser refuses", () => {
  test('broken framing (two Content-Length values) is a 400 problem that closes the connection', async () => {
    const res = await send(
      'POST /auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n{}',
    );
    assertProblem(res, 400, 'invalid_input');
    assert.equal(res.headers.connection, 'close');
    assert.equal(res.headers['content-length'], String(Buffer.byteLength(res.body)));
    assertSecurityHeaders(res);
  });

  test('an unknown method is a 400 problem', async () => {
    const res = await send('FOO /auth/session HTTP/1.1\r\nHost: localhost\r\n\r\n');
    assertProblem(res, 400, 'invalid_input');
    assert.equal(res.headers.connection, 'close');
  });

  test('headers over the limit are a 431 problem', async () => {
    const res = await send(
      `GET /auth/session HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    );
    assertProblem(res, 431, 'invalid_input');
    assert.equal(res.headers.connection, 'close');
  });

  test('Expect: 100-foo is a 417 problem with the security headers', async () => {
    const res = await send(
      'POST /auth/login HTTP/1.1\r\nHost: localhost\r\nExpect: 100-foo\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}',
    );
    assertProblem(res, 417, 'invalid_input');
    assertSecurityHeaders(res);
  });

  test('is logged at debug with its code and peer, never at warn or above (a flood cannot spam)', async () => {
    const from = logs.length;
    await send('GET / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n');
    const lines = logs.slice(from);
    assert.ok(
      lines.some((l) => l.level === 20 && l.event === 'http_parse_error' && l.status === 400),
      JSON.stringify(lines),
    );
    assert.ok(lines.every((l) => (l.level as number) < 40));
  });

  test("a request too slow to arrive keeps Node's 408, as a problem", async () => {
    const logger = createLogger({ level: 'silent' });
    const slow: Server = createServer(
      { headersTimeout: 100, requestTimeout: 150, connectionsCheckingInterval: 20 },
      () => assert.fail('no request should be complete'),
    );
    const services = { config: testConfig(), logger, metrics: createMetrics() };
    slow.on('clientError', earlyRefusals(services, createProxyTrust([])).clientError);
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    try {
      const port = (slow.address() as AddressInfo).port;
      const res = await send('GET / HTTP/1.1\r\nHost: localhost\r\n', { port, halfClose: false });
      assertProblem(res, 408, 'invalid_input');
      assert.equal(res.headers.connection, 'close');
    } finally {
      slow.close();
    }
  });
});
