import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  type DownloadFixture,
  pathOf,
  type RawResponse,
  REPORT,
  startDownloadFixture,
} from './fixture.ts';

// Requests the download server refuses before its handler runs, sent as raw bytes: a Host field
// RFC 9112 §3.2 refuses (missing, repeated, empty), a Host that makes no URL, an Expect it cannot
// meet, and what Node's HTTP parser refuses (a garbage request line, headers over the limit). Each
// used to get a bare 400 or 417 with no body and none of the download server's headers; each now
// gets an RFC 9457 problem as the app's server answers it (test/server/malformed-requests.test.ts),
// and the server goes on serving downloads.

describe('requests the download server refuses before its handler', () => {
  let f: DownloadFixture;
  before(async () => {
    f = await startDownloadFixture();
  });
  after(() => f.close());

  /** Asserts a problem (type, title, status, code) with every header of the download server. */
  function assertProblem(res: RawResponse, status: number): Record<string, unknown> {
    assert.equal(res.status, status, res.body.toString());
    assert.equal(res.headers['content-type'], 'application/problem+json');
    const problem = JSON.parse(res.body.toString()) as Record<string, unknown>;
    assert.equal(problem.type, 'https://coatcheck.dev/problems/invalid_input');
    assert.equal(problem.title, 'Invalid input');
    assert.equal(problem.status, status);
    assert.equal(problem.code, 'invalid_input');
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.headers['referrer-policy'], 'no-referrer');
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.headers['cross-origin-resource-policy'], 'same-origin');
    assert.equal(
      res.headers['content-security-policy'],
      "default-src 'none'; sandbox; frame-ancestors 'none'",
    );
    assert.equal(res.headers['x-frame-options'], 'DENY');
    // The fixture's audience is https: HSTS on every answer, these too.
    assert.equal(res.headers['strict-transport-security'], 'max-age=31536000; includeSubDomains');
    return problem;
  }

  /** Asserts the 400 `host` problem with this message, closing the connection. */
  function assertHostRefused(res: RawResponse, message: string): void {
    const problem = assertProblem(res, 400);
    assert.deepEqual(problem.errors, [{ field: 'host', message }]);
    assert.equal(res.headers.connection, 'close');
  }

  /** Asserts that a genuine download link still gets its file. */
  async function assertStillServing(): Promise<void> {
    const res = await f.get(pathOf(await f.mint('users/u1/report.txt')));
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), REPORT);
  }

  test('a request without Host is a 400 problem, not a bare 400, logged with a reason', async () => {
    const from = f.logs.length;
    const res = await f.sendRaw('GET /files/users/u1/report.txt?token=abc.def HTTP/1.1\r\n\r\n');
    assertHostRefused(res, 'is required');
    assert.deepEqual(f.logs.slice(from), [
      {
        method: 'GET',
        path: '/files/users/u1/report.txt?token=[redacted]',
        status: 400,
        ms: 0,
        ip: '127.0.0.1',
        reason: 'bad_host',
      },
    ]);
    await assertStillServing();
  });

  test('two Host fields are a 400 problem, even with the same value', async () => {
    for (const hosts of ['Host: files.example.test\r\nHost: evil.example', 'host: a\r\nHOST: a']) {
      const res = await f.sendRaw(`GET /files/users/u1/report.txt HTTP/1.1\r\n${hosts}\r\n\r\n`);
      assertHostRefused(res, 'must be sent once');
    }
    await assertStillServing();
  });

  test('an empty Host is a 400 problem', async () => {
    const res = await f.sendRaw('GET /files/users/u1/report.txt HTTP/1.1\r\nHost:\r\n\r\n');
    assertHostRefused(res, 'must be a valid host[:port]');
    await assertStillServing();
  });

  test('a Host that makes no URL is a 400 problem, logged with the token masked', async () => {
    const from = f.logs.length;
    const res = await f.sendRaw(
      'GET /files/users/u1/report.txt?token=abc.def HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n',
    );
    const problem = assertProblem(res, 400);
    assert.deepEqual(problem.errors, [{ field: 'host', message: 'must be a valid host[:port]' }]);
    assert.deepEqual(
      f.logs.slice(from).map(({ path, status, reason }) => ({ path, status, reason })),
      [{ path: '/files/users/u1/report.txt?token=[redacted]', status: 400, reason: 'bad_host' }],
    );
    await assertStillServing();
  });

  test('a garbage request line is a 400 problem that closes the connection, reported without its bytes', async () => {
    const from = f.parseErrors.length;
    for (const [line, field] of [
      ['this is not http', 'method'],
      ['\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03', 'method'], // a TLS ClientHello
      ['GET /files/users/u1/report.txt?token=abc.def HTTP/9.9', 'request'],
    ]) {
      const res = await f.sendRaw(`${line}\r\nHost: files.example.test\r\n\r\n`);
      const problem = assertProblem(res, 400);
      assert.equal((problem.errors as { field: string }[])[0]?.field, field);
      assert.equal(res.headers.connection, 'close');
    }
    const reported = f.parseErrors.slice(from);
    assert.equal(reported.length, 3);
    for (const event of reported) {
      assert.deepEqual(Object.keys(event).sort(), ['code', 'peer', 'status']);
      assert.equal(event.status, 400);
      assert.equal(event.peer, '127.0.0.1');
    }
    assert.equal(JSON.stringify(reported).includes('abc.def'), false);
    await assertStillServing();
  });

  test('headers over the limit are a 431 problem', async () => {
    const res = await f.sendRaw(
      `GET /files/users/u1/report.txt HTTP/1.1\r\nHost: files.example.test\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    );
    const problem = assertProblem(res, 431);
    assert.deepEqual(problem.errors, [
      { field: 'headers', message: 'are larger than the server accepts' },
    ]);
    assert.equal(res.headers.connection, 'close');
    await assertStillServing();
  });

  test('Expect other than 100-continue is a 417 problem, logged with a reason', async () => {
    const from = f.logs.length;
    const res = await f.sendRaw(
      'GET /files/users/u1/report.txt HTTP/1.1\r\nHost: files.example.test\r\nExpect: 100-foo\r\nConnection: close\r\n\r\n',
    );
    const problem = assertProblem(res, 417);
    assert.deepEqual(problem.errors, [
      { field: 'expect', message: 'must be 100-continue, or absent' },
    ]);
    assert.deepEqual(
      f.logs.slice(from).map(({ status, reason }) => ({ status, reason })),
      [{ status: 417, reason: 'bad_expect' }],
    );
    await assertStillServing();
  });

  test('an HTTP/1.0 GET without Host (a load balancer probe) still reaches the handler', async () => {
    const res = await f.sendRaw('GET /healthz HTTP/1.0\r\n\r\n');
    assert.equal(res.status, 404);
    assert.equal(JSON.parse(res.body.toString()).code, 'not_found');
  });
});
