import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { ConfigError } from '../core/errors.ts';

/**
 * Private signing keys at rest. With a secret configured (COATCHECK_KEYS_SECRET) each key is
 * sealed with AES-256-GCM under a key derived from it (HKDF-SHA256), with the key id as
 * additional data, so a sealed key copied onto another row does not open. Without a secret the
 * key is stored plain, marked as such (the server warns at start).
 *
 * Layout: one version byte, then for 0x01: a 12-byte IV, the 16-byte tag, the ciphertext;
 * for 0x00: the PKCS#8 DER as is.
 */

const PLAIN = 0x00;
const AES_GCM = 0x01;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** The shortest accepted secret: 256 bits, the AES key size (RFC 8725 §3.5 asks the same of MACs). */
export const MIN_SECRET_BYTES = 32;
const HKDF_INFO = 'coatcheck signing-key seal v1';

/** Seals and opens private keys under one secret (or none). */
export interface KeySeal {
  /** True when keys are encrypted at rest. */
  readonly encrypted: boolean;
  /** The stored form of `der` for key `kid`. */
  seal(der: Uint8Array, kid: string): Uint8Array;
  /** The DER back; ConfigError when the secret is missing or not the one it was sealed with. */
  open(sealed: Uint8Array, kid: string): Uint8Array;
}

/** True when a stored key is encrypted (AES-256-GCM), false when it is stored in the clear. */
export function isEncryptedKey(stored: Uint8Array): boolean {
  return stored[0] === AES_GCM;
}

/**
 * The bytes of a secret given as hex (64+ hex digits) or base64/base64url, or null when it is
 * neither or shorter than 32 bytes. Never echoes the input.
 */
export function decodeKeysSecret(text: string): Uint8Array | null {
  const value = text.trim();
  let bytes: Buffer | null = null;
  if (/^(?:[0-9a-f]{2})+$/i.test(value)) bytes = Buffer.from(value, 'hex');
  else if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(value)) {
    bytes = Buffer.from(value.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  }
  return bytes !== null && bytes.length >= MIN_SECRET_BYTES ? new Uint8Array(bytes) : null;
}

/** A seal under `secret` (≥ 32 bytes), or a plain one when `secret` is null. */
export function createKeySeal(secret: Uint8Array | null): KeySeal {
  if (secret !== null && secret.length < MIN_SECRET_BYTES) {
    throw new ConfigError(`The keys secret must be at least ${MIN_SECRET_BYTES} bytes.`);
  }
  const key =
    secret === null
      ? null
      : Buffer.from(hkdfSync('sha256', secret, new Uint8Array(0), HKDF_INFO, 32));
  const aad = (kid: string) => Buffer.from(`coatcheck signing key ${kid}`, 'utf8');

  const seal = (der: Uint8Array, kid: string): Uint8Array => {
    if (key === null) return Buffer.concat([Buffer.of(PLAIN), der]);
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad(kid));
    const body = Buffer.concat([cipher.update(der), cipher.final()]);
    return Buffer.concat([Buffer.of(AES_GCM), iv, cipher.getAuthTag(), body]);
  };

  const open = (sealed: Uint8Array, kid: string): Uint8Array => {
    const bytes = Buffer.from(sealed);
    if (bytes[0] === PLAIN) return bytes.subarray(1);
    if (bytes[0] !== AES_GCM || bytes.length <= 1 + IV_BYTES + TAG_BYTES) {
      throw new ConfigError(`Signing key ${kid} is stored in an unknown format.`);
    }
    if (key === null) {
      throw new ConfigError(
        `Signing key ${kid} is encrypted: set COATCHECK_KEYS_SECRET to the secret it was sealed with.`,
      );
    }
    const iv = bytes.subarray(1, 1 + IV_BYTES);
    const tag = bytes.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES);
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad(kid));
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([
        decipher.update(bytes.subarray(1 + IV_BYTES + TAG_BYTES)),
        decipher.final(),
      ]);
    } catch {
      // GCM authentication failed: the only cause worth telling is the wrong secret.
      throw new ConfigError(
        `Signing key ${kid} does not open: COATCHECK_KEYS_SECRET is not the secret it was sealed with.`,
      );
    }
  };

  return Object.freeze({ encrypted: key !== null, seal, open });
}
