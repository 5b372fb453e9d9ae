import type { Context } from 'hono';
import { Hono } from 'hono';
import { ForbiddenError, InvalidInputError, NotFoundError } from '../../core/errors.ts';
import { type DownloadGrant, issueDownloadToken } from '../../tokens/download.ts';
import { resourceSegments } from '../../tokens/resource.ts';
import type { AppEnv, Auth } from '../context.ts';
import { readJsonBody } from '../http/json-body.ts';
import { requireAuth } from '../http/session.ts';
import type { Services } from '../services.ts';

/**
 * POST /auth/download-tokens `{resource}`: a signed-in user asks for a single-use link to one file
 * of the download server. It is an unsafe method, so the app's cross-origin protection has already
 * run; the resource must be a safe relative path (refused at issue time too, not only where it is
 * served) that the download policy grants. The token travels only in the JSON body (and the
 * account page's redirect); it is never logged.
 */

/**
 * The `iss` of tokens this server signs: the configured public origin, else (development) the
 * origin the request reached. A forged Host only yields tokens no verifier accepts.
 */
export function issuerOf(c: Context<AppEnv>, services: Pick<Services, 'config'>): string {
  return services.config.publicUrl?.origin ?? new URL(c.req.url).origin;
}

/**
 * Mints a download token for `auth`'s user, or throws: 404 when download tokens are off (no
 * download URL configured), 400 for a resource that is not a safe relative path, 403 when the
 * policy refuses it.
 */
export async function grantDownload(
  c: Context<AppEnv>,
  services: Services,
  auth: Auth,
  resource: unknown,
): Promise<DownloadGrant> {
  const { config } = services;
  const downloadUrl = config.download.url;
  if (downloadUrl === null) throw new NotFoundError('Downloads are not enabled on this server.');
  if (resourceSegments(resource) === null) {
    throw new InvalidInputError([
      {
        field: 'resource',
        message: 'must be a relative file path without empty, "." or ".." segments',
      },
    ]);
  }
  const path = resource as string;
  if (!(await services.downloadPolicy({ user: auth.user, resource: path }))) {
    services.logger.warn(
      { event: 'download_refused', requestId: c.get('requestId'), userId: auth.user.id },
      'download_refused',
    );
    throw new ForbiddenError('You may not download this file.');
  }
  const grant = await issueDownloadToken(services.keys, {
    issuer: issuerOf(c, services),
    downloadUrl,
    user: auth.user,
    sessionId: auth.session.id,
    resource: path,
    ttlSeconds: config.download.tokenTtlSeconds,
    now: services.now(),
  });
  services.logger.info(
    {
      event: 'download_token_issued',
      requestId: c.get('requestId'),
      userId: auth.user.id,
      resource: path,
      jti: grant.jti,
      expiresAt: grant.expiresAt,
    },
    'download_token_issued',
  );
  return grant;
}

/** The /auth/download-tokens route. */
export function downloadTokenRoutes(services: Services): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.post('/auth/download-tokens', async (c) => {
    const auth = requireAuth(c);
    const body = await readJsonBody(c, services.config.bodyLimitBytes);
    const { url, token, expiresAt } = await grantDownload(c, services, auth, body.resource);
    return c.json({ url, token, expiresAt }, 201);
  });
  return app;
}
