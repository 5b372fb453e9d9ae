import { randomBytes } from 'node:crypto';
import { Accounts } from '../../src/accounts/accounts.ts';
import { PasswordHasher } from '../../src/accounts/password.ts';
import type { UserRecord } from '../../src/accounts/user-store.ts';
import { type GuessLimiter, SessionEngine } from '../../src/core/engine.ts';
import { StoreUnavailableError } from '../../src/core/errors.ts';
import type { SessionRecord, SessionStore, SessionTouch } from '../../src/core/store.ts';
import { MemoryAuditLog, MemorySessionStore, MemoryUserStore } from '../../src/stores/memory.ts';

/**
 * What every adapter test shares: memory stores behind a switch that makes the session store fail
 * (to prove fail-closed), a guess limiter that can be told to block, a real engine and Accounts,
 * users created directly with one precomputed password hash, and an `onError` that records.
 */

/** A password that passes the policy. */
export const PW = 'correct horse battery staple';

const hasher = new PasswordHasher();
let passwordHash: Promise<string> | undefined;

/** A session store that throws StoreUnavailableError on every call while `down` is true. */
export class SwitchableStore implements SessionStore {
  down = false;
  readonly #inner = new MemorySessionStore();
  #check(): void {
    if (this.down) throw new StoreUnavailableError('test: store switched off');
  }
  async create(record: SessionRecord) {
    this.#check();
    return this.#inner.create(record);
  }
  async get(id: string) {
    this.#check();
    return this.#inner.get(id);
  }
  async touch(id: string, touch: SessionTouch) {
    this.#check();
    return this.#inner.touch(id, touch);
  }
  async rotate(args: Parameters<SessionStore['rotate']>[0]) {
    this.#check();
    return this.#inner.rotate(args);
  }
  async delete(id: string) {
    this.#check();
    return this.#inner.delete(id);
  }
  async deleteByUser(args: { userId: string; exceptId?: string }) {
    this.#check();
    return this.#inner.deleteByUser(args);
  }
  async listByUser(userId: string) {
    this.#check();
    return this.#inner.listByUser(userId);
  }
  async sweep(now: number) {
    this.#check();
    return this.#inner.sweep(now);
  }
  close() {
    return this.#inner.close();
  }
}

/** A guess limiter whose verdict the test sets. */
export class SwitchableLimiter implements GuessLimiter {
  blockedSeconds = 0;
  readonly keys: string[] = [];
  blockedForSeconds(key: string): number {
    this.keys.push(key);
    return this.blockedSeconds;
  }
  recordFailure(): void {}
}

/** Engine, accounts and stores for one test file. */
export function adapterFixture() {
  const store = new SwitchableStore();
  const users = new MemoryUserStore();
  const audit = new MemoryAuditLog();
  const limiter = new SwitchableLimiter();
  const engine = new SessionEngine({ store, users, audit, guessLimiter: limiter });
  const accounts = new Accounts({ users, engine, audit, hasher });
  let count = 0;
  /** Creates a user (no HTTP) that can sign in with PW. */
  const createUser = async (roles: string[] = ['user']): Promise<UserRecord> => {
    passwordHash ??= hasher.hash(PW);
    const at = Date.now();
    const user: UserRecord = {
      id: randomBytes(16).toString('base64url'),
      email: `user${++count}-${randomBytes(4).toString('hex')}@example.com`,
      name: null,
      roles,
      locked: false,
      passwordHash: await passwordHash,
      passwordChangedAt: at,
      createdAt: at,
    };
    await users.create(user);
    return user;
  };
  /** A live session token for `user`, issued directly by the engine. */
  const tokenFor = async (user: UserRecord) => (await engine.create(user)).token;
  /** What the adapter told its `onError`, in order. */
  const errors: unknown[] = [];
  const onError = (error: unknown) => {
    errors.push(error);
  };
  return { store, users, audit, limiter, engine, accounts, createUser, tokenFor, errors, onError };
}

export type AdapterFixture = ReturnType<typeof adapterFixture>;
