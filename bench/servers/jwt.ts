/**
 * The stateless peer: the same route on the same framework (Hono on @hono/node-server), the caller
 * authenticated by a JWT from a cookie, verified on every request with no lookup at all. Variants:
 * fast-jwt HS256 with its verification cache off or on, and jose EdDSA (Ed25519).
 *
 * `stack: 'bare'` is the app as people write it: one route. `stack: 'coatcheck'` puts the very
 * middleware the Coatcheck server runs on every request in front of it (its envelope: security
 * headers, request id, access log and latency histogram, CORS Vary, fail-closed), so that the
 * only difference left between the two servers is how the caller is authenticated.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve as listen } from '@hono/node-server';
import { createSigner, createVerifier } from 'fast-jwt';
import { Hono } from 'hono';
import { getCookie } from 'hono/cookie';
import { type CryptoKey, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { loadConfig } from '../../src/server/config.ts';
import type { AppEnv } from '../../src/server/context.ts';
import { CompleteResponses } from '../../src/server/http/complete-response.ts';
import { envelope } from '../../src/server/http/envelope.ts';
import { createProxyTrust } from '../../src/server/http/proxy-trust.ts';
import { createLogger } from '../../src/server/logger.ts';
import { createMetrics } from '../../src/server/metrics.ts';
import type { Services } from '../../src/server/services.ts';
import type { Credential } from '../lib/child.ts';
import { BENCH_PUBLIC_URL, JWT_LIFETIME_SECONDS } from '../lib/constants.ts';
import { serve, serverConfig } from './ipc.ts';

/** Which verifier, and which middleware in front of the route. */
export interface JwtServerConfig {
  readonly variant: 'fast-jwt-hs256' | 'fast-jwt-hs256-cache' | 'jose-eddsa';
  /** @default 'bare' */
  readonly stack?: 'bare' | 'coatcheck';
}

const COOKIE = 'access_token';

interface Claims {
  sub: string;
  sid: string;
  email: string;
  name: string;
  roles: string[];
  exp: number;
}

const { variant, stack = 'bare' } = serverConfig<JwtServerConfig>();
const user = { id: 'usr_bench_0001', email: 'bench@example.com', name: 'Bench', roles: ['user'] };

let sign: (claims: object) => Promise<string>;
let verify: (token: string) => Promise<Claims>;
if (variant === 'jose-eddsa') {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const key: CryptoKey = publicKey;
  sign = (claims) =>
    new SignJWT({ ...claims })
      .setProtectedHeader({ alg: 'EdDSA' })
      .setIssuedAt()
      .setExpirationTime(`${JWT_LIFETIME_SECONDS}s`)
      .sign(privateKey);
  verify = async (token) =>
    (await jwtVerify(token, key, { algorithms: ['EdDSA'] })).payload as unknown as Claims;
} else {
  const secret = randomBytes(32);
  const signer = createSigner({
    key: secret,
    algorithm: 'HS256',
    expiresIn: JWT_LIFETIME_SECONDS * 1000,
  });
  const verifier = createVerifier({
    key: secret,
    algorithms: ['HS256'],
    cache: variant === 'fast-jwt-hs256-cache',
  });
  sign = async (claims) => signer(claims);
  verify = async (token) => verifier(token) as Claims;
}

const app = new Hono<AppEnv>();
let complete: CompleteResponses | null = null;
if (stack === 'coatcheck') {
  // The Coatcheck server's own production configuration and middleware (src/server/app.ts).
  const config = loadConfig({
    env: { NODE_ENV: 'production', COATCHECK_PUBLIC_URL: BENCH_PUBLIC_URL },
  });
  const services = {
    config,
    logger: createLogger({ level: config.logLevel }),
    metrics: createMetrics(),
  } as unknown as Services;
  app.use(envelope(services, createProxyTrust(config.trustedProxies)));
  // And the same fast path for the route's final headers as GET /auth/session.
  complete = new CompleteResponses(config);
}
app.get('/auth/session', async (c) => {
  const token = getCookie(c, COOKIE);
  if (token === undefined) return c.json({ error: 'unauthenticated' }, 401);
  let claims: Claims;
  try {
    claims = await verify(token);
  } catch {
    return c.json({ error: 'unauthenticated' }, 401);
  }
  const body = {
    user: { id: claims.sub, email: claims.email, name: claims.name, roles: claims.roles },
    session: { id: claims.sid, expiresAt: new Date(claims.exp * 1000).toISOString() },
  };
  return complete === null ? c.json(body) : complete.json(c, JSON.stringify(body));
});

const server = await new Promise<Server>((resolve) => {
  const s = listen({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () =>
    resolve(s as Server),
  );
});
const { port } = server.address() as AddressInfo;

const mint = async (): Promise<Credential> => {
  const sid = randomUUID();
  const token = await sign({
    sub: user.id,
    sid,
    email: user.email,
    name: user.name,
    roles: user.roles,
  });
  return { header: 'cookie', value: `${COOKIE}=${token}`, sessionId: sid };
};

serve(`http://127.0.0.1:${port}`, await mint(), { mint }, async () => {
  server.close();
});
