import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { attachmentDisposition, filesPathSegments, mediaType } from '../../src/download/files.ts';
import { maskTokens } from '../../src/download/log-mask.ts';
import { decideRange } from '../../src/download/range.ts';
import { MemoryReplayGuard, type ReplayGuard } from '../../src/download/replay.ts';
import { type DownloadFixture, pathOf, REPORT, startDownloadFixture } from './fixture.ts';

// The pure parts of the download server, each in isolation, and the replay guard's failure mode.

describe('decideRange (RFC 9110 §14)', () => {
  const table: [string | null, number, unknown][] = [
    [null, 10, { kind: 'full' }],
    ['bytes=0-0', 10, { kind: 'partial', start: 0, end: 0 }],
    ['bytes=2-', 10, { kind: 'partial', start: 2, end: 9 }],
    ['bytes=-3', 10, { kind: 'partial', start: 7, end: 9 }],
    ['bytes=-30', 10, { kind: 'partial', start: 0, end: 9 }],
    ['BYTES=1-2', 10, { kind: 'partial', start: 1, end: 2 }],
    ['bytes=10-', 10, { kind: 'unsatisfiable' }],
    ['bytes=-0', 10, { kind: 'unsatisfiable' }],
    ['bytes=0-', 0, { kind: 'unsatisfiable' }],
    ['bytes=3-1', 10, { kind: 'full' }],
    ['bytes=-', 10, { kind: 'full' }],
    ['bytes=1-2,4-5', 10, { kind: 'full' }],
    ['bytes=a-b', 10, { kind: 'full' }],
    ['bytes=9999999999999999999-', 10, { kind: 'full' }],
  ];
  for (const [header, size, expected] of table) {
    test(`${JSON.stringify(header)} of ${size} bytes`, () => {
      assert.deepEqual(decideRange(header, size), expected);
    });
  }
});

describe('file names and paths', () => {
  test('Content-Disposition escapes quotes and backslashes in the fallback, encodes filename*', () => {
    assert.equal(
      attachmentDisposition('a"b\\c\'(1)*.txt'),
      `attachment; filename="a_b_c'(1)*.txt"; filename*=UTF-8''a%22b%5Cc%27%281%29%2A.txt`,
    );
    assert.equal(
      attachmentDisposition('x\r\ny.txt'),
      `attachment; filename="x__y.txt"; filename*=UTF-8''x%0D%0Ay.txt`,
    );
  });

  test('media types by extension, octet-stream otherwise', () => {
    assert.equal(mediaType('a.PDF'), 'application/pdf');
    assert.equal(mediaType('a.tar.gz'), 'application/gzip');
    assert.equal(mediaType('Makefile'), 'application/octet-stream');
  });

  test('request targets decode once per segment', () => {
    assert.deepEqual(filesPathSegments('/files/a%20b/c.txt?token=x'), ['a b', 'c.txt']);
    assert.deepEqual(filesPathSegments('/files/%252e%252e'), ['%2e%2e']);
    assert.equal(filesPathSegments('/files/a/%2e%2e/b'), null);
    assert.equal(filesPathSegments('/files/a%2Fb'), null);
    assert.equal(filesPathSegments('/files/'), null);
    assert.equal(filesPathSegments('/filesx/a'), null);
  });

  test('token query values are masked wherever they appear', () => {
    assert.equal(
      maskTokens('/files/a?x=1&token=eyJ.a.b&TOKEN=c#f'),
      '/files/a?x=1&token=[redacted]&TOKEN=[redacted]#f',
    );
    assert.equal(maskTokens('/files/a?tokens=1'), '/files/a?tokens=1');
    // Named as the server reads the name: percent-decoded (a live token must not reach the log).
    assert.equal(
      maskTokens('/files/a?%74oken=eyJ.a.b&%54%4F%4B%45%4E=c;tok%65n=d'),
      '/files/a?%74oken=[redacted]&%54%4F%4B%45%4E=[redacted];tok%65n=[redacted]',
    );
    assert.equal(maskTokens('/files/a?%zz=1&token'), '/files/a?%zz=1&token');
  });
});

describe('MemoryReplayGuard', () => {
  test('a (iss, jti) is accepted once until it expires, then forgotten', async () => {
    const clock = { now: 1_000 };
    const guard = new MemoryReplayGuard({ now: () => clock.now, pruneIntervalMs: 0 });
    const entry = { issuer: 'https://a', jti: 'j1', expiresAt: 5_000 };
    assert.equal(await guard.claim(entry), true);
    assert.equal(await guard.claim(entry), false);
    assert.equal(await guard.claim({ ...entry, issuer: 'https://b' }), true);
    clock.now = 5_000;
    assert.equal(await guard.claim({ issuer: 'x', jti: 'other', expiresAt: 9_000 }), true);
    assert.equal(guard.size, 1); // both j1 entries pruned at their exp
  });

  test('full: refuses to decide (rejects) rather than forget a live token', async () => {
    const guard = new MemoryReplayGuard({ maxEntries: 2 });
    const exp = Date.now() + 60_000;
    await guard.claim({ issuer: 'i', jti: '1', expiresAt: exp });
    await guard.claim({ issuer: 'i', jti: '2', expiresAt: exp });
    await assert.rejects(guard.claim({ issuer: 'i', jti: '3', expiresAt: exp }));
  });
});

describe('a replay guard that fails', () => {
  let f: DownloadFixture;
  const broken: ReplayGuard = {
    claim: () => Promise.reject(new Error('redis down')),
  };
  before(async () => {
    f = await startDownloadFixture({ replay: broken });
  });
  after(() => f.close());

  test('is a 503 and nothing is served (fail closed)', async () => {
    const res = await f.get(pathOf(await f.mint('users/u1/report.txt')));
    assert.equal(res.status, 503);
    assert.equal(res.body.includes(REPORT), false);
  });
});
