import {
  type AuthorisedUpdate,
  keepsAuthority,
  type UpdateAuthority,
  type UserPatch,
  type UserRecord,
  type UserStore,
} from '../accounts/user-store.ts';
import { StoreUnavailableError } from '../core/errors.ts';

/** Users in a Map with a unique email index (emails arrive normalised from accounts.ts). */
export class MemoryUserStore implements UserStore {
  readonly #users = new Map<string, UserRecord>();
  readonly #idByEmail = new Map<string, string>();

  /** The stored frozen record, or null. Synchronous: the engine validates without a promise. */
  findById(id: string): UserRecord | null {
    return this.#users.get(id) ?? null;
  }

  /** Exact match on the normalised email. */
  async findByEmail(email: string): Promise<UserRecord | null> {
    const id = this.#idByEmail.get(email);
    return id === undefined ? null : (this.#users.get(id) ?? null);
  }

  /** False (nothing written) when the email is taken. */
  async create(user: UserRecord): Promise<boolean> {
    if (this.#idByEmail.has(user.email)) return false;
    if (this.#users.has(user.id)) throw new StoreUnavailableError('User id already exists.');
    this.#users.set(user.id, freezeUser(user));
    this.#idByEmail.set(user.email, user.id);
    return true;
  }

  /** Applies the defined fields of the patch; null for an unknown id. */
  async update(id: string, patch: UserPatch): Promise<UserRecord | null> {
    const current = this.#users.get(id);
    return current === undefined ? null : this.#write(current, patch);
  }

  /**
   * The update, if `by` may make it. Atomic because it is synchronous from the check to the write:
   * no other call runs in between.
   */
  async updateAuthorised(
    id: string,
    patch: UserPatch,
    by: UpdateAuthority,
  ): Promise<AuthorisedUpdate> {
    if (!keepsAuthority(this.findById(by.userId), id, patch, by)) return { status: 'refused' };
    const previous = this.#users.get(id);
    if (previous === undefined) return { status: 'no_user' };
    return { status: 'updated', user: this.#write(previous, patch), previous };
  }

  #write(current: UserRecord, patch: UserPatch): UserRecord {
    const updated = freezeUser({ ...current, ...definedPatch(patch) });
    this.#users.set(current.id, updated);
    return updated;
  }

  /** Ordered by email, then id. */
  async list(args: { limit: number; offset: number }): Promise<UserRecord[]> {
    const sorted = [...this.#users.values()].sort(byEmail);
    const offset = Math.max(0, Math.floor(args.offset));
    return sorted.slice(offset, offset + Math.max(0, Math.floor(args.limit)));
  }

  /** Number of users. */
  async count(): Promise<number> {
    return this.#users.size;
  }
}

function freezeUser(user: UserRecord): UserRecord {
  return Object.freeze({ ...user, roles: Object.freeze([...user.roles]) });
}

/** Only the patchable fields, and only those given: a stray `id` or `email` never gets through. */
function definedPatch(patch: UserPatch): UserPatch {
  const out: { -readonly [K in keyof UserPatch]: UserPatch[K] } = {};
  if (patch.name !== undefined) out.name = patch.name;
  if (patch.roles !== undefined) out.roles = patch.roles;
  if (patch.locked !== undefined) out.locked = patch.locked;
  if (patch.passwordHash !== undefined) out.passwordHash = patch.passwordHash;
  if (patch.passwordChangedAt !== undefined) out.passwordChangedAt = patch.passwordChangedAt;
  return out;
}

function byEmail(a: UserRecord, b: UserRecord): number {
  return compare(a.email, b.email) || compare(a.id, b.id);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
