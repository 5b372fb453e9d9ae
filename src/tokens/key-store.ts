import { StoreUnavailableError } from '../core/errors.ts';

/**
 * Where the Ed25519 signing keys of download and identity tokens live. A store holds rows; the
 * rules (which key signs, when an old one is retired, how the private key is sealed) are in
 * keys.ts. Times are epoch milliseconds, like every other store.
 */

/** The public half of an Ed25519 key as a JWK (RFC 8037 §2). */
export interface PublicOkpJwk {
  readonly kty: 'OKP';
  readonly crv: 'Ed25519';
  /** The public key, base64url. */
  readonly x: string;
}

/** One signing key as stored. */
export interface SigningKeyRecord {
  /** Key id: random base64url, also the JWK `kid` and the JWS header `kid`. */
  readonly kid: string;
  readonly alg: 'EdDSA';
  readonly publicJwk: PublicOkpJwk;
  /** The PKCS#8 private key inside a seal (key-seal.ts): AES-256-GCM, or marked plain. */
  readonly privateKey: Uint8Array;
  readonly createdAt: number;
  /** Signs from this time on. */
  readonly notBefore: number;
  /**
   * null while the key signs. Set at rotation to when every token it signed has expired: until
   * then it stays published (JWKS) but signs nothing; after it, it is gone.
   */
  readonly expiresAt: number | null;
}

/** Storage of signing keys. Every method may reject with StoreUnavailableError. */
export interface KeyStore {
  /** Every stored key, newest first (by createdAt). */
  list(): Promise<SigningKeyRecord[]>;
  /**
   * Atomic: adds `record` only when no key is signing (expiresAt null); false when one is. Two
   * processes starting at once thus end up with a single signing key.
   */
  addFirst(record: SigningKeyRecord): Promise<boolean>;
  /**
   * Atomic: deletes keys whose expiresAt is at or before `now`, sets `expiresAt = retireAt` on
   * every other key that would outlive it (the signing key, and a retired key expiring later),
   * and adds `record` (which signs from now).
   */
  rotate(record: SigningKeyRecord, options: { retireAt: number; now: number }): Promise<void>;
}

/** Keys in a Map: tests and single-process development. */
export class MemoryKeyStore implements KeyStore {
  readonly #keys = new Map<string, SigningKeyRecord>();

  async list(): Promise<SigningKeyRecord[]> {
    return [...this.#keys.values()].sort((a, b) => b.createdAt - a.createdAt);
  }

  async addFirst(record: SigningKeyRecord): Promise<boolean> {
    for (const key of this.#keys.values()) if (key.expiresAt === null) return false;
    this.#put(record);
    return true;
  }

  async rotate(record: SigningKeyRecord, options: { retireAt: number; now: number }) {
    for (const [kid, key] of this.#keys) {
      if (key.expiresAt !== null && key.expiresAt <= options.now) this.#keys.delete(kid);
      else if (key.expiresAt === null || key.expiresAt > options.retireAt) {
        this.#keys.set(kid, { ...key, expiresAt: options.retireAt });
      }
    }
    this.#put(record);
  }

  #put(record: SigningKeyRecord): void {
    if (this.#keys.has(record.kid)) throw new StoreUnavailableError('Key id already exists.');
    this.#keys.set(record.kid, Object.freeze({ ...record }));
  }
}
