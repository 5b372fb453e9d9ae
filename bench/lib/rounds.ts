/**
 * Throughput rounds: every contender is already running (each in its own process); each is warmed
 * up once, then measured for `rounds` rounds with the order rotated every round, so drift on a
 * shared machine (another process, thermal state) spreads across contenders instead of landing on
 * one. Figures are the medians over the rounds.
 */
import type { Credential } from './child.ts';
import { type LoadResult, runLoad } from './load.ts';
import { median, round } from './stats.ts';

/** Something to put load on. */
export interface Target {
  readonly name: string;
  readonly url: string;
  readonly credential: Credential;
}

/** How long to measure. */
export interface RoundOptions {
  readonly warmupSeconds: number;
  readonly rounds: number;
  readonly seconds: number;
  /** @default 10 */
  readonly connections?: number;
  /** Told about each finished run (for progress lines). */
  readonly onRun?: (name: string, round: number, result: LoadResult) => void;
}

/** A contender's medians over the rounds, and every round's figures. */
export interface Throughput {
  readonly name: string;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly rounds: readonly LoadResult[];
}

/** Warms up each target, then measures them round-robin, rotating the order each round. */
export async function measureRounds(
  targets: readonly Target[],
  options: RoundOptions,
): Promise<Throughput[]> {
  const load = (target: Target, seconds: number) =>
    runLoad({
      url: target.url,
      headers: { [target.credential.header]: target.credential.value },
      seconds,
      ...(options.connections === undefined ? {} : { connections: options.connections }),
    });
  for (const target of targets) await load(target, options.warmupSeconds);
  const results = new Map<string, LoadResult[]>(targets.map((t) => [t.name, []]));
  for (let r = 0; r < options.rounds; r++) {
    const order = targets.map((_, i) => targets[(i + r) % targets.length] as Target);
    for (const target of order) {
      const result = await load(target, options.seconds);
      results.get(target.name)?.push(result);
      options.onRun?.(target.name, r, result);
    }
  }
  return targets.map((t) => {
    const runs = results.get(t.name) ?? [];
    return {
      name: t.name,
      requestsPerSecond: Math.round(median(runs.map((x) => x.requestsPerSecond))),
      p50Ms: round(median(runs.map((x) => x.p50Ms)), 3),
      p99Ms: round(median(runs.map((x) => x.p99Ms)), 3),
      rounds: runs.map((x) => ({
        ...x,
        requestsPerSecond: Math.round(x.requestsPerSecond),
      })),
    };
  });
}
