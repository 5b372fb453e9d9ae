import { Hono } from 'hono';
import type { AppEnv } from '../context.ts';
import type { Services } from '../services.ts';

/**
 * GET /.well-known/jwks.json: the public keys of download tokens and identity assertions (RFC 7517
 * §5), each with `kid`, `alg: EdDSA` and `use: sig`; never a private part. Cacheable for a minute:
 * a verifier meeting an unknown kid refetches (jose does), and a rotated-out key stays listed for
 * longer than any token it signed lives.
 */

/** How long verifiers and proxies may cache the key set. */
export const JWKS_CACHE_CONTROL = 'public, max-age=60';

/** The JWKS route. */
export function jwksRoutes(services: Services): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get('/.well-known/jwks.json', async (c) => {
    const jwks = await services.keys.jwks();
    c.header('Cache-Control', JWKS_CACHE_CONTROL);
    return c.json(jwks);
  });
  return app;
}
