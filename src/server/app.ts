import { Hono } from 'hono';
import { isSafeMethod } from '../core/origin.ts';
import type { AppEnv } from './context.ts';
import { envelope } from './http/envelope.ts';
import { errorHandler, notFoundHandler, refuseOtherMethods } from './http/errors.ts';
import { createProxyTrust } from './http/proxy-trust.ts';
import { sessionResolver } from './http/session.ts';
import { pageRoutes } from './pages/routes.ts';
import { adminRoutes } from './routes/admin.ts';
import { authRoutes } from './routes/auth.ts';
import { downloadTokenRoutes } from './routes/download-tokens.ts';
import { healthRoutes } from './routes/health.ts';
import { jwksRoutes } from './routes/jwks.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { verifyRoutes } from './routes/verify.ts';
import type { Services } from './services.ts';

/**
 * The Coatcheck HTTP app. Every response, errors included, carries the security headers and
 * no-store; every unsafe request passes cross-origin protection before the session is read; the
 * session is validated against the store on every request and fails closed (503, no Set-Cookie)
 * when the store does. Throws ConfigError at construction for a bad trusted-proxy entry.
 */
export function createApp(services: Services): Hono<AppEnv> {
  const { config } = services;
  const proxies = createProxyTrust(config.trustedProxies);
  const app = new Hono<AppEnv>();

  // Outermost first: each layer sees the final response of the layers inside it.
  app.use(envelope(services, proxies));
  // Before the session layer: a scrape's Bearer token is the metrics token, not a session token,
  // and a probe's answer must not depend on a cookie it sends (no store read, no guess throttle).
  // Safe methods only, so no unsafe request reaches a handler before the cross-origin check.
  for (const early of [metricsRoutes(services), healthRoutes(services)]) {
    assertSafeMethodsOnly(early);
    app.route('/', early);
  }
  // Cross-origin protection, then the session (one layer, see http/session.ts).
  app.use(sessionResolver(services));

  app.route('/', authRoutes(services));
  app.route('/', verifyRoutes(services, proxies));
  app.route('/', downloadTokenRoutes(services));
  app.route('/', jwksRoutes(services));
  app.route('/', adminRoutes(services));
  app.route('/', pageRoutes(services));

  refuseOtherMethods(app); // after every route: 405 for known paths, 404 for the rest
  app.onError(errorHandler(services));
  app.notFound(notFoundHandler);
  return app;
}

/**
 * Routes mounted before the cross-origin check (http/session.ts runs it) must not change state:
 * a route for an unsafe method there would be reached by a cross-site form post.
 */
function assertSafeMethodsOnly(routes: Hono<AppEnv>): void {
  for (const { method, path } of routes.routes) {
    if (!isSafeMethod(method)) {
      throw new Error(`${method} ${path} is mounted before the cross-origin check`);
    }
  }
}
