/**
 * The parent side of a benchmark server: each contender runs in its own Node process (so the load
 * generator keeps a core of its own), started from bench/servers/*.ts with an IPC channel. The
 * child answers `ready` with its URL and a credential, and `mint` with a fresh one on request.
 * Every child started here is killed when the parent exits, on SIGINT/SIGTERM too; a child also
 * exits by itself when the IPC channel closes (see bench/servers/ipc.ts), so none outlives us.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** What a server child reports once listening. */
export interface Ready {
  readonly type: 'ready';
  readonly url: string;
  /** The Cookie header (or, with `authorization`, the Authorization header) of a valid credential. */
  readonly credential: Credential;
}

/** A credential as a client sends it. */
export interface Credential {
  readonly header: 'cookie' | 'authorization';
  readonly value: string;
  /** The session id, where the contender has one (Coatcheck: for DELETE /auth/sessions/:id). */
  readonly sessionId?: string;
}

/** A running server child. */
export interface ServerChild {
  readonly url: string;
  readonly credential: Credential;
  readonly pid: number;
  /** Asks the child for another valid credential (a new session or token). */
  mint(): Promise<Credential>;
  /** Asks the child to run `command` (server-specific) and resolves with its answer. */
  call<T>(command: string, args?: Record<string, unknown>): Promise<T>;
  /** SIGTERM, then SIGKILL after 3 s; resolves once exited. Idempotent. */
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
const killAll = () => {
  for (const child of live) child.kill('SIGKILL');
};
process.once('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAll();
    process.kill(process.pid, signal);
  });
}

/**
 * Starts `bench/servers/<script>.ts` with `config` (JSON in BENCH_SERVER) and resolves once it
 * reports ready. `nodeArgs` go to the child's Node (e.g. `--cpu-prof`).
 */
export async function startChild(
  script: string,
  config: Record<string, unknown>,
  options: {
    nodeArgs?: readonly string[];
    timeoutMs?: number;
    /** Runs Node under `valgrind <args>` (bench/lib/instructions.ts); the IPC channel still works. */
    valgrind?: readonly string[];
  } = {},
): Promise<ServerChild> {
  const path = fileURLToPath(new URL(`../servers/${script}.ts`, import.meta.url));
  const nodeArgs = options.nodeArgs ?? [];
  const child = fork(path, [], {
    ...(options.valgrind
      ? { execPath: 'valgrind', execArgv: [...options.valgrind, process.execPath, ...nodeArgs] }
      : { execArgv: [...nodeArgs] }),
    env: { ...process.env, BENCH_SERVER: JSON.stringify(config), NODE_ENV: 'production' },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  let next = 0;
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  child.on('message', (raw) => {
    const message = raw as { type?: string; id?: number; result?: unknown; error?: string };
    if (message.type !== 'reply' || message.id === undefined) return;
    const waiter = pending.get(message.id);
    pending.delete(message.id);
    if (message.error !== undefined) waiter?.reject(new Error(`${script}: ${message.error}`));
    else waiter?.resolve(message.result);
  });
  child.once('exit', (code, signal) => {
    for (const waiter of pending.values()) {
      waiter.reject(new Error(`${script} exited (${code ?? signal})`));
    }
    pending.clear();
  });

  const ready = await new Promise<Ready>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${script} not ready in time`)),
      options.timeoutMs ?? (options.valgrind ? 300_000 : 30_000),
    );
    child.on('message', (raw) => {
      const message = raw as Ready;
      if (message.type !== 'ready') return;
      clearTimeout(timer);
      resolve(message);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited before ready (${code ?? signal})`));
    });
  }).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw error;
  });

  const call = <T>(command: string, args: Record<string, unknown> = {}): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      child.send({ type: 'call', id, command, args });
    });

  let stopping: Promise<void> | undefined;
  return {
    url: ready.url,
    credential: ready.credential,
    pid: child.pid ?? 0,
    mint: () => call<Credential>('mint'),
    call,
    stop() {
      stopping ??= new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill('SIGTERM');
      });
      return stopping;
    },
  };
}
