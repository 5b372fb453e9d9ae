/**
 * Process helpers for test servers started by the harnesses: free ports, and the processes
 * running in a directory (a PostgreSQL postmaster and its backends all chdir to the data dir).
 * Linux only (/proc).
 */
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';

/** A port nobody listens on right now (the kernel's pick for port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('port')),
      );
    });
  });
}

/** Processes (zombies aside) whose working directory is `dir`: a postmaster and its children. */
export function processesIn(dir: string): number[] {
  return readdirSync('/proc')
    .filter((pid) => {
      if (!/^\d+$/.test(pid)) return false;
      try {
        if (readlinkSync(`/proc/${pid}/cwd`) !== dir) return false;
        return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      } catch {
        return false; // gone meanwhile, or not ours to inspect
      }
    })
    .map(Number);
}

/** Sends `signal` to every process in `dir` (see processesIn); returns how many there were. */
export function signalProcessesIn(dir: string, signal: NodeJS.Signals): number {
  const pids = processesIn(dir);
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // gone meanwhile
    }
  }
  return pids.length;
}

/** SIGKILLs every process in `dir` until none is left. */
export async function killProcessesIn(dir: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (signalProcessesIn(dir, 'SIGKILL') > 0) {
    if (Date.now() > deadline) throw new Error(`processes in ${dir} survive SIGKILL`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * The idempotent stop of a server spawned by a test: `signal`, SIGKILL after 5 s, then `dir`
 * removed. Until stopped, the child is SIGKILLed if the test process exits first.
 */
export function stopperFor(
  child: ChildProcess,
  signal: NodeJS.Signals,
  dir: string,
): () => Promise<void> {
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  let stopped: Promise<void> | undefined;
  return () => {
    stopped ??= new Promise<void>((resolve) => {
      process.off('exit', kill);
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const timer = setTimeout(kill, 5000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill(signal);
    }).then(() => rmSync(dir, { recursive: true, force: true }));
    return stopped;
  };
}

/**
 * Resolves once 127.0.0.1:`port` accepts. If `child` exits first or `timeoutMs` passes, stops it
 * and throws `<name> did not start: ` followed by `why()`.
 */
export async function untilListening(
  port: number,
  server: { name: string; child: ChildProcess; stop: () => Promise<void>; why: () => string },
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await accepts(port))) {
    if (server.child.exitCode !== null || Date.now() > deadline) {
      const why = server.why();
      await server.stop();
      throw new Error(`${server.name} did not start: ${why}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
