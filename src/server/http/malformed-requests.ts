import type { ServerConfig } from '../config.ts';
import { accessLogWriter, type Logger } from '../logger.ts';
import type { Services } from '../services.ts';
import { createEarlyRefusals, type EarlyRefusals, type ParseErrorEvent } from './early-refusals.ts';
import { normaliseIp, type ProxyTrust } from './proxy-trust.ts';
import { methodLabel, newRequestId } from './request-context.ts';
import { securityHeaderList } from './security-headers.ts';

/**
 * The app server's answers for requests refused before the app runs (early-refusals.ts says
 * which, and how they are answered): with its security headers and no-store, each refused request
 * in the access log and the latency metric under a request id, parser refusals logged at debug.
 */

/** The early refusals of these services; the peer's address is read behind these proxies. */
export function earlyRefusals(
  services: Pick<Services, 'config' | 'logger' | 'metrics'>,
  proxies: ProxyTrust,
): EarlyRefusals {
  const { logger, metrics } = services;
  const accessLog = accessLogWriter(logger);
  return createEarlyRefusals({
    headers: baseHeaders(services.config),
    // One access-log line and one latency observation, under a fresh request id.
    record(incoming, { status }) {
      const requestId = newRequestId();
      const method = methodLabel(incoming.method);
      const peer = normaliseIp(incoming.socket.remoteAddress);
      const forwarded = incoming.headers['x-forwarded-for']; // Node joins repeated ones with ', '
      const ip = proxies.clientIp(
        peer,
        Array.isArray(forwarded) ? forwarded.join(', ') : forwarded,
      );
      metrics.httpDuration.observe(method, 'unmatched', status, 0);
      accessLog({ requestId, method, route: 'unmatched', status, ms: 0, ip: ip ?? '' });
      return { 'x-request-id': requestId };
    },
    fault: (error) => logger.error({ err: error }, 'request failed outside the app'),
    parseError: debugParseErrors(logger),
  });
}

/**
 * Parser refusals logged at debug only (the download server's too): no request exists to put in
 * the access log, and at warn a flood of garbage from one scanner would flood the log.
 */
export function debugParseErrors(logger: Logger): (event: ParseErrorEvent) => void {
  return (event) => logger.debug({ event: 'http_parse_error', ...event }, 'http_parse_error');
}

/** The security headers and no-store, lower-cased, as every response of the app carries them. */
function baseHeaders(config: Pick<ServerConfig, 'download' | 'publicUrl'>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of securityHeaderList(config)) headers[name.toLowerCase()] = value;
  headers['cache-control'] = 'no-store';
  return headers;
}
