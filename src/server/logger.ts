import { type DestinationStream, type Logger, pino } from 'pino';
import { isoTime } from '../core/iso-time.ts';
import { batchedDestination } from './log-destination.ts';
import { compileRedaction } from './log-redact.ts';

export type { Logger };

/**
 * Paths pino replaces with "[redacted]" wherever they appear in a log object: tokens, cookies,
 * passwords and secrets never reach a log line, even if a caller passes a whole request or body.
 */
export const REDACT_PATHS: readonly string[] = [
  'token',
  '*.token',
  'password',
  '*.password',
  'currentPassword',
  '*.currentPassword',
  'newPassword',
  '*.newPassword',
  'adminPassword',
  '*.adminPassword',
  'cookie',
  '*.cookie',
  'authorization',
  '*.authorization',
  'headers.cookie',
  '*.headers.cookie',
  'headers.authorization',
  '*.headers.authorization',
  'headers["set-cookie"]',
  '*.headers["set-cookie"]',
  'csrfToken',
  '*.csrfToken',
];

/** Replaces every REDACT_PATHS value of a log object with "[redacted]" (./log-redact.ts). */
export const redactSecrets = compileRedaction(REDACT_PATHS, '[redacted]');

/**
 * A JSON logger (pino) with secrets redacted and UTC ISO timestamps (ASVS 16.2.2), writing to
 * stdout once per event-loop turn (./log-destination.ts) unless given another destination.
 */
export function createLogger(
  options: { level?: string; destination?: DestinationStream } = {},
): Logger {
  const destination = options.destination ?? batchedDestination();
  const logger = pino(
    {
      level: options.level ?? 'info',
      base: { service: 'coatcheck' },
      // pino.stdTimeFunctions.isoTime, formatted without a Date (see iso-time.ts, logTime).
      timestamp: () => `,"time":"${logTime(Date.now())}"`,
      // Not pino's `redact` option: the same paths cost ~19 µs per line there (see log-redact.ts).
      formatters: { log: redactSecrets },
    },
    destination,
  );
  // pino gives child bindings no formatter of ours: redact them on the way in. Children are
  // created with Object.create(parent), so they (and their children) inherit this wrapper.
  const child = Object.getPrototypeOf(logger).child as Logger['child'];
  Object.defineProperty(logger, 'child', {
    value: function redactedChild(this: Logger, ...args: Parameters<Logger['child']>) {
      const [bindings, ...rest] = args;
      return child.call(this, redactSecrets(bindings), ...rest);
    },
  });
  destinations.set(logger, destination);
  return logger;
}

/** The destination of each logger createLogger made: their line format is known (see below). */
const destinations = new WeakMap<Logger, DestinationStream>();

/** What the access log records of one request: no cookie, token, header value or body. */
export interface AccessEntry {
  readonly requestId: string;
  readonly method: string;
  readonly route: string;
  readonly status: number;
  readonly ms: number;
  readonly ip: string;
}

/**
 * A writer of `logger.info(entry, 'request')`: the access-log line, one per request. For a logger
 * made by createLogger it writes the very line pino would (same fields, order and format, with the
 * logger's bindings as they are when the writer is made; tested) but builds it by hand: pino's
 * generic serializer cost ~14k instructions per line, the redaction walk and the timestamp ~11k
 * more, ~9% of an authenticated request's CPU (callgrind, bench/), where these fields are fixed
 * and hold no secret. Any other logger gets `logger.info`.
 */
export function accessLogWriter(logger: Logger): (entry: AccessEntry) => void {
  const destination = destinations.get(logger);
  if (destination === undefined) return (entry) => logger.info(entry, 'request');
  const bound = JSON.stringify(logger.bindings()).slice(1, -1);
  const prefix = bound === '' ? '' : `,${bound}`;
  const start = `{"level":${pino.levels.values.info},"time":"`;
  // Method, route and client IP come from small sets (a client's IP recurs request after
  // request): their JSON strings are kept rather than made again for every line.
  const quoted = new Map<string, string>();
  const quote = (value: string) => {
    let json = quoted.get(value);
    if (json === undefined) {
      json = JSON.stringify(value);
      if (quoted.size >= MAX_QUOTED) quoted.clear();
      quoted.set(value, json);
    }
    return json;
  };
  return (entry) => {
    if (!logger.isLevelEnabled('info')) return;
    destination.write(
      `${start}${logTime(Date.now())}"${prefix},` +
        `"requestId":${JSON.stringify(entry.requestId)},"method":${quote(entry.method)},` +
        `"route":${quote(entry.route)},"status":${entry.status},"ms":${entry.ms},` +
        `"ip":${quote(entry.ip)},"msg":"request"}\n`,
    );
  };
}

/** Most JSON strings an access-log writer keeps (client IPs are many); all dropped beyond it. */
const MAX_QUOTED = 1024;

/** The whole second of the previous logTime call, and its text up to the milliseconds. */
let lastSecond = -1;
let lastSecondText = '';

/**
 * `isoTime(ms)` (`new Date(ms).toISOString()`) for log timestamps, the text up to the second kept
 * from the call before: lines come many to a second, and the whole conversion cost ~1.7k
 * instructions a line where the milliseconds alone cost a few hundred (callgrind, bench/).
 */
export function logTime(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0) return isoTime(ms);
  const millis = ms % 1000;
  const second = ms - millis;
  if (second !== lastSecond) {
    lastSecondText = isoTime(second).slice(0, -4); // up to and including the "."
    lastSecond = second;
  }
  return `${lastSecondText}${millis < 10 ? '00' : millis < 100 ? '0' : ''}${millis}Z`;
}
