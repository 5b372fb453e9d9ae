import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { needsFormToken, resolveAdapterOptions } from '../../src/adapters/core.ts';
import { defaultErrorStatus, problemReply, replaceSetCookie } from '../../src/adapters/problem.ts';
import { ConfigError, StoreUnavailableError, ThrottledError } from '../../src/core/errors.ts';
import { adapterFixture } from './fixture.ts';

/** The framework-free parts every adapter shares: option resolution and the pure checks. */

const { engine } = adapterFixture();

test('defaults are the secure ones: __Host- name, Secure, SameSite=Lax, frozen', () => {
  const config = resolveAdapterOptions({ engine });
  assert.equal(config.cookieName, '__Host-coatcheck');
  assert.equal(
    config.clearingCookie,
    '__Host-coatcheck=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax',
  );
  assert.ok(Object.isFrozen(config));
  assert.equal(config.csrfField, 'csrf_token');
  assert.equal(config.csrfHeader, 'x-csrf-token');
});

test('plain-HTTP development drops the prefix and Secure, nothing else', () => {
  const config = resolveAdapterOptions({ engine, cookie: { secure: false, name: 'app' } });
  assert.equal(config.cookieName, 'app');
  assert.equal(config.clearingCookie, 'app=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax');
});

test('misconfiguration throws ConfigError once, at construction', () => {
  const bad = [
    {},
    { engine, cookie: { sameSite: 'none' } },
    { engine, cookie: { name: '__Host-x' } },
    { engine, trustedOrigins: ['https://*.example'] },
    { engine, trustedOrigins: ['https://app.example/'] },
    { engine, publicOrigin: 'app.example' },
  ];
  for (const options of bad) {
    // @ts-expect-error: deliberately wrong options, as from untyped JavaScript
    assert.throws(() => resolveAdapterOptions(options), ConfigError, JSON.stringify(options));
  }
});

test('a form token is required exactly for bodies a cross-site page can send unpreflighted', () => {
  const cases: [string, string | undefined, boolean][] = [
    ['GET', 'application/x-www-form-urlencoded', false],
    ['HEAD', undefined, false],
    ['OPTIONS', undefined, false],
    ['POST', undefined, true],
    ['POST', '', true],
    ['POST', 'application/x-www-form-urlencoded', true],
    ['POST', 'Application/X-WWW-Form-Urlencoded; charset=utf-8', true],
    ['PUT', 'multipart/form-data; boundary=x', true],
    ['DELETE', 'text/plain', true],
    ['POST', 'text/plain, application/json', true],
    ['POST', ';', true],
    ['POST', 'application/json', false],
    ['PATCH', 'application/json; charset=utf-8', false],
    ['POST', 'application/octet-stream', false],
    ['post', 'text/plain', true], // methods are case-sensitive: lower-case is not a safe method
  ];
  for (const [method, type, expected] of cases) {
    assert.equal(needsFormToken(method, type), expected, `${method} ${type}`);
  }
});

test('a 5xx problem says nothing of its cause; a 429 carries Retry-After', () => {
  const down = problemReply(new StoreUnavailableError('redis at 10.0.0.7:6379 refused'));
  assert.equal(down.status, 503);
  assert.doesNotMatch(down.body.detail, /10\.0\.0\.7/);
  assert.equal(problemReply(new Error('secret internals')).body.detail.includes('secret'), false);
  const throttled = problemReply(new ThrottledError(7));
  assert.equal(throttled.headers['retry-after'], '7');
  assert.equal(throttled.headers['content-type'], 'application/problem+json');
});

test('a new session cookie replaces an earlier line for the same cookie only', () => {
  assert.deepEqual(replaceSetCookie(undefined, 'a=1'), ['a=1']);
  assert.deepEqual(replaceSetCookie('a=; Max-Age=0', 'a=1'), ['a=1']);
  assert.deepEqual(replaceSetCookie(['theme=dark', 'a=; Max-Age=0', 'ab=2'], 'a=1'), [
    'theme=dark',
    'ab=2',
    'a=1',
  ]);
});

test('an error passed on to Express or Fastify is a 5xx (no cookie) unless it says 4xx', () => {
  // Express and Fastify read `status`/`statusCode`, then the response's own status, else 500.
  assert.equal(defaultErrorStatus(new Error('bug'), 200), 500);
  assert.equal(defaultErrorStatus(null, 200), 500);
  assert.equal(defaultErrorStatus(Object.assign(new Error('bad json'), { status: 400 }), 200), 400);
  assert.equal(defaultErrorStatus({ statusCode: 413 }, 200), 413);
  assert.equal(defaultErrorStatus({ status: 302 }, 200), 500);
  assert.equal(defaultErrorStatus(new Error('after res.status(404)'), 404), 404);
  assert.equal(defaultErrorStatus({ status: 503 }, 404), 503);
});

test('no adapter relaxes a check by environment (no NODE_ENV, no test mode)', async () => {
  const dir = new URL('../../src/adapters/', import.meta.url);
  for (const name of await readdir(dir)) {
    const source = await readFile(new URL(name, dir), 'utf8');
    assert.doesNotMatch(source, /NODE_ENV|process\.env/, name);
  }
});
