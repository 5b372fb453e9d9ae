/**
 * The child side of bench/lib/child.ts: report `ready`, answer `call` messages, and exit when the
 * parent goes away (IPC closed) or on SIGTERM, after running `cleanup`.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Credential } from '../lib/child.ts';

/** Server-specific commands a child answers (`mint` at least). */
export type Handlers = Record<string, (args: Record<string, unknown>) => Promise<unknown>>;

/** This child's configuration, as JSON in BENCH_SERVER. */
export function serverConfig<T>(): T {
  return JSON.parse(process.env.BENCH_SERVER ?? '{}') as T;
}

/** The server's event-loop delay since the last `eventLoop` call, sampled every 1 ms. */
const loopDelay = monitorEventLoopDelay({ resolution: 1 });
loopDelay.enable();
const eventLoop = async () => {
  const result = {
    p99Ms: loopDelay.percentile(99) / 1e6,
    maxMs: loopDelay.max / 1e6,
  };
  loopDelay.reset();
  return result;
};

/** CPU time this process has used so far (user + system), in µs. */
const cpu = async (): Promise<number> => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

/** Tells the parent we listen at `url`, then serves its calls until told to stop. */
export function serve(
  url: string,
  credential: Credential,
  handlers: Handlers,
  cleanup: () => Promise<void>,
): void {
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    const exit = () => process.exit(0);
    setTimeout(exit, 2000).unref();
    cleanup().then(exit, exit);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('disconnect', stop);
  process.on('message', (raw) => {
    const message = raw as { type?: string; id?: number; command?: string; args?: object };
    if (message.type !== 'call' || message.id === undefined) return;
    const id = message.id;
    const builtIn = { cpu, eventLoop }[message.command ?? ''];
    const handler = builtIn ?? handlers[message.command ?? ''];
    const reply = (body: { result?: unknown; error?: string }) =>
      process.send?.({ type: 'reply', id, ...body });
    if (handler === undefined) {
      reply({ error: `unknown command ${message.command}` });
      return;
    }
    handler((message.args ?? {}) as Record<string, unknown>).then(
      (result) => reply({ result }),
      (error: unknown) => reply({ error: error instanceof Error ? error.message : String(error) }),
    );
  });
  process.send?.({ type: 'ready', url, credential });
}
