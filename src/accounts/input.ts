import { type FieldIssue, InvalidInputError } from '../core/errors.ts';

/**
 * Validation of account fields that arrive from clients (emails, names, roles, flags). Each
 * `read*` returns the normal form or throws InvalidInputError naming the field; none throws
 * anything else, whatever the input (a JSON body can hold any type).
 */

/** Longest email accepted (RFC 5321 path limit minus the angle brackets). */
export const MAX_EMAIL_LENGTH = 254;
/** Longest display name, in code points. */
export const MAX_NAME_LENGTH = 100;
/** Most roles one user may hold. */
export const MAX_ROLES = 32;
/** A role name: lower-case ASCII, starting with a letter, at most 32 characters. */
export const ROLE_PATTERN = /^[a-z][a-z0-9_-]{0,31}$/;

// Whitespace and every "other" code point: controls, format (zero-width, bidi overrides),
// surrogates, private use and unassigned. None belongs in an address people type and compare.
const EMAIL_FORBIDDEN = /[\s\p{C}]/u;
const CONTROL = /\p{Cc}/u;

/**
 * The one form an email is stored and looked up in: trimmed, NFKC, lower-cased, or null when it is
 * not a plausible address (one @, non-empty parts, no trailing dot, ≤ 254 characters, no spaces or
 * control characters). Lower-casing the local part is stricter than RFC 5321 but is what users
 * expect: `Ann@x.test` and `ann@x.test` are one account. NFKC (not just NFC) folds compatibility
 * forms, as PRECIS does for usernames (RFC 8265): full-width `ａｎｎ@x.test` is that account too,
 * not a look-alike of it on the admin page.
 */
export function normaliseEmail(input: unknown): string | null {
  if (typeof input !== 'string' || input.length > 4 * MAX_EMAIL_LENGTH) return null;
  // NFKC again after lower-casing (which can decompose, e.g. U+0130), so the form is idempotent.
  const email = input.trim().normalize('NFKC').toLowerCase().normalize('NFKC');
  if (email.length > MAX_EMAIL_LENGTH || EMAIL_FORBIDDEN.test(email)) return null;
  const at = email.indexOf('@');
  if (at <= 0 || at === email.length - 1 || email.indexOf('@', at + 1) !== -1) return null;
  if (email.endsWith('.')) return null; // `ann@x.test.`: the same mailbox, a look-alike account
  return email;
}

/** A display name: trimmed and NFC, null when absent or empty; else InvalidInputError. */
export function readName(input: unknown): string | null {
  if (input === undefined || input === null) return null;
  const issue = (message: string) => new InvalidInputError([{ field: 'name', message }]);
  if (typeof input !== 'string') throw issue('must be a string');
  const tooLong = `must be at most ${MAX_NAME_LENGTH} characters`;
  if (input.length > 4 * MAX_NAME_LENGTH) throw issue(tooLong);
  if (!input.isWellFormed()) throw issue('must be well-formed Unicode');
  const name = input.trim().normalize('NFC');
  if ([...name].length > MAX_NAME_LENGTH) throw issue(tooLong);
  if (CONTROL.test(name)) throw issue('must not contain control characters');
  return name === '' ? null : name;
}

/** A normalised email (see normaliseEmail), else InvalidInputError. */
export function readEmail(input: unknown): string {
  const email = normaliseEmail(input);
  if (email !== null) return email;
  const message = typeof input === 'string' ? 'must be a valid email address' : 'must be a string';
  throw new InvalidInputError([{ field: 'email', message }]);
}

/** An optional boolean (undefined → false), else InvalidInputError. */
export function readFlag(input: unknown, field: string): boolean {
  if (input === undefined) return false;
  if (typeof input === 'boolean') return input;
  throw new InvalidInputError([{ field, message: 'must be a boolean' }]);
}

/** Validated, deduplicated roles (1–32 names matching ROLE_PATTERN), or InvalidInputError. */
export function parseRoles(input: unknown): string[] {
  const issue = (message: string) => new InvalidInputError([{ field: 'roles', message }]);
  if (!Array.isArray(input)) throw issue('must be an array of role names');
  if (input.length < 1 || input.length > MAX_ROLES) {
    throw issue(`must hold between 1 and ${MAX_ROLES} roles`);
  }
  const roles = new Set<string>();
  for (const role of input) {
    if (typeof role !== 'string' || !ROLE_PATTERN.test(role)) {
      throw issue('each role must match ^[a-z][a-z0-9_-]{0,31}$');
    }
    roles.add(role);
  }
  return [...roles];
}

/** A plain JSON-like object (not null, not an array), or null. */
export function asObject(input: unknown): Record<string, unknown> | null {
  return typeof input === 'object' && input !== null && !Array.isArray(input)
    ? (input as Record<string, unknown>)
    : null;
}

/**
 * Runs a field check that may throw InvalidInputError, gathering its issues into `issues` and
 * returning `fallback` instead, so one error can list every bad field (call throwIssues after).
 */
export function collect<T>(issues: FieldIssue[], check: () => T, fallback: T): T {
  try {
    return check();
  } catch (err) {
    if (!(err instanceof InvalidInputError)) throw err;
    issues.push(...err.issues);
    return fallback;
  }
}

/** Throws one InvalidInputError listing every issue, if there are any. */
export function throwIssues(issues: readonly FieldIssue[]): void {
  if (issues.length > 0) throw new InvalidInputError(issues);
}
