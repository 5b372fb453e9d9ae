import type { Context, Hono } from 'hono';
import { html } from 'hono/html';
import type { UserRecord } from '../../accounts/user-store.ts';
import type { AppEnv, Auth } from '../context.ts';
import { clientInfo } from '../http/request-context.ts';
import type { Services } from '../services.ts';
import { field } from './form.ts';
import {
  adminOrRefusal,
  failurePage,
  type SignedInPost,
  seeOther,
  sendPage,
  signedInPost,
} from './guard.ts';
import {
  csrfField,
  errorBox,
  type Html,
  noticeBox,
  page,
  type Viewer,
  viewerOf,
} from './layout.ts';
import { type NoticeCode, noticeText, withNotice } from './notices.ts';

/**
 * The admin page: every user with roles, lock state and live session count, and per user the
 * forms to set roles, lock or unlock, and end all sessions; below the table, a form ending
 * everyone's. Viewing and every action need the admin role and a fresh session, like the admin
 * API (adminOrRefusal checks the view, Accounts each action; a stale session gets the password
 * prompt). Role changes and locks take effect at the target's next request.
 */

/** Users per admin page. */
const PAGE_SIZE = 50;

/** One row of the user table. */
export interface AdminRow {
  readonly user: UserRecord;
  readonly sessions: number;
}

/** The admin page: a table of `rows` (page `pageNumber`, 1-based). */
export function adminPage(
  viewer: Viewer,
  self: string,
  rows: readonly AdminRow[],
  view: { pageNumber: number; notice?: string | null; errors?: readonly string[] },
): Html {
  const { pageNumber } = view;
  const more = rows.length === PAGE_SIZE;
  return page({
    title: 'Admin',
    viewer,
    body: html`${noticeBox(view.notice)}${errorBox(view.errors)}
<section class="card wide">
<h1>Users</h1>
<div class="table-wrap"><table>
<thead><tr><th scope="col">User</th><th scope="col">Roles</th><th scope="col">Status</th><th scope="col">Sessions</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
<tbody>
${rows.map((row) => userRow(row, viewer.csrfToken, row.user.id === self))}
</tbody>
</table></div>
<p class="hint">Roles are comma-separated, e.g. <code>user, admin</code>. Gaining a role signs that user out everywhere.</p>
<form method="post" action="/admin/sessions/revoke-everyone">${csrfField(viewer.csrfToken)}<button class="danger" type="submit">Sign out every user</button> <span class="hint">Ends every session of every account except this one, e.g. after a breach.</span></form>
${
  pageNumber > 1 || more
    ? html`<p class="pager">${pageNumber > 1 ? html`<a href="/admin?page=${pageNumber - 1}">Previous</a>` : html`<span></span>`}${more ? html`<a href="/admin?page=${pageNumber + 1}">Next</a>` : ''}</p>`
    : ''
}
</section>`,
  });
}

function userRow(row: AdminRow, csrfToken: string, isSelf: boolean): Html {
  const { user } = row;
  const base = `/admin/users/${encodeURIComponent(user.id)}`;
  const button = (action: string, label: string, kind: string) =>
    html`<form method="post" action="${base}/${action}">${csrfField(csrfToken)}<button class="${kind} small" type="submit">${label}</button></form>`;
  return html`<tr>
<td><strong>${user.name ?? user.email}</strong>${isSelf ? html`<span class="badge">You</span>` : ''}${user.name ? html`<br><span class="muted">${user.email}</span>` : ''}</td>
<td><form class="roles-form" method="post" action="${base}/roles">${csrfField(csrfToken)}<label class="sr-only" for="roles-${user.id}">Roles of ${user.email}</label><input id="roles-${user.id}" name="roles" type="text" value="${user.roles.join(', ')}" required><button class="secondary small" type="submit">Save</button></form></td>
<td>${user.locked ? html`<span class="badge locked">Locked</span>` : 'Active'}</td>
<td>${row.sessions}</td>
<td><div class="actions">${
    user.locked
      ? button('unlock', 'Unlock', 'secondary')
      : isSelf
        ? ''
        : button('lock', 'Lock', 'danger')
  }${button('revoke', 'Sign out everywhere', 'danger')}</div></td>
</tr>`;
}

/** GET /admin, the per-user actions (roles, lock, unlock, revoke all) and signing out everyone. */
export function mountAdmin(app: Hono<AppEnv>, services: Services): void {
  const { accounts, users, engine } = services;

  const render = async (
    c: Context<AppEnv>,
    auth: Auth,
    view: { notice?: string | null; errors?: readonly string[] },
  ) => {
    const requested = Number.parseInt(c.req.query('page') ?? '1', 10);
    const pageNumber = Number.isSafeInteger(requested) && requested > 0 ? requested : 1;
    const list = await users.list({ limit: PAGE_SIZE, offset: (pageNumber - 1) * PAGE_SIZE });
    const rows = await Promise.all(
      list.map(async (user) => ({ user, sessions: (await engine.list(user.id)).length })),
    );
    return adminPage(viewerOf(auth), auth.user.id, rows, { pageNumber, ...view });
  };

  app.get('/admin', async (c) => {
    // Like GET /admin/users: the list is shown only to an admin within the fresh window.
    const auth = await adminOrRefusal(c, services, '/admin');
    if (auth instanceof Response) return auth;
    return sendPage(c, await render(c, auth, { notice: noticeText(c.req.query('notice')) }));
  });

  /** Mounts one admin form post at `path`: admits the post, runs `act`, redirects with `done`. */
  const mount = (
    path: string,
    done: NoticeCode,
    act: (post: SignedInPost, c: Context<AppEnv>) => Promise<unknown>,
  ) => {
    app.post(path, async (c) => {
      const post = await signedInPost(c, services, '/admin');
      if (post instanceof Response) return post;
      try {
        await act(post, c);
        return seeOther(c, withNotice('/admin', done));
      } catch (error) {
        const retry = (errors: readonly string[]) => render(c, post.auth, { errors });
        return failurePage(c, services, error, retry, '/admin');
      }
    });
  };
  /** A per-user action at /admin/users/:id/<name>. */
  const action = (
    name: string,
    done: NoticeCode,
    act: (post: SignedInPost, id: string, c: Context<AppEnv>) => Promise<unknown>,
  ) =>
    // The path always has :id; Hono types a param of a non-literal path as possibly undefined.
    mount(`/admin/users/:id/${name}`, done, (post, c) => act(post, c.req.param('id') ?? '', c));

  action('roles', 'roles_changed', (post, id, c) => {
    const roles = field(post.fields, 'roles')
      .split(/[\s,]+/)
      .filter((r) => r !== '');
    return accounts.setRoles(post.auth, id, roles, clientInfo(c));
  });
  action('lock', 'user_locked', (post, id, c) =>
    accounts.setLocked(post.auth, id, true, clientInfo(c)),
  );
  action('unlock', 'user_unlocked', (post, id, c) =>
    accounts.setLocked(post.auth, id, false, clientInfo(c)),
  );
  action('revoke', 'user_revoked', async (post, id, c) => {
    const revoked = await accounts.adminRevokeAll(post.auth, id, clientInfo(c));
    services.metrics.revocations.inc({ kind: 'admin' }, revoked);
  });

  mount('/admin/sessions/revoke-everyone', 'everyone_revoked', async (post, c) => {
    const revoked = await accounts.adminRevokeEveryone(post.auth, clientInfo(c));
    services.metrics.revocations.inc({ kind: 'admin' }, revoked);
  });
}
