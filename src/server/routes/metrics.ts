import { hash, timingSafeEqual } from 'node:crypto';
import { Hono } from 'hono';
import { UnauthenticatedError } from '../../core/errors.ts';
import type { AppEnv } from '../context.ts';
import { bearerCredential } from '../http/bearer.ts';
import { problemResponse } from '../http/errors.ts';
import { securityEvent } from '../http/request-context.ts';
import type { Services } from '../services.ts';

/**
 * GET /metrics: Prometheus text, for a scraper holding the metrics token only (ASVS 5.0 13.4.5:
 * monitoring endpoints are not exposed unless intended). Without a configured token there is no
 * route at all, so /metrics is a 404 like any unknown path. Mount it before session resolution:
 * the scraper's Bearer token is no session token, and with bearer transport on, reading it as
 * one would count every scrape as a failed validation and feed the token-guessing throttle.
 */
export function metricsRoutes(services: Services): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const { metricsToken } = services.config;
  if (metricsToken === null) return app;
  const matches = tokenMatcher(metricsToken);
  app.get('/metrics', async (c) => {
    // The same parser as bearer transport: `Bearer` in any case (RFC 9110 §11.1), one credential.
    const credential = bearerCredential(c, { enabled: true });
    if (credential === null || !matches(credential)) {
      // Logged only when a wrong token was sent: a missing one is a browser or a misconfigured
      // scraper, not a guess. Never the token itself.
      if (credential !== null) securityEvent(c, services, 'metrics_token_rejected');
      c.header('WWW-Authenticate', 'Bearer'); // RFC 9110 §11.6.1, RFC 6750 §3
      return problemResponse(
        c,
        new UnauthenticatedError('Send the metrics token as Authorization: Bearer <token>.'),
      );
    }
    const { registry } = services.metrics;
    return c.body(await registry.metrics(), 200, { 'Content-Type': registry.contentType });
  });
  return app;
}

/**
 * Constant-time: both sides are hashed with SHA-256 before timingSafeEqual, so neither the
 * position of the first difference nor the expected token's length shows in the run time.
 */
function tokenMatcher(expected: string): (given: string) => boolean {
  const expectedHash = hash('sha256', expected, 'buffer');
  return (given) => timingSafeEqual(hash('sha256', given, 'buffer'), expectedHash);
}
