import { Counter, Registry } from 'prom-client';
import { CoatcheckError } from '../core/errors.ts';
import { LatencyHistogram } from './latency-histogram.ts';

/** Prometheus metrics of one server, on their own registry (several servers can share a process). */
export interface Metrics {
  readonly registry: Registry;
  /** Sign-in attempts by outcome: ok, invalid_credentials, throttled, locked, invalid_input. */
  readonly logins: Counter<'outcome'>;
  /** Session validations by outcome: ok, or the engine's InvalidReason. */
  readonly validations: Counter<'outcome'>;
  /** Sessions revoked, by kind: logout, one, others, admin, password_change. */
  readonly revocations: Counter<'kind'>;
  /** Request latency in seconds by method, route pattern and status. */
  readonly httpDuration: LatencyHistogram;
}

/**
 * Creates the metrics. There is no live-session gauge: counting sessions means a scan on Redis
 * (SCAN across every Cluster master), too costly to run on every scrape.
 */
export function createMetrics(): Metrics {
  const registry = new Registry();
  const logins = new Counter({
    name: 'coatcheck_logins_total',
    help: 'Sign-in attempts by outcome',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const validations = new Counter({
    name: 'coatcheck_session_validations_total',
    help: 'Session validations by outcome',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const revocations = new Counter({
    name: 'coatcheck_session_revocations_total',
    help: 'Sessions revoked, by kind',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const httpDuration = new LatencyHistogram(registry, {
    name: 'coatcheck_http_request_duration_seconds',
    help: 'HTTP request latency',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
  });
  return { registry, logins, validations, revocations, httpDuration };
}

/** The `outcome` label of a failed sign-in: a small fixed set, whatever the error. */
export function loginOutcome(error: unknown): string {
  const code = error instanceof CoatcheckError ? error.code : null;
  if (code === 'invalid_credentials' || code === 'invalid_input') return code;
  if (code === 'too_many_requests') return 'throttled';
  return code === 'account_locked' ? 'locked' : 'error';
}
