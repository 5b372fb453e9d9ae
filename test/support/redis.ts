/**
 * Throwaway redis-server instances for tests: each on a free port of 127.0.0.1, in its own temp
 * directory, as a child process of the test (never daemonized), so nothing outlives the run.
 * Needs `redis-server` and `redis-cli` on PATH (Debian: redis-server, redis-tools).
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './processes.ts';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.ts';

const run = promisify(execFile);
const STARTUP_MS = 10_000;
const live = new Set<ChildProcess>();

// A safety net for a crashed or interrupted test file: every server still running dies with it.
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

/** One redis-server process. `restart()` reuses the port and directory (and so an AOF file). */
export interface RedisServer {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** SIGTERM, waiting for exit. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL (a crash: no final AOF fsync), waiting for exit. Idempotent. */
  kill(): Promise<void>;
  /** Starts the server again on the same port and directory; resolves once it answers PING. */
  restart(): Promise<void>;
  /** SIGSTOP: the server hangs with its connections open (a partition, a stuck host). */
  pause(): void;
  /** SIGCONT after `pause()`. */
  resume(): void;
}

/** A Cluster of masters without replicas; `url` is a `redis+cluster://` URL naming every node. */
export interface RedisCluster {
  readonly url: string;
  readonly nodes: readonly RedisServer[];
  /** Stops every node. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILLs node `index` (its slots become unavailable: there is no replica to fail over to). */
  killNode(index: number): Promise<void>;
  /**
   * Starts node `index` again on its port and directory (so its nodes.conf, and its AOF when on);
   * resolves once every node reports cluster_state:ok.
   */
  restartNode(index: number): Promise<void>;
}

/** Options of startRedisCluster. */
export interface RedisClusterOptions {
  /** @default 3 */
  masters?: number;
  /** AOF with `appendfsync always`: a write is on disk before it is acknowledged. @default false */
  appendonly?: boolean;
  /**
   * `cluster-require-full-coverage`: when false, the masters still up keep serving their slots
   * while another master is down (otherwise the whole Cluster refuses queries). @default true
   */
  requireFullCoverage?: boolean;
}

/** Throws a clear message when the Redis binaries are missing. */
export function requireRedisBinaries(): void {
  for (const [binary, pkg] of [
    ['redis-server', 'redis-server'],
    ['redis-cli', 'redis-tools'],
  ] as const) {
    try {
      execFileSync(binary, ['--version'], { stdio: 'ignore' });
    } catch {
      throw new Error(`${binary} is not on PATH: install the Debian package ${pkg}.`);
    }
  }
}

/** Runs redis-cli against a port; resolves with its trimmed output. */
export async function redisCli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args]);
  return stdout.trim();
}

/** Starts a standalone server (no RDB snapshots; AOF on request). */
export async function startRedis(options: { appendonly?: boolean } = {}): Promise<RedisServer> {
  const appendonly = options.appendonly ? 'yes' : 'no';
  return startServer(() => ['--appendonly', appendonly, '--appendfsync', 'always']);
}

/** Starts `masters` cluster-enabled servers, assigns every slot, waits for cluster_state:ok. */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const count = options.masters ?? 3;
  const appendonly = options.appendonly ? 'yes' : 'no';
  const coverage = options.requireFullCoverage === false ? 'no' : 'yes';
  const nodes: RedisServer[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((node) => node.stop()));
  };
  try {
    for (let i = 0; i < count; i++) {
      nodes.push(
        await startServer((dir) => [
          ...['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf')],
          ...['--cluster-node-timeout', '2000', '--cluster-require-full-coverage', coverage],
          ...['--appendonly', appendonly, '--appendfsync', 'always'],
        ]),
      );
    }
    const addresses = nodes.map((node) => `127.0.0.1:${node.port}`);
    await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-yes']);
    await clusterOk(nodes);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url: `redis+cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
    nodes,
    stop,
    killNode: async (index) => {
      const node = nodes[index];
      if (node === undefined) throw new RangeError(`no node ${index}`);
      await node.kill();
    },
    restartNode: async (index) => {
      const node = nodes[index];
      if (node === undefined) throw new RangeError(`no node ${index}`);
      await node.restart();
      // A master with slots that was marked FAIL is cleared only after 2 × cluster-node-timeout.
      await clusterOk(nodes, 30_000);
    },
  };
}

/** Waits until every node of a Cluster reports cluster_state:ok. */
async function clusterOk(nodes: readonly RedisServer[], timeoutMs = STARTUP_MS): Promise<void> {
  await waitFor(
    async () => {
      const states = await Promise.all(nodes.map((n) => redisCli(n.port, 'CLUSTER', 'INFO')));
      return states.every((info) => info.includes('cluster_state:ok'));
    },
    'cluster_state:ok on every node',
    timeoutMs,
  );
}

/** A master watched by one Sentinel; `url` is a `redis+sentinel://` URL naming the Sentinel. */
export interface RedisSentinel {
  readonly url: string;
  /** The master at start (after a `switchover()`, a replica). */
  readonly master: RedisServer;
  readonly sentinel: RedisServer;
  /** The servers started as replicas of `master` (`replicas` option; none by default). */
  readonly replicas: readonly RedisServer[];
  /** Stops the Sentinel, the master and the replicas. Idempotent. */
  stop(): Promise<void>;
  /** The port of the master the Sentinel names now (changes with each `switchover()`). */
  currentMasterPort(): Promise<number>;
  /**
   * A controlled switchover (`SENTINEL FAILOVER`, asked again if the Sentinel aborts it; needs a
   * replica): the old master stays up, and a master, until the Sentinel reconfigures it. Resolves
   * once the Sentinel names the new master (`promoted`: performance.now() then; clients move
   * after it, each when it hears of it); `ready` resolves once the old master is an in-sync
   * replica of the new one and the Sentinel would accept the next switchover.
   */
  switchover(): Promise<{ from: number; to: number; promoted: number; ready: Promise<void> }>;
  /** With `proxied`: the proxy the Sentinel names as the master. */
  readonly proxy: TcpProxy | null;
}

/** Options of startRedisSentinel. */
export interface RedisSentinelOptions {
  /** Replicas of the master (the Sentinel can fail over only with one). @default 0 */
  replicas?: number;
  /**
   * Sentinel timers (`SENTINEL DEBUG`), to make a switchover take ~2 s instead of ~10 s: INFO
   * every 250 ms instead of 10 s, and an old master reconfigured as a replica 1 s after the
   * switch (4 × the publish period) instead of 8 s. @default false
   */
  fastTimers?: boolean;
  /**
   * The Sentinel monitors the master through a TCP proxy (`RedisSentinel.proxy`), so it names the
   * proxy as the master and every client's connection goes through it: a test can silence them.
   * Replicas still connect to the master directly (a switchover would name one unproxied).
   * @default false
   */
  proxied?: boolean;
}

/** Starts a master and a Sentinel monitoring it as `name`; waits until the Sentinel names it. */
export async function startRedisSentinel(
  name = 'coatcheck',
  options: RedisSentinelOptions = {},
): Promise<RedisSentinel> {
  const master = await startRedis();
  const replicas: RedisServer[] = [];
  let sentinel: RedisServer | null = null;
  const proxy = options.proxied ? await startTcpProxy(master.port) : null;
  const named = proxy?.port ?? master.port;
  try {
    // Every server may become the master: each starts a replica's full sync at once (the default
    // waits 5 s for more replicas to join the same transfer).
    if ((options.replicas ?? 0) > 0) {
      await redisCli(master.port, 'CONFIG', 'SET', 'repl-diskless-sync-delay', '0');
    }
    for (let i = 0; i < (options.replicas ?? 0); i++) {
      replicas.push(
        await startServer(() => [
          ...['--appendonly', 'no', '--repl-diskless-sync-delay', '0'],
          ...['--replicaof', '127.0.0.1', String(master.port)],
        ]),
      );
    }
    sentinel = await startServer(
      () => [],
      `sentinel monitor ${name} 127.0.0.1 ${named} 1\n` +
        `sentinel down-after-milliseconds ${name} 1000\n` +
        (replicas.length > 0 ? `sentinel failover-timeout ${name} 10000\n` : ''),
    );
    const port = sentinel.port;
    if (options.fastTimers) {
      await redisCli(port, 'SENTINEL', 'DEBUG', 'info-period', '250', 'publish-period', '250');
    }
    await waitFor(
      async () =>
        (await redisCli(port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)).includes(String(named)),
      'the Sentinel to name its master',
    );
    if (replicas.length > 0) {
      await switchoverReady(port, name, replicas.length);
      // A replica online for less than about a second does not answer the master's GETACK
      // (Redis 7.0: the first WAIT after its sync times out, the next one answers at once), so a
      // first revocation through the store would 503. Wait until a WAIT is answered.
      const n = String(replicas.length);
      await waitFor(async () => {
        const key = 'coatcheck-test:replicated';
        const [, acknowledged] = await redisCliSession(master.port, [
          ['SET', key, '1'],
          ['WAIT', n, '100'],
          ['DEL', key],
        ]);
        return acknowledged === n;
      }, 'the replicas to acknowledge a write');
    }
  } catch (error) {
    await sentinel?.stop();
    await Promise.all(replicas.map((replica) => replica.stop()));
    proxy?.close();
    await master.stop();
    throw error;
  }
  const watcher = sentinel;
  const currentMasterPort = async () => {
    const reply = await redisCli(watcher.port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name);
    return Number(reply.split('\n')[1]);
  };
  return {
    url: `redis+sentinel://127.0.0.1:${watcher.port}/${name}`,
    master,
    sentinel: watcher,
    replicas,
    proxy,
    currentMasterPort,
    stop: async () => {
      await watcher.stop();
      await Promise.all(replicas.map((replica) => replica.stop()));
      proxy?.close();
      await master.stop();
    },
    switchover: async () => {
      const from = await currentMasterPort();
      let to = from;
      /** True once a new master is named; false when the Sentinel aborted or refused. */
      const attempt = async (): Promise<boolean> => {
        if ((await redisCli(watcher.port, 'SENTINEL', 'FAILOVER', name)) !== 'OK') return false;
        await waitFor(
          async () => {
            to = await currentMasterPort();
            if (to !== from) return true;
            const master = await redisCli(watcher.port, 'SENTINEL', 'MASTER', name);
            if (field(master, 'flags')?.includes('failover_in_progress')) return false;
            to = await currentMasterPort(); // it may have ended, switched, since the first read
            return true;
          },
          'the Sentinel to name a new master',
          30_000,
        ).catch((error: Error) => {
          const log = readFileSync(join(watcher.dir, 'redis.log'), 'utf8');
          throw new Error(`${error.message}; the Sentinel's log ends:\n${log.slice(-3000)}`);
        });
        return to !== from;
      };
      // The Sentinel may still abort a failover it accepted (-failover-abort-no-good-slave, when
      // the replica's last INFO reply is a little old on a busy machine): then it is asked again.
      for (let attempts = 1; !(await attempt()); attempts++) {
        if (attempts === 20) throw new Error(`SENTINEL FAILOVER ${name}: no switchover`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      const promoted = performance.now();
      const ready = switchoverReady(watcher.port, name, replicas.length, from);
      ready.catch(() => {}); // the caller's await reports it
      return { from, to, promoted, ready };
    },
  };
}

/**
 * Waits until the Sentinel sees `count` replicas in sync (among them `port`, when given), no
 * failover in progress, and the master's replicas all report a live link to it.
 */
async function switchoverReady(
  sentinelPort: number,
  name: string,
  count: number,
  port?: number,
): Promise<void> {
  await waitFor(
    async () => {
      const master = await redisCli(sentinelPort, 'SENTINEL', 'MASTER', name);
      const flags = field(master, 'flags');
      if (flags !== 'master' || field(master, 'num-slaves') !== String(count)) return false;
      const replicas = await redisCli(sentinelPort, 'SENTINEL', 'REPLICAS', name);
      const entries = replicas.split(/\n(?=name\n)/).filter((entry) => entry.startsWith('name'));
      const synced = entries.filter(
        (entry) =>
          field(entry, 'flags') === 'slave' &&
          field(entry, 'master-link-status') === 'ok' &&
          field(entry, 'role-reported') === 'slave',
      );
      if (synced.length !== count) return false;
      return port === undefined || synced.some((entry) => field(entry, 'port') === String(port));
    },
    'the replicas in sync and the Sentinel ready for a switchover',
    30_000,
  );
}

/** Runs `commands` on one redis-cli connection (a WAIT covers the writes before it); the replies. */
async function redisCliSession(port: number, commands: string[][]): Promise<string[]> {
  const child = spawn('redis-cli', ['-h', '127.0.0.1', '-p', String(port)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stdin.end(`${commands.map((command) => command.join(' ')).join('\n')}\n`);
  await once(child, 'close');
  return out.trim().split('\n');
}

/** A field of redis-cli's rendering of a flat key/value reply (one item a line). */
function field(reply: string, key: string): string | undefined {
  const lines = reply.split('\n');
  const at = lines.indexOf(key);
  return at === -1 ? undefined : lines[at + 1];
}

/** Spawns one server on a free port, retrying another port when it loses a race for it. */
async function startServer(
  extraArgs: (dir: string) => string[],
  sentinelConfig?: string,
): Promise<RedisServer> {
  requireRedisBinaries();
  const dir = mkdtempSync(join(tmpdir(), 'coatcheck-redis-'));
  let child: ChildProcess | null = null;
  let port = 0;
  const launch = async (): Promise<void> => {
    const leading: string[] = [];
    if (sentinelConfig !== undefined) {
      // Sentinel mode needs a config file of its own, which it rewrites as it learns.
      writeFileSync(join(dir, 'sentinel.conf'), sentinelConfig);
      leading.push(join(dir, 'sentinel.conf'), '--sentinel');
    }
    const args = [
      ...leading,
      ...['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--daemonize', 'no'],
      ...['--logfile', join(dir, 'redis.log')],
      ...(sentinelConfig === undefined ? ['--save', ''] : []),
      ...extraArgs(dir),
    ];
    const spawned = spawn('redis-server', args, { stdio: 'ignore' });
    child = spawned;
    live.add(spawned);
    const exited = new Promise<never>((_, reject) => {
      spawned.once('exit', (code) => {
        live.delete(spawned);
        reject(new Error(`redis-server on port ${port} exited (${code}); see ${dir}/redis.log`));
      });
    });
    exited.catch(() => {});
    await Promise.race([
      exited,
      waitFor(async () => (await redisCli(port, 'PING')) === 'PONG', `PING on ${port}`),
    ]);
  };
  const terminate = async (signal: NodeJS.Signals) => {
    const current = child as ChildProcess | null;
    child = null;
    if (current === null || current.exitCode !== null || current.signalCode !== null) return;
    const exited = new Promise((resolve) => current.once('exit', resolve));
    current.kill(signal);
    current.kill('SIGCONT'); // a paused server acts on the signal only once resumed
    await exited;
  };
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      await launch();
      break;
    } catch (error) {
      await terminate('SIGKILL');
      if (attempt === 5) {
        rmSync(dir, { recursive: true, force: true });
        throw error;
      }
    }
  }
  let removed = false;
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    stop: async () => {
      await terminate('SIGTERM');
      if (!removed) rmSync(dir, { recursive: true, force: true });
      removed = true;
    },
    kill: () => terminate('SIGKILL'),
    pause: () => (child as ChildProcess | null)?.kill('SIGSTOP'),
    resume: () => (child as ChildProcess | null)?.kill('SIGCONT'),
    restart: async () => {
      if (removed) throw new Error('the server was stopped for good');
      await terminate('SIGKILL');
      await launch();
    },
  };
}

async function waitFor(
  check: () => Promise<boolean>,
  what: string,
  timeoutMs = STARTUP_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
