/**
 * A throwaway nginx (the Debian package's /usr/sbin/nginx) for integration tests: a generated
 * nginx.conf in a temp directory, free ports of 127.0.0.1, pid, logs and temp files inside that
 * directory, run as a child of the test in the foreground (`daemon off`), so nothing outlives it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, stopperFor, untilListening } from './processes.ts';

export const NGINX = '/usr/sbin/nginx';
const STARTUP_MS = 10_000;

/** A running nginx. */
export interface Nginx {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** The error log so far (for failure messages). */
  errors(): string;
  /** The access log so far. */
  access(): string;
  /** Stops nginx (SIGQUIT, then SIGKILL) and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

/** Throws a clear message when nginx is missing. */
export function requireNginx(): void {
  if (!existsSync(NGINX)) throw new Error(`${NGINX} is missing: install the Debian package nginx.`);
}

/**
 * Starts nginx with `http` as the body of its `http { }` block; `{{PORT}}` and `{{DIR}}` in it are
 * replaced by the listening port and the temp directory. Resolves once the port accepts.
 */
export async function startNginx(http: string): Promise<Nginx> {
  requireNginx();
  const dir = mkdtempSync(join(tmpdir(), 'coatcheck-nginx-'));
  for (const sub of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, sub));
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  const fill = (text: string) =>
    text.replaceAll('{{PORT}}', String(port)).replaceAll('{{DIR}}', dir);
  writeFileSync(
    conf,
    `# Generated for a test.
${process.getuid?.() === 0 ? 'user root;' : ''}
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 64; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${fill(http)}
}
`,
  );
  const child: ChildProcess = spawn(
    NGINX,
    ['-g', 'daemon off;', '-p', dir, '-c', conf, '-e', join(dir, 'error.log')],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const read = (name: string) => {
    try {
      return readFileSync(join(dir, name), 'utf8');
    } catch {
      return '';
    }
  };
  const stop = stopperFor(child, 'SIGQUIT', dir);
  await untilListening(
    port,
    { name: 'nginx', child, stop, why: () => `${stderr}\n${read('error.log')}` },
    STARTUP_MS,
  );
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    dir,
    errors: () => read('error.log'),
    access: () => read('access.log'),
    stop,
  };
}
