/**
 * The load generator: wrk when it is on PATH (C, so it takes less of the server's CPU on a small
 * machine: measured ~15% more requests/s out of the same server than autocannon), else autocannon.
 * Either way it runs in this (the parent) process tree, never inside a server, and every response
 * must be a 2xx: a run with errors or other statuses throws rather than report a flattering figure.
 */
import { execFile, execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import { benchTempDir } from './temp.ts';

const run = promisify(execFile);

/** One measured run. */
export interface LoadResult {
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly requests: number;
}

/** A load run's parameters. */
export interface LoadOptions {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  /** @default 10 */
  readonly connections?: number;
  readonly seconds: number;
}

/** Which tool runs the load ('wrk' or 'autocannon'); BENCH_LOAD=autocannon forces the latter. */
export const loadTool: 'wrk' | 'autocannon' = (() => {
  if (process.env.BENCH_LOAD === 'autocannon') return 'autocannon';
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return 'wrk';
  } catch (error) {
    // wrk --version exits 1 after printing its version; only a missing binary is ENOENT.
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'autocannon' : 'wrk';
  }
})();

/** The wrk version line, or autocannon's package version. */
export function loadToolVersion(): string {
  if (loadTool === 'autocannon') return 'autocannon';
  try {
    return execFileSync('wrk', ['--version'], { encoding: 'utf8' }).split('\n')[0] ?? 'wrk';
  } catch (error) {
    const out = (error as { stdout?: Buffer | string }).stdout?.toString() ?? '';
    return out.split('\n')[0]?.trim() || 'wrk';
  }
}

/** wrk reports exact percentiles (µs) and error counts as one JSON line. */
const WRK_REPORT = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH{"requests":%d,"us":%d,"p50":%d,"p99":%d,"status":%d,"errors":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
`;
let wrkScript: string | undefined;

/** Runs the load and returns its figures; throws when any response was not a 2xx. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const connections = options.connections ?? 10;
  if (loadTool === 'wrk') {
    if (wrkScript === undefined) {
      wrkScript = join(benchTempDir('wrk'), 'report.lua');
      writeFileSync(wrkScript, WRK_REPORT);
    }
    const headers = Object.entries(options.headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
    const { stdout } = await run('wrk', [
      ...['-t1', `-c${connections}`, `-d${options.seconds}s`, '--timeout', '5s'],
      ...['-s', wrkScript, ...headers, options.url],
    ]);
    const line = stdout.split('\n').find((l) => l.startsWith('BENCH'));
    if (line === undefined) throw new Error(`wrk printed no report:\n${stdout}`);
    const r = JSON.parse(line.slice(5)) as Record<string, number>;
    const [requests, us, p50, p99, status, errors] = [
      'requests',
      'us',
      'p50',
      'p99',
      'status',
      'errors',
    ].map((k) => r[k] ?? 0) as [number, number, number, number, number, number];
    if (status > 0 || errors > 0) {
      throw new Error(`${options.url}: ${status} non-2xx responses and ${errors} socket errors`);
    }
    return {
      requestsPerSecond: requests / (us / 1e6),
      p50Ms: p50 / 1000,
      p99Ms: p99 / 1000,
      requests,
    };
  }
  const result = await autocannon({
    url: options.url,
    connections,
    duration: options.seconds,
    headers: { ...options.headers },
  });
  if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0) {
    throw new Error(`${options.url}: ${result.non2xx} non-2xx responses, ${result.errors} errors`);
  }
  return {
    requestsPerSecond: result.requests.total / (result.duration || options.seconds),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    requests: result.requests.total,
  };
}
