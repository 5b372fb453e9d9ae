import { dictionary } from '@zxcvbn-ts/language-common';
import { InvalidInputError, WeakPasswordError } from '../core/errors.ts';

/**
 * What a password must be (NIST SP 800-63B §3.1.1.2, ASVS 5.0 V6.2): at least 8 characters, any
 * length up to at least 64, no composition rules, not among the most common passwords. Verified
 * exactly as typed: never truncated, never case-folded; only NFKC-normalised, so the same
 * password typed on two keyboards (e.g. full-width vs ASCII digits) is the same password.
 */

/** Minimum length in Unicode code points (ASVS 6.2.1). */
export const MIN_PASSWORD_LENGTH = 8;
/**
 * Maximum UTF-8 size, checked before any hashing so a 1 MB body cannot buy a costly hash
 * (ASVS 6.2.9: at least 64 characters must fit; 256 bytes holds 64 four-byte code points).
 */
export const MAX_PASSWORD_BYTES = 256;

/**
 * A lone surrogate has no UTF-8 form: it would be hashed as U+FFFD, so distinct inputs would
 * collide. JSON can carry one (`"\ud800"`), so it is refused as bad input.
 */
const NOT_UNICODE = 'must be well-formed Unicode (no lone surrogates)';

let common: ReadonlySet<string> | undefined;
/**
 * zxcvbn-ts's maintained list of ~49k common passwords (already lower-case), as a Set built on
 * first use. Entries shorter than the minimum can never pass anyway, so they are left out.
 */
function commonPasswords(): ReadonlySet<string> {
  common ??= new Set(
    dictionary['passwords-common'].filter((p) => [...p].length >= MIN_PASSWORD_LENGTH),
  );
  return common;
}

/**
 * Checks type and size and returns the NFKC-normalised password, for passwords being *checked*
 * (login, re-auth, current password). Throws InvalidInputError for a non-string or an over-long
 * value, before any hashing. Old passwords are not held to today's strength rules.
 */
export function readPassword(input: unknown, field = 'password'): string {
  if (typeof input !== 'string') {
    throw new InvalidInputError([{ field, message: 'must be a string' }]);
  }
  if (!input.isWellFormed()) throw new InvalidInputError([{ field, message: NOT_UNICODE }]);
  const normalised = normaliseBounded(input);
  if (normalised === null) {
    throw new InvalidInputError([
      { field, message: `must be at most ${MAX_PASSWORD_BYTES} bytes` },
    ]);
  }
  return normalised;
}

/**
 * Checks a *new* password and returns it NFKC-normalised, ready to hash. Throws
 * InvalidInputError for a non-string, WeakPasswordError for too short, too long (before any
 * hashing), too common (compared lower-cased, so "Password123" is refused like "password123") or
 * one of the `context` words (the account's email and name; see isContextWord).
 */
export function checkPasswordPolicy(
  input: unknown,
  field = 'password',
  context: readonly (string | null)[] = [],
): string {
  if (typeof input !== 'string') {
    throw new InvalidInputError([{ field, message: 'must be a string' }]);
  }
  if (!input.isWellFormed()) throw new InvalidInputError([{ field, message: NOT_UNICODE }]);
  const password = normaliseBounded(input);
  if (password === null) {
    throw new WeakPasswordError(
      'too_long',
      `The password must be at most ${MAX_PASSWORD_BYTES} bytes.`,
    );
  }
  if (codePoints(password) < MIN_PASSWORD_LENGTH) {
    throw new WeakPasswordError(
      'too_short',
      `The password must be at least ${MIN_PASSWORD_LENGTH} characters.`,
    );
  }
  if (commonPasswords().has(password.toLowerCase())) {
    throw new WeakPasswordError(
      'too_common',
      'This password is among the most commonly used. Choose another.',
    );
  }
  if (isContextWord(password, context)) {
    throw new WeakPasswordError(
      'context_specific',
      'The password must not be your email address, your name or the name of this service.',
    );
  }
  return password;
}

/**
 * True when the password, lower-cased and without trailing digits, punctuation and spaces, is one
 * of the context words (NIST SP 800-63B's "context-specific words", ASVS 5.0 V6.2.11): the
 * service's name and the caller's email, its local part and name ("ada@example.com1!" included).
 */
function isContextWord(password: string, context: readonly (string | null)[]): boolean {
  const lower = password.toLowerCase();
  const bare = lower.replace(/[\p{N}\p{P}\p{S}\s]+$/u, '');
  const words = ['coatcheck'];
  for (const word of context) {
    if (word === null || word === '') continue;
    const folded = word.normalize('NFKC').toLowerCase();
    words.push(folded);
    const at = folded.lastIndexOf('@');
    if (at > 0) words.push(folded.slice(0, at));
  }
  return words.some((word) => word === lower || word === bare);
}

/** NFKC form of `input`, or null when the input or its normal form is over the byte limit. */
function normaliseBounded(input: string): string | null {
  // Each UTF-16 unit is at least one UTF-8 byte, so this rejects huge strings without scanning.
  if (input.length > MAX_PASSWORD_BYTES || Buffer.byteLength(input, 'utf8') > MAX_PASSWORD_BYTES) {
    return null;
  }
  // NFKC can expand a character (up to 18x), so the normal form is measured again.
  const normalised = input.normalize('NFKC');
  return Buffer.byteLength(normalised, 'utf8') > MAX_PASSWORD_BYTES ? null : normalised;
}

function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}
