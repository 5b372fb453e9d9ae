import { ConfigError } from './errors.ts';
import type { SessionRecord } from './store.ts';

/** Idle timeout (sliding) and absolute lifetime of a session. */
export interface Lifetimes {
  /** Session dies after this long without a request. */
  readonly idleTimeoutSeconds: number;
  /** Session dies this long after sign-in, whatever the activity. */
  readonly absoluteLifetimeSeconds: number;
}

/** Session policy options. Every field is optional; defaults follow OWASP/ASVS guidance. */
export interface PolicyOptions {
  /** @default 604800 (7 days) */
  idleTimeoutSeconds?: number;
  /** @default 2592000 (30 days) */
  absoluteLifetimeSeconds?: number;
  /**
   * Per-role overrides, merged value by value over the defaults: configuring another role keeps
   * the admin defaults, and `admin` changes only the values given. Overrides only tighten: a user
   * gets the strictest of the base values and every override of their roles, so a role can never
   * outlive the base lifetimes (a stricter base binds admins too).
   * @default { admin: { idleTimeoutSeconds: 1800, absoluteLifetimeSeconds: 43200 } }
   */
  roles?: Readonly<Record<string, Partial<Lifetimes>>>;
  /** Absolute lifetime cap of a session without remember-me (a browser-session cookie). @default 86400 */
  browserSessionLifetimeSeconds?: number;
  /** Sliding renewal (a store write) happens at most once per this interval. @default 60 */
  renewalIntervalSeconds?: number;
  /** How long after entering the password sensitive operations are allowed. @default 600 */
  freshWindowSeconds?: number;
  /** How long a rotated-out token keeps working, for in-flight concurrent requests. @default 30 */
  rotationGraceSeconds?: number;
  /** Cap on concurrent sessions per user; the least recently used is evicted. @default null (no cap) */
  maxSessionsPerUser?: number | null;
}

/** Resolved, frozen policy: all values in milliseconds, precomputed once. */
export interface Policy {
  readonly idleMs: number;
  readonly absoluteMs: number;
  readonly roles: ReadonlyMap<string, { readonly idleMs?: number; readonly absoluteMs?: number }>;
  readonly browserSessionMs: number;
  readonly renewalMs: number;
  readonly freshMs: number;
  readonly graceMs: number;
  readonly maxSessionsPerUser: number | null;
}

const DAY = 86_400;

/** Built-in role overrides; a caller's `roles` are merged over these, value by value. */
const DEFAULT_ROLES: Readonly<Record<string, Lifetimes>> = {
  admin: { idleTimeoutSeconds: 1800, absoluteLifetimeSeconds: 12 * 3600 },
};

/** One role's override in seconds; undefined: the base value applies. */
type RoleSeconds = { readonly [K in keyof Lifetimes]: number | undefined };

/** The defaults with the caller's overrides on top; an undefined value keeps the default. */
function mergeRoles(overrides: PolicyOptions['roles'] = {}): Map<string, RoleSeconds> {
  const merged = new Map<string, RoleSeconds>(Object.entries(DEFAULT_ROLES));
  for (const [role, o] of Object.entries(overrides)) {
    if (typeof o !== 'object' || o === null) {
      throw new ConfigError(`roles.${role} must be an object of lifetimes`);
    }
    const base = merged.get(role);
    merged.set(role, {
      idleTimeoutSeconds: o.idleTimeoutSeconds ?? base?.idleTimeoutSeconds,
      absoluteLifetimeSeconds: o.absoluteLifetimeSeconds ?? base?.absoluteLifetimeSeconds,
    });
  }
  return merged;
}

/** Validates options once and returns a frozen policy; throws ConfigError naming each bad value. */
export function resolvePolicy(options: PolicyOptions = {}): Policy {
  const problems: string[] = [];
  const seconds = (name: string, value: number | undefined, fallback: number): number => {
    const v = value ?? fallback;
    if (!Number.isFinite(v) || v <= 0)
      problems.push(`${name} must be a positive number of seconds`);
    return v * 1000;
  };
  // Merged, not replaced: `{ roles: { support: … } }` must not silently drop the admin limits.
  const roles = new Map<string, { idleMs?: number; absoluteMs?: number }>();
  for (const [role, o] of mergeRoles(options.roles)) {
    const entry: { idleMs?: number; absoluteMs?: number } = {};
    if (o.idleTimeoutSeconds !== undefined) {
      entry.idleMs = seconds(`roles.${role}.idleTimeoutSeconds`, o.idleTimeoutSeconds, 0);
    }
    if (o.absoluteLifetimeSeconds !== undefined) {
      entry.absoluteMs = seconds(
        `roles.${role}.absoluteLifetimeSeconds`,
        o.absoluteLifetimeSeconds,
        0,
      );
    }
    roles.set(role, Object.freeze(entry));
  }
  const max = options.maxSessionsPerUser ?? null;
  if (max !== null && (!Number.isInteger(max) || max < 1)) {
    problems.push('maxSessionsPerUser must be a positive integer or null');
  }
  const policy: Policy = {
    idleMs: seconds('idleTimeoutSeconds', options.idleTimeoutSeconds, 7 * DAY),
    absoluteMs: seconds('absoluteLifetimeSeconds', options.absoluteLifetimeSeconds, 30 * DAY),
    roles,
    browserSessionMs: seconds(
      'browserSessionLifetimeSeconds',
      options.browserSessionLifetimeSeconds,
      DAY,
    ),
    renewalMs: seconds('renewalIntervalSeconds', options.renewalIntervalSeconds, 60),
    freshMs: seconds('freshWindowSeconds', options.freshWindowSeconds, 600),
    graceMs: seconds('rotationGraceSeconds', options.rotationGraceSeconds, 30),
    maxSessionsPerUser: max,
  };
  if (problems.length > 0) throw new ConfigError(`Invalid session policy: ${problems.join('; ')}`);
  return Object.freeze(policy);
}

/**
 * Effective lifetimes in ms for a user's current roles: the strictest of the base value and each
 * role's override. Overrides only tighten, by design: roles accumulate, and a stricter base (say a
 * short `idleTimeoutSeconds` for a sensitive app) must bind admins too.
 */
export function lifetimesFor(
  policy: Policy,
  roles: readonly string[],
  persistent: boolean,
): { idleMs: number; absoluteMs: number } {
  let idleMs = policy.idleMs;
  let absoluteMs = policy.absoluteMs;
  for (const role of roles) {
    const o = policy.roles.get(role);
    if (o?.idleMs !== undefined && o.idleMs < idleMs) idleMs = o.idleMs;
    if (o?.absoluteMs !== undefined && o.absoluteMs < absoluteMs) absoluteMs = o.absoluteMs;
  }
  if (!persistent && policy.browserSessionMs < absoluteMs) absoluteMs = policy.browserSessionMs;
  return { idleMs, absoluteMs };
}

/** Why a session is dead by time, or null when it is alive at `now`. Uses current roles. */
export function expiryReason(
  policy: Policy,
  session: SessionRecord,
  roles: readonly string[],
  now: number,
): 'expired_idle' | 'expired_absolute' | null {
  const { idleMs, absoluteMs } = lifetimesFor(policy, roles, session.persistent);
  if (now >= session.createdAt + absoluteMs) return 'expired_absolute';
  if (now >= session.lastSeenAt + idleMs) return 'expired_idle';
  return null;
}

/** When the store may drop the session if it sees no further activity after `lastSeenAt`. */
export function storeExpiry(
  policy: Policy,
  session: Pick<SessionRecord, 'createdAt' | 'persistent'>,
  roles: readonly string[],
  lastSeenAt: number,
): number {
  const { idleMs, absoluteMs } = lifetimesFor(policy, roles, session.persistent);
  return Math.min(lastSeenAt + idleMs, session.createdAt + absoluteMs);
}

/** True when the sliding renewal is due (at most one store write per renewal interval). */
export function renewalDue(policy: Policy, session: SessionRecord, now: number): boolean {
  return now - session.lastSeenAt >= policy.renewalMs;
}

/** True while the password was entered recently enough for sensitive operations. */
export function isFresh(policy: Policy, session: SessionRecord, now: number): boolean {
  return now - session.authenticatedAt < policy.freshMs;
}

/**
 * Cookie Max-Age in seconds: the remaining absolute lifetime for a persistent session (so the
 * cookie never outlives the session), undefined for a browser-session cookie.
 */
export function cookieMaxAge(
  policy: Policy,
  session: SessionRecord,
  roles: readonly string[],
  now: number,
): number | undefined {
  if (!session.persistent) return undefined;
  const { absoluteMs } = lifetimesFor(policy, roles, true);
  return Math.max(0, Math.floor((session.createdAt + absoluteMs - now) / 1000));
}
