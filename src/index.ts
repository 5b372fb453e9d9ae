/**
 * Coatcheck: stateful session authentication. The engine, accounts, cookie/origin/CSRF helpers,
 * the memory store and the types every store implements. Stores with drivers live in their own
 * entry points (`coatcheck/sqlite`, …) so importing this one loads no driver.
 */

export { Accounts, type AccountsOptions, type SignedIn } from './accounts/accounts.ts';
export { type Actor, ADMIN_ROLE } from './accounts/admin.ts';
export {
  type BreachCheck,
  PWNED_PASSWORDS_URL,
  type PwnedPasswordsOptions,
  pwnedPasswordsCheck,
} from './accounts/breached.ts';
export { normaliseEmail } from './accounts/input.ts';
export {
  type Argon2Params,
  DEFAULT_ARGON2_PARAMS,
  PasswordHasher,
  type PasswordHasherOptions,
} from './accounts/password.ts';
export {
  checkPasswordPolicy,
  MAX_PASSWORD_BYTES,
  MIN_PASSWORD_LENGTH,
} from './accounts/password-policy.ts';
export { type PublicUser, toPublicUser } from './accounts/public-user.ts';
export { THROTTLE_PRESETS, Throttle, type ThrottleOptions } from './accounts/throttle.ts';
export {
  type AuthorisedUpdate,
  keepsAuthority,
  type UpdateAuthority,
  type UserPatch,
  type UserRecord,
  type UserStore,
} from './accounts/user-store.ts';
export {
  type ClearCookieOptions,
  type CookieOptions,
  type CookieRead,
  clearCookie,
  readCookie,
  readCookieDetailed,
  serializeCookie,
  sessionCookieName,
} from './core/cookie.ts';
export { csrfTokenFor, verifyCsrfToken } from './core/csrf.ts';
export { deviceLabel } from './core/device.ts';
export {
  type ClientInfo,
  type EngineOptions,
  type GuessLimiter,
  type InvalidReason,
  type IssuedSession,
  SessionEngine,
  type SessionView,
  toView,
  type ValidateResult,
} from './core/engine.ts';
export * from './core/errors.ts';
export {
  type FeedHandlers,
  type Invalidation,
  type InvalidationFeed,
  LocalInvalidationFeed,
  type NearCacheOptions,
} from './core/near-cache.ts';
export {
  createOriginCheck,
  type HeaderReader,
  type OriginCheck,
  type OriginCheckOptions,
  type OriginCheckResult,
  type OriginRequest,
} from './core/origin.ts';
export type { Lifetimes, Policy, PolicyOptions } from './core/policy.ts';
export { PROBLEM_STATUS, type Problem, toProblem } from './core/problem.ts';
export type {
  AuditEvent,
  AuditEventType,
  AuditLog,
  ChangeProbe,
  DeletedSession,
  MaybePromise,
  SessionRecord,
  SessionStore,
  SessionTouch,
  SessionUser,
  UserLookup,
} from './core/store.ts';
export { generateToken, parseToken, TOKEN_PREFIX } from './core/token.ts';
export { MemoryAuditLog, MemorySessionStore, MemoryUserStore } from './stores/memory.ts';
