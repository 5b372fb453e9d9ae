/**
 * The classic stateful peer: Express 5 + express-session + connect-redis on node-redis, set up as
 * connect-redis's README says (resave false, saveUninitialized false), with a production cookie
 * (HttpOnly, Secure behind a trusted proxy, SameSite=Lax). The protected route reads the session
 * from Redis on every request; express-session then touches it (one EXPIRE) as it does by default.
 */
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RedisStore } from 'connect-redis';
import express from 'express';
import session from 'express-session';
import { createClient } from 'redis';
import type { Credential } from '../lib/child.ts';
import { EXPRESS_SESSION_PREFIX } from '../lib/constants.ts';
import { serve, serverConfig } from './ipc.ts';

/** Where the sessions live. */
export interface ExpressSessionServerConfig {
  readonly redisUrl: string;
}

declare module 'express-session' {
  interface SessionData {
    user: { id: string; email: string; name: string; roles: string[] };
  }
}

const { redisUrl } = serverConfig<ExpressSessionServerConfig>();
const client = createClient({ url: redisUrl });
await client.connect();

const app = express();
app.set('trust proxy', 'loopback');
app.use(
  session({
    store: new RedisStore({ client, prefix: EXPRESS_SESSION_PREFIX }),
    secret: randomBytes(32).toString('base64url'),
    resave: false,
    saveUninitialized: false,
    name: 'sid',
    cookie: { httpOnly: true, secure: true, sameSite: 'lax', maxAge: 7 * 86_400_000 },
  }),
);
app.post('/auth/login', (req, res) => {
  req.session.regenerate((error) => {
    if (error) return res.status(500).end();
    req.session.user = {
      id: 'usr_bench_0001',
      email: 'bench@example.com',
      name: 'Bench',
      roles: ['user'],
    };
    res.json({ ok: true });
  });
});
app.get('/auth/session', (req, res) => {
  const user = req.session.user;
  if (user === undefined) return res.status(401).json({ error: 'unauthenticated' });
  res.json({ user, session: { id: req.session.id, expiresAt: req.session.cookie.expires } });
});

const server = await new Promise<Server>((resolve) => {
  const s = app.listen(0, '127.0.0.1', () => resolve(s));
});
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

/** Signs in through the app itself (as a browser would, behind a TLS-terminating proxy). */
const mint = async (): Promise<Credential> => {
  const response = await fetch(`${url}/auth/login`, {
    method: 'POST',
    headers: { 'x-forwarded-proto': 'https' },
  });
  const cookie = response.headers.getSetCookie()[0]?.split(';')[0];
  if (!response.ok || cookie === undefined) throw new Error(`login failed: ${response.status}`);
  const sid = decodeURIComponent(cookie.slice('sid='.length)).slice(2).split('.')[0];
  return { header: 'cookie', value: cookie, ...(sid ? { sessionId: sid } : {}) };
};

serve(url, await mint(), { mint }, async () => {
  server.close();
  await client.close();
});
