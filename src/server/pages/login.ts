import type { Hono } from 'hono';
import { html } from 'hono/html';
import type { AppEnv } from '../context.ts';
import { setSessionCookie } from '../http/cookies.ts';
import { clientInfo } from '../http/request-context.ts';
import { loginOutcome } from '../metrics.ts';
import type { Services } from '../services.ts';
import { checked, field, readForm } from './form.ts';
import { failurePage, formRefused, seeOther, sendPage } from './guard.ts';
import { errorBox, type Html, noticeBox, page } from './layout.ts';
import { noticeText } from './notices.ts';
import { DEFAULT_RETURN_PATH, safeReturnPath } from './return-path.ts';

/**
 * The sign-in page. Its form carries no synchronizer token: there is no session to bind one to
 * yet. Login CSRF (an attacker signing the victim into the attacker's account) is refused by the
 * cross-origin check the app applies to every unsafe request (Sec-Fetch-Site / Origin, Go 1.25
 * algorithm, core/origin.ts) before this handler runs.
 */

/** What the sign-in form shows: the typed email (never the password), the return path, messages. */
export interface LoginView {
  readonly email?: string;
  readonly next: string | null;
  readonly errors?: readonly string[];
  readonly notice?: string | null;
}

/** The sign-in page. */
export function loginPage(view: LoginView): Html {
  const { email = '', next, errors, notice } = view;
  const signup = next ? `/signup?next=${encodeURIComponent(next)}` : '/signup';
  return page({
    title: 'Sign in',
    body: html`<section class="card">
<h1>Sign in</h1>
${noticeBox(notice)}${errorBox(errors)}
${next && !notice && !errors ? html`<p class="muted">Sign in to continue.</p>` : ''}
<form method="post" action="/login">
${next ? html`<input type="hidden" name="next" value="${next}">` : ''}
<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="username" maxlength="254" required value="${email}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<label class="check"><input type="checkbox" name="remember" value="1"> Keep me signed in on this device</label>
<button class="block" type="submit">Sign in</button>
</form>
<p class="switch">New here? <a href="${signup}">Create an account</a></p>
</section>`,
  });
}

/** GET and POST /login. A successful sign-in always gets a new session id (see Accounts.login). */
export function mountLogin(app: Hono<AppEnv>, services: Services): void {
  app.get('/login', (c) => {
    const next = safeReturnPath(c.req.query('next'));
    if (c.get('auth')) return seeOther(c, next ?? DEFAULT_RETURN_PATH);
    return sendPage(c, loginPage({ next, notice: noticeText(c.req.query('notice')) }));
  });

  app.post('/login', async (c) => {
    const form = await readForm(c, services.config.bodyLimitBytes);
    if (!form.ok) return formRefused(c, form.reason, null);
    const email = field(form.fields, 'email');
    const password = field(form.fields, 'password');
    const next = safeReturnPath(field(form.fields, 'next'));
    if (email.trim() === '' || password === '') {
      const errors = ['Enter your email and password.'];
      return sendPage(c, loginPage({ email, next, errors }), 400);
    }
    const { accounts, metrics } = services;
    try {
      const remember = checked(form.fields, 'remember');
      const { issued } = await accounts.login({ email, password, remember }, clientInfo(c), {
        currentSessionId: c.get('auth')?.session.id ?? null,
      });
      metrics.logins.inc({ outcome: 'ok' });
      setSessionCookie(c, services.config, issued);
      return seeOther(c, next ?? DEFAULT_RETURN_PATH);
    } catch (error) {
      metrics.logins.inc({ outcome: loginOutcome(error) });
      return failurePage(c, services, error, (errors) => loginPage({ email, next, errors }));
    }
  });
}
