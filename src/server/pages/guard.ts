import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { authoriseAdmin } from '../../accounts/admin.ts';
import { verifyCsrfToken } from '../../core/csrf.ts';
import {
  ForbiddenError,
  ReauthRequiredError,
  StoreUnavailableError,
  UnauthenticatedError,
} from '../../core/errors.ts';
import type { AppEnv, Auth } from '../context.ts';
import type { Services } from '../services.ts';
import { describeFailure } from './failure.ts';
import { CSRF_FIELD, type FormFailure, type FormFields, field, readForm } from './form.ts';
import { type Html, messagePage, type Viewer, viewerOf } from './layout.ts';
import { type ReauthReturn, reauthPage } from './reauth-page.ts';
import { loginUrl } from './return-path.ts';

/**
 * What every page handler does first: who is asking, is the form readable and genuine, and how to
 * answer in HTML. Pages are personal (and carry form tokens), so no response here is cacheable.
 */

/** Sends a page: text/html, `Cache-Control: no-store`. */
export function sendPage(c: Context<AppEnv>, body: Html, status: ContentfulStatusCode = 200) {
  c.header('Cache-Control', 'no-store');
  return c.html(body, status);
}

/** POST-redirect-GET: 303 so a reload never re-submits the form. */
export function seeOther(c: Context<AppEnv>, location: string) {
  c.header('Cache-Control', 'no-store');
  return c.redirect(location, 303);
}

/** The signed-in caller, or a 303 to the sign-in page that comes back to this page afterwards. */
export function signedInOrRedirect(c: Context<AppEnv>): Auth | Response {
  const auth = c.get('auth');
  return auth ?? seeOther(c, loginUrl(c.req.path));
}

/**
 * Admits a GET of a page showing other users' data: signed out → 303 to sign-in; not an admin →
 * 403 page; past the fresh window → the password prompt (401) returning to `returnTo`, as the
 * admin API answers `reauth_required` and the admin forms ask. Role first, like the API, so a
 * non-admin learns nothing about freshness.
 */
export async function adminOrRefusal(
  c: Context<AppEnv>,
  services: Services,
  returnTo: ReauthReturn,
): Promise<Auth | Response> {
  const auth = signedInOrRedirect(c);
  if (auth instanceof Response) return auth;
  try {
    authoriseAdmin(services.engine, auth);
    return auth;
  } catch (error) {
    const viewer = viewerOf(auth);
    if (error instanceof ReauthRequiredError) return reauthPrompt(c, viewer, returnTo);
    if (!(error instanceof ForbiddenError)) throw error;
    const message = 'This page is for administrators. Your account does not have that role.';
    return sendPage(c, messagePage({ title: 'Not allowed', message, viewer }), 403);
  }
}

/** The "confirm it's you" page (401) that every page answers `reauth_required` with. */
function reauthPrompt(c: Context<AppEnv>, viewer: Viewer, next: ReauthReturn) {
  return sendPage(c, reauthPage({ viewer, next }), 401);
}

/** A signed-in form post whose body was read and whose synchronizer token matched. */
export interface SignedInPost {
  readonly auth: Auth;
  readonly viewer: Viewer;
  readonly fields: FormFields;
}

/**
 * Admits a POST from a signed-in page: signed out → 303 to /login (nothing is done); an unreadable
 * body → 413/415/400 page; a missing or wrong synchronizer token (another session's, an old one) →
 * 403 page. The token is the second layer: the app's cross-origin check already ran.
 */
export async function signedInPost(
  c: Context<AppEnv>,
  services: Services,
  returnTo: string,
): Promise<SignedInPost | Response> {
  const auth = c.get('auth');
  if (!auth) return seeOther(c, loginUrl(returnTo));
  const viewer = viewerOf(auth);
  const form = await readForm(c, services.config.bodyLimitBytes);
  if (!form.ok) return formRefused(c, form.reason, viewer);
  if (!verifyCsrfToken(auth.session, field(form.fields, CSRF_FIELD))) {
    return sendPage(
      c,
      messagePage({
        title: 'Form expired',
        message:
          'This form has expired or did not come from this site. Reload the page and try again.',
        viewer,
      }),
      403,
    );
  }
  return { auth, viewer, fields: form.fields };
}

/** The 413, 415 or 400 page for a body readForm refused. */
export function formRefused(c: Context<AppEnv>, reason: FormFailure, viewer: Viewer | null) {
  const { message, status } = FORM_REFUSALS[reason];
  return sendPage(c, messagePage({ title: 'Form refused', message, viewer }), status);
}

const FORM_REFUSALS = {
  too_large: { message: 'The form you sent is too large.', status: 413 },
  unsupported_media_type: {
    message: 'This page only accepts forms sent by a browser.',
    status: 415,
  },
  not_utf8: { message: 'The form you sent is not valid UTF-8 text.', status: 400 },
} as const satisfies Record<FormFailure, { message: string; status: ContentfulStatusCode }>;

/**
 * Answers a thrown error in words. A refused operation gets `render(messages)` with its status
 * (and Retry-After when throttled); `reauth_required` gets the password prompt returning to
 * `returnTo`; `forbidden` a 403 page; an ended session a 303 to sign-in. Anything else is logged
 * and gets a generic 500 (503 when a store is down) page.
 */
export async function failurePage(
  c: Context<AppEnv>,
  services: Services,
  error: unknown,
  render: (messages: readonly string[]) => Html | Promise<Html>,
  returnTo: ReauthReturn = '/account',
): Promise<Response> {
  const auth = c.get('auth');
  const viewer = auth ? viewerOf(auth) : null;
  if (error instanceof UnauthenticatedError) return seeOther(c, loginUrl(returnTo));
  if (error instanceof ReauthRequiredError && viewer) return reauthPrompt(c, viewer, returnTo);
  if (error instanceof ForbiddenError) {
    const page = messagePage({ title: 'Not allowed', message: error.message, viewer });
    return sendPage(c, page, 403);
  }
  const failure = describeFailure(error);
  if (failure === null) {
    const down = error instanceof StoreUnavailableError;
    // During a reported store outage, its store_down line is the error (see http/errors.ts).
    const level = down && services.inOutage() ? 'debug' : 'error';
    services.logger[level]({ err: error, requestId: c.get('requestId') }, 'page request failed');
    const message = down
      ? 'The service is temporarily unavailable. Please try again in a moment.'
      : 'Something went wrong on our side. Please try again in a moment.';
    const page = messagePage({ title: 'Something went wrong', message, viewer });
    return sendPage(c, page, down ? 503 : 500);
  }
  if (failure.retryAfterSeconds !== undefined) {
    c.header('Retry-After', String(failure.retryAfterSeconds));
  }
  return sendPage(c, await render(failure.messages), failure.status);
}
