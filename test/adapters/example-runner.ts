import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Accounts } from '../../src/accounts/accounts.ts';
import { SessionEngine } from '../../src/core/engine.ts';
import { openSqliteStores } from '../../src/stores/sqlite.ts';

/** Starting an example as its own process, on a fresh SQLite file holding one user. */

export const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** A running example. */
export interface RunningExample {
  /** e.g. `http://127.0.0.1:41234` */
  readonly base: string;
  /** Everything it printed, for failure messages. */
  readonly output: () => string;
  stop(): Promise<void>;
}

/**
 * A temp data dir whose coatcheck.db holds one user (as `coatcheck user add` would make it: a
 * sign-up whose session is then ended). Removed when the process exits.
 */
export async function seedUser(): Promise<{ dir: string; email: string; password: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'coatcheck-example-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const stores = openSqliteStores(join(dir, 'coatcheck.db'));
  const { sessions: store, users, audit } = stores;
  const engine = new SessionEngine({ store, users, audit });
  const accounts = new Accounts({ users, engine, audit });
  const email = 'ada@example.com';
  const password = 'correct horse battery staple';
  const { user } = await accounts.signup({ email, password });
  await engine.revokeAll(user.id);
  await stores.close();
  return { dir, email, password };
}

/**
 * Spawns `command args` (node by default) with PORT=0 and waits for the `http://localhost:<port>`
 * line it prints; rejects with its output when it exits first or takes over `timeoutMs`. When
 * `signal` aborts (pass the test's `t.signal`), the process is stopped even if it has started:
 * a timed-out test's body runs on, and a server it starts later would outlive the test file.
 */
export function startExample(
  args: readonly string[],
  env: Record<string, string>,
  options: { command?: string; cwd?: string; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<RunningExample> {
  const child: ChildProcess = spawn(options.command ?? process.execPath, args, {
    cwd: options.cwd ?? REPO,
    env: { ...process.env, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  options.signal?.addEventListener('abort', () => void stop(), { once: true });
  if (options.signal?.aborted) void stop();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`example did not start in time:\n${output}`));
    }, options.timeoutMs ?? 20_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const port = /http:\/\/(?:localhost|127\.0\.0\.1):(\d+)/.exec(output)?.[1];
      if (port === undefined) return;
      clearTimeout(timer);
      resolve({ base: `http://127.0.0.1:${port}`, output: () => output, stop });
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`example exited with ${code}:\n${output}`));
    });
  });
}
