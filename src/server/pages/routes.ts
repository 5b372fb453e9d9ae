import { Hono } from 'hono';
import type { AppEnv } from '../context.ts';
import { signOutHeaders } from '../http/cookies.ts';
import { clientInfo } from '../http/request-context.ts';
import type { Services } from '../services.ts';
import { mountAccount } from './account.ts';
import { mountAdmin } from './admin.ts';
import { seeOther, signedInPost } from './guard.ts';
import { mountLogin } from './login.ts';
import { withNotice } from './notices.ts';
import { mountSignup } from './signup.ts';
import { STYLESHEET, STYLESHEET_ROUTE } from './style.ts';

/**
 * The server-rendered pages: sign-in, sign-up, account ("where you're signed in"), admin, and
 * their stylesheet. They work without JavaScript: plain forms, POST-redirect-GET, and a
 * synchronizer token on every signed-in form. They rely on the app around them for security
 * headers (CSP without inline code), cross-origin protection on unsafe methods, and session
 * resolution (`c.get('auth')`); see src/server/app.ts.
 */

/** A year: the stylesheet URL carries a content hash, so a cached copy is never stale. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

/** The pages router, mounted at `/` by the app. */
export function pageRoutes(services: Services): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.get(STYLESHEET_ROUTE, (c) => {
    c.header('Cache-Control', IMMUTABLE);
    c.header('Content-Type', 'text/css; charset=utf-8');
    return c.body(STYLESHEET);
  });

  app.get('/', (c) => seeOther(c, c.get('auth') ? '/account' : '/login'));

  mountLogin(app, services);
  mountSignup(app, services);
  mountAccount(app, services);
  mountAdmin(app, services);

  app.post('/logout', async (c) => {
    if (!c.get('auth')) {
      signOutHeaders(c, services.config);
      return seeOther(c, '/login');
    }
    const post = await signedInPost(c, services, '/account');
    if (post instanceof Response) return post;
    await services.accounts.logout(post.auth.session, clientInfo(c));
    services.metrics.revocations.inc({ kind: 'logout' });
    signOutHeaders(c, services.config);
    return seeOther(c, withNotice('/login', 'signed_out'));
  });

  return app;
}
