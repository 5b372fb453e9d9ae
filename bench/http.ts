/**
 * `npm run bench:http` (issue 4): authenticated requests/s on GET /auth/session of the real
 * Coatcheck server (startServer over openServices, production configuration, each in its own
 * process) on SQLite, Redis, and Redis + near cache, next to the same route on the same framework
 * authenticated by a fast-jwt HS256 cookie (stateless, no lookup): once as people write it (one
 * route), once behind the same middleware the Coatcheck server runs, so the auth is all that
 * differs. Rounds alternate the contenders; figures are medians; ratios are to the JWT servers.
 *
 * Targets: Redis + near cache ≥ 1.0× the JWT server; Redis without the cache ≥ 0.7×.
 * Flags: --quick (short rounds), --profile (then profiles the near-cache server, see lib/profile.ts),
 * --instructions (instructions per request under callgrind instead, see countInstructions; with
 * --only=<id,…> for some of the contenders).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { chosen, profile, progress, quick } from './lib/args.ts';
import { BenchEnvironment, CONTENDERS, type ContenderId } from './lib/contenders.ts';
import {
  callgrind,
  countOptions,
  countPerRequest,
  describeCount,
  PREDICTABLE,
  requireValgrind,
} from './lib/instructions.ts';
import { loadTool, runLoad } from './lib/load.ts';
import { newestProfile, summariseProfile } from './lib/profile.ts';
import { measureRounds, type Throughput } from './lib/rounds.ts';
import { int, ms, ratio, table, verdict } from './lib/table.ts';
import { benchTempDir } from './lib/temp.ts';

const IDS: readonly ContenderId[] = [
  'coatcheck-sqlite',
  'coatcheck-sqlite-near-cache',
  'coatcheck-redis',
  'coatcheck-redis-near-cache',
  'fast-jwt-hs256',
  'fast-jwt-hs256-stack',
];
const TARGETS: Partial<Record<ContenderId, number>> = {
  'coatcheck-redis-near-cache': 1.0,
  'coatcheck-redis': 0.7,
};

/** Runs the comparison; returns each contender's medians. */
export async function httpBench(
  env: BenchEnvironment,
  options: { quick: boolean },
): Promise<Throughput[]> {
  const targets = [];
  for (const id of IDS) {
    const child = await env.start(id);
    targets.push({ name: id, url: `${child.url}/auth/session`, credential: child.credential });
  }
  return measureRounds(targets, {
    warmupSeconds: options.quick ? 2 : 5,
    rounds: options.quick ? 3 : 5,
    seconds: options.quick ? 3 : 8,
    onRun: (name, round, r) =>
      progress(`  round ${round + 1} ${name}: ${int(r.requestsPerSecond)} req/s`),
  });
}

/** The result table with ratios to both JWT servers. */
export function httpTable(results: readonly Throughput[]): string {
  const by = (id: ContenderId) => results.find((r) => r.name === id)?.requestsPerSecond ?? NaN;
  const bare = by('fast-jwt-hs256');
  const stack = by('fast-jwt-hs256-stack');
  return table(
    [
      'GET /auth/session',
      'req/s',
      'p50 ms',
      'p99 ms',
      'vs JWT (bare)',
      'vs JWT (same middleware)',
      'target (vs bare)',
    ],
    results.map((r) => {
      const id = r.name as ContenderId;
      const target = TARGETS[id];
      return [
        CONTENDERS[id],
        int(r.requestsPerSecond),
        ms(r.p50Ms),
        ms(r.p99Ms),
        ratio(r.requestsPerSecond / bare),
        ratio(r.requestsPerSecond / stack),
        target === undefined ? '' : verdict(r.requestsPerSecond / bare, target),
      ];
    }),
  );
}

/** Profiles a Redis + near-cache server under load and prints where its CPU time goes. */
async function profileNearCache(env: BenchEnvironment): Promise<void> {
  const dir = benchTempDir('prof');
  try {
    const child = await env.coatcheck('redis-near-cache', {
      nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`],
    });
    const headers = { [child.credential.header]: child.credential.value };
    await runLoad({ url: `${child.url}/auth/session`, headers, seconds: quick ? 3 : 10 });
    await child.stop();
    const summary = summariseProfile(newestProfile(dir), 20);
    console.log('\nCPU profile of the Redis + near-cache server under wrk load:\n');
    console.log(
      table(
        ['self time', '%'],
        summary.byFunction.map((l) => [l.name, String(l.percent)]),
      ),
    );
    console.log();
    console.log(
      table(
        ['inclusive', '%'],
        summary.inclusive.map((l) => [l.name, String(l.percent)]),
      ),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `--instructions`: each server under callgrind, user-space instructions per request of GET
 * /auth/session instead of requests/s (bench/lib/instructions.ts): repeatable on a noisy machine.
 * Only the server process is counted, so the Redis store's own work (in redis-server) is not.
 */
async function countInstructions(): Promise<void> {
  requireValgrind();
  const dir = benchTempDir('callgrind');
  const amounts = countOptions();
  const env = new BenchEnvironment({
    valgrind: callgrind(join(dir, 'callgrind.%p')),
    nodeArgs: PREDICTABLE,
  });
  try {
    const perRequest = new Map<ContenderId, number>();
    // --only=coatcheck-redis-near-cache,fast-jwt-hs256 counts those alone (~3 min each).
    for (const id of chosen(IDS, 'only')) {
      progress(`  ${id} under callgrind`);
      const child = await env.start(id);
      const headers = { [child.credential.header]: child.credential.value };
      const server = { url: `${child.url}/auth/session`, headers };
      perRequest.set(
        id,
        await countPerRequest(child.pid, join(dir, `callgrind.${child.pid}`), server, amounts),
      );
      // Slowed down ~50× by valgrind, the near cache's feed must still have kept its heartbeat
      // deadline, or the count is of the uncached path.
      if (id === 'coatcheck-redis-near-cache' && !(await child.call<boolean>('feedLive'))) {
        throw new Error('the near cache was off under callgrind (feed heartbeat late)');
      }
      await child.stop();
    }
    const bare = perRequest.get('fast-jwt-hs256') ?? NaN;
    const stack = perRequest.get('fast-jwt-hs256-stack') ?? NaN;
    console.log(
      `\nNode ${process.version}; user-space instructions per request of the server process ` +
        `under callgrind (${describeCount(amounts)}); the ratios are ` +
        'JWT instructions ÷ these, i.e. the throughput ratio when the server is CPU-bound\n',
    );
    console.log(
      table(
        [
          'GET /auth/session',
          'instructions',
          'vs JWT (bare)',
          'vs JWT (same middleware)',
          'target',
        ],
        // Only what was counted (--only): a missing contender is no missed target.
        IDS.filter((id) => perRequest.has(id)).map((id) => {
          const count = perRequest.get(id) ?? NaN;
          const target = TARGETS[id];
          const against = (x: number) => (Number.isNaN(x) ? '—' : ratio(x / count));
          return [
            CONTENDERS[id],
            `${(count / 1000).toFixed(1)}k`,
            against(bare),
            against(stack),
            target === undefined || Number.isNaN(bare) ? '' : verdict(bare / count, target),
          ];
        }),
      ),
    );
  } finally {
    await env.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main && process.argv.includes('--instructions')) {
  await countInstructions();
} else if (import.meta.main) {
  const env = new BenchEnvironment();
  try {
    progress(`bench:http — ${quick ? 'quick' : 'full'} run, load by ${loadTool}, 10 connections`);
    const results = await httpBench(env, { quick });
    console.log(`\nNode ${process.version}; medians of alternating rounds; load by ${loadTool}\n`);
    console.log(httpTable(results));
    if (profile) await profileNearCache(env);
  } finally {
    await env.close();
  }
}
