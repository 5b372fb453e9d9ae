import assert from 'node:assert/strict';
import { argon2 } from 'node:crypto';
import { Accounts } from '../../src/accounts/accounts.ts';
import { type Argon2Function, PasswordHasher } from '../../src/accounts/password.ts';
import type { Throttle } from '../../src/accounts/throttle.ts';
import { type ClientInfo, SessionEngine } from '../../src/core/engine.ts';
import type { CoatcheckError } from '../../src/core/errors.ts';
import type { AuditEventType } from '../../src/core/store.ts';
import { MemoryAuditLog, MemorySessionStore, MemoryUserStore } from '../../src/stores/memory.ts';

/** Shared fixture of the Accounts tests: memory stores, a real SessionEngine, one clock. */

/** A password that passes the policy. */
export const PW = 'correct horse battery staple';
/** One second in ms. */
export const S = 1000;
/** A browser at a documentation IP. */
export const CLIENT: ClientInfo = {
  ip: '203.0.113.5',
  userAgent: 'Mozilla/5.0 (X11; Linux x86_64)',
};
/** One default (ASVS) hasher for every test: its start-up dummy hash is made once. */
export const hasher = new PasswordHasher();

/** Memory stores, a real SessionEngine and Accounts, all on one injectable clock. */
export function setup(options: { hasher?: PasswordHasher; loginPerIp?: Throttle } = {}) {
  const clock = { now: Date.now() };
  const now = () => clock.now;
  const store = new MemorySessionStore({ now });
  const users = new MemoryUserStore();
  const audit = new MemoryAuditLog();
  const engine = new SessionEngine({ store, users, audit, now });
  const throttles = options.loginPerIp ? { loginPerIp: options.loginPerIp } : {};
  const make = (h: PasswordHasher) =>
    new Accounts({ users, engine, audit, now, hasher: h, throttles });
  const accounts = make(options.hasher ?? hasher);
  /** Signs up and returns the validated `{ session, user }` plus the token. */
  const signup = async (email: string, password = PW, client = CLIENT) => {
    const { user, issued } = await accounts.signup({ email, password }, client);
    return { id: user.id, token: issued.token, ...(await signedIn(issued.token)) };
  };
  const signedIn = async (token: string) => {
    const result = await engine.validate(token);
    assert.ok(result.ok, `token should be valid, got ${JSON.stringify(result)}`);
    return { session: result.session, user: result.user };
  };
  const makeAdmin = async (email: string) => {
    const a = await signup(email);
    await users.update(a.id, { roles: ['user', 'admin'] });
    return { ...a, ...(await signedIn(a.token)) };
  };
  const events = async (type: AuditEventType) =>
    (await audit.list({ limit: 1000 })).filter((e) => e.type === type);
  return { clock, users, audit, engine, accounts, make, signup, signedIn, makeAdmin, events };
}

/** Asserts the promise rejects with an instance of `cls` (any error class, whatever it takes). */
export async function rejectsWith(
  promise: Promise<unknown>,
  cls: new (...args: never[]) => CoatcheckError,
) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${err}`);
    return true;
  });
}

/** crypto.argon2 wrapped to count calls, so "no hash computed" is an exact assertion. */
export function countingHasher(): { hasher: PasswordHasher; calls: () => number } {
  let calls = 0;
  const fn = ((...args: Parameters<Argon2Function>) => {
    calls++;
    return argon2(...args);
  }) as Argon2Function;
  return { hasher: new PasswordHasher({ argon2: fn }), calls: () => calls };
}
