/**
 * A throwaway Caddy (the Debian package's /usr/bin/caddy) for integration tests: a generated
 * Caddyfile in a temp directory, a free port of 127.0.0.1 only, no admin endpoint, no automatic
 * HTTPS, and storage, HOME and the XDG directories inside that directory, so what Caddy writes
 * (its autosave.json: 2.6 has no `persist_config` option) stays there. Runs as a child of the test
 * (`caddy run`), so nothing outlives it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, stopperFor, untilListening } from './processes.ts';

export const CADDY = '/usr/bin/caddy';
const STARTUP_MS = 10_000;

/** A running Caddy. */
export interface Caddy {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** Caddy's log so far (stderr, JSON lines; for failure messages). */
  log(): string;
  /** Stops Caddy (SIGTERM, then SIGKILL) and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

/** Throws a clear message when Caddy is missing. */
export function requireCaddy(): void {
  if (!existsSync(CADDY)) throw new Error(`${CADDY} is missing: install the Debian package caddy.`);
}

/**
 * Starts Caddy with `sites` after a global options block; `{{PORT}}` and `{{DIR}}` in it are
 * replaced by the listening port and the temp directory. Resolves once the port accepts.
 */
export async function startCaddy(sites: string): Promise<Caddy> {
  requireCaddy();
  const dir = mkdtempSync(join(tmpdir(), 'coatcheck-caddy-'));
  const port = await freePort();
  const conf = join(dir, 'Caddyfile');
  const fill = (text: string) =>
    text.replaceAll('{{PORT}}', String(port)).replaceAll('{{DIR}}', dir);
  // grace_period: an idle keep-alive connection of the test's fetch must not hold up the stop.
  writeFileSync(
    conf,
    `# Generated for a test.
{
	admin off
	auto_https off
	default_bind 127.0.0.1
	grace_period 1s
	storage file_system ${dir}/data
}

${fill(sites)}
`,
  );
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: dir,
    XDG_DATA_HOME: join(dir, 'xdg-data'),
    XDG_CONFIG_HOME: join(dir, 'xdg-config'),
  };
  const child: ChildProcess = spawn(CADDY, ['run', '--config', conf, '--adapter', 'caddyfile'], {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const stop = stopperFor(child, 'SIGTERM', dir);
  await untilListening(
    port,
    { name: 'caddy', child, stop, why: () => `${output}\n--- Caddyfile ---\n${fill(sites)}` },
    STARTUP_MS,
  );
  return { port, url: `http://127.0.0.1:${port}`, dir, log: () => output, stop };
}
