import { join } from 'node:path';
import {
  Accounts,
  CoatcheckError,
  SessionEngine,
  THROTTLE_PRESETS,
  Throttle,
  toProblem,
} from 'coatcheck';
import { coatcheck, coatcheckErrorHandler } from 'coatcheck/fastify';
import { openSqliteStores } from 'coatcheck/sqlite';
import Fastify from 'fastify';

// One SQLite file holds users, sessions and the audit trail; the coatcheck CLI writes the same
// file, so `COATCHECK_PASSWORD=… npx coatcheck user add you@example.com` creates an account.
const stores = openSqliteStores(join(process.env.COATCHECK_DATA_DIR ?? 'data', 'coatcheck.db'));
const { sessions: store, users, audit } = stores;
const guessLimiter = new Throttle(THROTTLE_PRESETS.tokenGuessPerIp); // 429 for token guessers
const engine = new SessionEngine({ store, users, audit, guessLimiter });
const accounts = new Accounts({ users, engine, audit });

const app = Fastify({ bodyLimit: 16_384 });
// HTML forms post urlencoded bodies (or register @fastify/formbody).
app.addContentTypeParser(
  'application/x-www-form-urlencoded',
  { parseAs: 'string' },
  (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(String(body)))),
);
// Secure defaults: __Host-coatcheck; HttpOnly; Secure; SameSite=Lax. The plugin checks the
// origin of unsafe requests, resolves request.auth and verifies the form token of signed-in posts.
await app.register(coatcheck, { engine, accounts });
app.setErrorHandler(coatcheckErrorHandler); // problem+json; a store outage is a 503 without cookies
app.addHook('onClose', () => stores.close());

type LoginForm = { Body: { email?: string; password?: string; remember?: string } | undefined };

app.get('/', { onRequest: app.requireAuth({ redirectTo: '/login' }) }, async (request, reply) => {
  const email = request.auth?.user.email ?? '';
  return reply.type('text/html').send(
    page(`<p>Signed in as <b>${escapeHtml(email)}</b>.</p>
    <form method="post" action="/sign-out-everywhere">
      <input type="hidden" name="csrf_token" value="${request.csrfToken()}">
      <button>Sign out everywhere</button>
    </form>`),
  );
});

app.get('/login', async (_request, reply) => reply.type('text/html').send(page(loginForm(''))));

app.post<LoginForm>('/login', async (request, reply) => {
  try {
    // No body: no fields, so a 400 below (Fastify itself refuses types it cannot parse: 415).
    const { email, password, remember } = request.body ?? {};
    await reply.signIn({ email, password, remember: remember === 'on' });
    return reply.redirect('/', 303);
  } catch (error) {
    // Wrong password, throttled, locked: say so in words; anything else goes to the error handler.
    if (!(error instanceof CoatcheckError) || toProblem(error).status >= 500) throw error;
    const { status, retryAfter } = toProblem(error);
    if (retryAfter !== undefined) reply.header('retry-after', retryAfter);
    return reply
      .code(status)
      .type('text/html')
      .send(page(loginForm(error.message)));
  }
});

app.post('/sign-out-everywhere', { onRequest: app.requireAuth() }, async (_request, reply) => {
  await reply.signOutEverywhere();
  return reply.redirect('/login', 303);
});

const url = await app.listen({ port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' });
console.log(`fastify example on ${url.replace('127.0.0.1', 'localhost')}`);
process.on('SIGTERM', () => app.close());

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
  return `<!doctype html><meta charset="utf-8"><title>Coatcheck + Fastify</title>${body}`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
