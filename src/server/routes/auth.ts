import type { Context } from 'hono';
import { Hono } from 'hono';
import { type IssuedSession, toView } from '../../core/engine.ts';
import { InvalidInputError } from '../../core/errors.ts';
import type { ServerConfig } from '../config.ts';
import type { AppEnv, Auth } from '../context.ts';
import { bearerCredential } from '../http/bearer.ts';
import { CompleteResponses } from '../http/complete-response.ts';
import { setSessionCookie, signOutHeaders } from '../http/cookies.ts';
import { readJsonBody } from '../http/json-body.ts';
import { clientInfo } from '../http/request-context.ts';
import { requireAuth } from '../http/session.ts';
import { loginOutcome } from '../metrics.ts';
import type { Services } from '../services.ts';
import { sessionBody, sessionUserView } from './session-body.ts';

/**
 * The JSON auth API (docs/api.md): sign-up, sign-in, re-auth, sign-out, the current
 * session, the caller's own sessions, and password change. The session token travels only in the
 * Set-Cookie header, except for opt-in bearer transport, where the body is its only channel.
 * Cross-origin protection and session resolution have already run (see app.ts).
 */

/** Sign-out asks the browser to drop this origin's data too (ASVS 5.0 V14.3.1). */

/** Routes under /auth (except /auth/verify, see verify.ts). */
export function authRoutes(services: Services): Hono<AppEnv> {
  const { accounts, config, metrics } = services;
  const limit = config.bodyLimitBytes;
  const complete = new CompleteResponses(config);
  const app = new Hono<AppEnv>();

  app.post('/auth/signup', async (c) => {
    const body = await readJsonBody(c, limit);
    const { user, issued } = await accounts.signup(body, clientInfo(c));
    // The browser's previous session (if any) is replaced by this cookie: end it server-side.
    const previous = c.get('auth');
    if (previous?.transport === 'cookie') await accounts.logout(previous.session, clientInfo(c));
    setSessionCookie(c, config, issued);
    return c.json({ user }, 201);
  });

  app.post('/auth/login', async (c) => {
    const body = await readJsonBody(c, limit);
    const transport = readTransport(body.transport, config.bearerTransport);
    const currentSessionId = c.get('auth')?.session.id ?? null;
    let signedIn: Awaited<ReturnType<typeof accounts.login>>;
    try {
      signedIn = await accounts.login(body, clientInfo(c), { currentSessionId });
    } catch (error) {
      metrics.logins.inc({ outcome: loginOutcome(error) });
      throw error;
    }
    metrics.logins.inc({ outcome: 'ok' });
    const { user, issued } = signedIn;
    const session = toView(issued.session, issued.session.id);
    if (transport === 'bearer') return c.json({ user, session, token: issued.token });
    setSessionCookie(c, config, issued);
    return c.json({ user, session });
  });

  app.post('/auth/reauth', async (c) => {
    const auth = requireAuth(c);
    const body = await readJsonBody(c, limit);
    const issued = await accounts.reauth(auth.session, auth.user, body.password, clientInfo(c));
    return reissued(c, config, auth, issued);
  });

  // Idempotent: signed out or not, the answer is 204 with a clearing cookie.
  app.post('/auth/logout', async (c) => {
    const auth = c.get('auth');
    if (auth !== null) {
      await accounts.logout(auth.session, clientInfo(c));
      metrics.revocations.inc({ kind: 'logout' });
    }
    // A bearer request never touches cookies, even with a bad token (see http/bearer.ts).
    if (bearerCredential(c, { enabled: config.bearerTransport }) === null) {
      signOutHeaders(c, config);
    }
    return c.body(null, 204);
  });

  app.get('/auth/session', (c) => {
    const { user, session } = requireAuth(c);
    return complete.json(c, sessionBody(session, user));
  });

  app.get('/auth/sessions', async (c) => {
    const { session } = requireAuth(c);
    return c.json({ sessions: await accounts.listSessions(session) });
  });

  app.delete('/auth/sessions/:id', async (c) => {
    const auth = requireAuth(c);
    const id = c.req.param('id');
    await accounts.revokeSession(auth.session, id, clientInfo(c));
    const own = id === auth.session.id;
    metrics.revocations.inc({ kind: own ? 'logout' : 'one' });
    if (own && auth.transport === 'cookie') signOutHeaders(c, config);
    return c.body(null, 204);
  });

  app.delete('/auth/sessions', async (c) => {
    const { session } = requireAuth(c);
    const revoked = await accounts.revokeOtherSessions(session, clientInfo(c));
    metrics.revocations.inc({ kind: 'others' }, revoked);
    return c.json({ revoked });
  });

  app.post('/auth/password', async (c) => {
    const auth = requireAuth(c);
    const body = await readJsonBody(c, limit);
    const issued = await accounts.changePassword(auth.session, auth.user, body, clientInfo(c));
    metrics.revocations.inc({ kind: 'password_change' }, issued.revokedSessions);
    return reissued(c, config, auth, issued);
  });

  return app;
}

/**
 * The answer to a rotation (re-auth, password change): the new token goes where the old one came
 * from, the Set-Cookie header for cookies and the body only for bearer clients.
 */
function reissued(
  c: Context<AppEnv>,
  config: ServerConfig,
  auth: Auth,
  issued: IssuedSession,
): Response {
  const user = sessionUserView(auth.user);
  const session = toView(issued.session, issued.session.id);
  if (auth.transport === 'bearer') return c.json({ user, session, token: issued.token });
  setSessionCookie(c, config, issued);
  return c.json({ user, session });
}

/** `transport` of a login: absent or "cookie", or "bearer" only where that transport is on. */
function readTransport(input: unknown, bearerEnabled: boolean): 'cookie' | 'bearer' {
  if (input === undefined || input === 'cookie') return 'cookie';
  if (input === 'bearer' && bearerEnabled) return 'bearer';
  const message =
    input === 'bearer'
      ? 'bearer transport is not enabled on this server'
      : 'must be "cookie" or "bearer"';
  throw new InvalidInputError([{ field: 'transport', message }]);
}
