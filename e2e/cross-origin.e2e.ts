import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { type App, launchChromium, PW, signUp, startApp, startOtherSite } from './harness.ts';

// Another site attacks a signed-in victim from the victim's own browser: auto-submitted forms to
// the pages' POST endpoints, and fetches to the JSON API, from http://localhost:<other port>
// (same-site: the Lax cookie IS sent) and from http://127.0.0.1:<other port> (cross-site).
// Whatever the browser lets through, the server must change nothing: the password still works,
// every session is still alive, and every unsafe request the attack made got a 403.

const EMAIL = 'victim@example.test';

let app: App;
let site: Awaited<ReturnType<typeof startOtherSite>>;
let browser: Browser;
let victim: BrowserContext;
let page: Page;

/** An attacker page that posts a form to `action` as soon as it loads. */
function autoSubmit(action: string, fields: Record<string, string>): string {
  const inputs = Object.entries(fields)
    .map(([name, value]) => `<input type="hidden" name="${name}" value="${value}">`)
    .join('');
  return `<!doctype html><title>You won!</title>
<form method="post" action="${action}">${inputs}</form>
<script>document.forms[0].submit()</script>`;
}

/** An attacker page that fires credentialed fetches at the JSON API and reports what it saw. */
function fetches(base: string): string {
  const body = JSON.stringify({ currentPassword: 'x', newPassword: 'attacker chosen passphrase' });
  return `<!doctype html><title>running</title><pre id="out"></pre>
<script>
const results = {};
async function attempt(name, run) {
  try { const r = await run(); results[name] = 'response ' + r.type + ' ' + r.status; }
  catch (e) { results[name] = 'blocked ' + e.name; }
}
(async () => {
  await attempt('json POST /auth/password', () => fetch('${base}/auth/password', {
    method: 'POST', credentials: 'include', headers: { 'content-type': 'application/json' },
    body: ${JSON.stringify(body)} }));
  await attempt('text/plain POST /auth/password', () => fetch('${base}/auth/password', {
    method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' },
    body: ${JSON.stringify(body)} }));
  await attempt('DELETE /auth/sessions', () => fetch('${base}/auth/sessions', {
    method: 'DELETE', credentials: 'include' }));
  await attempt('form POST /account/sessions/revoke-others', () =>
    fetch('${base}/account/sessions/revoke-others', { method: 'POST', mode: 'no-cors',
      credentials: 'include', body: new URLSearchParams({ csrf_token: 'guess' }) }));
  document.getElementById('out').textContent = JSON.stringify(results);
  document.title = 'done';
})();
</script>`;
}

/** The victim's state as the server sees it. */
async function serverState() {
  const user = await app.services.users.findByEmail(EMAIL);
  assert.ok(user);
  const sessions = (await app.services.engine.list(user.id)).map((s) => s.id).sort();
  return { passwordHash: user.passwordHash, locked: user.locked, sessions };
}

before(async () => {
  app = await startApp();
  const target = app.base;
  site = await startOtherSite({
    '/password': autoSubmit(`${target}/account/password`, {
      current_password: PW,
      new_password: 'attacker chosen passphrase',
    }),
    '/logout': autoSubmit(`${target}/logout`, {}),
    '/revoke-others': autoSubmit(`${target}/account/sessions/revoke-others`, {}),
    '/auth-logout': autoSubmit(`${target}/auth/logout`, {}),
    '/fetch': fetches(target),
  });
  browser = await launchChromium();
  victim = await browser.newContext();
  page = await victim.newPage();
  await signUp(page, app.base, { name: 'Victim', email: EMAIL });
  // A second device, so "sign out everywhere else" would have something to destroy.
  const other = await browser.newContext();
  await signUp(await other.newPage(), app.base, { name: 'Other', email: 'other@example.test' });
  await app.services.accounts.login({ email: EMAIL, password: PW }, { ip: '192.0.2.7' });
});
after(async () => {
  await browser?.close();
  await site?.close();
  await app?.close();
});

for (const host of ['localhost', '127.0.0.1']) {
  describe(`pages on http://${host}:<other port> attacking http://localhost:<app port>`, () => {
    for (const [path, target] of [
      ['/password', '/account/password'],
      ['/logout', '/logout'],
      ['/revoke-others', '/account/sessions/revoke-others'],
      ['/auth-logout', '/auth/logout'],
    ]) {
      test(`an auto-submitted form to ${target} is refused with 403 and changes nothing`, async () => {
        const before = await serverState();
        const response = page.waitForResponse(
          (r) => r.url() === `${app.base}${target}` && r.request().method() === 'POST',
        );
        await page.goto(`http://${host}:${site.port}${path}`);
        assert.equal((await response).status(), 403);
        assert.deepEqual(await serverState(), before);
      });
    }

    test('credentialed fetches to /auth/password and DELETE /auth/sessions change nothing', async () => {
      const before = await serverState();
      const start = app.logs().length;
      await page.goto(`http://${host}:${site.port}/fetch`);
      await page.waitForFunction(() => document.title === 'done');
      const results = JSON.parse((await page.locator('#out').textContent()) ?? '{}');
      // Preflighted requests never leave the browser (no CORS grant for this origin). Simple ones
      // (text/plain, urlencoded, no-cors) do reach the server, which must refuse them; the
      // browser then withholds even the opaque response (CORP: same-origin), so all four fail.
      assert.equal(results['json POST /auth/password'], 'blocked TypeError');
      assert.equal(results['DELETE /auth/sessions'], 'blocked TypeError');
      assert.deepEqual(await serverState(), before);
      const unsafe = app
        .logs()
        .slice(start)
        .filter((l) => l.msg === 'request' && (l.method === 'POST' || l.method === 'DELETE'));
      assert.ok(unsafe.length >= 2, 'the simple requests reached the server');
      for (const line of unsafe) assert.equal(line.status, 403, JSON.stringify(line));
    });
  });
}

test('after every attack the victim is still signed in and the password unchanged', async () => {
  const response = await page.goto(`${app.base}/account`);
  assert.equal(response?.status(), 200);
  assert.equal(new URL(page.url()).pathname, '/account');
  assert.equal(await page.locator('tbody tr').count(), 2);
  const rejects = app.logs().filter((l) => l.event === 'csrf_reject');
  assert.ok(rejects.length >= 12, `expected every attack logged, got ${rejects.length}`);
  await app.services.accounts.login({ email: EMAIL, password: PW }, { ip: '192.0.2.8' });
});
