import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import {
  Accounts,
  CoatcheckError,
  SessionEngine,
  THROTTLE_PRESETS,
  Throttle,
  toProblem,
} from 'coatcheck';
import { type CoatcheckEnv, coatcheck } from 'coatcheck/hono';
import { openSqliteStores } from 'coatcheck/sqlite';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { html } from 'hono/html';

// One SQLite file holds users, sessions and the audit trail; the coatcheck CLI writes the same
// file, so `COATCHECK_PASSWORD=… npx coatcheck user add you@example.com` creates an account.
const stores = openSqliteStores(join(process.env.COATCHECK_DATA_DIR ?? 'data', 'coatcheck.db'));
const { sessions: store, users, audit } = stores;
const guessLimiter = new Throttle(THROTTLE_PRESETS.tokenGuessPerIp); // 429 for token guessers
const engine = new SessionEngine({ store, users, audit, guessLimiter });
const accounts = new Accounts({ users, engine, audit });
// Secure defaults: __Host-coatcheck; HttpOnly; Secure; SameSite=Lax. Hono has no runtime-neutral
// client IP, so say where it comes from (here: the socket, via @hono/node-server).
const auth = coatcheck({
  engine,
  accounts,
  clientIp: (c) => getConnInfo(c).remote.address ?? null,
});

const app = new Hono<CoatcheckEnv>();
app.use(bodyLimit({ maxSize: 16_384 }));
app.use(auth.middleware);
app.onError(auth.errorHandler); // problem+json; a store outage is a 503 without cookies

app.get('/', auth.requireAuth({ redirectTo: '/login' }), (c) =>
  c.html(
    page(html`<p>Signed in as <b>${c.var.auth?.user.email}</b>.</p>
      <form method="post" action="/sign-out-everywhere">
        <input type="hidden" name="csrf_token" value="${auth.csrfToken(c)}" />
        <button>Sign out everywhere</button>
      </form>`),
  ),
);

app.get('/login', (c) => c.html(page(loginForm(''))));

app.post('/login', async (c) => {
  try {
    // A body that is no readable form (multipart without a boundary): no fields, so a 400 below.
    const form = await c.req.parseBody().catch(() => ({}) as Record<string, undefined>);
    const { email, password, remember } = form;
    await auth.signIn(c, { email, password, remember: remember === 'on' });
    return c.redirect('/', 303);
  } catch (error) {
    // Wrong password, throttled, locked: say so in words; anything else goes to app.onError.
    if (!(error instanceof CoatcheckError) || toProblem(error).status >= 500) throw error;
    const { status, retryAfter } = toProblem(error);
    if (retryAfter !== undefined) c.header('Retry-After', String(retryAfter));
    return c.html(page(loginForm(error.message)), status as 400 | 401 | 403 | 429);
  }
});

app.post('/sign-out-everywhere', auth.requireAuth(), async (c) => {
  await auth.signOutEverywhere(c);
  return c.redirect('/login', 303);
});

const server = serve(
  { fetch: app.fetch, port: Number(process.env.PORT ?? 3000), hostname: '127.0.0.1' },
  ({ port }) => console.log(`hono example on http://localhost:${port}`),
);
process.on('SIGTERM', () => server.close(() => stores.close()));

function loginForm(message: string) {
  return html`${message ? html`<p role="alert">${message}</p>` : ''}
    <form method="post" action="/login">
      <label>Email <input name="email" type="email" autocomplete="username" required /></label>
      <label>Password <input name="password" type="password" autocomplete="current-password" required /></label>
      <label><input name="remember" type="checkbox" /> Remember me</label>
      <button>Sign in</button>
    </form>`;
}

function page(body: ReturnType<typeof html>) {
  return html`<!doctype html><meta charset="utf-8" /><title>Coatcheck + Hono</title>${body}`;
}
