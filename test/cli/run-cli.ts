import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The CLI entry point, run as `<Node 24> src/cli/main.ts …` exactly as `npm start` does. */
export const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

/** A password that passes the policy. */
export const PW = 'correct horse battery staple';

/** What a finished CLI run printed, and its exit code. */
export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Every directory freshDataDir made, removed when the test file's process exits. */
const made: string[] = [];
process.once('exit', () => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A fresh, empty data directory, removed when the process exits. */
export function freshDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'coatcheck-cli-'));
  made.push(dir);
  return dir;
}

/**
 * The environment of a child: PATH and the given variables only, so no COATCHECK_* setting of
 * the machine running the tests leaks in.
 */
export function childEnv(vars: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? '', ...vars };
}

/** Runs `coatcheck <args>` in a child process on this Node (the pinned 24) and waits for it. */
export function cli(
  args: readonly string[],
  options: { dataDir: string; env?: Record<string, string>; input?: string | Uint8Array },
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], {
      env: childEnv({ COATCHECK_DATA_DIR: options.dataDir, ...options.env }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}
