import type { Hono } from 'hono';
import { html } from 'hono/html';
import { MIN_PASSWORD_LENGTH } from '../../accounts/password-policy.ts';
import type { AppEnv } from '../context.ts';
import { setSessionCookie } from '../http/cookies.ts';
import { clientInfo } from '../http/request-context.ts';
import type { Services } from '../services.ts';
import { field, readForm } from './form.ts';
import { failurePage, formRefused, seeOther, sendPage } from './guard.ts';
import { errorBox, type Html, page } from './layout.ts';
import { withNotice } from './notices.ts';
import { DEFAULT_RETURN_PATH, safeReturnPath } from './return-path.ts';

/**
 * The sign-up page. Like sign-in, its form has no synchronizer token (no session yet): the app's
 * cross-origin check on every unsafe request is what stops another site from posting it.
 */

/** What the sign-up form shows again after a refusal: name and email, never the password. */
export interface SignupView {
  readonly name?: string;
  readonly email?: string;
  readonly next: string | null;
  readonly errors?: readonly string[];
}

/** The sign-up page. */
export function signupPage(view: SignupView): Html {
  const { name = '', email = '', next, errors } = view;
  const login = next ? `/login?next=${encodeURIComponent(next)}` : '/login';
  return page({
    title: 'Create an account',
    body: html`<section class="card">
<h1>Create an account</h1>
${errorBox(errors)}
<form method="post" action="/signup">
${next ? html`<input type="hidden" name="next" value="${next}">` : ''}
<label for="name">Name <span class="muted">(optional)</span></label>
<input id="name" name="name" type="text" autocomplete="name" maxlength="100" value="${name}">
<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="username" maxlength="254" required value="${email}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="new-password" minlength="${MIN_PASSWORD_LENGTH}" required aria-describedby="password-hint">
<p class="hint" id="password-hint">At least ${MIN_PASSWORD_LENGTH} characters. A few unrelated words make a strong one.</p>
<button class="block" type="submit">Create account</button>
</form>
<p class="switch">Already have an account? <a href="${login}">Sign in</a></p>
</section>`,
  });
}

/** GET and POST /signup: a new account is signed in at once (its own fresh session). */
export function mountSignup(app: Hono<AppEnv>, services: Services): void {
  app.get('/signup', (c) => {
    const next = safeReturnPath(c.req.query('next'));
    if (c.get('auth')) return seeOther(c, next ?? DEFAULT_RETURN_PATH);
    return sendPage(c, signupPage({ next }));
  });

  app.post('/signup', async (c) => {
    const form = await readForm(c, services.config.bodyLimitBytes);
    if (!form.ok) return formRefused(c, form.reason, null);
    const name = field(form.fields, 'name');
    const email = field(form.fields, 'email');
    const next = safeReturnPath(field(form.fields, 'next'));
    try {
      const password = field(form.fields, 'password');
      const { issued } = await services.accounts.signup({ name, email, password }, clientInfo(c));
      // The browser's previous session (if any) is replaced by this cookie: end it server-side.
      const previous = c.get('auth');
      if (previous?.transport === 'cookie') {
        await services.accounts.logout(previous.session, clientInfo(c));
      }
      setSessionCookie(c, services.config, issued);
      return seeOther(c, next ?? withNotice(DEFAULT_RETURN_PATH, 'welcome'));
    } catch (error) {
      return failurePage(c, services, error, (errors) => signupPage({ name, email, next, errors }));
    }
  });
}
