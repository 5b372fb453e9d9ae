/**
 * The contenders and the throwaway infrastructure they run on: one redis-server on a free port
 * (test/support/redis.ts) and temp directories, all removed by `close()`, which also stops every
 * server child. Each contender is a process of its own serving GET /auth/session.
 */
import { rmSync } from 'node:fs';
import { type RedisServer, startRedis } from '../../test/support/redis.ts';
import type { CoatcheckServerConfig } from '../servers/coatcheck.ts';
import { type ServerChild, startChild } from './child.ts';
import { BENCH_ACCOUNT } from './constants.ts';
import { benchTempDir, forgetTempDir } from './temp.ts';

/** Every contender the benchmarks know, by stable id (the keys of results.json). */
export const CONTENDERS = {
  'coatcheck-sqlite': 'Coatcheck, SQLite, near cache off',
  'coatcheck-sqlite-near-cache': 'Coatcheck, SQLite + near cache (the default)',
  'coatcheck-redis': 'Coatcheck, Redis',
  'coatcheck-redis-near-cache': 'Coatcheck, Redis + near cache',
  'fast-jwt-hs256': 'fast-jwt HS256 (stateless)',
  'fast-jwt-hs256-stack': "fast-jwt HS256 behind Coatcheck's middleware",
  'fast-jwt-hs256-cache': 'fast-jwt HS256 + verify cache (stateless)',
  'jose-eddsa': 'jose EdDSA (stateless)',
  'express-session': 'express-session + connect-redis',
  'better-auth': 'better-auth, Redis, cookie cache off',
  'better-auth-cookie-cache': 'better-auth, Redis, cookie cache on',
  'hono-no-auth': 'Hono, no authentication (ceiling)',
  'express-no-auth': 'Express 5, no authentication (ceiling)',
} as const;

/** A contender's id. */
export type ContenderId = keyof typeof CONTENDERS;

/** Shared infrastructure of one benchmark run. */
export class BenchEnvironment {
  readonly #dirs: string[] = [];
  readonly #children: ServerChild[] = [];
  #redis: Promise<RedisServer> | null = null;
  /** Extra Node flags for every server child (e.g. `--cpu-prof`). */
  readonly nodeArgs: readonly string[];
  /** valgrind arguments every server child runs under (`--instructions`), or none. */
  readonly valgrind: readonly string[] | undefined;

  constructor(options: { nodeArgs?: readonly string[]; valgrind?: readonly string[] } = {}) {
    this.nodeArgs = options.nodeArgs ?? [];
    this.valgrind = options.valgrind;
  }

  /** The run's redis-server, started on first use. */
  redis(): Promise<RedisServer> {
    this.#redis ??= startRedis();
    return this.#redis;
  }

  /** A fresh temp directory, removed by `close()`. */
  tempDir(label: string): string {
    const dir = benchTempDir(label);
    this.#dirs.push(dir);
    return dir;
  }

  /** Starts a Coatcheck node; nodes given the same `dataDir` share their users (one SQLite file). */
  async coatcheck(
    kind: 'sqlite' | 'sqlite-near-cache' | 'redis' | 'redis-near-cache',
    options: { dataDir?: string; logLevel?: string; nodeArgs?: readonly string[] } = {},
  ): Promise<ServerChild> {
    const redisUrl = kind.startsWith('sqlite') ? null : (await this.redis()).url;
    const config: CoatcheckServerConfig = {
      dataDir: options.dataDir ?? this.tempDir(kind),
      redisUrl,
      nearCache: kind.endsWith('near-cache'),
      ...BENCH_ACCOUNT,
      ...(options.logLevel === undefined ? {} : { logLevel: options.logLevel }),
    };
    return this.#track(startChild('coatcheck', { ...config }, this.#args(options.nodeArgs)));
  }

  /** Starts any contender by id. */
  async start(id: ContenderId): Promise<ServerChild> {
    switch (id) {
      case 'coatcheck-sqlite':
        return this.coatcheck('sqlite');
      case 'coatcheck-sqlite-near-cache':
        return this.coatcheck('sqlite-near-cache');
      case 'coatcheck-redis':
        return this.coatcheck('redis');
      case 'coatcheck-redis-near-cache':
        return this.coatcheck('redis-near-cache');
      case 'fast-jwt-hs256':
      case 'fast-jwt-hs256-cache':
      case 'jose-eddsa':
        return this.#track(startChild('jwt', { variant: id }, this.#args()));
      case 'fast-jwt-hs256-stack':
        return this.#track(
          startChild('jwt', { variant: 'fast-jwt-hs256', stack: 'coatcheck' }, this.#args()),
        );
      case 'express-session':
        return this.#track(
          startChild('express-session', { redisUrl: (await this.redis()).url }, this.#args()),
        );
      case 'better-auth':
      case 'better-auth-cookie-cache':
        return this.#track(
          startChild(
            'better-auth',
            { redisUrl: (await this.redis()).url, cookieCache: id === 'better-auth-cookie-cache' },
            this.#args(),
          ),
        );
      case 'hono-no-auth':
      case 'express-no-auth':
        return this.#track(
          startChild(
            'no-auth',
            { framework: id === 'hono-no-auth' ? 'hono' : 'express' },
            this.#args(),
          ),
        );
    }
  }

  /** Stops every child, the redis-server, and removes the temp directories. */
  async close(): Promise<void> {
    await Promise.all(this.#children.map((child) => child.stop()));
    if (this.#redis) await (await this.#redis.catch(() => null))?.stop();
    for (const dir of this.#dirs) {
      rmSync(dir, { recursive: true, force: true });
      forgetTempDir(dir);
    }
  }

  #args(extra: readonly string[] = []) {
    const nodeArgs = [...this.nodeArgs, ...extra];
    return this.valgrind ? { nodeArgs, valgrind: this.valgrind } : { nodeArgs };
  }

  async #track(started: Promise<ServerChild>): Promise<ServerChild> {
    const child = await started;
    this.#children.push(child);
    return child;
  }
}
