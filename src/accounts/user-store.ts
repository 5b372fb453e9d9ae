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

/** Where users live. `email` arguments are already normalised by the caller (accounts.ts). */
export interface UserStore extends UserLookup {
  findById(id: string): MaybePromise<UserRecord | null>;
  findByEmail(email: string): Promise<UserRecord | null>;
  /** Inserts a user; returns false (and writes nothing) when the email is taken. */
  create(user: UserRecord): Promise<boolean>;
  /** Applies the patch; returns the updated user, or null when the id is unknown. */
  update(id: string, patch: UserPatch): Promise<UserRecord | null>;
  /** Users ordered by email, for admin listings. */
  list(args: { limit: number; offset: number }): Promise<UserRecord[]>;
  /** Number of users (first-start admin bootstrap needs to know if there are none). */
  count(): Promise<number>;
}
