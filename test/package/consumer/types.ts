// Type-checked (tsc --strict, module nodenext) against the installed tarball: the public surface
// of every entry point, as an app would use it. `@ts-expect-error` lines prove the types bite.
import {
  Accounts,
  CoatcheckError,
  createOriginCheck,
  csrfTokenFor,
  type FeedHandlers,
  type Invalidation,
  type InvalidationFeed,
  LocalInvalidationFeed,
  MemoryAuditLog,
  MemorySessionStore,
  MemoryUserStore,
  type NearCacheOptions,
  SessionEngine,
  type SessionUser,
  toProblem,
} from 'coatcheck';
import {
  createDownloadServer,
  createDownloadVerifier,
  createKeySeal,
  createRedisReplayGuard,
  type DownloadGrant,
  type DownloadVerdict,
  decodeKeysSecret,
  issueDownloadToken,
  MemoryReplayGuard,
  type PublishedJwk,
  type ReplayGuard,
  SigningKeys,
} from 'coatcheck/download';
import { type Auth, coatcheck as forExpress } from 'coatcheck/express';
import { coatcheckErrorHandler, coatcheck as fastifyPlugin } from 'coatcheck/fastify';
import { type CoatcheckEnv, coatcheck as forHono } from 'coatcheck/hono';
import { openPostgresStores, PostgresKeyStore, type PostgresStores } from 'coatcheck/postgres';
import {
  createRedisSessionStore,
  type RedisFeedOptions,
  RedisInvalidationFeed,
  type RedisSessionStore,
} from 'coatcheck/redis';
import {
  createApp,
  createServices,
  type DownloadPolicy,
  type ServerConfig,
  startServer,
} from 'coatcheck/server';
import { openSqliteStores, SqliteKeyStore, type SqliteStores } from 'coatcheck/sqlite';
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
// The same without middleware: one route's handler wrapped, with its guards.
h.get(
  '/notes/:id',
  hono.handler((c) => c.json({ id: c.req.param('id'), by: c.var.auth?.user.id }), {
    requireRole: ['admin'],
  }),
);

// Web (Next.js route handlers, Bun, Deno).
const web = forWeb({ engine, accounts, maxFormBytes: 4096 });
export const POST: (request: Request) => Response | Promise<Response> = web.handler(
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
const teamFolders: DownloadPolicy = async ({ user, resource }) =>
  user.roles.some((role) => resource.startsWith(`teams/${role}/`));
createServices(config, { downloadPolicy: teamFolders });
// @ts-expect-error: a policy answers yes or no
createServices(config, { downloadPolicy: () => 'yes' });

// Several nodes: users in PostgreSQL, sessions in Redis, a near cache fed over Redis pub/sub.
// Type-checked only (never run: it would connect).
export async function production(redisUrl: string, postgresUrl: string): Promise<void> {
  const pg: PostgresStores = await openPostgresStores(postgresUrl, { maxConnections: 20 });
  const sessions: RedisSessionStore = await createRedisSessionStore(redisUrl, {
    keyPrefix: 'app:',
    connectTimeoutMs: 5000,
  });
  const feedOptions: RedisFeedOptions = {
    keyPrefix: 'app:',
    heartbeatMs: 250,
    deadlineMs: 1000,
    onStatus: ({ live, error }) => console.warn({ live, error }),
  };
  const feed = new RedisInvalidationFeed(redisUrl, feedOptions);
  const nearCache: NearCacheOptions = { feed, maxEntries: 10_000, maxAgeSeconds: 60 };
  const cached = new SessionEngine({
    store: sessions,
    users: pg.users,
    audit: pg.audit,
    nearCache,
  });
  console.log('other nodes heard:', feed.peers satisfies number);
  await cached.invalidateUser('a user id'); // after changing a user's roles outside Accounts
  await cached.close(); // closes the feed
  await sessions.close();
  await pg.close();
  new SessionEngine({ store, users, nearCache: false }); // never cache, even on SQLite
  new SessionEngine({ store, users, nearCache: { maxEntries: 100 } }); // the store's probe, if any
  // @ts-expect-error: options or false, not a flag
  new SessionEngine({ store, users, nearCache: true });
}

// A feed of your own, here wrapping the in-process one.
class CountingFeed implements InvalidationFeed {
  readonly #inner = new LocalInvalidationFeed();
  published = 0;
  subscribe(handlers: FeedHandlers): void {
    this.#inner.subscribe({
      onMessage: (invalidation: Invalidation) => handlers.onMessage(invalidation),
      onState: (live: boolean) => handlers.onState(live),
    });
  }
  publish(invalidation: Invalidation): Promise<void> {
    this.published += (invalidation.sessionIds?.length ?? 0) + (invalidation.userIds?.length ?? 0);
    return this.#inner.publish(invalidation);
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
}
new SessionEngine({ store, users, nearCache: { feed: new CountingFeed() } });

// The download server, embedded. Type-checked only.
export async function downloads(root: string, replayUrl: string | undefined): Promise<void> {
  const replay: ReplayGuard = replayUrl
    ? await createRedisReplayGuard(replayUrl, { prefix: 'dl:', commandTimeoutMs: 1000 })
    : new MemoryReplayGuard({ maxEntries: 100_000, pruneIntervalMs: 10_000 });
  const server = createDownloadServer({
    root,
    issuer: 'https://app.example',
    audience: 'https://files.example',
    jwksUrl: 'https://app.example/.well-known/jwks.json',
    jwksCooldownMs: 5000,
    jwksCacheMaxAgeMs: 60_000,
    replay,
    log: (entry) => console.log(entry.status, entry.path, entry.reason ?? ''),
  });
  const running = await server.listen({ port: 3001, host: '0.0.0.0' });
  const url: string = running.url;
  await running.close();
  const verifier = createDownloadVerifier({
    issuer: 'https://app.example',
    audience: url,
    keys: { keys: [] },
    clockToleranceSeconds: 5,
  });
  const verdict: DownloadVerdict = await verifier.verify('token');
  if (verdict.ok) verdict.claims.resource satisfies string;
  else verdict.status satisfies 401 | 503;
  // @ts-expect-error: a key source (jwksUrl or keys) is required
  createDownloadServer({ root, issuer: 'https://app.example', audience: url });
}

// Minting download tokens in an app built on the library. Type-checked only.
export async function mint(
  stores: SqliteStores,
  pg: PostgresStores,
  user: SessionUser,
): Promise<DownloadGrant> {
  const secret = decodeKeysSecret(process.env.KEYS_SECRET ?? '');
  const keys = new SigningKeys({
    store: new SqliteKeyStore(stores.db),
    seal: createKeySeal(secret),
  });
  new SigningKeys({ store: new PostgresKeyStore(pg.sql), seal: createKeySeal(null) });
  const published: PublishedJwk[] = (await keys.jwks()).keys;
  published[0]?.kid satisfies string | undefined;
  return issueDownloadToken(keys, {
    issuer: 'https://app.example',
    downloadUrl: new URL('https://files.example'),
    user,
    sessionId: 's1',
    resource: 'users/u1/report.txt',
    ttlSeconds: 60,
  });
}

try {
  await accounts.login({ email: 'a@example.com', password: 'x' });
} catch (error) {
  if (error instanceof CoatcheckError) toProblem(error).status satisfies number;
}
