/**
 * Instructions per request of a server, counted by valgrind's callgrind instead of timed: the same
 * binary, inputs and requests give the same count to within a fraction of a percent whatever else
 * the machine is doing, so ratios that wander ±0.1 between wall-clock runs on a shared 2-core VM
 * hold still here. Counts user-space instructions only: the kernel's share (the syscalls of
 * reading and writing a request, the same for every contender) is left out, and a cache miss
 * costs what a hit does. A measure of how much work our code adds, not a latency.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';

/** Where a started server listens and what each request carries. */
export interface CountedServer {
  readonly url: string;
  readonly headers: Record<string, string>;
}

/** How much to send: `--warmup=N` (default 2000) and `--requests=N` (default 4000) on the command line. */
export interface CountOptions {
  readonly warmup: number;
  readonly requests: number;
}

/**
 * Reads `--warmup=N` and `--requests=N`. A heavier server needs a longer warm-up before the JIT
 * settles: after 2,000 requests TurboFan was still compiling the Coatcheck server's middleware
 * (~40k instructions a request of it), after 12,000 it had about stopped.
 */
export function countOptions(argv: readonly string[] = process.argv): CountOptions {
  const read = (name: string, fallback: number) =>
    Number(new RegExp(`--${name}=(\\d+)`).exec(argv.join(' '))?.[1] ?? fallback);
  return { warmup: read('warmup', 2000), requests: read('requests', 4000) };
}

/** "the median of 3 windows of 4,000 requests one at a time, after 2,000 of warm-up", for the report. */
export function describeCount({ warmup, requests }: CountOptions): string {
  return `the median of 3 windows of ${requests.toLocaleString('en-US')} requests one at a time, after ${warmup.toLocaleString('en-US')} of warm-up`;
}

/** Throws a clear message when valgrind is missing (Debian package `valgrind`). */
export function requireValgrind(): void {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('--instructions needs valgrind (apt-get install valgrind)');
  }
}

/**
 * Runs `node <argv>` under callgrind, waits for `ready`, and counts as countPerRequest does: the
 * instructions the server spends per request after a warm-up (JIT, caches). One connection per
 * batch, one request at a time: with several, how many
 * requests share a turn of the event loop depends on timing, and so does the count (seen: 133k
 * or 167k a request for the same server, with 4 connections, depending on other load).
 */
export async function instructionsPerRequest(
  argv: readonly string[],
  ready: (child: ChildProcess) => Promise<CountedServer>,
  amounts: CountOptions = countOptions([]),
): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'coatcheck-callgrind-'));
  const out = join(dir, 'callgrind.out');
  const child = spawn('valgrind', [...callgrind(out), process.execPath, ...PREDICTABLE, ...argv], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  try {
    const server = await ready(child);
    return await countPerRequest(child.pid ?? 0, out, server, amounts);
  } finally {
    // SIGKILL: the counts are dumped already, and under valgrind a server without a SIGTERM
    // handler of its own was seen to outlive SIGTERM, keeping this process alive with it.
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * V8's `--predictable`: no concurrent compilation or GC and no heuristics driven by elapsed time.
 * Without it V8 sizes its heap from measured GC speed, which valgrind's slowdown makes erratic:
 * the same JWT server counted 226k, 309k or 253k instructions a request from run to run; with it,
 * 253.0k and 253.2k. Give it to every server counted, so contenders are compared alike.
 */
export const PREDICTABLE = ['--predictable'];

/** valgrind's arguments to run a program under callgrind, writing to `out` (`%p`: the pid). */
export function callgrind(out: string): string[] {
  return ['-q', '--tool=callgrind', `--callgrind-out-file=${out}`];
}

/**
 * For a server already running under callgrind as `pid`: warm-up requests, then three windows of
 * `requests` counted requests, one at a time, each between zeroed counters and a dump
 * (`<dumpPrefix>.1`, `.2`, `.3`); the median window's instructions per request. A median: the
 * bare servers count the same in every window, but one window of an authenticated server may
 * hold a recompilation or a renewal write that the others do not (seen: 103.9k–113.2k a request
 * for the same Fastify server, one window each).
 */
export async function countPerRequest(
  pid: number,
  dumpPrefix: string,
  { url, headers }: CountedServer,
  { warmup, requests }: CountOptions = countOptions([]),
): Promise<number> {
  const send = async (amount: number) => {
    const result = await autocannon({ url, connections: 1, amount, headers, timeout: 60 });
    if (result.non2xx > 0 || result.errors > 0) {
      const statuses = Object.entries(result.statusCodeStats ?? {})
        .map(([status, { count }]) => `${count} × ${status}`)
        .join(', ');
      throw new Error(
        `${url}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts (${statuses})`,
      );
    }
  };
  await send(warmup);
  // A second warm-up on a new connection: the first requests on a second connection deoptimise
  // some 50 functions of Node's HTTP and socket code (traced with --trace-deopt), which otherwise
  // recompile inside the counted window, itself a new connection, and move counts by up to ~14%.
  await send(Math.min(warmup, 2000));
  const windows: number[] = [];
  for (let window = 1; window <= 3; window++) {
    // valgrind runs the program in its own process: the pid is the server's.
    execFileSync('callgrind_control', ['--zero', String(pid)], { stdio: 'ignore' });
    await send(requests);
    execFileSync('callgrind_control', ['--dump', String(pid)], { stdio: 'ignore' });
    const dump = readFileSync(`${dumpPrefix}.${window}`, 'utf8');
    const total = Number(/^(?:totals|summary): (\d+)/m.exec(dump)?.[1]);
    if (!Number.isFinite(total)) throw new Error('callgrind: no totals in the dump');
    windows.push(total / requests);
  }
  return windows.sort((a, b) => a - b)[1] as number;
}
