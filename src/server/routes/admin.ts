import type { Context } from 'hono';
import { Hono } from 'hono';
import { type Actor, authoriseAdmin, checkUserChange } from '../../accounts/admin.ts';
import { toPublicUser } from '../../accounts/public-user.ts';
import { InvalidInputError, NotFoundError } from '../../core/errors.ts';
import type { AppEnv } from '../context.ts';
import { readJsonBody } from '../http/json-body.ts';
import { clientInfo } from '../http/request-context.ts';
import { requireAuth } from '../http/session.ts';
import type { Services } from '../services.ts';

/**
 * Administration API: list users and their sessions, change roles, lock, revoke all of a user's
 * sessions, or everyone's. Every route needs a signed-in admin (401 signed out, 403 otherwise)
 * with a fresh session (401 `reauth_required`, ASVS 5.0 V7.5.3); changes are effective at the
 * target's next request because validation reads roles and locks afresh.
 */

const DEFAULT_PAGE = 50;
const MAX_PAGE = 200;
const MAX_USER_ID_LENGTH = 128;

/** Routes under /admin. */
export function adminRoutes(services: Services): Hono<AppEnv> {
  const { accounts, config, engine, metrics, users } = services;
  const app = new Hono<AppEnv>();
  const requireAdmin = (c: Context<AppEnv>): Actor => {
    const { user, session } = requireAuth(c);
    authoriseAdmin(engine, { user, session });
    return { user, session };
  };

  app.get('/admin/users', async (c) => {
    requireAdmin(c);
    const limit = readCount(c.req.query('limit'), 'limit', DEFAULT_PAGE);
    const offset = readCount(c.req.query('offset'), 'offset', 0);
    if (limit < 1 || limit > MAX_PAGE) {
      throw new InvalidInputError([{ field: 'limit', message: `must be 1 to ${MAX_PAGE}` }]);
    }
    const page = await users.list({ limit, offset });
    return c.json({ users: page.map(toPublicUser), limit, offset });
  });

  app.get('/admin/users/:id/sessions', async (c) => {
    const actor = requireAdmin(c);
    const id = c.req.param('id');
    const target = id.length <= MAX_USER_ID_LENGTH ? await users.findById(id) : null;
    if (target === null) throw new NotFoundError('No such user.');
    return c.json({ sessions: await engine.list(target.id, actor.session.id) });
  });

  app.patch('/admin/users/:id', async (c) => {
    const actor = requireAdmin(c);
    const body = await readJsonBody(c, config.bodyLimitBytes);
    if (body.roles === undefined && body.locked === undefined) {
      throw new InvalidInputError([{ field: 'body', message: 'give roles, locked, or both' }]);
    }
    const id = c.req.param('id');
    const client = clientInfo(c);
    // Both halves checked before either is written: never roles changed, then a 400 for the lock.
    checkUserChange(actor, id, body);
    let user = null;
    if (body.roles !== undefined) user = await accounts.setRoles(actor, id, body.roles, client);
    if (body.locked !== undefined) user = await accounts.setLocked(actor, id, body.locked, client);
    return c.json({ user });
  });

  app.delete('/admin/sessions', async (c) => {
    const actor = requireAdmin(c);
    const revoked = await accounts.adminRevokeEveryone(actor, clientInfo(c));
    metrics.revocations.inc({ kind: 'admin' }, revoked);
    return c.json({ revoked });
  });

  app.delete('/admin/users/:id/sessions', async (c) => {
    const actor = requireAdmin(c);
    const revoked = await accounts.adminRevokeAll(actor, c.req.param('id'), clientInfo(c));
    metrics.revocations.inc({ kind: 'admin' }, revoked);
    return c.json({ revoked });
  });

  return app;
}

/** A non-negative integer query parameter (absent → `fallback`), else InvalidInputError. */
function readCount(input: string | undefined, field: string, fallback: number): number {
  if (input === undefined) return fallback;
  if (!/^\d{1,9}$/.test(input)) {
    throw new InvalidInputError([{ field, message: 'must be a non-negative integer' }]);
  }
  return Number(input);
}
