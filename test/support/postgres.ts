/**
 * Throwaway PostgreSQL clusters for tests, isolated from any system cluster: one `initdb` per test
 * process (on tmpfs when available), copied for each cluster; `postgres` runs in the foreground as
 * a child of the test on a free port of 127.0.0.1 (socket in its own directory), trust auth,
 * fsync off. PostgreSQL refuses to run as root, so under root it runs as the `postgres` OS user.
 * Binaries: the highest /usr/lib/postgresql/<major>/bin, else PATH (Debian package: postgresql).
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import {
  accessSync,
  chownSync,
  closeSync,
  constants,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { freePort, killProcessesIn, signalProcessesIn } from './processes.ts';

const run = promisify(execFile);
const STARTUP_MS = 20_000;
const live = new Map<ChildProcess, string>(); // running postmaster → its cluster directory

// A safety net for a crashed test file: every cluster still running dies with the test process
// (its backends follow the postmaster), and its directory goes.
process.once('exit', () => {
  for (const [child, dir] of live) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

/** One throwaway cluster. The data directory survives `halt`, `kill` and `restart`. */
export interface PostgresServer {
  /** URL of the `coatcheck` database, as the superuser `postgres` (trust auth, no password). */
  readonly url: string;
  readonly port: number;
  /** Temp directory holding `data/`, the socket and `postgres.log`. */
  readonly dir: string;
  /** Creates a database (template0, UTF8) and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Shuts down (`fast`: like `pg_ctl stop -m fast`; `immediate`: no checkpoint), keeping data. */
  halt(mode?: 'fast' | 'immediate'): Promise<void>;
  /** SIGKILLs the postmaster and every backend (a crash), waiting until all are gone. */
  kill(): Promise<void>;
  /** SIGSTOPs every server process: connections stay open but nothing answers (a hung host). */
  freeze(): void;
  /** SIGCONTs what `freeze` stopped. */
  thaw(): void;
  /** Starts again on the same port and data (halting first if running); resolves when ready. */
  restart(): Promise<void>;
  /** Shuts down for good and removes the directory. Idempotent. */
  stop(): Promise<void>;
}

/** Where initdb and postgres live: highest /usr/lib/postgresql/<major>/bin, else PATH. */
export function findPostgresBinaries(): { initdb: string; postgres: string } {
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root)
    ? readdirSync(root)
        .filter((name) => /^\d+$/.test(name) && existsSync(join(root, name, 'bin', 'postgres')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const bin = majors[0] === undefined ? null : join(root, majors[0], 'bin');
  const binaries = {
    initdb: bin ? join(bin, 'initdb') : 'initdb',
    postgres: bin ? join(bin, 'postgres') : 'postgres',
  };
  for (const path of Object.values(binaries)) {
    try {
      execFileSync(path, ['--version'], { stdio: 'ignore' });
    } catch {
      throw new Error(
        `PostgreSQL server binaries not found (${path}): install the Debian package postgresql.`,
      );
    }
  }
  return binaries;
}

/** The uid/gid to run PostgreSQL as: `postgres` under root (it refuses root), else unchanged. */
function serverIdentity(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    throw new Error('Running as root needs the `postgres` OS user: install postgresql.');
  }
}

/** Fast scratch space: tmpfs when there is one (initdb there is ~3x faster), else the temp dir. */
function scratchRoot(): string {
  try {
    accessSync('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

// Durability off (a test cluster dies with its data); dynamic shared memory inside the data
// directory, so even a SIGKILLed cluster leaves nothing in /dev/shm once the directory goes.
const SETTINGS = [
  'fsync=off',
  'full_page_writes=off',
  'max_connections=300',
  'dynamic_shared_memory_type=mmap',
];
const ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', TZ: 'UTC' };
let template: Promise<string> | undefined;

/** One initdb per test process; each cluster starts from a copy of it (`cp -a` keeps owners). */
function templateData(initdb: string, identity: { uid: number; gid: number } | null) {
  template ??= (async () => {
    const dir = mkdtempSync(join(scratchRoot(), 'coatcheck-pg-template-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    if (identity) chownSync(dir, identity.uid, identity.gid);
    const data = join(dir, 'data');
    const args = ['-D', data, '-U', 'postgres', '--auth=trust', '--no-locale', '-E', 'UTF8'];
    await run(initdb, [...args, '--no-sync', '--no-instructions'], { ...identity, env: ENV });
    return data;
  })();
  template.catch(() => {
    template = undefined; // let the next caller retry (and see the error again)
  });
  return template;
}

/** A new cluster (copied from a per-process initdb) on a free port, with database `coatcheck`. */
export async function startPostgres(): Promise<PostgresServer> {
  const bin = findPostgresBinaries();
  const identity = serverIdentity();
  const asServer = identity ?? {};
  const source = await templateData(bin.initdb, identity);
  const dir = mkdtempSync(join(scratchRoot(), 'coatcheck-pg-'));
  const data = join(dir, 'data');
  if (identity) chownSync(dir, identity.uid, identity.gid);
  try {
    await run('cp', ['-a', source, data]);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }

  let child: ChildProcess | null = null;
  let port = 0;
  const urlOf = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`;
  const launch = async (): Promise<void> => {
    const log = openSync(join(dir, 'postgres.log'), 'a');
    const args = ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1'];
    for (const setting of SETTINGS) args.push('-c', setting);
    const spawned = spawn(bin.postgres, args, {
      ...asServer,
      env: ENV,
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    child = spawned;
    live.set(spawned, dir);
    const exited = new Promise<never>((_, reject) => {
      spawned.once('exit', (code, signal) => {
        live.delete(spawned);
        reject(
          new Error(`postgres on ${port} exited (${code ?? signal}); see ${dir}/postgres.log`),
        );
      });
    });
    exited.catch(() => {});
    await Promise.race([exited, waitUntilReady(urlOf('postgres'))]);
  };
  const halt = async (mode: 'fast' | 'immediate' | 'kill') => {
    signalProcessesIn(data, 'SIGCONT'); // a frozen server could not act on the signal
    const current = child as ChildProcess | null;
    child = null;
    if (current !== null && current.exitCode === null && current.signalCode === null) {
      const exited = new Promise((resolve) => current.once('exit', resolve));
      current.kill(mode === 'fast' ? 'SIGINT' : mode === 'immediate' ? 'SIGQUIT' : 'SIGKILL');
      await exited;
    }
    // Backends outlive a SIGKILLed postmaster briefly; each one's cwd is the data directory.
    await killProcessesIn(data);
  };

  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      await launch();
      break;
    } catch (error) {
      await halt('kill');
      if (attempt === 5) {
        rmSync(dir, { recursive: true, force: true });
        throw error;
      }
    }
  }

  const createDatabase = async (name: string) => {
    const admin = postgres(urlOf('postgres'), { max: 1, onnotice: () => {} });
    try {
      await admin.unsafe(`CREATE DATABASE "${name.replaceAll('"', '""')}" TEMPLATE template0`);
    } finally {
      await admin.end();
    }
    return urlOf(encodeURIComponent(name));
  };
  await createDatabase('coatcheck');

  let removed = false;
  return {
    url: urlOf('coatcheck'),
    port,
    dir,
    createDatabase,
    halt: (mode = 'fast') => halt(mode),
    kill: () => halt('kill'),
    freeze: () => signalProcessesIn(data, 'SIGSTOP'),
    thaw: () => signalProcessesIn(data, 'SIGCONT'),
    restart: async () => {
      if (removed) throw new Error('the cluster was stopped for good');
      await halt('fast');
      await launch();
    },
    stop: async () => {
      await halt('fast');
      if (!removed) rmSync(dir, { recursive: true, force: true });
      removed = true;
    },
  };
}

/** Polls `select 1` until the server accepts queries (it refuses them while starting up). */
async function waitUntilReady(url: string): Promise<void> {
  const deadline = Date.now() + STARTUP_MS;
  for (;;) {
    const probe = postgres(url, { max: 1, connect_timeout: 1, onnotice: () => {} });
    try {
      await probe`select 1`;
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`PostgreSQL did not start: ${error}`);
    } finally {
      await probe.end({ timeout: 0 });
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
