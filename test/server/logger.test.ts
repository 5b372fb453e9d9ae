import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { compileRedaction } from '../../src/server/log-redact.ts';
import { accessLogWriter, createLogger, logTime, REDACT_PATHS } from '../../src/server/logger.ts';

// A log line is read by more people than the database is. Whatever a caller passes by mistake — a
// request's headers, a body with a password, a token — leaves the process as "[redacted]".

function capture() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    level: 'info',
    destination: { write: (line: string) => lines.push(JSON.parse(line)) },
  });
  return { logger, lines };
}

describe('log redaction', () => {
  test('a token, a password or a cookie at the top level or one object down is censored', () => {
    const { logger, lines } = capture();
    logger.info({
      token: 'tok',
      csrfToken: 'csrf',
      body: { password: 'hunter2', newPassword: 'x', email: 'ann@example.com' },
      req: { headers: { cookie: 'sid=1', authorization: 'Bearer t', host: 'example.com' } },
      headers: { 'set-cookie': ['sid=2'], cookie: 'sid=3', accept: 'text/html' },
    });
    const line = lines[0] as Record<string, Record<string, unknown>>;
    assert.equal(line.token, '[redacted]');
    assert.equal(line.csrfToken, '[redacted]');
    assert.deepEqual(line.body, {
      password: '[redacted]',
      newPassword: '[redacted]',
      email: 'ann@example.com',
    });
    assert.deepEqual(line.req, {
      headers: { cookie: '[redacted]', authorization: '[redacted]', host: 'example.com' },
    });
    assert.deepEqual(line.headers, {
      'set-cookie': '[redacted]',
      cookie: '[redacted]',
      accept: 'text/html',
    });
  });

  test('child bindings are censored too', () => {
    const { logger, lines } = capture();
    logger
      .child({ token: 'bound' })
      .child({ nested: { cookie: 'c' } })
      .info('x');
    assert.equal(lines[0]?.token, '[redacted]');
    assert.deepEqual(lines[0]?.nested, { cookie: '[redacted]' });
  });

  test("an error keeps its type, message and stack; the caller's objects are not changed", () => {
    const { logger, lines } = capture();
    const err = Object.assign(new Error('boom'), { token: 'leak' });
    const input = { err, user: { password: 'p' } };
    logger.error(input, 'failed');
    const logged = lines[0]?.err as Record<string, unknown>;
    assert.equal(logged.type, 'Error');
    assert.equal(logged.message, 'boom');
    assert.match(String(logged.stack), /^Error: boom\n/);
    assert.equal(logged.token, '[redacted]');
    assert.equal(err.token, 'leak');
    assert.equal(input.user.password, 'p');
  });

  test('a line with nothing to censor is passed through as the same object', () => {
    const redact = compileRedaction(REDACT_PATHS, '[redacted]');
    const line = { requestId: 'r', method: 'GET', route: '/auth/session', status: 200, ip: '' };
    assert.equal(redact(line), line);
    const deep = { err: { cause: { detail: { code: 'x' } } }, list: [[1], { a: { b: 2 } }] };
    assert.equal(redact(deep), deep);
  });

  test("paths follow pino's spelling; anything else is refused at start-up", () => {
    const redact = compileRedaction(['a.b', '*.c', 'd["e-f"]'], 'X');
    assert.deepEqual(redact({ a: { b: 1, z: 2 }, q: { c: 3 }, d: { 'e-f': 4 } }), {
      a: { b: 'X', z: 2 },
      q: { c: 'X' },
      d: { 'e-f': 'X' },
    });
    assert.throws(() => compileRedaction(['a..b'], 'X'), /Unsupported redaction path/);
    assert.throws(() => compileRedaction(['.a'], 'X'), /Unsupported redaction path/);
  });
});

describe('access-log line', () => {
  const entry = {
    requestId: 'r3qT0b1xXk9ZpQ2w',
    method: 'GET',
    route: '/auth/session',
    status: 200,
    ms: 0.4,
    ip: '203.0.113.7',
  };
  /** Raw lines, with the time (the one field that differs between two writes) blanked. */
  function rawCapture(options: { level?: string } = {}) {
    const lines: string[] = [];
    const logger = createLogger({
      level: options.level ?? 'info',
      destination: { write: (line: string) => lines.push(line) },
    });
    const untimed = () => lines.map((l) => l.replace(/"time":"[^"]*"/, '"time":"T"'));
    return { logger, lines, untimed };
  }

  test('is the very line pino writes for logger.info(entry, "request"), byte for byte', () => {
    const { logger, lines, untimed } = rawCapture();
    const odd = { ...entry, route: 'unmatched', ip: 'a"b\\c\n\u2028é\u0001', status: 503, ms: 12 };
    for (const e of [entry, odd]) {
      logger.info(e, 'request');
      accessLogWriter(logger)(e);
    }
    const [viaPino, byHand, oddViaPino, oddByHand] = untimed();
    assert.equal(byHand, viaPino);
    assert.equal(oddByHand, oddViaPino);
    assert.match(lines[1] ?? '', /^\{"level":30,"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z",/);
    assert.equal(JSON.parse(lines[3] ?? '').ip, odd.ip);
  });

  test('follows the logger level, also when it changes at run time', () => {
    const { logger, lines } = rawCapture({ level: 'warn' });
    const write = accessLogWriter(logger);
    write(entry);
    assert.equal(lines.length, 0);
    logger.level = 'info';
    write(entry);
    assert.equal(lines.length, 1);
  });

  test("a logger of the caller's own goes through its logger.info, with its own format", () => {
    const lines: Record<string, unknown>[] = [];
    const own = pino(
      { formatters: { level: (label) => ({ severity: label }) } },
      { write: (line: string) => lines.push(JSON.parse(line)) },
    );
    accessLogWriter(own)(entry);
    assert.equal(lines[0]?.severity, 'info');
    assert.equal(lines[0]?.msg, 'request');
    assert.equal(lines[0]?.route, '/auth/session');
  });
});

describe('log timestamps', () => {
  test('logTime is toISOString, within a second, across seconds and days, and out of range', () => {
    const start = Date.UTC(2026, 11, 31, 23, 59, 58, 990);
    const times = [0, 999, 1000, Date.now(), 253_402_300_799_999, 253_402_300_800_000, -1, 1.5];
    for (let ms = start; ms < start + 2500; ms++) times.push(ms);
    // Back in time too (a clock stepped backwards): nothing kept from a later second is reused.
    times.push(start + 1000, start, start + 999, start - 1);
    for (const ms of times) assert.equal(logTime(ms), new Date(ms).toISOString(), String(ms));
  });
});
