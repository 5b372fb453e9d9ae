/**
 * The ceilings: the same route answering the same JSON with no authentication and no middleware
 * at all, on Hono (the framework of the Coatcheck and JWT servers) and on Express 5 (the framework
 * express-session needs). No authenticated server on a framework can beat its ceiling, so these
 * rows say how much of each framework's own cost a ratio between contenders can move.
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve as listen } from '@hono/node-server';
import express from 'express';
import { Hono } from 'hono';
import type { Credential } from '../lib/child.ts';
import { JWT_LIFETIME_SECONDS } from '../lib/constants.ts';
import { serve, serverConfig } from './ipc.ts';

/** Which framework serves the route. */
export interface NoAuthServerConfig {
  readonly framework: 'hono' | 'express';
}

const { framework } = serverConfig<NoAuthServerConfig>();
const user = { id: 'usr_bench_0001', email: 'bench@example.com', name: 'Bench', roles: ['user'] };
// Built per request, as the authenticated servers build theirs.
const body = () => ({
  user,
  session: {
    id: 'ses_ceiling',
    expiresAt: new Date(Date.now() + JWT_LIFETIME_SECONDS * 1000).toISOString(),
  },
});

let server: Server;
if (framework === 'express') {
  const app = express();
  app.get('/auth/session', (_req, res) => {
    res.json(body());
  });
  server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
} else {
  const app = new Hono();
  // async, like the authenticated routes it is the ceiling of (they await a lookup or a verify).
  app.get('/auth/session', async (c) => c.json(body()));
  server = await new Promise<Server>((resolve) => {
    const s = listen({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () =>
      resolve(s as Server),
    );
  });
}
const { port } = server.address() as AddressInfo;

// The load generator sends a cookie like any other contender's; the server never reads it.
const mint = async (): Promise<Credential> => ({
  header: 'cookie',
  value: `ignored=${randomUUID()}`,
});

serve(`http://127.0.0.1:${port}`, await mint(), { mint }, async () => {
  server.close();
});
