import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page, Response } from 'playwright-core';
import { type App, launchChromium, signUp, startApp, startOtherSite } from './harness.ts';

// What the browser itself does with the session cookie's SameSite attribute (rfc6265bis §5.6.7),
// seen from a page on another site (http://127.0.0.1:<port>, cross-site to http://localhost):
// - Lax (the default): a top-level link navigation carries the cookie; a cross-site form POST does
//   not, even within two minutes of sign-in: the attribute is explicit, so Chromium's
//   "Lax-allowing-unsafe" exception for cookies without one does not apply.
// - Strict: not even the link navigation carries it; typing the address (no initiating site) does.
// Whatever the browser sends, the server refuses the cross-site POST (cross-origin.e2e.ts).

/** Whether the browser sent our session cookie with the request behind `response`. */
async function carriedCookie(response: Response): Promise<boolean> {
  const cookie = (await response.request().allHeaders()).cookie ?? '';
  return /(?:^|;\s*)coatcheck=/.test(cookie);
}

/** Opens `url` on the other site and waits for the browser's request to `target` (GET or POST). */
async function fromOtherSite(page: Page, url: string, target: string, method: string) {
  const response = page.waitForResponse(
    (r) => r.url() === target && r.request().method() === method,
  );
  await page.goto(url);
  return response;
}

for (const sameSite of ['lax', 'strict'] as const) {
  describe(`a SameSite=${sameSite === 'lax' ? 'Lax' : 'Strict'} session cookie in Chromium`, () => {
    let app: App;
    let site: Awaited<ReturnType<typeof startOtherSite>>;
    let browser: Browser;
    let page: Page;
    let signedInAt = 0;

    before(async () => {
      app = await startApp({ cookie: { name: 'coatcheck', sameSite, secure: true } });
      site = await startOtherSite({
        '/link': `<!doctype html><a id="go" href="${app.base}/auth/session">go</a>
<script>document.getElementById('go').click()</script>`,
        '/post': `<!doctype html><form method="post" action="${app.base}/auth/logout"></form>
<script>document.forms[0].submit()</script>`,
      });
      browser = await launchChromium();
      page = await (await browser.newContext()).newPage();
      await signUp(page, app.base, { name: 'Ada', email: `ada-${sameSite}@example.test` });
      signedInAt = Date.now();
    });
    after(async () => {
      await browser?.close();
      await site?.close();
      await app?.close();
    });

    test('typing the address (no initiating site) carries the cookie: signed in', async () => {
      const response = await page.goto(`${app.base}/auth/session`);
      assert.ok(response);
      assert.equal(response.status(), 200);
      assert.equal(await carriedCookie(response), true);
    });

    /** A link on the other site to /auth/session, clicked: the browser's request and its answer. */
    const followLink = () =>
      fromOtherSite(page, `http://127.0.0.1:${site.port}/link`, `${app.base}/auth/session`, 'GET');

    if (sameSite === 'lax') {
      test('a link from another site: cookie sent, signed in', async () => {
        const response = await followLink();
        assert.equal(await carriedCookie(response), true);
        assert.equal(response.status(), 200);
      });
    } else {
      test('a link from another site: no cookie, signed out', async () => {
        const response = await followLink();
        assert.equal(await carriedCookie(response), false);
        assert.equal(response.status(), 401);
      });
    }

    test('a form POST from another site within two minutes of sign-in: no cookie, refused', async () => {
      const target = `${app.base}/auth/logout`;
      const response = await fromOtherSite(
        page,
        `http://127.0.0.1:${site.port}/post`,
        target,
        'POST',
      );
      assert.ok(Date.now() - signedInAt < 120_000, 'inside the Lax-allowing-unsafe window');
      assert.equal(await carriedCookie(response), false);
      assert.equal(response.status(), 403);
      // Still signed in: nothing was ended.
      const check = await page.goto(`${app.base}/auth/session`);
      assert.equal(check?.status(), 200);
    });
  });
}
