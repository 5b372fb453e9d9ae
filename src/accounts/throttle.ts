import type { GuessLimiter } from '../core/engine.ts';
import { ConfigError } from '../core/errors.ts';

/**
 * An in-memory failure throttle with capped exponential backoff (OWASP Authentication Cheat
 * Sheet "Login Throttling", ASVS 5.0 V6.3.1). Each key (a normalised email, a client IP) may fail
 * `freeFailures` times; every further failure blocks the key for base·2ⁿ seconds, capped at
 * `maxDelaySeconds`. The cap is what stops an attacker from locking a victim out for long: a
 * victim under attack waits at most one capped delay per attempt, and a success resets the key.
 *
 * Failures leak away: one is forgotten per `decaySeconds` of time that is not spent blocked, so
 * the allowance refills after a quiet period while a persistent attacker stays at the cap.
 *
 * PER PROCESS: each Node process counts on its own, so N app nodes allow N times the attempts,
 * and a restart forgets the counts. There is no shared (Redis) limiter; docs/security.md
 * ("Per-process throttles") records that decision. Memory is bounded by `maxKeys`.
 */

/** Throttle options. Durations in seconds. */
export interface ThrottleOptions {
  /** Failures allowed before any delay. */
  readonly freeFailures: number;
  /** Delay after the first failure past the allowance; doubles with each further one. @default 1 */
  readonly baseDelaySeconds?: number;
  /** Longest single delay. */
  readonly maxDelaySeconds: number;
  /** One failure is forgotten per this many (unblocked) seconds. */
  readonly decaySeconds: number;
  /** Most keys kept; beyond it the least recently failed key is dropped. @default 100000 */
  readonly maxKeys?: number;
  /** Clock in epoch ms, used when a call passes no `now`. @default Date.now */
  readonly now?: () => number;
}

/** Defaults for each use in Coatcheck. */
export const THROTTLE_PRESETS = Object.freeze({
  /** Per account (normalised email): 5 free, then 1 s, 2 s, 4 s … capped at 60 s. */
  loginPerAccount: { freeFailures: 5, maxDelaySeconds: 60, decaySeconds: 300 },
  /** Per client IP (NATs share one): 20 free, capped at 5 min. */
  loginPerIp: { freeFailures: 20, maxDelaySeconds: 300, decaySeconds: 60 },
  /** Sign-ups per client IP (sign-up reveals taken emails): 10 free, capped at 15 min. */
  signupPerIp: { freeFailures: 10, maxDelaySeconds: 900, decaySeconds: 360 },
  /** Invalid session tokens per client IP: about 100 a minute are free, capped at 5 min. */
  tokenGuessPerIp: { freeFailures: 100, maxDelaySeconds: 300, decaySeconds: 0.6 },
} satisfies Record<string, ThrottleOptions>);

interface Entry {
  /** Failures still counted (fractional: decay is continuous). */
  failures: number;
  /** When `failures` was last brought up to date (epoch ms). */
  updatedAt: number;
  /** Epoch ms until which the key is refused; 0 when not blocked. */
  blockedUntil: number;
}

/** How often a full sweep of fully decayed keys may run. */
const SWEEP_INTERVAL_MS = 60_000;

/**
 * Capped exponential backoff per key. Also the engine's GuessLimiter for invalid session tokens.
 * Every method is O(1) amortised; memory never exceeds `maxKeys` entries.
 */
export class Throttle implements GuessLimiter {
  readonly #free: number;
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #decayMs: number;
  readonly #maxKeys: number;
  readonly #now: () => number;
  /** Insertion order = least recently failed first (entries are re-inserted on each failure). */
  readonly #entries = new Map<string, Entry>();
  #lastSweep = 0;

  constructor(options: ThrottleOptions) {
    const base = options.baseDelaySeconds ?? 1;
    const maxKeys = options.maxKeys ?? 100_000;
    const positive = [base, options.maxDelaySeconds, options.decaySeconds];
    if (
      !Number.isInteger(options.freeFailures) ||
      options.freeFailures < 0 ||
      positive.some((v) => !Number.isFinite(v) || v <= 0) ||
      !Number.isInteger(maxKeys) ||
      maxKeys < 1
    ) {
      throw new ConfigError('throttle: freeFailures >= 0, positive durations, maxKeys >= 1');
    }
    this.#free = options.freeFailures;
    this.#baseMs = base * 1000;
    this.#maxMs = options.maxDelaySeconds * 1000;
    this.#decayMs = options.decaySeconds * 1000;
    this.#maxKeys = maxKeys;
    this.#now = options.now ?? Date.now;
  }

  /** Whole seconds the key must still wait (a Retry-After value); 0 when it may proceed. */
  blockedForSeconds(key: string, now: number = this.#now()): number {
    const entry = this.#entries.get(key);
    if (entry === undefined || entry.blockedUntil <= now) return 0;
    return Math.ceil((entry.blockedUntil - now) / 1000);
  }

  /** Counts one failure; returns the seconds the key is now blocked for (0 within the allowance). */
  recordFailure(key: string, now: number = this.#now()): number {
    this.#maybeSweep(now);
    const entry = this.#entries.get(key);
    if (entry !== undefined) {
      this.#decay(entry, now);
      this.#entries.delete(key); // re-inserted below: keeps the Map in least-recent-first order
    } else if (this.#entries.size >= this.#maxKeys) {
      // Full: drop the least recently failed key. An attacker spraying keys can thereby clear a
      // victim's count, which is why login is throttled per IP as well as per account.
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    const e = entry ?? { failures: 0, updatedAt: now, blockedUntil: 0 };
    e.failures += 1;
    const over = Math.ceil(e.failures) - this.#free;
    if (over > 0) {
      // 2^(over-1) overflows to Infinity long before `over` is large; Math.min caps it.
      const delay = Math.min(this.#baseMs * 2 ** Math.min(over - 1, 52), this.#maxMs);
      e.blockedUntil = Math.max(e.blockedUntil, now + delay);
      e.updatedAt = Math.max(e.updatedAt, e.blockedUntil);
    }
    this.#entries.set(key, e);
    return this.blockedForSeconds(key, now);
  }

  /**
   * Takes back one failure counted in advance for an attempt that then succeeded, lifting the
   * block that failure caused (if the remaining count is within the allowance).
   */
  refund(key: string, now: number = this.#now()): void {
    const e = this.#entries.get(key);
    if (e === undefined) return;
    this.#decay(e, now);
    e.failures = Math.max(0, e.failures - 1);
    if (Math.ceil(e.failures) <= this.#free) {
      e.blockedUntil = 0;
      e.updatedAt = Math.min(e.updatedAt, now);
    }
  }

  /** Forgets the key (a successful login for that account). */
  reset(key: string): void {
    this.#entries.delete(key);
  }

  /** Number of keys held (for tests and metrics). */
  get size(): number {
    return this.#entries.size;
  }

  /** Brings the failure count up to `now`. Time spent blocked does not count as quiet time. */
  #decay(e: Entry, now: number): void {
    if (now > e.updatedAt) {
      e.failures = Math.max(0, e.failures - (now - e.updatedAt) / this.#decayMs);
      e.updatedAt = now;
    }
  }

  /** Drops fully decayed, unblocked keys, at most once per interval (amortised O(1)). */
  #maybeSweep(now: number): void {
    if (now - this.#lastSweep < SWEEP_INTERVAL_MS) return;
    this.#lastSweep = now;
    for (const [key, e] of this.#entries) {
      if (e.blockedUntil > now) continue;
      this.#decay(e, now);
      if (e.failures === 0) this.#entries.delete(key);
    }
  }
}
