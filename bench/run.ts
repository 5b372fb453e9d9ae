/**
 * `npm run bench` (issue 7): every contender on GET of a protected JSON route with a valid
 * credential, plus credential size, Redis bytes per session, revocation delay, login cost and
 * validation latency during a storm of logins. Writes bench/results.json and regenerates
 * docs/benchmarks.md (+ docs/benchmarks.svg). `--quick` is a smoke run (< 2 minutes) whose
 * results are printed and NOT written unless `--write` is given too. `--report` only regenerates
 * the doc and chart from bench/results.json.
 *
 * Each contender is its own process (bench/servers/*), started and stopped here, on one
 * throwaway redis-server; the load generator (wrk, else autocannon) runs beside them. On a
 * 2-core machine everything shares the cores: rounds alternate the contenders and figures are
 * medians, so drift lands on all of them alike.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { PasswordHasher } from '../src/accounts/password.ts';
import { redisCli } from '../test/support/redis.ts';
import { progress, quick } from './lib/args.ts';
import {
  BENCH_ACCOUNT,
  BENCH_PUBLIC_URL,
  COATCHECK_REDIS_PREFIX,
  EXPRESS_SESSION_PREFIX,
} from './lib/constants.ts';
import { BenchEnvironment, type ContenderId } from './lib/contenders.ts';
import { runLoad } from './lib/load.ts';
import { machineInfo } from './lib/machine.ts';
import { type BenchResults, writeReport } from './lib/report.ts';
import { measureRounds, type Throughput } from './lib/rounds.ts';
import { median, quantile, round } from './lib/stats.ts';
import { revocationBench, revocationTable } from './revocation.ts';

const write = !quick || process.argv.includes('--write');
const started = Date.now();

const THROUGHPUT_IDS: readonly ContenderId[] = [
  'coatcheck-sqlite',
  'coatcheck-sqlite-near-cache',
  'coatcheck-redis',
  'coatcheck-redis-near-cache',
  'fast-jwt-hs256',
  'fast-jwt-hs256-cache',
  'jose-eddsa',
  'fast-jwt-hs256-stack',
  'express-session',
  'better-auth',
  'better-auth-cookie-cache',
  'hono-no-auth',
  'express-no-auth',
];

/** Throughput of every contender, their credential sizes and Redis bytes per session. */
async function throughputSection() {
  const env = new BenchEnvironment();
  try {
    const children = new Map<ContenderId, Awaited<ReturnType<BenchEnvironment['start']>>>();
    for (const id of THROUGHPUT_IDS) {
      progress(`  starting ${id}`);
      children.set(id, await env.start(id));
    }
    const targets = THROUGHPUT_IDS.map((id) => {
      const child = children.get(id);
      if (!child) throw new Error(id);
      return { name: id, url: `${child.url}/auth/session`, credential: child.credential };
    });
    const throughput: Throughput[] = await measureRounds(targets, {
      warmupSeconds: quick ? 1 : 5,
      rounds: quick ? 2 : 5,
      seconds: quick ? 2 : 8,
      onRun: (name, r, x) =>
        progress(`  round ${r + 1} ${name}: ${Math.round(x.requestsPerSecond)} req/s`),
    });
    const credentialBytes: Partial<Record<ContenderId, number>> = {};
    for (const t of targets) {
      credentialBytes[t.name as ContenderId] = Buffer.byteLength(t.credential.value);
    }
    const redis = await env.redis();
    const memory = async (key: string) =>
      Number(await redisCli(redis.port, 'MEMORY', 'USAGE', key, 'SAMPLES', '0'));
    const sid = (id: ContenderId) => children.get(id)?.credential.sessionId ?? '';
    const redisBytes: Partial<Record<ContenderId, { key: string; bytes: number }>> = {};
    const keys: [ContenderId, string][] = [
      ['coatcheck-redis', `${COATCHECK_REDIS_PREFIX}s:${sid('coatcheck-redis')}`],
      ['express-session', `${EXPRESS_SESSION_PREFIX}${sid('express-session')}`],
      ['better-auth', sid('better-auth')],
    ];
    for (const [id, key] of keys) {
      redisBytes[id] = { key: key.replace(/[^:]+$/, '<id>'), bytes: await memory(key) };
    }
    return { throughput, credentialBytes, redisBytes };
  } finally {
    await env.close();
  }
}

/** argon2id cost with Coatcheck's parameters, and validation p99 during a storm of logins. */
async function loginSection() {
  const hasher = new PasswordHasher();
  const samples: number[] = [];
  for (let i = 0; i < (quick ? 3 : 15); i++) {
    const t = performance.now();
    await hasher.hash('correct horse battery staple 42');
    samples.push(performance.now() - t);
  }
  const env = new BenchEnvironment();
  try {
    const server = await env.coatcheck('redis-near-cache');
    const url = `${server.url}/auth/session`;
    const headers = { [server.credential.header]: server.credential.value };
    const seconds = quick ? 3 : 10;
    await runLoad({ url, headers, seconds: quick ? 1 : 3 });
    type Loop = { p99Ms: number; maxMs: number };
    await server.call<Loop>('eventLoop');
    const baseline = await runLoad({ url, headers, seconds });
    const loopAlone = await server.call<Loop>('eventLoop');
    // One account per client: concurrent sign-ins to one account are throttled on purpose (each
    // attempt counts as a failure until its hash says otherwise).
    const concurrency = 8;
    const accounts = Array.from({ length: concurrency }, (_, i) => ({
      email: `storm-${i}@example.com`,
      password: BENCH_ACCOUNT.password,
    }));
    for (const account of accounts) await server.call('signup', account);
    let storming = true;
    const loginTimes: number[] = [];
    const worker = async (account: (typeof accounts)[number]) => {
      while (storming) {
        const t = performance.now();
        const response = await fetch(`${server.url}/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', origin: BENCH_PUBLIC_URL },
          body: JSON.stringify(account),
        });
        await response.arrayBuffer();
        if (response.status !== 200) throw new Error(`login answered ${response.status}`);
        loginTimes.push(performance.now() - t);
      }
    };
    const workers = accounts.map(worker);
    const during = await runLoad({ url, headers, seconds });
    const loopDuring = await server.call<Loop>('eventLoop');
    storming = false;
    await Promise.all(workers);
    const loop = (l: Loop) => ({
      loopDelayP99Ms: round(l.p99Ms, 2),
      loopDelayMaxMs: round(l.maxMs, 2),
    });
    return {
      argon2: {
        params: 'm=19456 KiB, t=2, p=1 (OWASP / ASVS 5.0)',
        msPerHash: round(median(samples), 1),
      },
      storm: {
        concurrentLogins: concurrency,
        seconds,
        loginsPerSecond: round(loginTimes.length / seconds, 1),
        loginP50Ms: round(median(loginTimes), 1),
        loginP99Ms: round(quantile(loginTimes, 0.99), 1),
        baseline: {
          requestsPerSecond: Math.round(baseline.requestsPerSecond),
          p50Ms: baseline.p50Ms,
          p99Ms: baseline.p99Ms,
          ...loop(loopAlone),
        },
        during: {
          requestsPerSecond: Math.round(during.requestsPerSecond),
          p50Ms: during.p50Ms,
          p99Ms: during.p99Ms,
          ...loop(loopDuring),
        },
      },
    };
  } finally {
    await env.close();
  }
}

async function revocationSection() {
  const env = new BenchEnvironment();
  try {
    return await revocationBench(env, { iterations: quick ? 50 : 1000 });
  } finally {
    await env.close();
  }
}

if (process.argv.includes('--report')) {
  // Regenerate docs/benchmarks.md and the chart from the committed results, measuring nothing.
  const saved = JSON.parse(
    readFileSync(new URL('results.json', import.meta.url), 'utf8'),
  ) as BenchResults;
  console.log(writeReport(saved, { write: true }).summary);
  process.exit(0);
}

progress(`bench — ${quick ? 'quick' : 'full'} run`);
const machine = machineInfo();
progress('throughput (all contenders, alternating rounds)');
const { throughput, credentialBytes, redisBytes } = await throughputSection();
progress('revocation delay (3 nodes)');
const revocation = await revocationSection();
progress('login cost and login storm');
const login = await loginSection();
progress('in-process: engine.validate vs JWT verify (bench/core.ts)');
const core = await promisify(execFile)(process.execPath, [
  new URL('core.ts', import.meta.url).pathname,
  ...(quick ? ['--quick'] : []),
]);

const results: BenchResults = {
  generatedAt: new Date().toISOString(),
  mode: quick ? 'quick' : 'full',
  durationSeconds: Math.round((Date.now() - started) / 1000),
  machine,
  throughput,
  credentialBytes,
  redisBytes,
  revocation,
  login,
  core: core.stdout.trim(),
};
console.log(revocationTable(revocation));
const report = writeReport(results, { write });
console.log(report.summary);
if (write) progress('wrote bench/results.json, docs/benchmarks.md and docs/benchmarks.svg');
else progress('quick run: results not written (add --write to write them)');
progress(`done in ${results.durationSeconds} s`);
