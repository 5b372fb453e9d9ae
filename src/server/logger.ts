import { type DestinationStream, type Logger, pino } from 'pino';

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

/** A JSON logger (pino) with secrets redacted and UTC ISO timestamps (ASVS 16.2.2). */
export function createLogger(
  options: { level?: string; destination?: DestinationStream } = {},
): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: 'coatcheck' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
    },
    options.destination,
  );
}
