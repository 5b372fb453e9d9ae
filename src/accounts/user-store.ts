import type { MaybePromise, SessionUser, UserLookup } from '../core/store.ts';

/** A stored user: the session-facing fields plus the password hash. Times are epoch ms. */
export interface UserRecord extends SessionUser {
  /** Normalised (trimmed, NFC, lower-cased) email; unique. */
  readonly email: string;
  /** PHC string, e.g. `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`. */
  readonly passwordHash: string;
  readonly passwordChangedAt: number;
  readonly createdAt: number;
}

/** Fields a user update may change. */
export type UserPatch = Partial<
  Pick<UserRecord, 'name' | 'roles' | 'locked' | 'passwordHash' | 'passwordChangedAt'>
>;

/**
 * Who must be allowed to make an `updateAuthorised` change: the user `userId`, holding `role` and
 * not locked, at the moment the change is written.
 */
export interface UpdateAuthority {
  readonly userId: string;
  readonly role: string;
}

/** What `updateAuthorised` did. Only `updated` wrote anything. */
export type AuthorisedUpdate =
  | {
      readonly status: 'updated';
      /** The user as written. */
      readonly user: UserRecord;
      /** The user just before the write (read in the same atomic step). */
      readonly previous: UserRecord;
    }
  /** No user has this id. */
  | { readonly status: 'no_user' }
  /** The authority is unknown, locked or lacks the role, or this very change would take either. */
  | { readonly status: 'refused' };

/** Where users live. `email` arguments are already normalised by the caller (accounts.ts). */
export interface UserStore extends UserLookup {
  findById(id: string): MaybePromise<UserRecord | null>;
  findByEmail(email: string): Promise<UserRecord | null>;
  /** Inserts a user; returns false (and writes nothing) when the email is taken. */
  create(user: UserRecord): Promise<boolean>;
  /** Applies the patch; returns the updated user, or null when the id is unknown. */
  update(id: string, patch: UserPatch): Promise<UserRecord | null>;
  /**
   * Applies the patch only while `by.userId` holds `by.role` and is not locked, and only if the
   * patch keeps them so (when they are its target): the check and the write are one atomic step,
   * so no concurrent change of the authority's own roles or lock can land in between, on any
   * node or process. Hence, when every role removal and lock goes through here, each one leaves
   * at least one unlocked holder of the role: the authority itself. Checked before the target
   * exists: a refusal says nothing about the id.
   */
  updateAuthorised(id: string, patch: UserPatch, by: UpdateAuthority): Promise<AuthorisedUpdate>;
  /** Users ordered by email, for admin listings. */
  list(args: { limit: number; offset: number }): Promise<UserRecord[]>;
  /** Number of users (first-start admin bootstrap needs to know if there are none). */
  count(): Promise<number>;
}

/**
 * The rule every `updateAuthorised` applies, on the authority's record as read inside the atomic
 * step: it exists, holds the role, is not locked, and keeps all that when it is the target.
 */
export function keepsAuthority(
  authority: UserRecord | null,
  id: string,
  patch: UserPatch,
  by: UpdateAuthority,
): boolean {
  if (authority === null || authority.locked || !authority.roles.includes(by.role)) return false;
  if (id !== by.userId) return true;
  return patch.locked !== true && (patch.roles === undefined || patch.roles.includes(by.role));
}
