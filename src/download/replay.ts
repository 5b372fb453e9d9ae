/**
 * Single use of download tokens (RFC 7519 §4.1.7, OWASP JWT cheat sheet "denylist"): the download
 * server remembers each `(iss, jti)` it has accepted until the token expires, and refuses it a
 * second time. Keyed on the claims, never on the token's bytes: one signature has several
 * encodings (RFC 8725 §3.9, malleable base64), the claims have one.
 */

/** One accepted token: who issued it, its id, and when it stops verifying anyway (epoch ms). */
export interface ReplayEntry {
  readonly issuer: string;
  readonly jti: string;
  readonly expiresAt: number;
}

/**
 * Remembers accepted tokens. Several download nodes must share one guard (a Redis-backed one),
 * or a token could be used once per node.
 */
export interface ReplayGuard {
  /**
   * True the first time `(issuer, jti)` is claimed, false on every later claim until `expiresAt`.
   * Rejects when it cannot decide (the server then answers 503: fail closed).
   */
  claim(entry: ReplayEntry): Promise<boolean>;
  /** Releases connections and timers. Idempotent. */
  close?(): Promise<void>;
}

/** Options of MemoryReplayGuard. */
export interface MemoryReplayGuardOptions {
  /** @default Date.now */
  readonly now?: () => number;
  /** Most remembered tokens; past it claims are refused (fail closed). @default 1_000_000 */
  readonly maxEntries?: number;
  /** How often expired entries are dropped, at most. @default 10_000 */
  readonly pruneIntervalMs?: number;
}

/** In-process guard: one download node only. Entries are pruned once their token has expired. */
export class MemoryReplayGuard implements ReplayGuard {
  readonly #seen = new Map<string, number>();
  readonly #now: () => number;
  readonly #max: number;
  readonly #interval: number;
  #nextPrune = 0;

  constructor(options: MemoryReplayGuardOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#max = options.maxEntries ?? 1_000_000;
    this.#interval = options.pruneIntervalMs ?? 10_000;
  }

  /** How many tokens are remembered (expired ones may linger until the next prune). */
  get size(): number {
    return this.#seen.size;
  }

  async claim(entry: ReplayEntry): Promise<boolean> {
    const now = this.#now();
    if (now >= this.#nextPrune || this.#seen.size >= this.#max) this.#prune(now);
    // A JSON pair: no separator an issuer or jti could contain can make two keys collide.
    const key = JSON.stringify([entry.issuer, entry.jti]);
    const until = this.#seen.get(key);
    if (until !== undefined && until > now) return false;
    if (this.#seen.size >= this.#max) throw new Error('The replay guard is full.');
    this.#seen.set(key, entry.expiresAt);
    return true;
  }

  /** Forgets everything (a closed guard is an empty one). */
  async close(): Promise<void> {
    this.#seen.clear();
  }

  #prune(now: number): void {
    this.#nextPrune = now + this.#interval;
    for (const [key, until] of this.#seen) if (until <= now) this.#seen.delete(key);
  }
}
