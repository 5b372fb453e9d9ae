import { html } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import { ADMIN_ROLE } from '../../accounts/admin.ts';
import { csrfTokenFor } from '../../core/csrf.ts';
import type { Auth } from '../context.ts';
import { CSRF_FIELD } from './form.ts';
import { STYLESHEET_PATH } from './style.ts';

/**
 * The page shell and the small pieces every page shares. Every value interpolated into `html`
 * is escaped by hono/html (`& < > " '`); `raw` is never used on anything that came from a user.
 * No inline script or style anywhere: the CSP allows neither.
 */

/** A rendered fragment or page (hono/html output). */
export type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

/** The signed-in person as the page header shows them. */
export interface Viewer {
  readonly label: string;
  readonly isAdmin: boolean;
  /** The synchronizer token of the session, for the header's sign-out form. */
  readonly csrfToken: string;
}

/** The header's view of a signed-in request: name (or email), admin link, form token. */
export function viewerOf(auth: Auth): Viewer {
  return {
    label: auth.user.name ?? auth.user.email,
    isAdmin: auth.user.roles.includes(ADMIN_ROLE),
    csrfToken: csrfTokenFor(auth.session),
  };
}

/** A complete HTML document around `body`, with the site header (nav when signed in). */
export function page(options: { title: string; body: Html; viewer?: Viewer | null }): Html {
  const { title, body, viewer } = options;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Coatcheck</title>
<link rel="stylesheet" href="${STYLESHEET_PATH}">
</head>
<body>
<header class="site"><div class="site-inner">
<a class="brand" href="/">Coatcheck</a>
${viewer ? nav(viewer) : ''}
</div></header>
<main>
${body}
</main>
</body>
</html>`;
}

function nav(viewer: Viewer): Html {
  return html`<nav aria-label="Main">
<span class="who">${viewer.label}</span>
<a href="/account">Account</a>
${viewer.isAdmin ? html`<a href="/admin">Admin</a>` : ''}
<form method="post" action="/logout">${csrfField(viewer.csrfToken)}<button class="link" type="submit">Sign out</button></form>
</nav>`;
}

/** The hidden synchronizer-token field every signed-in form carries. */
export function csrfField(token: string): Html {
  return html`<input type="hidden" name="${CSRF_FIELD}" value="${token}">`;
}

/** An error box listing one or more messages (nothing when there are none). */
export function errorBox(messages: readonly string[] | string | null | undefined): Html | '' {
  const list = typeof messages === 'string' ? [messages] : (messages ?? []);
  if (list.length === 0) return '';
  if (list.length === 1) return html`<div class="alert error" role="alert">${list[0]}</div>`;
  return html`<div class="alert error" role="alert"><ul>${list.map((m) => html`<li>${m}</li>`)}</ul></div>`;
}

/** A confirmation box (nothing when `message` is empty). */
export function noticeBox(message: string | null | undefined): Html | '' {
  return message ? html`<div class="alert notice" role="status">${message}</div>` : '';
}

/** A page with one card holding a heading and a sentence: refusals, not-found, failures. */
export function messagePage(options: {
  title: string;
  message: string;
  viewer?: Viewer | null;
  link?: { href: string; text: string };
}): Html {
  const { title, message, viewer, link } = options;
  const back = link ?? (viewer ? { href: '/account', text: 'Back to your account' } : null);
  return page({
    title,
    viewer: viewer ?? null,
    body: html`<section class="card">
<h1>${title}</h1>
<p>${message}</p>
${back ? html`<p><a href="${back.href}">${back.text}</a></p>` : ''}
</section>`,
  });
}

/** A relative time such as "2 minutes ago", for device lists (the exact time is in a tooltip). */
export function timeAgo(iso: string, now: number): Html {
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  const text = seconds < 60 ? 'just now' : agoText(seconds);
  const exact = iso.replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  return html`<time datetime="${iso}" title="${exact}">${text}</time>`;
}

function agoText(seconds: number): string {
  const units: [number, string][] = [
    [86_400, 'day'],
    [3_600, 'hour'],
    [60, 'minute'],
  ];
  for (const [size, unit] of units) {
    const n = Math.floor(seconds / size);
    if (n >= 1) return `${n} ${unit}${n === 1 ? '' : 's'} ago`;
  }
  return 'just now';
}
