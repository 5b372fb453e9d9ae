// Run (node, type stripping) from a project that installed the tarball: each adapter's flow over
// real HTTP, sign-in → protected route → form post with the token → sign-out everywhere.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import {
  Accounts,
  MemoryAuditLog,
  MemorySessionStore,
  MemoryUserStore,
  SessionEngine,
} from 'coatcheck';
import { coatcheck as forExpress } from 'coatcheck/express';
import { coatcheckErrorHandler, coatcheck as fastifyPlugin } from 'coatcheck/fastify';
import { type CoatcheckEnv, coatcheck as forHono } from 'coatcheck/hono';
import { coatcheck as forWeb } from 'coatcheck/web';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';

const PASSWORD = 'correct horse battery staple';
const users = new MemoryUserStore();
const audit = new MemoryAuditLog();
const engine = new SessionEngine({ store: new MemorySessionStore(), users, audit });
const accounts = new Accounts({ users, engine, audit });
const options = { engine, accounts, cookie: { secure: false } } as const;

async function flow(name: string, base: string): Promise<void> {
  const email = `${name}@example.com`;
  const { user } = await accounts.signup({ email, password: PASSWORD });
  await engine.revokeAll(user.id);
  const json = { 'content-type': 'application/json' };
  const login = await fetch(`${base}/login`, {
    method: 'POST',
    headers: json,
    body: JSON.stringify({ email, password: PASSWORD }),
  });
  const cookie = (login.headers.getSetCookie()[0] ?? '').split(';')[0] ?? '';
  check(login.status === 200 && cookie.startsWith('coatcheck=ccs_'), `${name}: sign-in`);
  const other = await engine.create(user);
  const me = await (await fetch(`${base}/me`, { headers: { cookie } })).json();
  check(me.email === email && typeof me.token === 'string', `${name}: protected route`);
  check((await fetch(`${base}/me`)).status === 401, `${name}: signed out is 401`);
  const form = { cookie, 'content-type': 'application/x-www-form-urlencoded' };
  const refused = await fetch(`${base}/out`, { method: 'POST', headers: form, body: 'x=1' });
  check(refused.status === 403, `${name}: form post without token refused`);
  const body = new URLSearchParams({ csrf_token: me.token }).toString();
  const out = await fetch(`${base}/out`, { method: 'POST', headers: form, body });
  check((await out.json()).revoked === 1, `${name}: sign-out everywhere`);
  check(!(await engine.validate(other.token)).ok, `${name}: other sessions ended`);
  console.log(`ok ${name}`);
}

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(`failed: ${what}`);
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

// Express
const ex = forExpress(options);
const app = express().use(express.json(), express.urlencoded({ extended: false }), ex.middleware);
app.post('/login', async (req, res) => {
  res.json({ email: (await ex.signIn(req, res, req.body)).email });
});
app.get('/me', ex.requireAuth(), (req, res) => {
  res.json({ email: req.auth?.user.email, token: ex.csrfToken(req) });
});
app.post('/out', async (req, res) => {
  res.json({ revoked: await ex.signOutEverywhere(req, res) });
});
const expressServer = createServer(app);
await flow('express', await listen(expressServer));
expressServer.close();

// Fastify
const fastify = Fastify();
fastify.addContentTypeParser(
  'application/x-www-form-urlencoded',
  { parseAs: 'string' },
  (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(String(body)))),
);
await fastify.register(fastifyPlugin, options);
fastify.setErrorHandler(coatcheckErrorHandler);
fastify.post('/login', async (request, reply) => ({
  email: (await reply.signIn(request.body)).email,
}));
fastify.get('/me', { onRequest: fastify.requireAuth() }, async (request) => ({
  email: request.auth?.user.email,
  token: request.csrfToken(),
}));
fastify.post('/out', async (_request, reply) => ({ revoked: await reply.signOutEverywhere() }));
await flow('fastify', await fastify.listen({ port: 0, host: '127.0.0.1' }));
await fastify.close();

// Hono and Web, both on @hono/node-server
const hono = forHono(options);
const h = new Hono<CoatcheckEnv>();
h.use(hono.middleware);
h.onError(hono.errorHandler);
h.post('/login', async (c) => c.json({ email: (await hono.signIn(c, await c.req.json())).email }));
h.get('/me', hono.requireAuth(), (c) =>
  c.json({ email: c.var.auth?.user.email, token: hono.csrfToken(c) }),
);
h.post('/out', async (c) => c.json({ revoked: await hono.signOutEverywhere(c) }));
// The same flow with no middleware: each route's handler wrapped by hono.handler().
const hw = new Hono<CoatcheckEnv>();
hw.post(
  '/login',
  hono.handler(async (c) => c.json({ email: (await hono.signIn(c, await c.req.json())).email })),
);
hw.get(
  '/me',
  hono.handler((c) => c.json({ email: c.var.auth?.user.email, token: hono.csrfToken(c) }), {
    requireAuth: true,
  }),
);
hw.post(
  '/out',
  hono.handler(async (c) => c.json({ revoked: await hono.signOutEverywhere(c) })),
);
const web = forWeb(options);
const routes: Record<string, (request: Request) => Response | Promise<Response>> = {
  'POST /login': web.handler(async (request, ctx) =>
    Response.json({ email: (await ctx.signIn(await request.json())).email }),
  ),
  'GET /me': web.handler(
    (_request, ctx) => Response.json({ email: ctx.auth?.user.email, token: ctx.csrfToken() }),
    { requireAuth: true },
  ),
  'POST /out': web.handler(async (_request, ctx) =>
    Response.json({ revoked: await ctx.signOutEverywhere() }),
  ),
};
for (const [name, fetch] of [
  ['hono', h.fetch],
  ['hono-handler', hw.fetch],
  [
    'web',
    (r: Request) =>
      routes[`${r.method} ${new URL(r.url).pathname}`]?.(r) ?? new Response(null, { status: 404 }),
  ],
] as const) {
  const server = serve({ fetch, port: 0, hostname: '127.0.0.1' }) as Server;
  await new Promise((resolve) => server.once('listening', resolve));
  await flow(name, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  server.close();
}
