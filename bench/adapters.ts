/**
 * `npm run bench:adapters`: requests/s of an authenticated route through each adapter (Express,
 * Fastify, Hono, Web) against the same framework's bare route (same handler, no Coatcheck), one
 * run, as ratios. Target (issue 6): ≥ 0.8× bare.
 *
 * Each server runs in its own child process (this file with `--serve`) so the load generator and
 * the server each get a core. The load comes from bench/lib/load.ts like every other bench here:
 * wrk when it is on PATH, else autocannon, which on a small VM saturates first (it capped every bare
 * server near 25k req/s, squeezing the ratios towards 1). Three variants per framework:
 * bare (no Coatcheck), and behind Coatcheck on the memory store and on the embedded SQLite store.
 * The authenticated request carries a valid session cookie: every request is one
 * `engine.validate` (one store read; the renewal write is due once a minute, never during a run).
 * Ratios are also given per server CPU-second (from /proc on Linux), which other load on the
 * machine disturbs less than requests/s. `--quick`: one short round; `--seconds=N`: longer runs.
 * `--instructions`: counts instructions per request under callgrind instead (see countAll);
 * `--only=hono,web` measures or counts a subset of the frameworks, `--variants=bare,memory` (with
 * `--instructions`) a subset of the variants.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { type Context, Hono } from 'hono';
import { coatcheck as forExpress } from '../src/adapters/express.ts';
import { coatcheck as fastifyPlugin } from '../src/adapters/fastify.ts';
import { type CoatcheckEnv, coatcheck as forHono } from '../src/adapters/hono.ts';
import { coatcheck as forWeb } from '../src/adapters/web.ts';
import { SessionEngine } from '../src/core/engine.ts';
import { MemorySessionStore, MemoryUserStore } from '../src/stores/memory.ts';
import { openSqliteStores } from '../src/stores/sqlite.ts';
import { chosen } from './lib/args.ts';
import {
  countOptions,
  describeCount,
  instructionsPerRequest,
  requireValgrind,
} from './lib/instructions.ts';
import { loadTool, runLoad } from './lib/load.ts';

/** `hono`: the middleware and requireAuth; `hono-handler`: the route's handler wrapped by handler(). */
const FRAMEWORKS = ['express', 'fastify', 'hono', 'hono-handler', 'web'] as const;
type Framework = (typeof FRAMEWORKS)[number];
/** bare: no Coatcheck; memory/sqlite: behind Coatcheck with that session store. */
const VARIANTS = ['bare', 'memory', 'sqlite'] as const;
type Variant = (typeof VARIANTS)[number];

/** USER_HZ of /proc/<pid>/stat: 100 on every Linux architecture Node supports. */
const CLOCK_TICKS = 100;

/** The one handler every variant runs: a small JSON body. */
const BODY = { ok: true };

if (process.argv[2] === '--serve') {
  const clock = process.argv.includes('--frozen-clock') ? 'frozen' : 'real';
  await serveOne(process.argv[3] as Framework, process.argv[4] as Variant, clock);
} else if (process.argv.includes('--instructions')) {
  await countAll();
} else {
  await main();
}

/**
 * `--instructions`: each server under callgrind, instructions per request instead of requests/s
 * (bench/lib/instructions.ts): the same ratios, repeatable to a fraction of a percent on a noisy
 * machine, at the price of ~10 minutes.
 */
async function countAll(): Promise<void> {
  requireValgrind();
  const amounts = countOptions();
  console.log(
    `\nbench:adapters --instructions: user-space instructions per request under callgrind ` +
      `(${describeCount(amounts)}), ${process.version}`,
  );
  console.log(
    'bare ÷ authenticated, i.e. the throughput ratio if the server is CPU-bound; ! < 0.8',
  );
  console.log(
    'framework      bare instr/req  memory instr/req  sqlite instr/req | memory   sqlite',
  );
  // A variant left out by --variants prints as a dash.
  const k = (x: number) => (Number.isNaN(x) ? '—' : `${(x / 1000).toFixed(1)}k`).padStart(8);
  const r = (x: number) =>
    (Number.isNaN(x) ? '— ' : `${x.toFixed(2)}×${x >= 0.8 ? ' ' : '!'}`).padStart(7);
  for (const framework of chosen(FRAMEWORKS, 'only')) {
    const count = { bare: Number.NaN, memory: Number.NaN, sqlite: Number.NaN };
    for (const variant of chosen(VARIANTS, 'variants')) {
      count[variant] = await instructionsPerRequest(
        [import.meta.filename, '--serve', framework, variant, '--frozen-clock'],
        async (child) => requestFor(framework, variant, await listening(child)),
        amounts,
      );
    }
    console.log(
      `${framework.padEnd(12)}${k(count.bare)}        ${k(count.memory)}          ${k(count.sqlite)} |` +
        ` ${r(count.bare / count.memory)}  ${r(count.bare / count.sqlite)}`,
    );
  }
}

/** The URL and the request headers for a server's `listening` line (see serveOne). */
function requestFor(framework: Framework, variant: Variant, line: string) {
  const [url = '', token = ''] = line.split(' ');
  // The bare server gets the same request, cookie included (a browser sends it everywhere).
  const cookie = token || `ccs_${'A'.repeat(22)}.${'B'.repeat(32)}`;
  if (url === '') throw new Error(`${framework}/${variant}: no URL`);
  return { url, headers: { cookie: `__Host-coatcheck=${cookie}` } };
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const seconds = Number(/--seconds=(\d+)/.exec(process.argv.join(' '))?.[1] ?? (quick ? 1 : 2));
  const rounds = Number(/--rounds=(\d+)/.exec(process.argv.join(' '))?.[1] ?? (quick ? 1 : 3));
  const load = loadavg()[0]?.toFixed(1);
  const rows: Row[] = [];
  for (const framework of chosen(FRAMEWORKS, 'only')) {
    const runs: Record<Variant, Measured>[] = [];
    for (let round = 0; round < rounds; round++) {
      // Each round measures the three variants back to back, starting with a different one, so
      // drifting load on a shared machine falls on all of them alike.
      const run = {} as Record<Variant, Measured>;
      for (let i = 0; i < VARIANTS.length; i++) {
        const variant = VARIANTS[(i + round) % VARIANTS.length] as Variant;
        run[variant] = await measure(framework, variant, seconds);
      }
      runs.push(run);
    }
    rows.push({ framework, runs });
  }
  print(rows, { seconds, rounds, load });
}

interface Row {
  readonly framework: Framework;
  readonly runs: readonly Record<Variant, Measured>[];
}

/**
 * The best of the rounds for each variant: other load on a shared machine can only take capacity
 * away, never add it, so the least disturbed round is the closest to the truth.
 */
function best(runs: readonly Record<Variant, Measured>[], variant: Variant, key: keyof Measured) {
  return Math.max(...runs.map((run) => run[variant][key]));
}

function print(rows: Row[], run: { seconds: number; rounds: number; load: string | undefined }) {
  const n = (x: number) => Math.round(x).toLocaleString('en-US').padStart(8);
  const r = (x: number) => `${x.toFixed(2)}×${x >= 0.8 ? ' ' : '!'}`.padStart(7);
  console.log(
    `\nbench:adapters: best of ${run.rounds} rounds × ${run.seconds} s per variant, 32 connections, ` +
      `${loadTool}, ${process.version}, load average ${run.load} → ${loadavg()[0]?.toFixed(1)} (${cpus().length} CPUs)`,
  );
  console.log('authenticated ÷ bare, by requests/s and by requests per server CPU-second; ! < 0.8');
  console.log(
    'framework     bare req/s  memory req/s  sqlite req/s | memory/bare  sqlite/bare | per CPU-s: memory  sqlite',
  );
  for (const { framework, runs } of rows) {
    const rps = (v: Variant) => best(runs, v, 'rps');
    const cpu = (v: Variant) => best(runs, v, 'perCpuSecond') / best(runs, 'bare', 'perCpuSecond');
    console.log(
      `${framework.padEnd(12)}${n(rps('bare'))}      ${n(rps('memory'))}      ${n(rps('sqlite'))} |` +
        `    ${r(rps('memory') / rps('bare'))}      ${r(rps('sqlite') / rps('bare'))} |` +
        `            ${r(cpu('memory'))} ${r(cpu('sqlite'))}`,
    );
  }
}

/** One measurement: requests/s, and requests per CPU-second of the server process. */
interface Measured {
  readonly rps: number;
  readonly perCpuSecond: number;
}

/** Starts one server in a child process, warms it up, and measures it under load. */
async function measure(framework: Framework, variant: Variant, seconds: number): Promise<Measured> {
  const child = spawn(process.execPath, [import.meta.filename, '--serve', framework, variant], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const { url, headers } = requestFor(framework, variant, await listening(child));
    const probe = await fetch(url, { headers });
    if (probe.status !== 200) throw new Error(`${framework}/${variant}: status ${probe.status}`);
    const body = await probe.text();
    if (body !== JSON.stringify(BODY)) throw new Error(`${framework}/${variant}: body ${body}`);
    // runLoad throws on any non-2xx answer or socket error.
    const load = (duration: number) =>
      runLoad({ url, connections: 32, seconds: duration, headers });
    await load(1); // warm-up: JIT, connection setup, SQLite page cache
    const cpuBefore = cpuSeconds(child.pid);
    const result = await load(seconds);
    const cpu = cpuSeconds(child.pid) - cpuBefore;
    return {
      rps: result.requestsPerSecond,
      perCpuSecond: cpu > 0 ? result.requests / cpu : Number.NaN,
    };
  } finally {
    child.kill();
  }
}

/**
 * CPU time (user + system) a process has used, from /proc (Linux); NaN elsewhere. Throughput
 * per CPU-second is what the ratios use: unlike requests/s, it does not fall when other work on
 * the machine takes the server's core away.
 */
function cpuSeconds(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

function listening(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    child.stdout?.once('data', (chunk: Buffer) => resolve(chunk.toString().trim()));
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });
}

/** A user and a live session in the store; returns the engine and the session token. */
async function sessionIn(variant: Exclude<Variant, 'bare'>, clock: 'real' | 'frozen') {
  const at = Date.now();
  // Under callgrind a request takes ~50× longer, so the once-a-minute renewal write (and the
  // recompiling its other code path sets off) would fall every few thousand requests instead of
  // once in about a million: a counted server's engine runs on a clock stopped at start, and
  // renews nothing. The timed runs keep the real clock.
  const now = clock === 'frozen' ? { now: () => at } : {};
  const user = {
    id: 'bench-user',
    email: 'ada@example.com',
    name: null,
    roles: ['user'],
    locked: false,
  };
  const record = { ...user, passwordHash: 'x', passwordChangedAt: at, createdAt: at };
  let engine: SessionEngine;
  if (variant === 'memory') {
    const users = new MemoryUserStore();
    await users.create(record);
    engine = new SessionEngine({ store: new MemorySessionStore(), users, ...now });
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'coatcheck-bench-adapters-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    // The parent stops this server with SIGTERM: exit normally, so the line above runs.
    process.once('SIGTERM', () => process.exit(0));
    const stores = openSqliteStores(join(dir, 'bench.db'));
    await stores.users.create(record);
    engine = new SessionEngine({ store: stores.sessions, users: stores.users, ...now });
  }
  return { engine, token: (await engine.create(user)).token };
}

/** Child process: serves GET / for one framework, bare or behind Coatcheck; prints URL and token. */
async function serveOne(
  framework: Framework,
  variant: Variant,
  clock: 'real' | 'frozen',
): Promise<void> {
  const session = variant === 'bare' ? null : await sessionIn(variant, clock);
  const engine = session?.engine;
  let server: Server;
  if (framework === 'express') {
    const app = express();
    if (engine) {
      const auth = forExpress({ engine });
      app.use(auth.middleware, auth.requireAuth());
    }
    app.get('/', (_req, res) => {
      res.json(BODY);
    });
    server = app.listen(0, '127.0.0.1');
  } else if (framework === 'fastify') {
    const app = Fastify();
    if (engine) {
      await app.register(fastifyPlugin, { engine });
      app.addHook('onRequest', app.requireAuth());
    }
    app.get('/', async () => BODY);
    await app.listen({ port: 0, host: '127.0.0.1' });
    server = app.server;
  } else if (framework === 'hono') {
    const app = new Hono<CoatcheckEnv>();
    if (engine) {
      const auth = forHono({ engine });
      app.use(auth.middleware, auth.requireAuth());
    }
    app.get('/', (c) => c.json(BODY));
    server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
  } else if (framework === 'hono-handler') {
    const app = new Hono<CoatcheckEnv>();
    const route = (c: Context) => c.json(BODY);
    app.get('/', engine ? forHono({ engine }).handler(route, { requireAuth: true }) : route);
    server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
  } else {
    const handler = () => Response.json(BODY);
    const fetch = engine ? forWeb({ engine }).handler(handler, { requireAuth: true }) : handler;
    server = serve({ fetch, port: 0, hostname: '127.0.0.1' }) as Server;
  }
  if (!server.listening) await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`http://127.0.0.1:${port}/ ${session?.token ?? ''}\n`);
}
