import assert from 'node:assert/strict';
import { test } from 'node:test';
import { csrfTokenFor } from '../../src/core/csrf.ts';
import type { SessionRecord, SessionUser } from '../../src/core/store.ts';
import { sessionBody } from '../../src/server/routes/session-body.ts';

// GET /auth/session's body is kept per session id and reused for an equal record. A renewal, a
// role change or any other change the body shows must never be answered from what was kept.

const session: SessionRecord = {
  id: 'sBodyTest0000000000001',
  secretHash: new Uint8Array(32).fill(7),
  userId: 'usr_1',
  createdAt: Date.UTC(2026, 0, 1),
  lastSeenAt: Date.UTC(2026, 0, 2),
  authenticatedAt: Date.UTC(2026, 0, 1),
  persistent: true,
  expiresAt: Date.UTC(2026, 0, 9),
  ip: '192.0.2.1',
  userAgent: 'Mozilla/5.0',
  device: 'Firefox on Linux',
  replacedBy: null,
  graceUntil: null,
};
const user: SessionUser = {
  id: 'usr_1',
  email: 'ann@example.com',
  name: 'Ann',
  roles: ['user'],
  locked: false,
};

/** The body as it must be: computed from scratch. */
function expected(s: SessionRecord, u: SessionUser) {
  return {
    user: { id: u.id, email: u.email, name: u.name, roles: [...u.roles] },
    session: {
      id: s.id,
      current: true,
      createdAt: new Date(s.createdAt).toISOString(),
      lastSeenAt: new Date(s.lastSeenAt).toISOString(),
      expiresAt: new Date(s.expiresAt).toISOString(),
      ip: s.ip,
      userAgent: s.userAgent,
      device: s.device,
    },
    csrfToken: csrfTokenFor(s),
  };
}

test('an equal record read afresh gets the same body', () => {
  const first = sessionBody(session, user);
  const again = sessionBody({ ...session, secretHash: session.secretHash.slice() }, { ...user });
  assert.equal(again, first);
  assert.deepEqual(JSON.parse(again), expected(session, user));
});

test('every change the body shows is shown at once, whichever field it is', () => {
  sessionBody(session, user);
  const changed: [string, SessionRecord, SessionUser][] = [
    ['renewal', { ...session, lastSeenAt: session.lastSeenAt + 1 }, user],
    ['new expiry', { ...session, expiresAt: session.expiresAt + 1 }, user],
    ['created', { ...session, createdAt: session.createdAt - 1 }, user],
    ['ip', { ...session, ip: '192.0.2.2' }, user],
    ['user agent', { ...session, userAgent: null }, user],
    ['device', { ...session, device: 'Chrome on Linux' }, user],
    ['secret hash', { ...session, secretHash: new Uint8Array(32).fill(8) }, user],
    ['email', session, { ...user, email: 'ann@example.org' }],
    ['name', session, { ...user, name: null }],
    ['role replaced', session, { ...user, roles: ['admin'] }],
    ['role added', session, { ...user, roles: ['user', 'admin'] }],
    ['role removed', session, { ...user, roles: [] }],
  ];
  for (const [what, s, u] of changed) {
    assert.deepEqual(JSON.parse(sessionBody(s, u)), expected(s, u), what);
    // And back: the change in the other direction is shown too.
    assert.deepEqual(JSON.parse(sessionBody(session, user)), expected(session, user), what);
  }
});

test('many sessions at once: each gets its own body, beyond the number kept', () => {
  for (let i = 0; i < 5000; i++) {
    const s = { ...session, id: `sBodyMany${String(i).padStart(13, '0')}` };
    assert.equal(JSON.parse(sessionBody(s, user)).session.id, s.id);
  }
  assert.deepEqual(JSON.parse(sessionBody(session, user)), expected(session, user));
});
