import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { type App, launchChromium, PW, screenshot, signIn, signUp, startApp } from './harness.ts';

// A person in real headless Chromium: signs up, signs in on a second device, sees both, revokes
// the second, which is sent to sign-in on its next click; the session cookie is out of reach of
// scripts and nothing token-like sits in Web Storage. Screenshots of every page on the way.

const EMAIL = 'ann@example.test';
/** Past the 10-minute fresh window, well inside every idle timeout. */
const STALE_MS = 11 * 60_000;

let app: App;
let browser: Browser;
let first: BrowserContext;
let second: BrowserContext;
let a: Page;
let b: Page;

before(async () => {
  app = await startApp();
  browser = await launchChromium();
  first = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  second = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  a = await first.newPage();
  b = await second.newPage();
});
after(async () => {
  await browser?.close();
  await app?.close();
});

describe('devices', () => {
  test('sign-in and sign-up pages render', async () => {
    await a.goto(`${app.base}/login`);
    assert.equal(await a.locator('h1').textContent(), 'Sign in');
    await screenshot(a, 'login');
    await a.goto(`${app.base}/signup`);
    await screenshot(a, 'signup');
  });

  test('sign up lands on the account page with one device, marked as this one', async () => {
    await signUp(a, app.base, { name: 'Ann Example', email: EMAIL });
    assert.match((await a.locator('.alert.notice').textContent()) ?? '', /Welcome/);
    assert.equal(await a.locator('tbody tr').count(), 1);
    assert.match((await a.locator('tr.current').textContent()) ?? '', /This device/);
  });

  test('a wrong password is explained on the page', async () => {
    await b.goto(`${app.base}/login`);
    await b.fill('#email', EMAIL);
    await b.fill('#password', 'not the password');
    await b.click('main button[type=submit]');
    assert.match((await b.locator('.alert.error').textContent()) ?? '', /incorrect/);
    await screenshot(b, 'login-error');
  });

  test('a second browser signs in; the first sees both devices', async () => {
    await b.goto(`${app.base}/account`);
    assert.match(b.url(), /\/login\?next=%2Faccount$/);
    await signIn(b, EMAIL, { remember: true });
    assert.equal(new URL(b.url()).pathname, '/account');
    await a.reload();
    assert.equal(await a.locator('tbody tr').count(), 2);
    assert.equal(await a.locator('tr.current').count(), 1);
    assert.equal(await a.locator('tbody button', { hasText: 'Revoke' }).count(), 1);
    assert.match((await a.locator('tbody').textContent()) ?? '', /Chrom\w* \d+ on Linux/);
    assert.match((await a.locator('tbody').textContent()) ?? '', /127\.0\.0\.1/);
    await screenshot(a, 'account');
  });

  test('the session cookie is HttpOnly: document.cookie cannot read it; storage holds no token', async () => {
    const cookies = await first.cookies(app.base);
    const session = cookies.find((c) => c.name === 'coatcheck');
    assert.ok(session, 'the browser holds the session cookie');
    assert.equal(session.httpOnly, true);
    assert.equal(session.secure, true);
    assert.equal(session.sameSite, 'Lax');
    const seen = await a.evaluate(() => ({
      cookie: document.cookie,
      local: JSON.stringify({ ...localStorage }),
      session: JSON.stringify({ ...sessionStorage }),
      lengths: [localStorage.length, sessionStorage.length],
    }));
    assert.ok(!seen.cookie.includes('coatcheck'));
    assert.ok(!seen.cookie.includes(session.value));
    assert.deepEqual(seen.lengths, [0, 0]);
    const [id = '', secret = ''] = session.value.split('.');
    for (const dump of [seen.local, seen.session, await a.content()]) {
      assert.ok(!dump.includes(id) && !dump.includes(secret), 'token material in the page');
    }
  });

  test('revoking the second device sends it to sign-in on its next click', async () => {
    await Promise.all([
      a.waitForURL('**/account?notice=session_revoked'),
      a.locator('tbody button', { hasText: 'Revoke' }).click(),
    ]);
    assert.match((await a.locator('.alert.notice').textContent()) ?? '', /signed out/);
    assert.equal(await a.locator('tbody tr').count(), 1);
    await b.click('nav a[href="/account"]');
    assert.match(b.url(), /\/login\?next=%2Faccount$/);
    assert.equal((await second.cookies(app.base)).length, 0, 'the refused cookie was cleared');
    await screenshot(b, 'login-after-revoke');
  });

  test('a stale session must re-enter the password before "sign out everywhere else"', async () => {
    await signIn(b, EMAIL);
    await a.reload();
    app.clock.now += STALE_MS;
    await a.click('button:has-text("Sign out everywhere else")');
    assert.equal(await a.locator('h1').textContent(), 'Confirm it’s you');
    await screenshot(a, 'reauth');
    await a.fill('#password', PW);
    await Promise.all([a.waitForURL('**/account?notice=reauthenticated'), a.click('main button')]);
    await Promise.all([
      a.waitForURL('**/account?notice=others_revoked'),
      a.click('button:has-text("Sign out everywhere else")'),
    ]);
    assert.equal(await a.locator('tbody tr').count(), 1);
    await b.reload();
    assert.match(b.url(), /\/login/);
  });

  test('the admin page lists users for an admin and refuses others with 403', async () => {
    await signUp(b, app.base, { name: 'Bob Builder', email: 'bob@example.test' });
    const response = await b.goto(`${app.base}/admin`);
    assert.equal(response?.status(), 403);
    await screenshot(b, 'admin-forbidden');

    const ann = await app.services.users.findByEmail(EMAIL);
    assert.ok(ann);
    await app.services.users.update(ann.id, { roles: ['user', 'admin'] });
    await a.goto(`${app.base}/admin`);
    assert.equal(await a.locator('tbody tr').count(), 2);
    const bobRow = a.locator('tbody tr', { hasText: 'bob@example.test' });
    await Promise.all([
      a.waitForURL('**/admin?notice=user_locked'),
      bobRow.locator('button', { hasText: 'Lock' }).click(),
    ]);
    assert.match((await bobRow.textContent()) ?? '', /Locked/);
    await screenshot(a, 'admin');
    await b.reload();
    assert.match(b.url(), /\/login/, 'the locked account is signed out at once');
  });

  test('signing out clears the cookie and lands on the sign-in page', async () => {
    await Promise.all([a.waitForURL('**/login?notice=signed_out'), a.click('nav button')]);
    assert.match((await a.locator('.alert.notice').textContent()) ?? '', /signed out/);
    assert.equal((await first.cookies(app.base)).length, 0);
    await screenshot(a, 'signed-out');
  });
});

test('every flow works with JavaScript switched off', async () => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  try {
    const page = await context.newPage();
    await signUp(page, app.base, { name: 'No Script', email: 'noscript@example.test' });
    assert.equal(await page.locator('tbody tr').count(), 1);
    await Promise.all([page.waitForURL('**/login?notice=signed_out'), page.click('nav button')]);
    await page.goto(`${app.base}/account`);
    assert.match(page.url(), /\/login\?next=%2Faccount$/);
    await signIn(page, 'noscript@example.test');
    assert.equal(new URL(page.url()).pathname, '/account');
  } finally {
    await context.close();
  }
});
