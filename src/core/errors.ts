/**
 * Every error Coatcheck throws on purpose. Each class carries a stable `code` callers can switch on;
 * the HTTP mapping (RFC 9457 problem details) lives in ./problem.ts, not here.
 *
 * Attacker input never throws: token, cookie and origin parsing return `null` or a discriminated
 * result. These errors are for refused operations (bad credentials, weak passwords, throttling),
 * misconfiguration, and store failures.
 */

/** The documented error codes. docs/api.md lists the same set (a test checks they match). */
export const ERROR_CODES = [
  'invalid_input',
  'invalid_credentials',
  'weak_password',
  'email_taken',
  'account_locked',
  'too_many_requests',
  'unauthenticated',
  'reauth_required',
  'forbidden',
  'not_found',
  'method_not_allowed',
  'payload_too_large',
  'unsupported_media_type',
  'cross_origin_rejected',
  'csrf_token_invalid',
  'invalid_config',
  'store_unavailable',
  'internal_error',
] as const;

/** A stable, documented error code. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/** Base class: `code` is stable across versions; `message` is for people and may change. */
export class CoatcheckError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** One field that failed validation, named by its JSON path (e.g. `password`). */
export interface FieldIssue {
  readonly field: string;
  readonly message: string;
}

/** Input of the wrong shape, type or size. Lists every offending field. */
export class InvalidInputError extends CoatcheckError {
  readonly issues: readonly FieldIssue[];
  constructor(issues: readonly FieldIssue[]) {
    super('invalid_input', issues.map((i) => `${i.field}: ${i.message}`).join('; '));
    this.issues = issues;
  }
}

/** Wrong email or password. Deliberately the same for an unknown email (no account enumeration). */
export class InvalidCredentialsError extends CoatcheckError {
  constructor() {
    super('invalid_credentials', 'The email or password is incorrect.');
  }
}

/** A new password that breaks the policy (too short, too long, or too common). */
export class WeakPasswordError extends CoatcheckError {
  readonly reason: 'too_short' | 'too_long' | 'too_common' | 'context_specific' | 'breached';
  constructor(reason: WeakPasswordError['reason'], message: string) {
    super('weak_password', message);
    this.reason = reason;
  }
}

/** Sign-up with an email that already has an account. */
export class EmailTakenError extends CoatcheckError {
  constructor() {
    super('email_taken', 'An account with this email already exists.');
  }
}

/** The account is locked by an administrator. Only said after a correct password. */
export class AccountLockedError extends CoatcheckError {
  constructor() {
    super('account_locked', 'This account is locked. Contact an administrator.');
  }
}

/** Too many attempts; retry after `retryAfterSeconds` (always ≥ 1). */
export class ThrottledError extends CoatcheckError {
  readonly retryAfterSeconds: number;
  constructor(retryAfterSeconds: number) {
    const seconds = Math.max(1, Math.ceil(retryAfterSeconds));
    super('too_many_requests', `Too many attempts. Try again in ${seconds} s.`);
    this.retryAfterSeconds = seconds;
  }
}

/** No valid session. */
export class UnauthenticatedError extends CoatcheckError {
  constructor(message = 'Sign in to continue.') {
    super('unauthenticated', message);
  }
}

/** A sensitive operation needs the password re-entered (the fresh window has passed). */
export class ReauthRequiredError extends CoatcheckError {
  constructor() {
    super('reauth_required', 'Enter your password again to continue.');
  }
}

/** Signed in, but not allowed to do this. */
export class ForbiddenError extends CoatcheckError {
  constructor(message = 'You are not allowed to do this.') {
    super('forbidden', message);
  }
}

/** The thing does not exist, or is not the caller's to see (same answer for both). */
export class NotFoundError extends CoatcheckError {
  constructor(message = 'Not found.') {
    super('not_found', message);
  }
}

/** The route exists but not for this method (e.g. `GET /auth/logout`). */
export class MethodNotAllowedError extends CoatcheckError {
  constructor(message = 'Method not allowed.') {
    super('method_not_allowed', message);
  }
}

/** The request body exceeds the configured limit. */
export class PayloadTooLargeError extends CoatcheckError {
  constructor(limitBytes: number) {
    super('payload_too_large', `The request body is larger than ${limitBytes} bytes.`);
  }
}

/** The request body is not JSON (forms and text/plain are refused on JSON endpoints). */
export class UnsupportedMediaTypeError extends CoatcheckError {
  constructor(message = 'Send the request body as application/json.') {
    super('unsupported_media_type', message);
  }
}

/** An unsafe request from another origin (see core/origin.ts). */
export class CrossOriginError extends CoatcheckError {
  constructor(message = 'Cross-origin request refused.') {
    super('cross_origin_rejected', message);
  }
}

/** A form's synchronizer token is missing or does not belong to this session. */
export class CsrfTokenError extends CoatcheckError {
  constructor() {
    super('csrf_token_invalid', 'The form has expired. Reload the page and try again.');
  }
}

/** Misconfiguration found at start-up. */
export class ConfigError extends CoatcheckError {
  constructor(message: string) {
    super('invalid_config', message);
  }
}

/** A backing store failed. Callers must fail closed: never signed in, never signed out. */
export class StoreUnavailableError extends CoatcheckError {
  constructor(message: string, options?: ErrorOptions) {
    super('store_unavailable', message, options);
  }
}
