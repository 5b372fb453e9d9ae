/**
 * `npm run bench:revocation` (issue 4): how long after a revocation is acknowledged on node A do
 * nodes B and C refuse the session? Three Coatcheck server processes on one throwaway Redis, near
 * cache on (the case where a stale cache could let a revoked session through), sharing one SQLite
 * file for users. Each iteration: a fresh session; B and C validate it once (so their near caches
 * hold it, checked through the child's IPC); POST /auth/logout on A; from the moment A's 204 has
 * arrived, B and C are polled in tight loops (one keep-alive connection each, concurrently). The
 * delay is the time from the 204 to the sending of each node's first refused request: from then
 * on the session is refused there (0 when the very first request after the 204 is refused). The
 * arrival of that 401, which adds a poll's round trip, is reported too.
 *
 * Target: p99 ≤ 5 ms. Flags: --quick (fewer iterations), --iterations=N.
 */
import { Agent, request } from 'node:http';
import { flag, progress, quick } from './lib/args.ts';
import type { Credential, ServerChild } from './lib/child.ts';
import { BENCH_PUBLIC_URL } from './lib/constants.ts';
import { BenchEnvironment } from './lib/contenders.ts';
import { median, quantile, round } from './lib/stats.ts';
import { ms, percent, table } from './lib/table.ts';

/** Polls give up after this long: a session still accepted then is a failure, not a figure. */
const GIVE_UP_MS = 2000;

/** The measured delays, ms, per observing node, and the round trip of one poll. */
export interface RevocationResult {
  readonly iterations: number;
  readonly nodes: 3;
  /** Every delay (B's and C's together), ms: from A's 204 to sending the first refused request. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly perNode: Readonly<Record<'B' | 'C', { p50Ms: number; p99Ms: number; maxMs: number }>>;
  /** From A's 204 to the arrival of the first 401 (the delay plus that poll's round trip), ms. */
  readonly answered: { p50Ms: number; p99Ms: number; maxMs: number };
  /** Median round trip of one GET /auth/session poll, ms. */
  readonly pollRoundTripMs: number;
  /** How often the very first poll already saw the 401. */
  readonly firstPollRefused: number;
}

interface Response {
  status: number;
}

/** One GET or POST on a keep-alive agent; resolves with the status once the body is read. */
function send(
  agent: Agent,
  url: string,
  method: 'GET' | 'POST',
  headers: Record<string, string>,
  localAddress?: string,
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const options = { method, agent, headers, ...(localAddress ? { localAddress } : {}) };
    const req = request(url, options, (res) => {
      res.resume();
      res.once('end', () => resolve({ status: res.statusCode ?? 0 }));
      res.once('error', reject);
    });
    req.once('error', reject);
    req.end();
  });
}

/**
 * Polls `node` until it answers 401; resolves with ms from `since` to sending that request
 * (`delayMs`) and to its answer (`answeredMs`), and the number of polls.
 */
async function pollUntilRefused(
  agent: Agent,
  node: ServerChild,
  credential: Credential,
  since: number,
  localAddress: string,
): Promise<{ delayMs: number; answeredMs: number; polls: number; roundTrips: number[] }> {
  const headers = { [credential.header]: credential.value };
  const roundTrips: number[] = [];
  for (let polls = 1; ; polls++) {
    const sent = performance.now();
    const url = `${node.url}/auth/session`;
    const { status } = await send(agent, url, 'GET', headers, localAddress);
    const now = performance.now();
    roundTrips.push(now - sent);
    if (status === 401)
      return { delayMs: sent - since, answeredMs: now - since, polls, roundTrips };
    if (status !== 200) throw new Error(`poll answered ${status}`);
    if (now - since > GIVE_UP_MS) throw new Error(`session still accepted after ${GIVE_UP_MS} ms`);
  }
}

/** 127.1.x.y for the n-th client, y in 1..250 (Linux answers on all of 127.0.0.0/8). */
function loopbackAddress(n: number): string {
  return `127.1.${Math.floor(n / 250) % 256}.${(n % 250) + 1}`;
}

/** Runs the measurement on three fresh nodes in `env`. */
export async function revocationBench(
  env: BenchEnvironment,
  options: { iterations: number },
): Promise<RevocationResult> {
  const dataDir = env.tempDir('shared-users');
  const a = await env.coatcheck('redis-near-cache', { dataDir });
  const b = await env.coatcheck('redis-near-cache', { dataDir });
  const c = await env.coatcheck('redis-near-cache', { dataDir });
  const observers = { B: b, C: c } as const;
  const deadline = Date.now() + 10_000;
  for (const node of [a, b, c]) {
    while (!(await node.call<boolean>('feedLive'))) {
      if (Date.now() > deadline) throw new Error('near-cache feed never came up');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  const agents = {
    A: new Agent({ keepAlive: true, maxSockets: 1 }),
    B: new Agent({ keepAlive: true, maxSockets: 1 }),
    C: new Agent({ keepAlive: true, maxSockets: 1 }),
  };
  const delays: Record<'B' | 'C', number[]> = { B: [], C: [] };
  const answered: number[] = [];
  const roundTrips: number[] = [];
  let firstPollRefused = 0;
  try {
    // Untimed warm-up (JIT, connections): polls on every node, then a few whole iterations.
    const warmup = await a.mint();
    for (const [name, node] of Object.entries({ A: a, ...observers })) {
      for (let i = 0; i < 300; i++) {
        await send(agents[name as 'A'], `${node.url}/auth/session`, 'GET', {
          [warmup.header]: warmup.value,
        });
      }
    }
    const untimed = Math.min(20, Math.ceil(options.iterations / 5));
    for (let i = -untimed; i < options.iterations; i++) {
      const credential = await a.mint();
      const headers = { [credential.header]: credential.value };
      // Each iteration polls from its own loopback address, as a different client would: the
      // refused polls count as invalid tokens, and one address would soon be throttled (429)
      // by the per-IP token-guessing limit.
      const client = loopbackAddress(i + untimed);
      const clientAgents = {
        B: new Agent({ keepAlive: true, maxSockets: 1 }),
        C: new Agent({ keepAlive: true, maxSockets: 1 }),
      };
      for (const [name, node] of Object.entries(observers)) {
        const url = `${node.url}/auth/session`;
        const warm = await send(clientAgents[name as 'B'], url, 'GET', headers, client);
        if (warm.status !== 200) throw new Error(`warm-up on ${name} answered ${warm.status}`);
        if (!(await node.call<boolean>('cached', { sessionId: credential.sessionId }))) {
          throw new Error(`node ${name} did not cache the session`);
        }
      }
      const logout = await send(agents.A, `${a.url}/auth/logout`, 'POST', {
        ...headers,
        origin: BENCH_PUBLIC_URL,
      });
      const acknowledged = performance.now();
      if (logout.status !== 204) throw new Error(`logout on A answered ${logout.status}`);
      const results = await Promise.all(
        (['B', 'C'] as const).map((name) =>
          pollUntilRefused(clientAgents[name], observers[name], credential, acknowledged, client),
        ),
      );
      clientAgents.B.destroy();
      clientAgents.C.destroy();
      if (i < 0) continue;
      results.forEach((r, n) => {
        delays[n === 0 ? 'B' : 'C'].push(r.delayMs);
        answered.push(r.answeredMs);
        roundTrips.push(...r.roundTrips);
        if (r.polls === 1) firstPollRefused++;
      });
      if ((i + 1) % 100 === 0) progress(`  ${i + 1}/${options.iterations} revocations`);
    }
  } finally {
    for (const agent of Object.values(agents)) agent.destroy();
  }
  const all = [...delays.B, ...delays.C];
  const summary = (values: number[]) => ({
    p50Ms: round(median(values), 3),
    p99Ms: round(quantile(values, 0.99), 3),
    maxMs: round(Math.max(...values), 3),
  });
  return {
    iterations: options.iterations,
    nodes: 3,
    ...summary(all),
    perNode: { B: summary(delays.B), C: summary(delays.C) },
    answered: summary(answered),
    pollRoundTripMs: round(median(roundTrips), 3),
    firstPollRefused: round(firstPollRefused / all.length, 3),
  };
}

/** The result as a Markdown table. */
export function revocationTable(r: RevocationResult): string {
  const row = (name: string, s: { p50Ms: number; p99Ms: number; maxMs: number }, target = true) => [
    name,
    ms(s.p50Ms),
    ms(s.p99Ms),
    ms(s.maxMs),
    !target ? '' : s.p99Ms <= 5 ? '≤ 5 ms met' : '≤ 5 ms MISSED',
  ];
  return table(
    ['revoked on A (204), refused from', 'p50 ms', 'p99 ms', 'max ms', 'target (p99)'],
    [
      row('node B', r.perNode.B),
      row('node C', r.perNode.C),
      row('B and C together', r),
      row('(that first 401 received)', r.answered, false),
    ],
  );
}

if (import.meta.main) {
  const iterations = Number(flag('iterations') ?? (quick ? 100 : 1000));
  const env = new BenchEnvironment();
  try {
    progress(`bench:revocation — ${iterations} revocations, 3 nodes, Redis + near cache`);
    const result = await revocationBench(env, { iterations });
    console.log(`\nNode ${process.version}; ${iterations} revocations on node A\n`);
    console.log(revocationTable(result));
    console.log(
      `\nThe very first request after A's 204 was refused in ${percent(result.firstPollRefused)} of ` +
        `cases; one poll's round trip: median ${ms(result.pollRoundTripMs)} ms.`,
    );
  } finally {
    await env.close();
  }
}
