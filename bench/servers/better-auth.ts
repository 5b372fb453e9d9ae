/**
 * better-auth as its docs set it up for Redis: sessions in secondary storage (node-redis), users
 * in its memory adapter (the only users this benchmark has is one; the per-request path does not
 * read the user database when sessions live in secondary storage), email + password sign-in. The
 * protected route calls `auth.api.getSession({ headers })` on every request, with the session
 * cookie cache off (every request reads Redis) or on (a signed cookie is trusted for its maxAge).
 * Same framework as Coatcheck (Hono on @hono/node-server).
 */
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve as listen } from '@hono/node-server';
import { betterAuth } from 'better-auth';
import { memoryAdapter } from 'better-auth/adapters/memory';
import { Hono } from 'hono';
import { createClient } from 'redis';
import type { Credential } from '../lib/child.ts';
import { BENCH_ACCOUNT, BETTER_AUTH_COOKIE_CACHE_SECONDS } from '../lib/constants.ts';
import { serve, serverConfig } from './ipc.ts';

/** Where the sessions live, and whether the cookie cache is on. */
export interface BetterAuthServerConfig {
  readonly redisUrl: string;
  readonly cookieCache: boolean;
}

const { redisUrl, cookieCache } = serverConfig<BetterAuthServerConfig>();
const redis = createClient({ url: redisUrl });
await redis.connect();

const auth = betterAuth({
  baseURL: 'https://better-auth.bench.invalid',
  secret: randomBytes(32).toString('base64url'),
  database: memoryAdapter({ user: [], session: [], account: [], verification: [] }),
  secondaryStorage: {
    get: (key) => redis.get(key),
    getAndDelete: (key) => redis.getDel(key),
    increment: async (key, ttl) => {
      const count = await redis.incr(key);
      if (count === 1) await redis.expire(key, ttl);
      return count;
    },
    set: (key, value, ttl) => (ttl ? redis.set(key, value, { EX: ttl }) : redis.set(key, value)),
    delete: async (key) => {
      await redis.del(key);
    },
  },
  emailAndPassword: { enabled: true },
  session: {
    cookieCache: { enabled: cookieCache, maxAge: BETTER_AUTH_COOKIE_CACHE_SECONDS },
  },
  telemetry: { enabled: false },
});

const app = new Hono();
app.get('/auth/session', async (c) => {
  const found = await auth.api.getSession({ headers: c.req.raw.headers });
  if (found === null) return c.json({ error: 'unauthenticated' }, 401);
  const { user, session } = found;
  return c.json({
    user: { id: user.id, email: user.email, name: user.name },
    session: { id: session.id, expiresAt: session.expiresAt },
  });
});
app.on(['GET', 'POST'], '/api/auth/*', (c) => auth.handler(c.req.raw));

const server = await new Promise<Server>((resolve) => {
  const s = listen({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () =>
    resolve(s as Server),
  );
});
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const account = { ...BENCH_ACCOUNT };
await auth.api.signUpEmail({ body: { ...account, name: 'Bench' } });

/** Signs in (a new session) and returns every cookie better-auth set, as a Cookie header. */
const mint = async (): Promise<Credential> => {
  const response = await auth.api.signInEmail({ body: account, asResponse: true });
  const cookies = response.headers.getSetCookie().map((line) => line.split(';')[0] ?? '');
  if (!response.ok || cookies.length === 0) throw new Error(`sign-in failed: ${response.status}`);
  const token = cookies.find((c) => c.includes('session_token='))?.split('=')[1] ?? '';
  const sessionId = decodeURIComponent(token).split('.')[0] ?? '';
  return { header: 'cookie', value: cookies.join('; '), sessionId };
};

serve(url, await mint(), { mint }, async () => {
  server.close();
  await redis.close();
});
