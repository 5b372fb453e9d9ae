/** Values shared by the benchmark servers (bench/servers/*) and the harness that drives them. */

/** The https origin Coatcheck servers are configured with (cookie `__Host-coatcheck`, HSTS). */
export const BENCH_PUBLIC_URL = 'https://coatcheck.bench.invalid';

/** The benchmark user of every peer that has accounts. */
export const BENCH_ACCOUNT = {
  email: 'bench@example.com',
  password: 'correct horse battery staple 42',
} as const;

/** JWT lifetime: a common access-token choice, and so how long a stolen JWT stays valid. */
export const JWT_LIFETIME_SECONDS = 900;

/** better-auth's default cookie-cache lifetime: how long a revoked session lives on with it. */
export const BETTER_AUTH_COOKIE_CACHE_SECONDS = 300;

/** connect-redis's default key prefix. */
export const EXPRESS_SESSION_PREFIX = 'sess:';

/** The Coatcheck Redis store's default key prefix (src/stores/redis-layout.ts). */
export const COATCHECK_REDIS_PREFIX = 'cc:';
