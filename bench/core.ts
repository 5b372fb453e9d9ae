/**
 * `npm run bench:core`: ops/s of `engine.validate` on the memory and SQLite stores (SQLite with
 * its near cache, the default, and without), beside fast-jwt HS256 verify and jose EdDSA verify of
 * a comparable claim set, all in one process run, reported as ratios to fast-jwt HS256. `--quick`
 * shortens each measurement for a smoke check.
 *
 * Targets (issue 2): memory validate ≥ 1.5× fast-jwt HS256; SQLite validate ≥ 0.5×.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSigner, createVerifier } from 'fast-jwt';
import { exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT } from 'jose';
import { Bench } from 'tinybench';
import { SessionEngine } from '../src/core/engine.ts';
import type { SessionStore, UserLookup } from '../src/core/store.ts';
import { MemorySessionStore, MemoryUserStore } from '../src/stores/memory.ts';
import { openSqliteStores } from '../src/stores/sqlite.ts';

const quick = process.argv.includes('--quick');
const user = {
  id: 'usr_01HZX3J6Q8Y7',
  email: 'ada@example.com',
  name: 'Ada Lovelace',
  roles: ['user'],
  locked: false,
  passwordHash:
    '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g',
  passwordChangedAt: Date.now(),
  createdAt: Date.now(),
};

/** A JWT carrying what a validated session yields: subject, session id, roles, email, times. */
const now = Math.floor(Date.now() / 1000);
const claims = {
  sub: user.id,
  sid: 'k3Yb2mQ0x9sV7tLp1RzW8A',
  email: user.email,
  roles: user.roles,
};

async function engineFor(
  store: SessionStore,
  users: UserLookup & { create(u: typeof user): Promise<boolean> },
) {
  await users.create(user);
  const engine = new SessionEngine({ store, users });
  const { token } = await engine.create(user, { ip: '127.0.0.1', userAgent: 'bench' });
  const check = await engine.validate(token);
  if (!check.ok) throw new Error(`bench setup: token did not validate (${check.reason})`);
  return { engine, token };
}

const memory = await engineFor(new MemorySessionStore(), new MemoryUserStore());
const dir = mkdtempSync(join(tmpdir(), 'coatcheck-bench-'));
const sqliteStores = openSqliteStores(join(dir, 'bench.db'));
const sqlite = await engineFor(sqliteStores.sessions, sqliteStores.users);
const uncachedSqlite = {
  engine: new SessionEngine({
    store: sqliteStores.sessions,
    users: sqliteStores.users,
    nearCache: false,
  }),
  token: sqlite.token,
};

const hmacKey = randomBytes(32);
const hsToken = createSigner({ key: hmacKey, algorithm: 'HS256', expiresIn: 900_000 })(claims);
const hsVerify = createVerifier({ key: hmacKey, algorithms: ['HS256'], cache: false });
hsVerify(hsToken);

const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
const edToken = await new SignJWT(claims)
  .setProtectedHeader({ alg: 'EdDSA' })
  .setIssuedAt(now)
  .setExpirationTime(now + 900)
  .sign(privateKey);
const edKey = await importJWK(await exportJWK(publicKey), 'EdDSA');
await jwtVerify(edToken, edKey, { algorithms: ['EdDSA'] });

const bench = new Bench({ time: quick ? 300 : 2000, warmupTime: quick ? 100 : 500 });
bench
  .add('fast-jwt HS256 verify', () => {
    hsVerify(hsToken);
  })
  .add('jose EdDSA verify', async () => {
    await jwtVerify(edToken, edKey, { algorithms: ['EdDSA'] });
  })
  .add('coatcheck validate (memory)', async () => {
    const r = await memory.engine.validate(memory.token);
    if (!r.ok) throw new Error(r.reason);
  })
  .add('coatcheck validate (SQLite)', async () => {
    const r = await sqlite.engine.validate(sqlite.token);
    if (!r.ok) throw new Error(r.reason);
  })
  .add('coatcheck validate (SQLite, near cache off)', async () => {
    const r = await uncachedSqlite.engine.validate(uncachedSqlite.token);
    if (!r.ok) throw new Error(r.reason);
  });

await bench.run();
sqliteStores.close();
rmSync(dir, { recursive: true, force: true });

const opsPerSecond = (name: string): number => {
  const task = bench.getTask(name);
  const result = task?.result;
  if (!result || !('throughput' in result)) throw new Error(`${name}: no result`);
  return result.throughput.mean;
};
const baseline = opsPerSecond('fast-jwt HS256 verify');
const targets: Record<string, number> = {
  'coatcheck validate (memory)': 1.5,
  'coatcheck validate (SQLite)': 0.5,
  'coatcheck validate (SQLite, near cache off)': 0.5,
};
console.log(
  `Node ${process.version}, ${quick ? 'quick' : 'full'} run; ratios vs fast-jwt HS256 verify\n`,
);
console.log('| contender | ops/s | ratio | target |');
console.log('|---|---:|---:|---:|');
for (const task of bench.tasks) {
  const ops = opsPerSecond(task.name);
  const target = targets[task.name];
  const ratio = ops / baseline;
  const verdict = target === undefined ? '' : `≥ ${target}× ${ratio >= target ? 'met' : 'MISSED'}`;
  console.log(
    `| ${task.name} | ${Math.round(ops).toLocaleString('en')} | ${ratio.toFixed(2)}× | ${verdict} |`,
  );
}
