// Type-checked (tsc --strict, module nodenext) against the installed tarball: the public surface
// of every entry point, as an app would use it. `@ts-expect-error` lines prove the types bite.
import {
  Accounts,
  CoatcheckError,
  createOriginCheck,
  csrfTokenFor,
  MemoryAuditLog,
  MemorySessionStore,
  MemoryUserStore,
  SessionEngine,
  type SessionUser,
  toProblem,
} from 'coatcheck';
import { type Auth, coatcheck as forExpress } from 'coatcheck/express';
import { coatcheckErrorHandler, coatcheck as fastifyPlugin } from 'coatcheck/fastify';
import { type CoatcheckEnv, coatcheck as forHono } from 'coatcheck/hono';
import { createApp, createServices, type ServerConfig, startServer } from 'coatcheck/server';
import { openSqliteStores, type SqliteStores } from 'coatcheck/sqlite';
import { coatcheck as forWeb, type WebContext } from 'coatcheck/web';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';

const store = new MemorySessionStore();
const users = new MemoryUserStore();
const audit = new MemoryAuditLog();
const engine = new SessionEngine({ store, users, audit, policy: { idleTimeoutSeconds: 3600 } });
const accounts = new Accounts({ users, engine, audit });
const stores: SqliteStores = openSqliteStores(':memory:');
void stores;
createOriginCheck({ trustedOrigins: ['https://app.example'] });

// Express: req.auth through declaration merging.
const ex = forExpress({ engine, accounts, cookie: { secure: false } });
const app = express();
app.use(ex.middleware);
app.get('/', ex.requireAuth(), ex.requireRole('admin'), (req, res) => {
  const auth: Auth | null | undefined = req.auth;
  // @ts-expect-error: auth may be null, the compiler insists on a check
  res.send(req.auth.user.email);
  const roles: readonly string[] = auth?.user.roles ?? [];
  res.json({ roles, token: ex.csrfToken(req) });
});
app.post('/login', async (req, res) => {
  const user = await ex.signIn(req, res, req.body);
  const email: string = user.email;
  res.json({ email, revoked: await ex.signOutEverywhere(req, res) });
});
app.use(ex.errorHandler);
// @ts-expect-error: the cookie must not be SameSite=None
forExpress({ engine, cookie: { sameSite: 'none' } });

// Fastify: request.auth, reply helpers and instance guards through module augmentation.
const fastify = Fastify();
await fastify.register(fastifyPlugin, { engine, accounts });
fastify.setErrorHandler(coatcheckErrorHandler);
fastify.get('/', { onRequest: fastify.requireAuth({ redirectTo: '/login' }) }, async (request) => {
  const auth: Auth | null = request.auth;
  return { email: auth?.user.email, token: request.csrfToken() };
});
fastify.post('/login', { preHandler: fastify.requireRole('user') }, async (request, reply) => {
  const user = await reply.signIn(request.body);
  await reply.signOut();
  const n: number = await reply.signOutEverywhere();
  return { email: user.email, n };
});

// Hono: c.get('auth') typed through CoatcheckEnv.
const hono = forHono({ engine, accounts, clientIp: () => null });
const h = new Hono<CoatcheckEnv>();
h.use(hono.middleware);
h.onError(hono.errorHandler);
h.get('/', hono.requireAuth(), (c) => {
  const auth = c.get('auth');
  // @ts-expect-error: null when signed out
  auth.user.email;
  return c.json({ email: auth?.user.email ?? null, token: hono.csrfToken(c) });
});

// Web (Next.js route handlers, Bun, Deno).
const web = forWeb({ engine, accounts, maxFormBytes: 4096 });
export const POST: (request: Request) => Promise<Response> = web.handler(
  async (_request, ctx: WebContext) => {
    const user: SessionUser | undefined = ctx.auth?.user;
    if (user) await ctx.startSession(user, { remember: true });
    return Response.json({ token: ctx.csrfToken(), form: (await ctx.form()).get('x') });
  },
  { requireRole: ['admin'], redirectTo: '/login' },
);
const maybe: Auth | null = await web.authenticate(new Headers());
if (maybe) csrfTokenFor(maybe.session);
web.checkOrigin(new Request('https://app.example/'));

// The server, embedded.
declare const config: ServerConfig;
const services = createServices(config);
createApp(services).fetch satisfies (request: Request) => Response | Promise<Response>;
void startServer;

try {
  await accounts.login({ email: 'a@example.com', password: 'x' });
} catch (error) {
  if (error instanceof CoatcheckError) toProblem(error).status satisfies number;
}
