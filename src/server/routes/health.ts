import { Hono } from 'hono';
import { StoreUnavailableError } from '../../core/errors.ts';
import type { AppEnv } from '../context.ts';
import { problemResponse } from '../http/errors.ts';
import type { Services } from '../services.ts';

/** Liveness and readiness (every store answers). Side-effect free. Metrics: ./metrics.ts. */
export function healthRoutes(services: Services): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  // Answered directly rather than thrown: a failing probe is not an error worth a log line.
  app.get('/readyz', async (c) =>
    (await services.ready())
      ? c.json({ status: 'ready' })
      : problemResponse(c, new StoreUnavailableError('A store is not answering.')),
  );
  return app;
}
