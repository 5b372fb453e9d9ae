import type { Sql } from 'postgres';
import { StoreUnavailableError } from '../core/errors.ts';

/**
 * How every PostgreSQL store operation runs: under a deadline, and behind a circuit breaker per
 * pool. Without the breaker, calls made while the server is unreachable queue in the driver behind
 * reconnection attempts (measured: a burst of 200 during an outage waited 5 s at the median), so
 * they would pile up exactly when they should fail fast. With it, once a connection attempt fails,
 * calls reject at once except one probe per PROBE_INTERVAL_MS, and the first success closes it.
 */

/** While open, one call per interval goes through to find out whether the server is back. */
const PROBE_INTERVAL_MS = 250;

// Failures that mean "cannot reach the server", as opposed to one dropped connection
// (CONNECTION_CLOSED, ECONNRESET, 57P01 from pg_terminate_backend) or an error the server sent.
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'CONNECT_TIMEOUT', // postgres: connect_timeout passed
  'QUERY_TIMEOUT', // ours: no answer before the deadline (a frozen server, a silent partition)
  '57P03', // cannot_connect_now: starting up or shutting down
]);

/** Receives the breaker's transitions: `cause` is what made the server unavailable. */
export type AvailabilityListener = (available: boolean, cause?: unknown) => void;

class Breaker {
  #cause: unknown = null; // the failure that opened the breaker; null while closed
  #nextProbe = 0;
  #probing = false;
  readonly #listener: AvailabilityListener | undefined;

  constructor(listener?: AvailabilityListener) {
    this.#listener = listener;
  }

  /** True when this call is the probe; throws when the breaker is open and it is not. */
  admit(operation: string): boolean {
    if (this.#cause === null) return false;
    if (this.#probing || Date.now() < this.#nextProbe) throw failure(operation, this.#cause);
    this.#probing = true;
    return true;
  }

  settled(probe: boolean, error?: unknown): void {
    if (probe) this.#probing = false;
    if (error !== undefined && unreachable(error)) {
      this.#nextProbe = Date.now() + PROBE_INTERVAL_MS;
      if (this.#cause === null) this.#listener?.(false, error);
      this.#cause = error;
    } else if (this.#cause !== null && (error === undefined || answeredByServer(error))) {
      this.#cause = null;
      this.#listener?.(true);
    }
  }
}

const breakers = new WeakMap<Sql, Breaker>();

/** Gives the pool `sql` its breaker (connectPostgres does); `listener` hears each transition. */
export function watchAvailability(sql: Sql, listener?: AvailabilityListener): void {
  breakers.set(sql, new Breaker(listener));
}

/**
 * Runs one store operation on `sql`. Any failure, no answer within `timeoutMs`, or an open breaker
 * rejects with StoreUnavailableError (the cause kept); a write that timed out may still have
 * been applied. A late settlement of an abandoned query is swallowed, never unhandled.
 */
export async function attempt<T>(
  sql: Sql,
  operation: string,
  timeoutMs: number,
  work: () => Promise<T>,
): Promise<T> {
  let breaker = breakers.get(sql);
  if (breaker === undefined) {
    breaker = new Breaker();
    breakers.set(sql, breaker);
  }
  const probe = breaker.admit(operation);
  let timer: ReturnType<typeof setTimeout> | undefined;
  // A pooled connection the server dropped is found dead only when a query is written to it; a
  // read is then retried, once per pooled connection at most (the server may have dropped them
  // all at once, e.g. pg_terminate_backend, a restart), so dropped connections never cost a
  // request a 503. Writes are not retried (their fate is unknown). A real outage still fails
  // fast: a refused connection is not "lost".
  const retry =
    (attemptsLeft: number) =>
    (error: unknown): Promise<T> => {
      if (attemptsLeft === 0 || !connectionLost(error)) throw error;
      return work().catch(retry(attemptsLeft - 1));
    };
  const pending = READS.has(operation) ? work().catch(retry(sql.options.max)) : work();
  try {
    const result = await Promise.race([
      pending,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(queryTimeout(timeoutMs)), timeoutMs);
      }),
    ]);
    breaker.settled(probe);
    return result;
  } catch (error) {
    pending.catch(() => {});
    breaker.settled(probe, error);
    throw failure(operation, error);
  } finally {
    clearTimeout(timer);
  }
}

/** Operations that only read, safe to run twice. */
const READS = new Set([
  'get',
  'getWithUser',
  'listByUser',
  'findById',
  'findByEmail',
  'list',
  'count',
  'ping',
  'audit list',
  'keys list',
]);

/**
 * Codes for a connection that was gone, or went, under the query: the driver's own, the socket's
 * (a reset or broken pipe), and the server's 57P01 (terminated by pg_terminate_backend or a
 * shutdown).
 */
const CONNECTION_LOST = new Set([
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'ECONNRESET',
  'EPIPE',
  '57P01',
]);

function connectionLost(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && CONNECTION_LOST.has(code);
}

/**
 * Wraps any driver or server error (refused or dropped connection, timeout, constraint, a closed
 * pool) for the caller; the original stays in `cause`.
 */
export function failure(operation: string, cause: unknown): StoreUnavailableError {
  return new StoreUnavailableError(`PostgreSQL store: ${operation} failed.`, { cause });
}

function queryTimeout(timeoutMs: number): Error {
  return Object.assign(new Error(`No answer from PostgreSQL within ${timeoutMs} ms.`), {
    code: 'QUERY_TIMEOUT',
  });
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function unreachable(error: unknown): boolean {
  const code = codeOf(error);
  return code !== undefined && (UNREACHABLE.has(code) || code.startsWith('08'));
}

/** The server itself reported the error (it has a SQLSTATE): so it is reachable. */
function answeredByServer(error: unknown): boolean {
  return (error as Error | null)?.name === 'PostgresError';
}
