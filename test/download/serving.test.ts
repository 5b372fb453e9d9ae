import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type DownloadFixture, OUTSIDE, pathOf, REPORT, startDownloadFixture } from './fixture.ts';

// What a genuine token gets (the file, as an attachment, never rendered; Range), and that no path
// trick reaches anything outside the root, even with a validly signed token for that path.

describe('path traversal at the download server', () => {
  let f: DownloadFixture;
  before(async () => {
    f = await startDownloadFixture();
  });
  after(() => f.close());

  /** A signed token whose resource claim is `resource`, whatever it is. */
  const tokenFor = async (resource: string) => f.sign(f.claims(resource));

  const nothingServed = async (target: string, token: string) => {
    const res = await f.get(`${target}?token=${token}`);
    assert.ok([401, 403, 404].includes(res.status), `${target}: ${res.status}`);
    assert.equal(res.body.includes(OUTSIDE), false);
    assert.equal(res.body.includes(REPORT), false);
    assert.equal(res.headers['content-disposition'], undefined);
    return res;
  };

  for (const [label, target, claim] of [
    ['../ segments', '/files/../../outside/secret.txt', '../../outside/secret.txt'],
    ['../ inside a path', '/files/users/u1/../../../outside/secret.txt', 'x'],
    ['percent-encoded dots', '/files/%2e%2e/%2e%2e/outside/secret.txt', '../../outside/secret.txt'],
    ['encoded slashes', '/files/users/u1/%2e%2e%2f%2e%2e%2f%2e%2e%2foutside%2fsecret.txt', 'x'],
    ['upper-case encoding', '/files/%2E%2E/%2E%2E/outside/secret.txt', 'x'],
    [
      'double encoding',
      '/files/%252e%252e%252f%252e%252e%252foutside%252fsecret.txt',
      '%2e%2e%2f%2e%2e%2foutside%2fsecret.txt',
    ],
    ['an absolute path', '/files//etc/passwd', '/etc/passwd'],
    ['an encoded absolute path', '/files/%2Fetc%2Fpasswd', '/etc/passwd'],
    ['backslashes', '/files/..%5C..%5Coutside%5Csecret.txt', '..\\..\\outside\\secret.txt'],
    ['a NUL byte', '/files/users/u1/report.txt%00.png', 'users/u1/report.txt\u0000.png'],
    ['malformed encoding', '/files/users/u1/%E0%A4%A.txt', 'x'],
    ['no /files/ prefix', '/etc/passwd', 'x'],
  ] as const) {
    test(`${label}: refused, nothing served`, async () => {
      const res = await nothingServed(target, await tokenFor(claim));
      if (label !== 'double encoding') assert.equal(res.status, 404);
    });
  }

  test('a symlink pointing out of the root is not followed (404), even with a genuine token', async () => {
    for (const resource of ['users/u1/escape.txt', 'users/u1/outdir/secret.txt']) {
      const grant = await f.mint(resource);
      const res = await nothingServed(pathOf(grant).split('?')[0] as string, grant.token);
      assert.equal(res.status, 404);
    }
  });

  test('a directory is not a file (404); a symlink inside the root is served', async () => {
    const dir = await f.mint('users/u1/deep');
    assert.equal((await f.get(pathOf(dir))).status, 404);
    const alias = await f.mint('users/u1/alias.txt');
    const res = await f.get(pathOf(alias));
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), REPORT);
  });
});

describe('serving a file', () => {
  let f: DownloadFixture;
  before(async () => {
    f = await startDownloadFixture();
  });
  after(() => f.close());

  const fetchFile = async (
    resource: string,
    headers: Record<string, string> = {},
    method = 'GET',
  ) => f.get(pathOf(await f.mint(resource)), { headers, method });

  test('an attachment that is never rendered, cached or referred', async () => {
    const res = await fetchFile('users/u1/report.txt');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(
      res.headers['content-disposition'],
      `attachment; filename="report.txt"; filename*=UTF-8''report.txt`,
    );
    assert.equal(res.headers['content-length'], String(REPORT.length));
    assert.equal(res.headers['accept-ranges'], 'bytes');
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.headers['referrer-policy'], 'no-referrer');
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.headers['cross-origin-resource-policy'], 'same-origin');
    assert.match(String(res.headers['content-security-policy']), /sandbox/);
    assert.equal(res.headers['set-cookie'], undefined);
  });

  test('a unicode name gets an ASCII fallback and the exact name in filename* (RFC 6266)', async () => {
    const res = await fetchFile('users/u1/deep/Jörg “final”.pdf');
    assert.equal(res.headers['content-type'], 'application/pdf');
    assert.equal(
      res.headers['content-disposition'],
      `attachment; filename="J_rg _final_.pdf"; filename*=UTF-8''J%C3%B6rg%20%E2%80%9Cfinal%E2%80%9D.pdf`,
    );
  });

  test('an uploaded HTML page is an attachment with nosniff and a sandbox CSP', async () => {
    const res = await fetchFile('users/u1/page.html');
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-disposition']), /^attachment;/);
    assert.match(String(res.headers['content-security-policy']), /default-src 'none'; sandbox/);
  });

  test('Range: one range is 206 with Content-Range; suffix and open ranges too', async () => {
    const size = REPORT.length;
    const cases: [string, number, number][] = [
      ['bytes=0-4', 0, 4],
      ['bytes=-6', size - 6, size - 1],
      ['bytes=7-', 7, size - 1],
      ['bytes=3-100000', 3, size - 1],
    ];
    for (const [range, start, end] of cases) {
      const res = await fetchFile('users/u1/report.txt', { range });
      assert.equal(res.status, 206, range);
      assert.equal(res.headers['content-range'], `bytes ${start}-${end}/${size}`);
      assert.equal(res.body.toString(), REPORT.slice(start, end + 1));
      assert.equal(res.headers['content-length'], String(end - start + 1));
    }
  });

  test('Range past the end is 416 with bytes */size and no body', async () => {
    for (const range of ['bytes=1000-', 'bytes=-0']) {
      const res = await fetchFile('users/u1/report.txt', { range });
      assert.equal(res.status, 416, range);
      assert.equal(res.headers['content-range'], `bytes */${REPORT.length}`);
      assert.equal(res.body.length, 0);
    }
    const empty = await fetchFile('users/u1/empty.bin', { range: 'bytes=0-1' });
    assert.equal(empty.status, 416);
  });

  test('several ranges, a malformed one or a stale If-Range: the whole file (200)', async () => {
    const variants: Record<string, string>[] = [
      { range: 'bytes=0-1,3-4' },
      { range: 'bytes=5-2' },
      { range: 'items=0-4' },
      { range: 'bytes=0-4', 'if-range': 'Wed, 21 Oct 2015 07:28:00 GMT' },
    ];
    for (const headers of variants) {
      const res = await fetchFile('users/u1/report.txt', headers);
      assert.equal(res.status, 200, JSON.stringify(headers));
      assert.equal(res.body.toString(), REPORT);
    }
  });

  test('an empty file is 200 with Content-Length 0', async () => {
    const res = await fetchFile('users/u1/empty.bin');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-length'], '0');
    assert.equal(res.headers['content-type'], 'application/octet-stream');
  });

  test('HEAD answers the headers and uses the token up', async () => {
    const grant = await f.mint('users/u1/report.txt');
    const head = await f.get(pathOf(grant), { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(REPORT.length));
    assert.equal(head.body.length, 0);
    assert.equal((await f.get(pathOf(grant))).status, 401);
  });

  test('other methods are 405 with Allow', async () => {
    const res = await fetchFile('users/u1/report.txt', {}, 'POST');
    assert.equal(res.status, 405);
    assert.equal(res.headers.allow, 'GET, HEAD');
  });

  test('a cookie is neither needed nor used nor logged', async () => {
    const cookie = 'coatcheck=session-cookie-value-xyz';
    const without = await f.get('/files/users/u1/report.txt', { headers: { cookie } });
    assert.equal(without.status, 401);
    assert.deepEqual(JSON.parse(without.body.toString()), {
      type: 'https://coatcheck.dev/problems/unauthenticated',
      title: 'Not signed in',
      status: 401,
      detail: 'The download link is invalid, expired or already used.',
      code: 'unauthenticated',
    });
    const res = await fetchFile('users/u1/report.txt', { cookie });
    assert.equal(res.status, 200);
    assert.equal(JSON.stringify(f.logs).includes('session-cookie-value-xyz'), false);
  });

  test('unknown paths are 404 with the same headers', async () => {
    const res = await f.get('/');
    assert.equal(res.status, 404);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.headers['referrer-policy'], 'no-referrer');
  });
});
