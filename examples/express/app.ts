import { join } from 'node:path';
import {
  Accounts,
  CoatcheckError,
  SessionEngine,
  THROTTLE_PRESETS,
  Throttle,
  toProblem,
} from 'coatcheck';
import { coatcheck } from 'coatcheck/express';
import { openSqliteStores } from 'coatcheck/sqlite';
import express from 'express';

// One SQLite file holds users, sessions and the audit trail; the coatcheck CLI writes the same
// file, so `COATCHECK_PASSWORD=… npx coatcheck user add you@example.com` creates an account.
const stores = openSqliteStores(join(process.env.COATCHECK_DATA_DIR ?? 'data', 'coatcheck.db'));
const { sessions: store, users, audit } = stores;
const guessLimiter = new Throttle(THROTTLE_PRESETS.tokenGuessPerIp); // 429 for token guessers
const engine = new SessionEngine({ store, users, audit, guessLimiter });
const accounts = new Accounts({ users, engine, audit });
// Secure defaults: __Host-coatcheck; HttpOnly; Secure; SameSite=Lax (Chrome and Firefox accept
// Secure cookies on http://localhost; for Safari in development pass cookie: { secure: false }).
const auth = coatcheck({ engine, accounts });

const app = express();
app.use(express.urlencoded({ extended: false, limit: '16kb' })); // before auth: it reads csrf_token
app.use(auth.middleware);

app.get('/', auth.requireAuth({ redirectTo: '/login' }), (req, res) => {
  const email = req.auth?.user.email ?? '';
  res.send(
    page(`<p>Signed in as <b>${escapeHtml(email)}</b>.</p>
    <form method="post" action="/sign-out-everywhere">
      <input type="hidden" name="csrf_token" value="${auth.csrfToken(req)}">
      <button>Sign out everywhere</button>
    </form>`),
  );
});

app.get('/login', (_req, res) => {
  res.send(page(loginForm('')));
});

app.post('/login', async (req, res) => {
  try {
    // No body, or one urlencoded() does not parse (JSON, multipart): no fields, so a 400 below.
    const { email, password, remember } = req.body ?? {};
    await auth.signIn(req, res, { email, password, remember: remember === 'on' });
    res.redirect(303, '/');
  } catch (error) {
    // Wrong password, throttled, locked: say so in words. Anything else (a store outage) goes to
    // auth.errorHandler: a 503 problem without Set-Cookie.
    if (!(error instanceof CoatcheckError) || toProblem(error).status >= 500) throw error;
    const retry = toProblem(error).retryAfter;
    if (retry !== undefined) res.set('Retry-After', String(retry));
    res.status(toProblem(error).status).send(page(loginForm(error.message)));
  }
});

app.post('/sign-out-everywhere', auth.requireAuth(), async (req, res) => {
  await auth.signOutEverywhere(req, res);
  res.redirect(303, '/login');
});

app.use(auth.errorHandler);

const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  console.log(`express example on http://localhost:${port}`);
});
process.on('SIGTERM', () => server.close(() => stores.close()));

function loginForm(message: string): string {
  return `${message ? `<p role="alert">${escapeHtml(message)}</p>` : ''}
    <form method="post" action="/login">
      <label>Email <input name="email" type="email" autocomplete="username" required></label>
      <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
      <label><input name="remember" type="checkbox"> Remember me</label>
      <button>Sign in</button>
    </form>`;
}

function page(body: string): string {
  return `<!doctype html><meta charset="utf-8"><title>Coatcheck + Express</title>${body}`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
