import type { UserRecord } from './user-store.ts';

/** A user as shown to clients and admins: never the password hash. Times are ISO 8601 UTC. */
export interface PublicUser {
  readonly id: string;
  readonly email: string;
  readonly name: string | null;
  readonly roles: readonly string[];
  readonly locked: boolean;
  readonly createdAt: string;
  readonly passwordChangedAt: string;
}

/** Copies only the listed safe fields (an allowlist, so a new secret column can never leak). */
export function toPublicUser(user: UserRecord): PublicUser {
  return {
    id: user.id,
    email: user.email,
    name: user.name,
    roles: [...user.roles],
    locked: user.locked,
    createdAt: new Date(user.createdAt).toISOString(),
    passwordChangedAt: new Date(user.passwordChangedAt).toISOString(),
  };
}
