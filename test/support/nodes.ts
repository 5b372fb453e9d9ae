/**
 * Real Coatcheck server processes for multi-node tests: `node src/cli/main.ts serve` on a free
 * port of 127.0.0.1, configured through COATCHECK_* variables, its stdout (pino JSON lines) and
 * stderr captured. Every node still running dies with the test process, so nothing outlives a run.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './processes.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const MAIN = join(ROOT, 'src/cli/main.ts');
const STARTUP_MS = 30_000;
const STOP_MS = 15_000;
const live = new Set<ChildProcess>();

// A safety net for a crashed or interrupted test file: every node still running dies with it.
const killAll = () => {
  for (const child of live) child.kill('SIGKILL');
};
process.once('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAll();
    process.kill(process.pid, signal); // the default action, now that this listener is gone
  });
}

/** Options of a request to a node. */
export interface NodeRequest {
  method?: string;
  /** Sent as `Cookie: coatcheck=<value>`. */
  cookie?: string;
  json?: unknown;
  headers?: Record<string, string>;
}

/** One running server process. */
export interface ServerNode {
  readonly name: string;
  /** `http://127.0.0.1:<port>` */
  readonly base: string;
  readonly pid: number;
  /** Every stdout line so far, parsed (a line that is not JSON is kept as `{ raw }`). */
  readonly logs: Record<string, unknown>[];
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Lines carrying this `event` (e.g. store_down), optionally for one `store`. */
  events(event: string, store?: string): Record<string, unknown>[];
  /** True while the process has not exited. */
  alive(): boolean;
  /**
   * fetch against the node. Unsafe methods carry the node's own Origin (a same-origin browser
   * request), so cross-origin protection lets them through.
   */
  request(path: string, init?: NodeRequest): Promise<Response>;
  /** SIGTERM (graceful shutdown), SIGKILL after 15 s; resolves with the exit code. Idempotent. */
  stop(): Promise<number | null>;
}

/**
 * Starts `coatcheck serve` with `env` (on top of PATH, HOME and a fresh COATCHECK_DATA_DIR), and
 * resolves once it logged that it listens; rejects with its stderr when it exits first.
 */
export async function startNode(name: string, env: Record<string, string>): Promise<ServerNode> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await launch(name, env, await freePort());
    } catch (error) {
      // Another process may have taken the free port between the probe and the bind.
      if (attempt === 3 || !String(error).includes('in use')) throw error;
    }
  }
}

async function launch(
  name: string,
  env: Record<string, string>,
  port: number,
): Promise<ServerNode> {
  const dataDir = mkdtempSync(join(tmpdir(), `coatcheck-node-${name}-`));
  const child = spawn(process.execPath, [MAIN, 'serve'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? tmpdir(),
      COATCHECK_HOST: '127.0.0.1',
      COATCHECK_PORT: String(port),
      COATCHECK_DATA_DIR: dataDir,
      COATCHECK_LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  let partial = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ raw: line });
      }
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolveExit) => {
    child.once('exit', (code) => {
      live.delete(child);
      rmSync(dataDir, { recursive: true, force: true });
      resolveExit(code);
    });
  });

  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + STARTUP_MS;
  let early: number | null | undefined;
  exited.then((code) => {
    early = code;
  });
  while (!logs.some((line) => String(line.msg ?? '').startsWith('Coatcheck listening'))) {
    if (early !== undefined) {
      throw new Error(`node ${name} exited (${early}) while starting: ${stderr.trim()}`);
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      await exited;
      throw new Error(`node ${name} did not start within ${STARTUP_MS} ms: ${stderr.trim()}`);
    }
    await sleep(20);
  }

  let stopping: Promise<number | null> | undefined;
  return {
    name,
    base,
    pid: child.pid ?? 0,
    logs,
    stderr: () => stderr,
    events: (event, store) =>
      logs.filter((l) => l.event === event && (store === undefined || l.store === store)),
    alive: () => child.exitCode === null && child.signalCode === null,
    request: (path, init = {}) => {
      const headers = new Headers(init.headers);
      const method = init.method ?? (init.json === undefined ? 'GET' : 'POST');
      if (init.cookie !== undefined) headers.set('cookie', `coatcheck=${init.cookie}`);
      if (method !== 'GET' && method !== 'HEAD' && !headers.has('origin')) {
        headers.set('origin', base);
      }
      let body: string | undefined;
      if (init.json !== undefined) {
        body = JSON.stringify(init.json);
        headers.set('content-type', 'application/json');
      }
      return fetch(base + path, { method, headers, body, redirect: 'manual' });
    },
    stop: () => {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return exited;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_MS);
        const code = await exited;
        clearTimeout(timer);
        return code;
      })();
      return stopping;
    },
  };
}

/** The `coatcheck` cookie a response sets, or null. */
export function sessionCookie(res: Response): string | null {
  for (const line of res.headers.getSetCookie()) {
    if (line.startsWith('coatcheck=')) return line.slice('coatcheck='.length).split(';')[0] ?? '';
  }
  return null;
}

/** Polls `check` every 50 ms until it returns true; throws naming `what` after `timeoutMs`. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}
