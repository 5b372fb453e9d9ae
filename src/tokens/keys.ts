import { createPrivateKey, KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import { ConfigError } from '../core/errors.ts';
import { isEncryptedKey, type KeySeal } from './key-seal.ts';
import type { KeyStore, PublicOkpJwk, SigningKeyRecord } from './key-store.ts';

/**
 * The Ed25519 keys that sign download and identity tokens (docs/security.md "Why JWT here").
 * Exactly one key signs at a time. `rotate()` makes a new key the signer at once and keeps the
 * old one published in the JWKS until every token it signed has expired, so verifiers holding a
 * token minted just before the rotation still find its key.
 */

/** The longest lifetime of any token these keys sign (download tokens are capped at it). */
export const MAX_TOKEN_LIFETIME_SECONDS = 300;
/**
 * How long a rotated-out key stays published: the longest token lifetime plus a minute for clock
 * skew between the issuer and the verifiers.
 */
export const RETIREMENT_SECONDS = MAX_TOKEN_LIFETIME_SECONDS + 60;

/** A public key as published at /.well-known/jwks.json (RFC 7517 §4, RFC 8037). */
export interface PublishedJwk extends PublicOkpJwk {
  readonly kid: string;
  readonly alg: 'EdDSA';
  readonly use: 'sig';
}

/** A key's public facts, for `coatcheck keys list` (never the private key). */
export interface KeyInfo {
  readonly kid: string;
  readonly createdAt: number;
  /** null while it signs. */
  readonly expiresAt: number | null;
  readonly signing: boolean;
}

/** Options of SigningKeys.rotate. */
export interface RotateOptions {
  /**
   * Store the new key as this seal does (encrypted, or in the clear) whatever the current one is
   * stored as, and retire the current key even when it does not open (a lost secret). Every
   * process signing with these keys must have the same secret first. @default false
   */
  readonly reseal?: boolean;
  /**
   * Retire every earlier key now instead of after RETIREMENT_SECONDS: they leave the JWKS at
   * once and the tokens they signed stop verifying (for a key that may have leaked). @default false
   */
  readonly revoke?: boolean;
}

/** What SigningKeys.rotate did. */
export interface RotateResult {
  readonly kid: string;
  /** When the previous key leaves the JWKS (epoch ms). */
  readonly retireAt: number;
  /** The previous signing key, when `reseal` retired it without it opening; else null. */
  readonly unopened: string | null;
}

/** Options of SigningKeys. */
export interface SigningKeysOptions {
  readonly store: KeyStore;
  readonly seal: KeySeal;
  /** @default Date.now */
  readonly now?: () => number;
}

/** The signing keys over a KeyStore. Safe to share between requests. */
export class SigningKeys {
  readonly #store: KeyStore;
  readonly #seal: KeySeal;
  readonly #now: () => number;
  /** Opened private keys by kid: the seal is undone once per key and process. */
  readonly #opened = new Map<string, KeyObject>();

  constructor(options: SigningKeysOptions) {
    this.#store = options.store;
    this.#seal = options.seal;
    this.#now = options.now ?? Date.now;
  }

  /** True when private keys are encrypted at rest. */
  get encrypted(): boolean {
    return this.#seal.encrypted;
  }

  /**
   * Signs `claims` as a compact JWS with the current key: header `{alg: 'EdDSA', typ, kid}`.
   * Creates the first key when there is none. The caller sets every claim (iat, exp included).
   */
  async sign(claims: JWTPayload, options: { typ: string }): Promise<string> {
    const { kid, privateKey } = await this.#current();
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'EdDSA', typ: options.typ, kid })
      .sign(privateKey);
  }

  /**
   * Opens the current signing key (creating the first one): a missing or wrong keys secret fails
   * here, at start-up, with a ConfigError, instead of on the first download. Returns its kid.
   */
  async check(): Promise<string> {
    return (await this.#current()).kid;
  }

  /** The published key set: the signing key and every retired key whose tokens may be live. */
  async jwks(): Promise<{ keys: PublishedJwk[] }> {
    await this.#signingRecord(); // the first key exists before anything is published
    const now = this.#now();
    const records = await this.#store.list();
    const live = records.filter((r) => r.expiresAt === null || r.expiresAt > now);
    return { keys: live.map(published) };
  }

  /** Every stored key, newest first. */
  async list(): Promise<KeyInfo[]> {
    const records = await this.#store.list();
    return records.map((r) => ({
      kid: r.kid,
      createdAt: r.createdAt,
      expiresAt: r.expiresAt,
      signing: r.expiresAt === null,
    }));
  }

  /**
   * A new key signs from now on; the previous one stays in the JWKS for RETIREMENT_SECONDS (none
   * with `revoke`, which retires every earlier key now) and keys retired longer ago are deleted.
   * Returns the new kid, when the old keys disappear, and the previous signing key when `reseal`
   * retired it without it opening (null otherwise).
   * ConfigError, and nothing changed, when the current key does not open with this seal or is
   * stored otherwise (in the clear, or encrypted) than the new one would be, unless `reseal`.
   */
  async rotate(options: RotateOptions = {}): Promise<RotateResult> {
    const signing = (await this.#store.list()).find((r) => r.expiresAt === null);
    let unopened: string | null = null;
    if (signing !== undefined) {
      // Every process signing with these keys shares one secret (or none) and must open the
      // signing key: a new key sealed otherwise (under a secret the servers lack, say) would fail
      // every signature. So, unless `reseal` says the change is meant, the current key must open
      // (which refuses a clear new key beside an encrypted one) and must not be in the clear when
      // the new one would be encrypted.
      const failure = await this.#current().then(
        () => null,
        (error: unknown) => {
          if (error instanceof ConfigError) return error;
          throw error;
        },
      );
      // A rotated-out key is never opened again (the JWKS publishes its public half), so with
      // `reseal` one that does not open (a lost secret) is retired like any other.
      if (options.reseal) unopened = failure === null ? null : signing.kid;
      else if (failure !== null) throw failure;
      else if (this.#seal.encrypted && !isEncryptedKey(signing.privateKey)) {
        throw new ConfigError(
          `Signing key ${signing.kid} is stored in the clear but COATCHECK_KEYS_SECRET is set: a server without that secret could not open the new key.`,
        );
      }
    }
    const now = this.#now();
    const record = await this.#generate(now);
    const retireAt = options.revoke ? now : now + RETIREMENT_SECONDS * 1000;
    await this.#store.rotate(record, { retireAt, now });
    return { kid: record.kid, retireAt, unopened };
  }

  /** The signing record, creating the first key if needed (a racing process may win: re-read). */
  async #signingRecord(): Promise<SigningKeyRecord> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const records = await this.#store.list();
      const signing = records.find((r) => r.expiresAt === null);
      if (signing !== undefined) return signing;
      await this.#store.addFirst(await this.#generate(this.#now()));
    }
    throw new Error('No signing key after creating one (the key store lost it).');
  }

  async #current(): Promise<{ kid: string; privateKey: KeyObject }> {
    const record = await this.#signingRecord();
    let privateKey = this.#opened.get(record.kid);
    if (privateKey === undefined) {
      const der = this.#seal.open(record.privateKey, record.kid);
      privateKey = createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
      this.#opened.set(record.kid, privateKey);
    }
    return { kid: record.kid, privateKey };
  }

  async #generate(now: number): Promise<SigningKeyRecord> {
    const pair = await generateKeyPair('EdDSA', { extractable: true });
    const jwk = await exportJWK(pair.publicKey);
    if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') {
      throw new Error('generateKeyPair("EdDSA") did not produce an Ed25519 key.');
    }
    const publicJwk: PublicOkpJwk = { kty: 'OKP', crv: 'Ed25519', x: jwk.x };
    // RFC 7638 thumbprint: a stable, collision-free kid made only of base64url characters.
    const kid = await calculateJwkThumbprint(publicJwk, 'sha256');
    const der = KeyObject.from(pair.privateKey).export({ type: 'pkcs8', format: 'der' });
    return {
      kid,
      alg: 'EdDSA',
      publicJwk,
      privateKey: this.#seal.seal(der, kid),
      createdAt: now,
      notBefore: now,
      expiresAt: null,
    };
  }
}

function published(record: SigningKeyRecord): PublishedJwk {
  const { kty, crv, x } = record.publicJwk;
  return { kty, crv, x, kid: record.kid, alg: 'EdDSA', use: 'sig' };
}
