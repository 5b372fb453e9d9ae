import { html } from 'hono/html';
import { csrfField, errorBox, type Html, page, type Viewer } from './layout.ts';

/**
 * The "confirm it's you" page, shown when an action answered `reauth_required` (the session's
 * fresh window has passed). It posts to /account/reauth, which re-checks the password, rotates
 * the session and returns to `next`; the person then repeats the action.
 */

/** The paths a re-authentication may return to: the pages whose actions need a fresh session. */
export type ReauthReturn = '/account' | '/admin';

/** Reads a posted `next` as one of the allowed return paths (anything else: /account). */
export function reauthReturn(value: string): ReauthReturn {
  return value === '/admin' ? '/admin' : '/account';
}

/** The password prompt, with any refusal (wrong password, throttled) above it. */
export function reauthPage(options: {
  viewer: Viewer;
  next: ReauthReturn;
  errors?: readonly string[];
}): Html {
  const { viewer, next, errors } = options;
  return page({
    title: 'Confirm it’s you',
    viewer,
    body: html`<section class="card">
<h1>Confirm it’s you</h1>
${errorBox(errors)}
<p>For your security, enter your password again before changing sessions or accounts.</p>
<form method="post" action="/account/reauth">
${csrfField(viewer.csrfToken)}
<input type="hidden" name="next" value="${next}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button class="block" type="submit">Continue</button>
</form>
<p class="switch"><a href="${next}">Cancel</a></p>
</section>`,
  });
}
