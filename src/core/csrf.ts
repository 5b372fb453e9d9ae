import { createHmac, createSecretKey, timingSafeEqual } from 'node:crypto';
import type { SessionRecord } from './store.ts';

/**
 * Synchronizer tokens for HTML forms, bound to the session and needing no extra server state
 * (OWASP CSRF cheat sheet, "Synchronizer Token Pattern" / HMAC-bound tokens):
 *
 *   token = base64url(HMAC-SHA256(key = session.secretHash, msg = "coatcheck-csrf-v1:" + session.id))
 *
 * Why keying with the stored secret hash is sound:
 * - The key is SHA-256 of the session's 192-bit secret. It never leaves the server: the browser
 *   holds only the secret (in an HttpOnly cookie) and the store holds only the hash, so a page,
 *   a script or a cross-site attacker never sees the key, and HMAC's output reveals nothing of it.
 * - Each session has its own key and id, so a token is useless in any other session; rotation (at
 *   login and privilege changes) issues a new id and secret, so every token of the old session
 *   dies with it, and a deleted session verifies nothing.
 * - The message names its purpose and version, so this MAC can never be confused with another
 *   use of the same key.
 * Limit: whoever reads the session store can mint form tokens for its sessions. They still need
 * the victim's browser to carry the cookie, which cross-origin protection (core/origin.ts), the
 * primary defence, refuses; the form token is the second layer.
 */

const CONTEXT = 'coatcheck-csrf-v1:';
/** HMAC-SHA256 is 32 bytes: 43 base64url characters, no padding. */
const TOKEN_LENGTH = 43;

/** The form token of this session: deterministic, 43 base64url chars, valid only for this session. */
export function csrfTokenFor(session: Pick<SessionRecord, 'id' | 'secretHash'>): string {
  // A KeyObject, not the raw bytes: given bytes, createHmac first probes whether they are a
  // KeyObject or a CryptoKey, and in a server's deep async stacks those probes cost ~15 µs per
  // call (profiled in bench/); createSecretKey takes bytes without probing.
  return createHmac('sha256', createSecretKey(session.secretHash))
    .update(CONTEXT + session.id)
    .digest('base64url');
}

/**
 * True only for this session's form token. Constant-time: after the length check, run time does
 * not depend on where the candidate differs. Never throws, whatever `candidate` is.
 */
export function verifyCsrfToken(
  session: Pick<SessionRecord, 'id' | 'secretHash'>,
  candidate: unknown,
): boolean {
  if (typeof candidate !== 'string' || candidate.length !== TOKEN_LENGTH) return false;
  // Compare the UTF-8 bytes of the strings, not base64url-decoded bytes: Node's decoder skips
  // invalid characters and accepts non-canonical final characters, so decoding would admit many
  // spellings of one token. UTF-8 is injective, and a non-ASCII candidate changes length.
  const given = Buffer.from(candidate, 'utf8');
  const expected = Buffer.from(csrfTokenFor(session), 'utf8');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
