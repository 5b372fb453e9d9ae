/** What the benchmarks ran on: the machine, and the version of everything measured. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, release, totalmem } from 'node:os';
import { loadTool, loadToolVersion } from './load.ts';

/** The machine and versions, as recorded in results.json. */
export interface MachineInfo {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly kernel: string;
  readonly node: string;
  readonly redis: string;
  readonly loadGenerator: string;
  readonly packages: Readonly<Record<string, string>>;
}

const PACKAGES = [
  'hono',
  '@hono/node-server',
  'fast-jwt',
  'jose',
  'redis',
  'express',
  'express-session',
  'connect-redis',
  'better-auth',
  'pino',
];

/** Reads the machine and the installed versions. */
export function machineInfo(): MachineInfo {
  const packages: Record<string, string> = {};
  for (const name of PACKAGES) {
    const url = new URL(`../../node_modules/${name}/package.json`, import.meta.url);
    packages[name] = (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
  }
  let redis = 'unknown';
  try {
    redis = execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).split(' ')[2] ?? '';
    redis = redis.replace(/^v=/, '');
  } catch {}
  return {
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    redis,
    loadGenerator: loadTool === 'wrk' ? loadToolVersion() : 'autocannon',
    packages,
  };
}
