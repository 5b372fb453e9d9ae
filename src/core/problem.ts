import { CoatcheckError, type ErrorCode, InvalidInputError, ThrottledError } from './errors.ts';

/** An RFC 9457 problem details object, extended with our stable `code`. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  /** Present for `invalid_input`: each offending field. */
  errors?: { field: string; message: string }[];
  /** Present for `too_many_requests`: also sent as the Retry-After header. */
  retryAfter?: number;
}

/** HTTP status and title for each code. Total over ErrorCode, so a new code cannot be forgotten. */
export const PROBLEM_STATUS: Readonly<Record<ErrorCode, { status: number; title: string }>> = {
  invalid_input: { status: 400, title: 'Invalid input' },
  weak_password: { status: 400, title: 'Password not accepted' },
  invalid_credentials: { status: 401, title: 'Invalid credentials' },
  unauthenticated: { status: 401, title: 'Not signed in' },
  reauth_required: { status: 401, title: 'Re-authentication required' },
  account_locked: { status: 403, title: 'Account locked' },
  forbidden: { status: 403, title: 'Forbidden' },
  cross_origin_rejected: { status: 403, title: 'Cross-origin request refused' },
  csrf_token_invalid: { status: 403, title: 'Invalid form token' },
  not_found: { status: 404, title: 'Not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  payload_too_large: { status: 413, title: 'Payload too large' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  email_taken: { status: 409, title: 'Email already registered' },
  too_many_requests: { status: 429, title: 'Too many requests' },
  invalid_config: { status: 500, title: 'Server misconfigured' },
  store_unavailable: { status: 503, title: 'Service unavailable' },
  internal_error: { status: 500, title: 'Internal error' },
};

/**
 * Maps any thrown value to problem details. Unknown errors become a generic 500 whose detail
 * reveals nothing of the cause (the caller logs the cause).
 */
export function toProblem(error: unknown): Problem {
  if (!(error instanceof CoatcheckError)) {
    return {
      type: 'https://coatcheck.dev/problems/internal_error',
      title: 'Internal error',
      status: 500,
      detail: 'Something went wrong on our side.',
      code: 'internal_error',
    };
  }
  const { status, title } = PROBLEM_STATUS[error.code];
  const problem: Problem = {
    type: `https://coatcheck.dev/problems/${error.code}`,
    title,
    status,
    detail: error.message,
    code: error.code,
  };
  if (error instanceof InvalidInputError) problem.errors = [...error.issues];
  if (error instanceof ThrottledError) problem.retryAfter = error.retryAfterSeconds;
  return problem;
}
