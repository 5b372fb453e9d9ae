import type { Hono } from 'hono';
import { html } from 'hono/html';
import { MIN_PASSWORD_LENGTH } from '../../accounts/password-policy.ts';
import type { SessionView } from '../../core/engine.ts';
import type { AppEnv, Auth } from '../context.ts';
import { setSessionCookie, signOutHeaders } from '../http/cookies.ts';
import { clientInfo } from '../http/request-context.ts';
import { grantDownload } from '../routes/download-tokens.ts';
import type { Services } from '../services.ts';
import { type DownloadableFile, filesSection, listDownloadableFiles } from './files.ts';
import { field } from './form.ts';
import { failurePage, seeOther, sendPage, signedInOrRedirect, signedInPost } from './guard.ts';
import { csrfField, errorBox, type Html, noticeBox, page, timeAgo, viewerOf } from './layout.ts';
import { noticeText, withNotice } from './notices.ts';
import { reauthPage, reauthReturn } from './reauth-page.ts';

/**
 * The account page: profile, the files the user may download (when downloads are on), "where
 * you're signed in" (every live session with device, IP and last activity, this one marked, the
 * others revocable) and the password change form, plus the POST handlers behind its buttons.
 * Every form carries the session's synchronizer token.
 */

/** What the account page shows besides the caller's own data. */
export interface AccountView {
  readonly notice?: string | null;
  /** A refusal of a session action (shown at the top). */
  readonly errors?: readonly string[];
  /** A refusal of the password change (shown in its card). */
  readonly passwordErrors?: readonly string[];
  /** The "Files" card: absent when downloads are off. */
  readonly files?: { readonly list: readonly DownloadableFile[]; readonly ttlSeconds: number };
}

/** The account page of `auth`'s user, listing `sessions`. */
export function accountPage(auth: Auth, sessions: readonly SessionView[], view: AccountView): Html {
  const viewer = viewerOf(auth);
  const { user } = auth;
  const now = Date.now();
  const others = sessions.filter((s) => !s.current).length;
  return page({
    title: 'Your account',
    viewer,
    body: html`${noticeBox(view.notice)}${errorBox(view.errors)}
<section class="card wide">
<h1>Your account</h1>
<dl class="profile">
<dt>Name</dt><dd>${user.name ?? html`<span class="muted">Not set</span>`}</dd>
<dt>Email</dt><dd>${user.email}</dd>
<dt>Roles</dt><dd>${user.roles.map((r) => html`<span class="badge">${r}</span>`)}</dd>
</dl>
</section>
${view.files ? filesSection(view.files.list, viewer.csrfToken, view.files.ttlSeconds) : ''}
<section class="card wide" aria-labelledby="devices">
<h2 id="devices">Where you’re signed in</h2>
<div class="table-wrap"><table>
<thead><tr><th scope="col">Device</th><th scope="col">IP address</th><th scope="col">Last active</th><th scope="col">Signed in</th><th scope="col"><span class="sr-only">Action</span></th></tr></thead>
<tbody>
${sessions.map((s) => sessionRow(s, viewer.csrfToken, now))}
</tbody>
</table></div>
${
  others > 0
    ? html`<form method="post" action="/account/sessions/revoke-others">${csrfField(viewer.csrfToken)}<button class="danger" type="submit">Sign out everywhere else</button></form>`
    : html`<p class="muted">This is the only device signed in to your account.</p>`
}
</section>
<section class="card wide" aria-labelledby="password-heading">
<h2 id="password-heading">Change password</h2>
${errorBox(view.passwordErrors)}
<form class="narrow" method="post" action="/account/password">
${csrfField(viewer.csrfToken)}
<input type="text" name="username" autocomplete="username" value="${user.email}" hidden>
<label for="current_password">Current password</label>
<input id="current_password" name="current_password" type="password" autocomplete="current-password" required>
<label for="new_password">New password</label>
<input id="new_password" name="new_password" type="password" autocomplete="new-password" minlength="${MIN_PASSWORD_LENGTH}" required>
<p class="hint">At least ${MIN_PASSWORD_LENGTH} characters. Changing it signs out every other device.</p>
<button type="submit" class="block">Change password</button>
</form>
</section>`,
  });
}

function sessionRow(s: SessionView, csrfToken: string, now: number): Html {
  return html`<tr${s.current ? html` class="current"` : ''}>
<td>${s.device}${s.current ? html`<span class="badge">This device</span>` : ''}</td>
<td>${s.ip ?? html`<span class="muted">Unknown</span>`}</td>
<td>${timeAgo(s.lastSeenAt, now)}</td>
<td>${timeAgo(s.createdAt, now)}</td>
<td>${
    s.current
      ? ''
      : html`<form method="post" action="/account/sessions/${encodeURIComponent(s.id)}/revoke">${csrfField(csrfToken)}<button class="secondary small" type="submit">Revoke</button></form>`
  }</td>
</tr>`;
}

/**
 * GET /account and its actions: revoke one or all other sessions, change password, re-auth, and
 * download a file (mint a token, 303 to the download server).
 */
export function mountAccount(app: Hono<AppEnv>, services: Services): void {
  const { accounts, config, metrics } = services;
  const { download } = config;
  const render = async (auth: Auth, view: AccountView) => {
    const sessions = await accounts.listSessions(auth.session);
    if (download.url === null) return accountPage(auth, sessions, view);
    const list =
      download.root === null ? [] : await listDownloadableFiles(services, download.root, auth.user);
    return accountPage(auth, sessions, {
      ...view,
      files: { list, ttlSeconds: download.tokenTtlSeconds },
    });
  };

  app.get('/account', async (c) => {
    const auth = signedInOrRedirect(c);
    if (auth instanceof Response) return auth;
    return sendPage(c, await render(auth, { notice: noticeText(c.req.query('notice')) }));
  });

  app.post('/account/sessions/:id/revoke', async (c) => {
    const post = await signedInPost(c, services, '/account');
    if (post instanceof Response) return post;
    const { auth } = post;
    const id = c.req.param('id');
    try {
      await accounts.revokeSession(auth.session, id, clientInfo(c));
      const own = id === auth.session.id;
      metrics.revocations.inc({ kind: own ? 'logout' : 'one' });
      if (!own) return seeOther(c, withNotice('/account', 'session_revoked'));
      // Revoking this very session is signing out.
      signOutHeaders(c, config);
      return seeOther(c, withNotice('/login', 'signed_out'));
    } catch (error) {
      return failurePage(c, services, error, (errors) => render(auth, { errors }));
    }
  });

  app.post('/account/files/download', async (c) => {
    const post = await signedInPost(c, services, '/account');
    if (post instanceof Response) return post;
    try {
      const grant = await grantDownload(c, services, post.auth, field(post.fields, 'resource'));
      return seeOther(c, grant.url);
    } catch (error) {
      return failurePage(c, services, error, (errors) => render(post.auth, { errors }));
    }
  });

  app.post('/account/sessions/revoke-others', async (c) => {
    const post = await signedInPost(c, services, '/account');
    if (post instanceof Response) return post;
    try {
      const revoked = await accounts.revokeOtherSessions(post.auth.session, clientInfo(c));
      metrics.revocations.inc({ kind: 'others' }, revoked);
      return seeOther(c, withNotice('/account', 'others_revoked'));
    } catch (error) {
      return failurePage(c, services, error, (errors) => render(post.auth, { errors }));
    }
  });

  app.post('/account/password', async (c) => {
    const post = await signedInPost(c, services, '/account');
    if (post instanceof Response) return post;
    const { auth, fields } = post;
    const input = {
      currentPassword: field(fields, 'current_password'),
      newPassword: field(fields, 'new_password'),
    };
    try {
      const issued = await accounts.changePassword(auth.session, auth.user, input, clientInfo(c));
      metrics.revocations.inc({ kind: 'password_change' }, issued.revokedSessions);
      setSessionCookie(c, config, issued);
      return seeOther(c, withNotice('/account', 'password_changed'));
    } catch (error) {
      return failurePage(c, services, error, (passwordErrors) => render(auth, { passwordErrors }));
    }
  });

  app.post('/account/reauth', async (c) => {
    const post = await signedInPost(c, services, '/account');
    if (post instanceof Response) return post;
    const { auth, viewer, fields } = post;
    const next = reauthReturn(field(fields, 'next'));
    try {
      const password = field(fields, 'password');
      const issued = await accounts.reauth(auth.session, auth.user, password, clientInfo(c));
      setSessionCookie(c, config, issued);
      return seeOther(c, withNotice(next, 'reauthenticated'));
    } catch (error) {
      const retry = (errors: readonly string[]) => reauthPage({ viewer, next, errors });
      return failurePage(c, services, error, retry, next);
    }
  });
}
