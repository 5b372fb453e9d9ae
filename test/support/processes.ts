/**
 * Process helpers for test servers started by the harnesses: free ports, and the processes
 * running in a directory (a PostgreSQL postmaster and its backends all chdir to the data dir).
 * Linux only (/proc).
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';

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
