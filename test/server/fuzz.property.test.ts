import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { METHODS } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import type { Hono } from 'hono';
import { getPath } from 'hono/utils/url';
import { csrfTokenFor } from '../../src/core/csrf.ts';
import { generateToken, hashSecret, parseToken, TOKEN_PREFIX } from '../../src/core/token.ts';
import { createApp } from '../../src/server/app.ts';
import { testConfig } from '../../src/server/config.ts';
import type { AppEnv } from '../../src/server/context.ts';
import { fixedRandom } from '../support/random.ts';
import { type Harness, PW, startServer } from './harness.ts';

// The server's promise (README, docs/api.md): bad input gets a clear 4xx problem+json, never a 500, never a
// crash, never lost data. fast-check throws requests at every route of the real app (SQLite, the
// harness's captured logger), in-process through `app.fetch` so that odd methods (PROPFIND, a
// lower-case `patch`) and the peer address reach the app unchanged. Each request is a mostly
// plausible one with some parts fuzzed (method, path and params, Host, Cookie, Content-Type,
// Origin / Sec-Fetch-Site, other headers, body); some are sent again and again like a guessing
// client, and the clock moves now and then. After each request we check:
// - status < 500, no escaped rejection, no log line at error or above;
// - every 4xx is problem+json whose `code` is a string and `status` the HTTP status, except the
//   HTML refusals pages give by design (Route.html4xx);
// - no session cookie is set to a request without a valid session, except by a sign-in, and none
//   by a refusal;
// - no redirect leaves the site (other than to the configured download server);
// - the user and admin sessions held by the fuzz are alive unless a successful unsafe request
//   signed in as that user (or as the admin) ended them; they are then re-created;
// - user rows change only through successful requests, and are created only by sign-ups.
// "Successful" is 2xx, or a page form post's 303 (POST-redirect-GET: pages answer success so).
// The seed is fixed; explore with FUZZ_SEED=<n> FUZZ_RUNS=<n> (FUZZ_SHRINK=1 to shrink a failure,
// off by default: the server is stateful, so a shrunk case may not replay). A failure prints the
// request as sent, the response, and any error line the server logged.

const SEED = Number(process.env.FUZZ_SEED ?? 9);
const RUNS = Number(process.env.FUZZ_RUNS ?? 3000);
const SHRINK = process.env.FUZZ_SHRINK === '1';

const BODY_LIMIT = 2048;
const METRICS_TOKEN = 'fuzz-metrics-token-0123456789abcdefghijkl';
const TRUSTED_ORIGIN = 'https://trusted.example';
const DOWNLOAD_URL = 'https://files.example';
/** A peer configured as a trusted proxy: its X-Forwarded-* headers are believed. */
const PROXY = '192.0.2.10';
const COOKIE = 'coatcheck';

// --- The routes -------------------------------------------------------------------------------

const FIELDS = [
  'email',
  'password',
  'name',
  'remember',
  'transport',
  'currentPassword',
  'newPassword',
  'resource',
  'roles',
  'locked',
  'csrf_token',
  'current_password',
  'new_password',
  'next',
] as const;
type Field = (typeof FIELDS)[number];

/** A route of the app, what its body holds, and how it may answer. */
interface Route {
  readonly method: string;
  readonly path: string;
  readonly body: 'json' | 'form' | 'none';
  readonly fields: readonly Field[];
  /** A sign-up or sign-in: the one kind of route that may set a session cookie to a stranger. */
  readonly signsIn?: true;
  /**
   * A page that answers refusals in words (pages/guard.ts sendPage/failurePage: 4xx text/html),
   * deliberately, for people using forms without JavaScript. Errors raised before the handler
   * (cross-origin 403, throttle 429, 404/405) are still problem+json there.
   */
  readonly html4xx?: true;
}

const get = (path: string, extra: Partial<Route> = {}): Route => ({
  method: 'GET',
  path,
  body: 'none',
  fields: [],
  ...extra,
});
/** A JSON API route taking a JSON object body (problem+json for every refusal). */
const api = (method: string, path: string, fields: Field[], extra: Partial<Route> = {}): Route => ({
  method,
  path,
  body: 'json',
  fields,
  ...extra,
});
/** A page's form post: urlencoded, answered with a 303 or an HTML page. */
const form = (path: string, fields: Field[], extra: Partial<Route> = {}): Route => ({
  method: 'POST',
  path,
  body: 'form',
  fields,
  html4xx: true,
  ...extra,
});

/** Every route of the app (the inventory test below fails when one is added and not listed). */
const ROUTES: readonly Route[] = [
  get('/'),
  get('/.well-known/jwks.json'),
  get('/account'),
  get('/admin', { html4xx: true }), // 403 page for a signed-in non-admin
  get('/admin/users'),
  get('/admin/users/:id/sessions'),
  get('/assets/app.css'),
  get('/auth/session'),
  get('/auth/sessions'),
  get('/auth/verify'),
  get('/healthz'),
  get('/login'),
  get('/metrics'),
  get('/readyz'),
  get('/signup'),
  api('POST', '/auth/signup', ['email', 'password', 'name'], { signsIn: true }),
  api('POST', '/auth/login', ['email', 'password', 'remember', 'transport'], { signsIn: true }),
  api('POST', '/auth/reauth', ['password']),
  api('POST', '/auth/logout', [], { body: 'none' }),
  api('POST', '/auth/password', ['currentPassword', 'newPassword']),
  api('POST', '/auth/download-tokens', ['resource']),
  api('DELETE', '/auth/sessions/:id', [], { body: 'none' }),
  api('DELETE', '/auth/sessions', [], { body: 'none' }),
  api('PATCH', '/admin/users/:id', ['roles', 'locked']),
  api('DELETE', '/admin/users/:id/sessions', [], { body: 'none' }),
  api('DELETE', '/admin/sessions', [], { body: 'none' }),
  form('/login', ['email', 'password', 'remember', 'next'], { signsIn: true }),
  form('/signup', ['name', 'email', 'password', 'next'], { signsIn: true }),
  form('/logout', ['csrf_token']),
  form('/account/sessions/:id/revoke', ['csrf_token']),
  form('/account/files/download', ['csrf_token', 'resource']),
  form('/account/sessions/revoke-others', ['csrf_token']),
  form('/account/password', ['csrf_token', 'current_password', 'new_password']),
  form('/account/reauth', ['csrf_token', 'password', 'next']),
  form('/admin/users/:id/roles', ['csrf_token', 'roles']),
  form('/admin/users/:id/lock', ['csrf_token']),
  form('/admin/users/:id/unlock', ['csrf_token']),
  form('/admin/users/:id/revoke', ['csrf_token']),
  form('/admin/sessions/revoke-everyone', ['csrf_token']),
];
const routeKey = (r: { method: string; path: string }) => `${r.method} ${r.path}`;
const ROUTE_BY_KEY = new Map(ROUTES.map((r) => [routeKey(r), r]));

/** `/a/:id/b` as an anchored regex over the path Hono routes on (strict: no trailing slash). */
function routePattern(path: string): RegExp {
  const escaped = path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:id/g, '[^/]+');
  return new RegExp(`^${escaped}$`);
}
const PATTERNS = ROUTES.map((route) => ({ route, pattern: routePattern(route.path) }));

/** The route Hono dispatches `method path` to, or null. */
function routeOf(method: string, path: string): Route | null {
  const wanted = method === 'HEAD' ? 'GET' : method;
  return PATTERNS.find((p) => p.route.method === wanted && p.pattern.test(path))?.route ?? null;
}

// --- What the fuzz holds: two signed-in principals ----------------------------------------------

type Who = 'user' | 'admin';
interface Principal {
  readonly who: Who;
  readonly id: string;
  readonly email: string;
  /** Followed through password changes the fuzz makes. */
  password: string;
  /** Followed through rotations (re-auth, password change), as a browser would. */
  token: string;
}

interface State {
  user: Principal;
  admin: Principal;
}

/**
 * Values only known while running (ids, tokens, the current password): a generated request names
 * them. `own*` is the principal the request is signed in as (the user when it is not), `other*`
 * the other one.
 */
const REFS = [
  'ownEmail',
  'ownPassword',
  'ownCsrf',
  'otherEmail',
  'otherPassword',
  'otherCsrf',
  'userId',
  'adminId',
  'userSessionId',
  'adminSessionId',
  'userFile',
] as const;
type Ref = (typeof REFS)[number];

function sessionOf(token: string): { id: string; secretHash: Uint8Array } {
  const parsed = parseToken(token);
  assert.ok(parsed, 'a principal holds a well-formed token');
  return { id: parsed.id, secretHash: hashSecret(parsed.secret) };
}

function resolveRef(ref: Ref, s: State, own: Who): string {
  const me = s[own];
  const other = s[own === 'user' ? 'admin' : 'user'];
  switch (ref) {
    case 'ownEmail':
      return me.email;
    case 'ownPassword':
      return me.password;
    case 'ownCsrf':
      return csrfTokenFor(sessionOf(me.token));
    case 'otherEmail':
      return other.email;
    case 'otherPassword':
      return other.password;
    case 'otherCsrf':
      return csrfTokenFor(sessionOf(other.token));
    case 'userId':
      return s.user.id;
    case 'adminId':
      return s.admin.id;
    case 'userSessionId':
      return sessionOf(s.user.token).id;
    case 'adminSessionId':
      return sessionOf(s.admin.token).id;
    case 'userFile':
      return `users/${s.user.id}/report.txt`;
  }
}

// --- Generators ---------------------------------------------------------------------------------

const char = (min: number, max: number) =>
  fc.integer({ min, max }).map((c) => String.fromCharCode(c));
/** What a header value may hold (a ByteString without NUL, CR, LF): tab, printable, obs-text. */
const latin1 = (maxLength: number) =>
  fc.string({ unit: fc.oneof(char(0x20, 0x7e), char(0x7f, 0xff), fc.constant('\t')), maxLength });
const loneSurrogate = char(0xd800, 0xdfff);
/** Any text: full Unicode, ASCII controls, graphemes, and lone surrogates. */
const anyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: 'binary-ascii', maxLength: 40 }),
  fc.string({ unit: fc.oneof(loneSurrogate, char(0x20, 0x7e)), maxLength: 20 }),
);
/** Path-ish text: traversal, percent-encodings (valid, broken, of invalid UTF-8), unicode. */
const pathText = fc.oneof(
  fc.constantFrom(
    '..',
    '.',
    '../admin',
    '..%2f..%2fetc%2fpasswd',
    '%2e%2e',
    '%2F',
    '%',
    '%zz',
    '%E0%A4%A',
    '%ff%fe',
    '%ed%a0%80',
    '%00',
    '%25',
    '%252e',
    'ü',
    '🧥',
    '\u00a0',
    ' ',
    '//evil.example',
    '\\evil',
    ';x',
    'a?b#c',
  ),
  fc.string({
    unit: fc.constantFrom('a', '.', '/', '%', '2', 'e', 'f', 'F', '\\', '~', 'é'),
    maxLength: 12,
  }),
  anyText,
  fc.integer({ min: 100, max: 3000 }).map((n) => 'a'.repeat(n)),
);

/** A field value: a runtime reference, or a literal. */
type Value = { readonly ref: Ref } | { readonly literal: unknown };
const ref = (...refs: Ref[]) => fc.constantFrom(...refs).map((r): Value => ({ ref: r }));
const literal = <T>(arb: fc.Arbitrary<T>) => arb.map((v): Value => ({ literal: v }));

const newEmail = fc.nat({ max: 1_000_000 }).map((n) => `fuzz-${n}@example.test`);
const newPassword = fc.oneof(
  fc.nat().map((n) => `another long passphrase ${n}`),
  fc.constantFrom(PW, 'short', 'password123', '😀'.repeat(20)),
);
/** Values that are plausible somewhere, and wrong in most places. */
const plausible = fc.oneof(
  newEmail,
  newPassword,
  fc.constantFrom(
    true,
    false,
    null,
    'cookie',
    'bearer',
    '1',
    'on',
    'public/hello.txt',
    'public/../../etc/passwd',
    '/admin',
    '//evil.example',
    '/\\evil.example',
    'user, admin',
    ['user', 'admin'],
    [],
    '',
    ' ',
    'Jörg.Ωmega@exämple.test',
    'a@b',
    { toString: 'x' },
  ),
  anyText,
  fc.array(anyText, { maxLength: 3 }),
  fc.integer(),
  fc.double(),
  fc.integer({ min: 300, max: 3000 }).map((n) => 'x'.repeat(n)),
);
const anyValue: fc.Arbitrary<Value> = fc.oneof(
  { weight: 3, arbitrary: literal(plausible) },
  { weight: 1, arbitrary: literal(fc.anything({ maxDepth: 2 })) },
  { weight: 1, arbitrary: ref(...REFS) },
);
/** Mostly what the field wants (so requests get past validation), else anything. */
const likely = (good: fc.Arbitrary<Value>) =>
  fc.oneof({ weight: 3, arbitrary: good }, { weight: 1, arbitrary: anyValue });
const nextPath = fc.constantFrom(
  '/admin',
  '/account',
  '/account?notice=welcome',
  '//evil.example',
  'https://evil.example/',
  '/\\evil.example',
);
const OPTIONAL_FIELDS = new Set<Field>(['name', 'remember', 'transport', 'next']);
const FIELD_VALUES: Readonly<Record<Field, fc.Arbitrary<Value>>> = {
  email: likely(fc.oneof(ref('ownEmail', 'otherEmail'), literal(newEmail))),
  password: likely(ref('ownPassword', 'ownPassword', 'otherPassword')),
  name: likely(literal(anyText)),
  remember: likely(literal(fc.boolean())),
  transport: likely(literal(fc.constant('cookie'))), // bearer transport is off: 400
  currentPassword: likely(ref('ownPassword')),
  newPassword: likely(literal(newPassword)),
  resource: likely(fc.oneof(literal(fc.constant('public/hello.txt')), ref('userFile'))),
  roles: likely(
    literal(fc.constantFrom(['user'], ['user', 'admin'], ['admin'], 'user, admin', 'user')),
  ),
  locked: likely(literal(fc.boolean())),
  csrf_token: likely(ref('ownCsrf', 'ownCsrf', 'ownCsrf', 'otherCsrf')),
  current_password: likely(ref('ownPassword')),
  new_password: likely(literal(newPassword)),
  next: likely(literal(nextPath)),
};

/**
 * Methods: the route's own, another method Node's HTTP parser accepts (http.METHODS: WebDAV and
 * friends), or a lower-case spelling. Fetch upper-cases `get`, `post`, `delete`, ...; `patch` stays
 * lower-case and reaches the app as written (Node's parser would answer 400 itself). Arbitrary
 * tokens are not generated: Node refuses them before the app, and in-process a method named after
 * an Object.prototype member (`valueOf`, `constructor`) makes Hono's TrieRouter throw (upstream).
 * CONNECT and TRACE: the Fetch API refuses to construct them.
 */
const method = fc.oneof(
  { weight: 8, arbitrary: fc.constant({ kind: 'route' as const }) },
  {
    weight: 2,
    arbitrary: fc
      .oneof(
        fc.constantFrom(...METHODS.filter((m) => m !== 'CONNECT' && m !== 'TRACE')),
        fc.constantFrom('get', 'post', 'delete', 'head', 'options', 'put', 'patch'),
      )
      .map((name) => ({ kind: 'other' as const, name })),
  },
);

const param = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .constantFrom<Ref>('userId', 'adminId', 'userSessionId', 'adminSessionId')
      .map((r) => ({ ref: r })),
  },
  { weight: 2, arbitrary: pathText.map((raw) => ({ raw })) },
);
const query = fc.oneof(
  { weight: 3, arbitrary: fc.constant('') },
  {
    weight: 2,
    arbitrary: fc
      .array(
        fc.tuple(
          fc.constantFrom('next', 'limit', 'offset', 'page', 'redirect', 'notice', 'v', 'x'),
          fc.oneof(
            fc.constantFrom('1', '0', '-1', '200', '201', '1e3', 'welcome'),
            nextPath,
            pathText,
          ),
        ),
        { minLength: 1, maxLength: 3 },
      )
      .map((pairs) => `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}`),
  },
);
const path = fc.oneof(
  {
    weight: 9,
    arbitrary: fc.record({
      kind: fc.constant('route' as const),
      route: fc.constantFrom(...ROUTES.map(routeKey)),
      param,
      query,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('junk' as const), path: pathText }),
  },
);

const cookie = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ kind: 'absent' as const }) },
  { weight: 1, arbitrary: latin1(60).map((header) => ({ kind: 'raw' as const, header })) },
  { weight: 1, arbitrary: latin1(60).map((value) => ({ kind: 'named' as const, value })) },
  {
    weight: 1,
    arbitrary: fc
      .uint8Array({ minLength: 40, maxLength: 40 })
      .map((bytes) => ({ kind: 'unknown' as const, bytes })),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('wrongSecret' as const),
      who: fc.constantFrom<Who>('user', 'admin'),
      bytes: fc.uint8Array({ minLength: 24, maxLength: 24 }),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('valid' as const),
      who: fc.constantFrom<Who>('user', 'admin'),
      others: fc.constantFrom('', 'theme=dark; ', 'a=b; other=1; '),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('duplicated' as const),
      who: fc.constantFrom<Who>('user', 'admin'),
    }),
  },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 4000, max: 20_000 })
      .map((size) => ({ kind: 'huge' as const, size })),
  },
);
type CookieSpec = typeof cookie extends fc.Arbitrary<infer T> ? T : never;

const contentType = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ kind: 'route' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'absent' as const }) },
  {
    weight: 2,
    arbitrary: fc
      .oneof(
        fc.constantFrom(
          'application/json',
          'Application/JSON; charset=UTF-8',
          'application/json; charset=utf-16',
          'application/json;charset="utf-8"',
          'application/x-www-form-urlencoded',
          'APPLICATION/X-WWW-FORM-URLENCODED; charset=utf-8',
          'multipart/form-data; boundary=x',
          'multipart/form-data',
          'text/plain;charset=UTF-8',
          'application/problem+json',
          'application/jsonp',
          '*/*',
          '',
        ),
        latin1(30),
      )
      .map((value) => ({ kind: 'value' as const, value })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({
        base: fc.constantFrom(
          'application/json',
          'application/x-www-form-urlencoded',
          'multipart/form-data',
        ),
        suffix: fc.oneof(
          fc.constantFrom(';', ' ;', ',', '; charset=', '\u00a0', '\u0085', '; boundary="'),
          latin1(6),
        ),
      })
      .map(({ base, suffix }) => ({ kind: 'value' as const, value: base + suffix })),
  },
);

const origin = fc.oneof(
  { weight: 4, arbitrary: fc.constant('absent') },
  { weight: 5, arbitrary: fc.constant('same') },
  {
    weight: 1,
    arbitrary: fc.constantFrom('https://evil.example', 'null', TRUSTED_ORIGIN, 'HTTP://LOCALHOST'),
  },
  { weight: 1, arbitrary: latin1(30) },
);
/** A header sent about one request in five. */
const optionalHeader = (values: fc.Arbitrary<string>) =>
  fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: values });
const headers = fc.record({
  host: fc.constantFrom(
    'localhost',
    'localhost',
    'localhost:8080',
    '127.0.0.1',
    '[::1]',
    'EXAMPLE.com',
  ),
  contentType,
  origin,
  secFetchSite: optionalHeader(
    fc.oneof(
      fc.constantFrom('same-origin', 'same-origin', 'none', 'cross-site', 'same-site'),
      latin1(12),
    ),
  ),
  csrfHeader: optionalHeader(fc.oneof(fc.constant('ref'), latin1(50))),
  accept: optionalHeader(
    fc.oneof(fc.constantFrom('text/html', 'application/json', '*/*'), latin1(20)),
  ),
  authorization: optionalHeader(
    fc.oneof(fc.constant(`Bearer ${METRICS_TOKEN}`), fc.constant('Bearer ccs_x.y'), latin1(40)),
  ),
  forwarded: optionalHeader(latin1(40)),
  forwardedMethod: optionalHeader(fc.oneof(fc.constantFrom('POST', 'GET', 'delete'), latin1(8))),
  forwardedUri: optionalHeader(
    fc.oneof(fc.constantFrom('/account', '//evil.example/'), latin1(30)),
  ),
  preflight: optionalHeader(fc.constantFrom('POST', 'PATCH', 'x')),
  contentLength: fc.boolean(),
});

const body = fc.oneof(
  { weight: 1, arbitrary: fc.constantFrom({ kind: 'none' as const }, { kind: 'empty' as const }) },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('shaped' as const),
      as: fc.constantFrom('route', 'route', 'route', 'json', 'form'),
      // A required field is left out one time in six, an optional one half the time. Only the
      // route's own fields are sent.
      fields: fc.record(
        Object.fromEntries(
          FIELDS.map((f) => [
            f,
            fc.option(FIELD_VALUES[f], { nil: undefined, freq: OPTIONAL_FIELDS.has(f) ? 2 : 6 }),
          ]),
        ) as Record<Field, fc.Arbitrary<Value | undefined>>,
      ),
      extra: fc.dictionary(
        fc.oneof(fc.constantFrom('__proto__', 'constructor', 'toString'), anyText),
        plausible,
        {
          maxKeys: 2,
        },
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.json({ maxDepth: 3 }).map((text) => ({ kind: 'json' as const, text })),
  },
  {
    weight: 1,
    arbitrary: fc.anything({ maxDepth: 3 }).map((v) => ({ kind: 'anything' as const, value: v })),
  },
  {
    weight: 1,
    arbitrary: fc
      .uint8Array({ maxLength: 200 })
      .map((bytes) => ({ kind: 'bytes' as const, bytes })),
  },
  { weight: 1, arbitrary: anyText.map((text) => ({ kind: 'text' as const, text })) },
  {
    weight: 1,
    arbitrary: fc
      .array(
        fc.tuple(
          fc.oneof(fc.constantFrom('email', 'csrf_token', 'next', 'x[]', ''), pathText),
          pathText,
        ),
        {
          maxLength: 4,
        },
      )
      .map((pairs) => ({
        kind: 'rawForm' as const,
        text: pairs.map(([k, v]) => `${k}=${v}`).join('&'),
      })),
  },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: BODY_LIMIT - 8, max: 50_000 })
      .map((size) => ({ kind: 'huge' as const, size })),
  },
);
type BodySpec = typeof body extends fc.Arbitrary<infer T> ? T : never;

const requestSpec = fc.record({
  method,
  path,
  headers,
  cookie,
  body,
  /** How many times a client sends it, stopping at a success or a 429 (see the property). */
  burst: fc.oneof(
    { weight: 30, arbitrary: fc.constant(1) },
    { weight: 1, arbitrary: fc.integer({ min: 2, max: 150 }) },
  ),
  /**
   * Seconds the clock moves before the request: mostly none, so failures pile up into throttling
   * (429); now and then enough for throttles to decay and the admin's fresh window to end.
   */
  wait: fc.oneof(
    { weight: 18, arbitrary: fc.constant(0) },
    { weight: 2, arbitrary: fc.constantFrom(1, 60) },
  ),
  peer: fc.option(
    fc.constantFrom(
      '203.0.113.1',
      '203.0.113.2',
      '203.0.113.3',
      '2001:db8::1',
      '::ffff:203.0.113.9',
      PROXY,
    ),
    {
      nil: null,
      freq: 5,
    },
  ),
});
type RequestSpec = typeof requestSpec extends fc.Arbitrary<infer T> ? T : never;

// --- From a spec to a Request -------------------------------------------------------------------

/** Methods the Fetch API upper-cases (any other spelling reaches the server as written). */
const NORMALISED_METHODS = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT']);
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

interface Built {
  readonly request: Request;
  /** Who the request is signed in as: one valid cookie of a principal, else null. */
  readonly signedInAs: Who | null;
  /** The new password the body asks for, as the server reads it (to follow a password change). */
  readonly newPassword: string | undefined;
  readonly summary: string;
}

interface Payload {
  readonly bytes: Uint8Array<ArrayBuffer>;
  readonly kind: 'json' | 'form';
  readonly newPassword?: string | undefined;
}

function asFormValue(v: unknown): string[] {
  if (v === undefined) return [];
  if (Array.isArray(v)) return v.flatMap(asFormValue);
  if (typeof v === 'object' && v !== null) return [safeStringify(v) ?? '[object]'];
  return [String(v)];
}

function safeStringify(v: unknown): string | undefined {
  try {
    return JSON.stringify(v);
  } catch {
    return undefined;
  }
}

function bodyBytes(spec: BodySpec, route: Route | null, s: State, own: Who): Payload | null {
  // UTF-8, as any client sends a string: a lone surrogate becomes U+FFFD (raw bytes and JSON
  // escapes carry the invalid ones).
  const text = (t: string) => new TextEncoder().encode(t);
  switch (spec.kind) {
    case 'none':
      return null;
    case 'empty':
      return { bytes: new Uint8Array(0), kind: route?.body === 'form' ? 'form' : 'json' };
    case 'shaped': {
      const wanted = new Set<string>(route?.fields ?? FIELDS);
      const entries: [string, unknown][] = [];
      for (const [name, v] of Object.entries(spec.fields)) {
        if (v === undefined || !wanted.has(name)) continue;
        entries.push([name, 'ref' in v ? resolveRef(v.ref, s, own) : v.literal]);
      }
      entries.push(...Object.entries(spec.extra));
      const kind = spec.as === 'route' ? (route?.body === 'form' ? 'form' : 'json') : spec.as;
      const sent = new Map(entries);
      if (kind === 'json') {
        const next = sent.get('newPassword');
        const bytes = text(safeStringify(Object.fromEntries(entries)) ?? '{}');
        return { bytes, kind, newPassword: typeof next === 'string' ? next : undefined };
      }
      const form = new URLSearchParams();
      for (const [name, v] of entries) for (const each of asFormValue(v)) form.append(name, each);
      // A form field sent twice: the page reads the last value (pages/form.ts).
      const newPassword = asFormValue(sent.get('new_password')).at(-1);
      return { bytes: text(form.toString()), kind, newPassword };
    }
    case 'json':
      return { bytes: text(spec.text), kind: 'json' };
    case 'anything':
      return { bytes: text(safeStringify(spec.value) ?? ''), kind: 'json' };
    case 'bytes':
      return { bytes: new Uint8Array(spec.bytes), kind: 'json' };
    case 'text':
      return { bytes: text(spec.text), kind: 'json' };
    case 'rawForm':
      return { bytes: text(spec.text), kind: 'form' };
    case 'huge':
      return { bytes: text(`{"email":"${'x'.repeat(spec.size)}"}`), kind: 'json' };
  }
}

function cookieHeader(spec: CookieSpec, s: State): string | null {
  switch (spec.kind) {
    case 'absent':
      return null;
    case 'raw':
      return spec.header;
    case 'named':
      return `${COOKIE}=${spec.value}`;
    case 'unknown':
      return `${COOKIE}=${generateToken(fixedRandom(spec.bytes)).token}`;
    case 'wrongSecret': {
      const { id } = sessionOf(s[spec.who].token);
      return `${COOKIE}=${TOKEN_PREFIX}${id}.${Buffer.from(spec.bytes).toString('base64url')}`;
    }
    case 'valid':
      return `${spec.others}${COOKIE}=${s[spec.who].token}`;
    case 'duplicated':
      return `${COOKIE}=${s[spec.who].token}; ${COOKIE}=${s[spec.who].token}`;
    case 'huge':
      return `${COOKIE}=${'A'.repeat(spec.size)}`;
  }
}

function build(spec: RequestSpec, s: State): Built {
  const route = spec.path.kind === 'route' ? (ROUTE_BY_KEY.get(spec.path.route) ?? null) : null;
  const signedInAs = spec.cookie.kind === 'valid' ? spec.cookie.who : null;
  const own = signedInAs ?? 'user';
  let name = spec.method.kind === 'route' ? (route?.method ?? 'GET') : spec.method.name;
  if (NORMALISED_METHODS.has(name.toUpperCase())) name = name.toUpperCase();

  let target: string;
  if (spec.path.kind === 'junk') {
    target = `/${spec.path.path}`;
  } else {
    const p = spec.path.param;
    const id = 'ref' in p ? resolveRef(p.ref, s, own) : p.raw;
    target = (route?.path ?? '/').replace(':id', id) + spec.path.query;
  }
  const h = spec.headers;
  const headers = new Headers();
  const cookieValue = cookieHeader(spec.cookie, s);
  if (cookieValue !== null) headers.set('cookie', cookieValue);

  const sendsBody = name !== 'GET' && name !== 'HEAD';
  const payload = sendsBody ? bodyBytes(spec.body, route, s, own) : null;
  const ct = h.contentType;
  if (ct.kind === 'value') headers.set('content-type', ct.value);
  if (ct.kind === 'route' && payload !== null) {
    headers.set(
      'content-type',
      payload.kind === 'form' ? 'application/x-www-form-urlencoded' : 'application/json',
    );
  }
  if (payload !== null && h.contentLength)
    headers.set('content-length', String(payload.bytes.byteLength));
  const self = `http://${h.host}`;
  // What a browser sends: the serialised origin of the URL it requested (lower-case host).
  if (h.origin === 'same') headers.set('origin', new URL(self).origin);
  else if (h.origin !== 'absent') headers.set('origin', h.origin);
  if (h.secFetchSite !== undefined) headers.set('sec-fetch-site', h.secFetchSite);
  if (h.csrfHeader !== undefined) {
    headers.set(
      'x-csrf-token',
      h.csrfHeader === 'ref' ? resolveRef('ownCsrf', s, own) : h.csrfHeader,
    );
  }
  if (h.accept !== undefined) headers.set('accept', h.accept);
  if (h.authorization !== undefined) headers.set('authorization', h.authorization);
  if (h.forwarded !== undefined) headers.set('x-forwarded-for', h.forwarded);
  if (h.forwardedMethod !== undefined) headers.set('x-forwarded-method', h.forwardedMethod);
  if (h.forwardedUri !== undefined) headers.set('x-forwarded-uri', h.forwardedUri);
  if (h.preflight !== undefined) headers.set('access-control-request-method', h.preflight);

  const request = new Request(self + target, {
    method: name,
    headers,
    ...(payload === null ? {} : { body: payload.bytes }),
  });
  const shownBody =
    payload === null
      ? ''
      : ` body=${JSON.stringify(new TextDecoder().decode(payload.bytes.subarray(0, 300)))}`;
  const shown = (v: string) => {
    const cut = v.length > 120 ? `${v.slice(0, 120)}…(${v.length} chars)` : v;
    return cut.replace(
      /[^\x20-\x7e…]/g,
      (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
    );
  };
  const summary = `${request.method} ${request.url} peer=${spec.peer} headers=${JSON.stringify(
    Object.fromEntries([...headers].map(([k, v]) => [k, shown(v)])),
  )}${shownBody}`;
  return { request, signedInAs, newPassword: payload?.newPassword, summary };
}

// --- The fuzz -----------------------------------------------------------------------------------

/** A Set-Cookie line that sets (not clears) the session cookie. */
function setsSession(line: string): string | null {
  if (!line.startsWith(`${COOKIE}=`)) return null;
  const value = line.slice(COOKIE.length + 1).split(';')[0] ?? '';
  return value === '' || /;\s*max-age=0(;|$)/i.test(line) ? null : value;
}

/** A redirect that stays on this site (a path, never `//host` or `/\host`) or goes to downloads. */
function safeLocation(location: string): boolean {
  if (location.startsWith(`${DOWNLOAD_URL}/`)) return true;
  return location.startsWith('/') && !location.startsWith('//') && !location.startsWith('/\\');
}

describe('fuzzing every route with bad input', () => {
  let h: Harness;
  let app: Hono<AppEnv>;
  let filesDir: string;
  let state: State;
  const escaped: unknown[] = [];
  const onEscape = (error: unknown) => escaped.push(error);

  const newPrincipal = async (who: Who): Promise<Principal> => {
    const u = await h.createUser(who === 'admin' ? { roles: ['user', 'admin'] } : {});
    return { who, id: u.id, email: u.email, password: PW, token: u.token };
  };

  before(async () => {
    filesDir = await mkdtemp(join(tmpdir(), 'coatcheck-fuzz-files-'));
    await mkdir(join(filesDir, 'public'));
    await writeFile(join(filesDir, 'public', 'hello.txt'), 'hello');
    h = await startServer({
      bodyLimitBytes: BODY_LIMIT,
      metricsToken: METRICS_TOKEN,
      trustedOrigins: [TRUSTED_ORIGIN],
      trustedProxies: [PROXY],
      identityAudience: 'https://internal.example',
      download: { ...testConfig().download, url: new URL(DOWNLOAD_URL), root: filesDir },
    });
    app = createApp(h.services);
    state = { user: await newPrincipal('user'), admin: await newPrincipal('admin') };
    process.on('unhandledRejection', onEscape);
  });
  after(async () => {
    process.off('unhandledRejection', onEscape);
    await h.close();
    await rm(filesDir, { recursive: true, force: true });
  });

  test('the fuzzed route table lists every route the app serves', () => {
    const served = app.routes.filter((r) => r.method !== 'ALL').map(routeKey);
    assert.deepEqual([...new Set(served)].sort(), ROUTES.map(routeKey).sort());
  });

  test('any request answers < 500 with a problem for every refusal, sets no stranger a session, loses no data', async (t) => {
    const created = new Set([state.user.id, state.admin.id]);
    const statuses = new Map<string, number>();
    let revived = 0;
    let expired = 0;
    let requests = 0;

    const users = async () =>
      new Map(
        (await h.services.users.list({ limit: 100_000, offset: 0 })).map((u) => [
          u.id,
          JSON.stringify(u),
        ]),
      );

    /** Alive: validates as this principal (an admin also still has the role). */
    const alive = async (p: Principal) => {
      const result = await h.services.engine.validate(p.token);
      if (!result.ok || result.user.id !== p.id) return false;
      return p.who === 'user' || result.user.roles.includes('admin');
    };

    /** Sends one request built from `spec`, checks everything about it, returns its status. */
    const exchange = async (spec: RequestSpec): Promise<number> => {
      const built = build(spec, state);
      const { request, signedInAs } = built;
      requests++;
      const route = routeOf(request.method, getPath(request));
      const logStart = h.logs.length;
      const rowsBefore = await users();

      let res: Response;
      let text: string;
      try {
        res = await app.fetch(request, spec.peer === null ? {} : { peer: spec.peer });
        text = await res.text();
      } catch (error) {
        assert.fail(`the app threw: ${(error as Error).stack}\n  request: ${built.summary}`);
      }
      const status = res.status;
      const errors = h.logs
        .slice(logStart)
        .filter((line) => (JSON.parse(line) as { level: number }).level >= 50);
      const ctx = (why: string) =>
        [
          why,
          `  request: ${built.summary}`,
          `  response: ${status} ${res.headers.get('content-type')} ${text.slice(0, 400)}`,
          ...errors.map((line) => `  logged: ${line}`),
        ].join('\n');
      const code = /"code":"([a-z_]+)"/.exec(text)?.[1] ?? '';
      const key = `${route ? routeKey(route) : 'unrouted'} → ${status} ${code}`.trim();
      statuses.set(key, (statuses.get(key) ?? 0) + 1);

      // Never a 500, never a crash.
      assert.ok(status < 500, ctx('a 5xx'));
      assert.deepEqual(escaped, [], ctx('a rejection escaped the request'));
      assert.deepEqual(errors, [], ctx('a line logged at error or above'));

      // A clear 4xx: problem+json whose code and status are right (or a page's own HTML).
      const type = res.headers.get('content-type') ?? '';
      if (status >= 400) {
        if (type === 'application/problem+json') {
          if (request.method !== 'HEAD') {
            let problem: { code?: unknown; status?: unknown } = {};
            assert.doesNotThrow(() => {
              problem = JSON.parse(text);
            }, ctx('problem body is not JSON'));
            assert.equal(typeof problem.code, 'string', ctx('problem without a code'));
            assert.equal(
              problem.status,
              status,
              ctx('problem status differs from the HTTP status'),
            );
          }
        } else {
          assert.ok(
            route?.html4xx && type.startsWith('text/html'),
            ctx(`a ${status} that is not problem+json`),
          );
        }
      }

      const success = (status >= 200 && status < 300) || (status === 303 && route?.body === 'form');
      // A session cookie is set only on success, and to a stranger only by a sign-in.
      const setValues = res.headers.getSetCookie().flatMap((l) => setsSession(l) ?? []);
      if (setValues.length > 0) {
        assert.ok(success, ctx('a session cookie set by a refusal'));
        assert.ok(
          signedInAs !== null || (route?.signsIn && request.method === 'POST'),
          ctx('a session cookie set to a request without a valid session'),
        );
      }
      const location = res.headers.get('location');
      if (location !== null)
        assert.ok(safeLocation(location), ctx(`redirect off-site to ${location}`));

      // No lost data: user rows change only by successful requests, and appear only by sign-up.
      const rowsAfter = await users();
      for (const id of rowsBefore.keys()) assert.ok(rowsAfter.has(id), ctx(`user ${id} vanished`));
      for (const [id, row] of rowsAfter) {
        if (rowsBefore.get(id) === row) continue;
        if (!rowsBefore.has(id)) {
          assert.ok(
            success && route?.signsIn && route.path.endsWith('signup'),
            ctx(`user ${id} created`),
          );
          created.add(id);
        } else {
          assert.ok(success, ctx(`user ${id} changed from ${rowsBefore.get(id)} to ${row}`));
        }
      }

      // A password change the fuzz made: remember the new one (only a request signed in as that
      // user can change it, and only by success, checked above).
      for (const who of ['user', 'admin'] as const) {
        const p = state[who];
        const [before, now] = [rowsBefore.get(p.id), rowsAfter.get(p.id)];
        if (before === undefined || now === undefined || before === now) continue;
        const hash = (row: string) => (JSON.parse(row) as { passwordHash: string }).passwordHash;
        if (hash(before) === hash(now)) continue;
        assert.ok(
          signedInAs === who && built.newPassword !== undefined,
          ctx(`the ${who}'s password changed`),
        );
        p.password = built.newPassword; // checked NFKC-normalised, as set
      }

      // The held sessions: follow a rotation (the browser would store the new cookie), and accept
      // an ending only from a successful unsafe request signed in as that user or as the admin.
      for (const who of ['user', 'admin'] as const) {
        const p = state[who];
        if (signedInAs === who) {
          for (const candidate of setValues) {
            const result = await h.services.engine.validate(candidate);
            if (result.ok && result.user.id === p.id) p.token = candidate;
          }
        }
        if (await alive(p)) continue;
        const legitimate =
          success &&
          !SAFE_METHODS.has(request.method) &&
          (signedInAs === who || signedInAs === 'admin');
        assert.ok(legitimate, ctx(`the ${who}'s session ended`));
        state[who] = await newPrincipal(who);
        created.add(state[who].id);
        revived++;
      }
      return status;
    };

    await fc.assert(
      fc.asyncProperty(requestSpec, async (spec) => {
        // Time passes; a session it ended (idle or absolute lifetime) is replaced, no one to blame.
        h.clock.now += spec.wait * 1000;
        for (const who of ['user', 'admin'] as const) {
          if (await alive(state[who])) continue;
          state[who] = await newPrincipal(who);
          created.add(state[who].id);
          expired++;
        }
        // A burst is a client retrying until it gets through or is throttled (guessing tokens,
        // passwords): the same request again, checked each time.
        for (let i = 0; i < spec.burst; i++) {
          const status = await exchange(spec);
          if (status < 400 || status === 429) break;
        }
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: !SHRINK },
    );

    // After the run: the held user session still validates, and every user row is accounted for.
    assert.ok(await alive(state.user), 'the user session held by the fuzz validates');
    assert.ok(await alive(state.admin), 'the admin session held by the fuzz validates');
    assert.deepEqual([...(await users()).keys()].sort(), [...created].sort());

    const lines = [...statuses]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, n]) => `${k}: ${n}`);
    t.diagnostic(
      `seed ${SEED}: ${RUNS} runs, ${requests} requests; held sessions ended by requests ${revived} times, by time ${expired}`,
    );
    for (const line of lines) t.diagnostic(line);
  });
});
