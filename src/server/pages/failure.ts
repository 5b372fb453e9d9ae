import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { CoatcheckError, InvalidInputError, ThrottledError } from '../../core/errors.ts';
import { PROBLEM_STATUS } from '../../core/problem.ts';

/**
 * Refused operations in words, for people: the same status the JSON API would use for the error
 * code (core/problem.ts), and sentences instead of problem+json. Throttling keeps its Retry-After.
 */

/** What a page says about a refused operation. */
export interface Failure {
  readonly status: ContentfulStatusCode;
  /** One or more sentences; a bad form lists every offending field. */
  readonly messages: readonly string[];
  /** Seconds to send as Retry-After (throttling only). */
  readonly retryAfterSeconds?: number;
}

/** Form-friendly names of the fields the account flows validate. */
const FIELD_LABELS: Readonly<Record<string, string>> = {
  email: 'Email',
  password: 'Password',
  name: 'Name',
  currentPassword: 'Current password',
  newPassword: 'New password',
  roles: 'Roles',
  locked: 'Lock',
  resource: 'File',
};

/**
 * The page version of a refused operation, or null for anything else (a bug, an outage: the caller
 * logs it and answers with a generic page). Field issues become "Email must be …" sentences.
 */
export function describeFailure(error: unknown): Failure | null {
  if (!(error instanceof CoatcheckError)) return null;
  const status = PROBLEM_STATUS[error.code].status as ContentfulStatusCode;
  // Server-side failures (store down, misconfiguration) may carry internal detail: not for pages.
  if (status >= 500) return null;
  if (error instanceof InvalidInputError) {
    const messages = error.issues.map((i) => `${FIELD_LABELS[i.field] ?? i.field} ${i.message}.`);
    return { status, messages };
  }
  if (error instanceof ThrottledError) {
    const s = error.retryAfterSeconds;
    const wait = `${s} second${s === 1 ? '' : 's'}`;
    return {
      status,
      messages: [`Too many attempts. Please wait ${wait} and try again.`],
      retryAfterSeconds: s,
    };
  }
  return { status, messages: [error.message] };
}
