import { argon2, randomBytes, timingSafeEqual } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { ConfigError } from '../core/errors.ts';

/**
 * Password hashing with argon2id through Node 24's built-in `crypto.argon2`. The async form runs on
 * the libuv threadpool, so a hash (tens of ms) never blocks the event loop. Hashes are PHC strings:
 * `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<tag>`, salt and tag in standard base64 without padding.
 */

/** argon2id cost parameters. */
export interface Argon2Params {
  /** Memory in KiB. */
  readonly memoryKiB: number;
  /** Iterations (`t`). */
  readonly passes: number;
  /** Lanes (`p`). */
  readonly parallelism: number;
}

/** ASVS 5.0 App. C / OWASP Password Storage first choice: m = 19 MiB, t = 2, p = 1. */
export const DEFAULT_ARGON2_PARAMS: Readonly<Argon2Params> = Object.freeze({
  memoryKiB: 19_456,
  passes: 2,
  parallelism: 1,
});

/**
 * The (memory, passes) pairs ASVS 5.0 accepts: 46 MiB/t=1, 19 MiB/t=2, 12 MiB/t≥3. OWASP's
 * 9 MiB/t=4 and 7 MiB/t=5 are deliberately absent (they fail ASVS).
 */
const FLOOR: readonly { minPasses: number; minMemoryKiB: number }[] = [
  { minPasses: 3, minMemoryKiB: 12_288 },
  { minPasses: 2, minMemoryKiB: 19_456 },
  { minPasses: 1, minMemoryKiB: 47_104 },
];
/** Upper bounds, also applied to stored hashes, so a corrupt row cannot ask for unbounded work. */
const MAX_MEMORY_KIB = 1_048_576; // 1 GiB
const MAX_PASSES = 64;
const MAX_PARALLELISM = 16;
const SALT_BYTES = 16;
const TAG_BYTES = 32;

/** True when the parameters meet the ASVS 5.0 floor. */
export function meetsArgon2Floor(p: Argon2Params): boolean {
  return FLOOR.some((f) => p.passes >= f.minPasses && p.memoryKiB >= f.minMemoryKiB);
}

/** Fills in defaults and refuses (ConfigError) anything below the ASVS floor or absurdly high. */
export function resolveArgon2Params(options: Partial<Argon2Params> = {}): Readonly<Argon2Params> {
  const params = { ...DEFAULT_ARGON2_PARAMS, ...options };
  const int = (v: number, max: number) => Number.isInteger(v) && v >= 1 && v <= max;
  if (
    !int(params.memoryKiB, MAX_MEMORY_KIB) ||
    !int(params.passes, MAX_PASSES) ||
    !int(params.parallelism, MAX_PARALLELISM) ||
    params.memoryKiB < 8 * params.parallelism
  ) {
    throw new ConfigError('argon2 parameters must be positive integers within sane bounds');
  }
  if (!meetsArgon2Floor(params)) {
    throw new ConfigError(
      `argon2 parameters m=${params.memoryKiB},t=${params.passes} are below the ASVS 5.0 floor ` +
        '(19456 KiB with t>=2, 12288 KiB with t>=3, or 47104 KiB with t=1)',
    );
  }
  return Object.freeze(params);
}

/** A decoded PHC string. */
export interface Argon2Hash extends Argon2Params {
  readonly salt: Buffer;
  readonly tag: Buffer;
}

const B64 = '[A-Za-z0-9+/]+';
const PHC = new RegExp(
  `^\\$argon2id\\$v=19\\$m=(\\d{1,7}),t=(\\d{1,2}),p=(\\d{1,2})\\$(${B64})\\$(${B64})$`,
);

/** Encodes a hash as a PHC string (standard base64, no padding, as the PHC format says). */
export function encodePhc(h: Argon2Hash): string {
  const b64 = (b: Buffer) => b.toString('base64').replace(/=+$/, '');
  return `$argon2id$v=19$m=${h.memoryKiB},t=${h.passes},p=${h.parallelism}$${b64(h.salt)}$${b64(h.tag)}`;
}

/** Strict PHC parse: argon2id v=19 only, bounded parameters, salt ≥ 8 and tag 16–64 bytes; else null. */
export function decodePhc(phc: unknown): Argon2Hash | null {
  if (typeof phc !== 'string' || phc.length > 256) return null;
  const m = PHC.exec(phc);
  if (m === null) return null;
  const [memoryKiB, passes, parallelism] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const salt = Buffer.from(m[4] ?? '', 'base64');
  const tag = Buffer.from(m[5] ?? '', 'base64');
  const ok =
    memoryKiB >= 8 * parallelism &&
    memoryKiB <= MAX_MEMORY_KIB &&
    passes >= 1 &&
    passes <= MAX_PASSES &&
    parallelism >= 1 &&
    parallelism <= MAX_PARALLELISM &&
    salt.length >= 8 &&
    tag.length >= 16 &&
    tag.length <= 64;
  return ok ? { memoryKiB, passes, parallelism, salt, tag } : null;
}

/** The shape of `crypto.argon2`, injectable so tests can count calls. */
export type Argon2Function = typeof argon2;

/** Result of a verification. `needsRehash`: the stored parameters differ from the current ones. */
export interface VerifyResult {
  readonly ok: boolean;
  readonly needsRehash: boolean;
}

/** Options of a PasswordHasher. */
export interface PasswordHasherOptions {
  /** Cost parameters; refused below the ASVS floor. @default DEFAULT_ARGON2_PARAMS */
  params?: Partial<Argon2Params>;
  /** @default crypto.argon2 */
  argon2?: Argon2Function;
  /**
   * Most hashes computed at once; the rest wait their turn (first come, first served). Leaves a
   * core to the event loop, so a storm of logins slows logins, not every validated request.
   * @default availableParallelism() - 1, at least 1
   */
  maxConcurrent?: number;
}

/**
 * Hashes and verifies passwords with fixed, validated parameters. Holds a dummy hash made once at
 * construction, so a login for an unknown email costs the same as a wrong password.
 * Callers pass passwords already checked and NFKC-normalised (see password-policy.ts).
 */
export class PasswordHasher {
  readonly params: Readonly<Argon2Params>;
  readonly #derive: (params: Parameters<Argon2Function>[1]) => Promise<Buffer>;
  readonly #dummy: Promise<string>;

  constructor(options: PasswordHasherOptions = {}) {
    this.params = resolveArgon2Params(options.params);
    const derive = options.argon2 ?? argon2;
    const maxConcurrent = options.maxConcurrent ?? Math.max(1, availableParallelism() - 1);
    if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) {
      throw new ConfigError('maxConcurrent must be a positive integer');
    }
    const turns = new Turns(maxConcurrent);
    // The callback form runs on the libuv threadpool; argon2Sync would block the event loop.
    this.#derive = (params) =>
      turns.run(
        () =>
          new Promise((resolve, reject) => {
            derive('argon2id', params, (err, key) => (err ? reject(err) : resolve(key)));
          }),
      );
    this.#dummy = this.hash(randomBytes(16).toString('base64'));
    // Awaited on first use; this only keeps an early failure from being an unhandled rejection.
    this.#dummy.catch(() => {});
  }

  /** A new PHC string with a fresh 16-byte random salt: equal passwords never hash alike. */
  async hash(password: string): Promise<string> {
    const salt = randomBytes(SALT_BYTES);
    const tag = await this.#compute(password, this.params, salt, TAG_BYTES);
    return encodePhc({ ...this.params, salt, tag });
  }

  /**
   * Constant-time comparison of the recomputed tag. A malformed stored hash never matches (and
   * still costs one dummy verification, so it is not observably faster).
   */
  async verify(password: string, phc: string): Promise<VerifyResult> {
    const stored = decodePhc(phc);
    if (stored === null) {
      await this.verifyDummy(password);
      return { ok: false, needsRehash: true };
    }
    const tag = await this.#compute(password, stored, stored.salt, stored.tag.length);
    const ok = timingSafeEqual(tag, stored.tag);
    const p = this.params;
    const needsRehash =
      stored.memoryKiB !== p.memoryKiB ||
      stored.passes !== p.passes ||
      stored.parallelism !== p.parallelism ||
      stored.tag.length !== TAG_BYTES ||
      stored.salt.length !== SALT_BYTES;
    return { ok, needsRehash };
  }

  /** Spends the time of one verification against the dummy hash; the answer is always "no". */
  async verifyDummy(password: string): Promise<void> {
    const dummy = decodePhc(await this.#dummy);
    if (dummy !== null) await this.#compute(password, dummy, dummy.salt, dummy.tag.length);
  }

  #compute(password: string, p: Argon2Params, salt: Buffer, tagLength: number): Promise<Buffer> {
    return this.#derive({
      message: Buffer.from(password, 'utf8'),
      nonce: salt,
      parallelism: p.parallelism,
      tagLength,
      memory: p.memoryKiB,
      passes: p.passes,
    });
  }
}

/**
 * At most `limit` tasks running at once, the others started in arrival order as slots free up.
 * Written here because Node has no built-in semaphore and this is a dozen lines.
 */
class Turns {
  readonly #limit: number;
  readonly #waiting: (() => void)[] = [];
  #running = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#limit) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#running++;
    }
    try {
      return await task();
    } finally {
      // Hand the slot straight to the next in line, or free it.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running--;
    }
  }
}

let defaultHasher: PasswordHasher | undefined;
const shared = () => {
  defaultHasher ??= new PasswordHasher();
  return defaultHasher;
};

/** Hashes with the default (ASVS) parameters; see PasswordHasher.hash. */
export function hashPassword(password: string): Promise<string> {
  return shared().hash(password);
}

/** Verifies against a PHC string in constant time; needsRehash when not at the default parameters. */
export function verifyPassword(password: string, phc: string): Promise<VerifyResult> {
  return shared().verify(password, phc);
}
