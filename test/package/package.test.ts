import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/**
 * The package as users get it: built with the build config into a scratch copy (the checkout's
 * dist/ is left alone), packed with `npm pack`, installed with its peers into a fresh project,
 * type-checked from a consumer file, run, and watched for what `import 'coatcheck'` loads.
 */

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CONSUMER = fileURLToPath(new URL('./consumer/', import.meta.url));
const run = promisify(execFile);
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const node = process.execPath;

/** What the tarball may hold besides dist/ and bin/. */
const TOP_LEVEL = new Set(['package.json', 'README.md', 'LICENSE']);
/**
 * Installed into the consumer at the versions this checkout tests against (cache-friendly). The
 * drivers too: the .d.ts of `coatcheck/redis` and `/postgres` name their types, and an installed
 * driver is one an entry point could wrongly load.
 */
const PEERS = [
  'express',
  'fastify',
  'fastify-plugin',
  'hono',
  'redis',
  'postgres',
  '@types/express',
  '@types/node',
];
/** Packages the core entry points must never load. */
const FORBIDDEN = [
  'express',
  'fastify',
  'fastify-plugin',
  'hono',
  '@hono/node-server',
  'redis',
  '@redis/client',
  'postgres',
  'pino',
  'prom-client',
];

interface Packed {
  readonly tarball: string;
  readonly files: readonly string[];
}

describe('the npm package', { timeout: 120_000 }, () => {
  let work: string;
  let packed: Packed;
  let project: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'coatcheck-package-'));
    process.once('exit', () => rmSync(work, { recursive: true, force: true }));
    packed = await pack(work);
    project = join(work, 'consumer');
    await install(project, packed.tarball);
  });

  test('the tarball holds dist, bin, README, LICENSE and package.json only', () => {
    const stray = packed.files.filter(
      (f) => !TOP_LEVEL.has(f) && !f.startsWith('dist/') && !f.startsWith('bin/'),
    );
    assert.deepEqual(stray, []);
    const forbidden = packed.files.filter((f) =>
      /\.map$|\.test\.|\/test\/|\/e2e\/|\.db$|tsbuildinfo/.test(f),
    );
    assert.deepEqual(forbidden, []);
    for (const f of [...TOP_LEVEL, 'bin/coatcheck.js', 'dist/cli/main.js']) {
      assert.ok(packed.files.includes(f), `${f} is packed`);
    }
  });

  test('every export resolves to a packed .js and .d.ts; the source condition is repo-only', () => {
    const manifest = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'));
    for (const [subpath, target] of Object.entries<Record<string, string> | string>(
      manifest.exports,
    )) {
      if (typeof target === 'string') continue; // ./package.json
      assert.deepEqual(Object.keys(target), ['source', 'types', 'default'], subpath);
      for (const condition of ['types', 'default'] as const) {
        const file = target[condition]?.replace(/^\.\//, '') ?? '';
        assert.ok(packed.files.includes(file), `${subpath} (${condition}): ${file} is packed`);
      }
    }
    assert.equal(manifest.types, './dist/index.d.ts');
    for (const name of ['express', 'fastify', 'fastify-plugin', 'redis', 'postgres']) {
      assert.ok(manifest.peerDependencies[name], `${name} is a peer`);
      assert.equal(manifest.peerDependenciesMeta[name]?.optional, true, `${name} is optional`);
      assert.equal(manifest.dependencies[name], undefined, `${name} is not a dependency`);
    }
  });

  test('a consumer file type-checks against the public exports (strict, nodenext)', async () => {
    cpSync(join(CONSUMER, 'types.ts'), join(project, 'types.ts'));
    const tsconfig = {
      compilerOptions: {
        target: 'es2024',
        lib: ['es2024', 'dom'],
        module: 'nodenext',
        moduleResolution: 'nodenext',
        strict: true,
        noEmit: true,
        types: ['node'],
        skipLibCheck: false, // our .d.ts files are checked too
      },
      files: ['types.ts'],
    };
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify(tsconfig));
    const tsc = join(REPO, 'node_modules/typescript/bin/tsc');
    await run(node, [tsc, '-p', project]).catch((error) => {
      assert.fail(`tsc failed:\n${error.stdout}${error.stderr}`);
    });
  });

  test('each adapter’s flow runs from the installed package', async () => {
    cpSync(join(CONSUMER, 'flows.ts'), join(project, 'flows.ts'));
    const { stdout } = await run(node, ['flows.ts'], { cwd: project });
    assert.deepEqual(stdout.trim().split('\n'), [
      'ok express',
      'ok fastify',
      'ok hono',
      'ok hono-handler',
      'ok web',
    ]);
  });

  test('importing the core, SQLite, an adapter or a store loads no package it does not need', async () => {
    cpSync(join(CONSUMER, 'record-loads.mjs'), join(project, 'record-loads.mjs'));
    const loads = async (specifier: string) => {
      const code = `await import(${JSON.stringify(specifier)});`;
      const args = ['--import', './record-loads.mjs', '--input-type=module', '-e', code];
      const { stdout } = await run(node, args, { cwd: project });
      const urls: string[] = JSON.parse(stdout.trim().split('\n').at(-1) ?? '[]');
      return new Set(urls.map(packageOf).filter((p): p is string => p !== null));
    };
    const core = await loads('coatcheck');
    assert.ok(core.has('coatcheck'), 'the hook sees the package itself');
    for (const specifier of [
      'coatcheck',
      'coatcheck/sqlite',
      'coatcheck/web',
      'coatcheck/express',
      'coatcheck/hono',
    ]) {
      const loaded = specifier === 'coatcheck' ? core : await loads(specifier);
      const bad = FORBIDDEN.filter((name) => loaded.has(name));
      assert.deepEqual(bad, [], `${specifier} loaded ${[...loaded].join(', ')}`);
    }
    // Control: the hook does see frameworks when an entry point really loads them.
    const server = await loads('coatcheck/server');
    assert.ok(server.has('hono') && server.has('pino'), [...server].join(', '));
    // The Fastify plugin needs fastify-plugin at run time, and still not Fastify itself.
    const fastify = await loads('coatcheck/fastify');
    assert.deepEqual(
      FORBIDDEN.filter((name) => fastify.has(name)),
      ['fastify-plugin'],
    );
    // Each store loads its own driver and nothing else.
    const redis = await loads('coatcheck/redis');
    assert.deepEqual(
      FORBIDDEN.filter((name) => redis.has(name)),
      ['redis', '@redis/client'],
    );
    const postgres = await loads('coatcheck/postgres');
    assert.deepEqual(
      FORBIDDEN.filter((name) => postgres.has(name)),
      ['postgres'],
    );
    // The download server loads @hono/node-server only inside listen(), and the Redis driver only
    // inside createRedisReplayGuard: no framework, no driver, no server logging.
    const download = await loads('coatcheck/download');
    assert.ok(download.has('jose'), [...download].join(', '));
    assert.deepEqual(
      FORBIDDEN.filter((name) => download.has(name)),
      [],
    );
  });
});

/** Builds into a scratch copy of the package and packs it there. */
async function pack(work: string): Promise<Packed> {
  const root = join(work, 'package');
  for (const entry of ['package.json', 'README.md', 'LICENSE', 'bin']) {
    cpSync(join(REPO, entry), join(root, entry), { recursive: true });
  }
  const tsc = join(REPO, 'node_modules/typescript/bin/tsc');
  const build = ['-p', join(REPO, 'tsconfig.build.json'), '--outDir', join(root, 'dist')];
  await run(node, [tsc, ...build]).catch((error) => {
    throw new Error(`the build failed:\n${error.stdout}${error.stderr}`);
  });
  // --ignore-scripts: prepack would rebuild; the build above used the same config.
  const { stdout } = await run(
    npm,
    ['pack', '--json', '--ignore-scripts', '--pack-destination', work],
    {
      cwd: root,
    },
  );
  const [info] = JSON.parse(stdout);
  return {
    tarball: join(work, info.filename),
    files: info.files.map((f: { path: string }) => f.path),
  };
}

/** A fresh ESM project with the tarball and the peers at this checkout's versions. */
async function install(project: string, tarball: string): Promise<void> {
  mkdirSync(project, { recursive: true });
  const manifest = { name: 'coatcheck-consumer', private: true, type: 'module' };
  writeFileSync(join(project, 'package.json'), JSON.stringify(manifest));
  const version = (name: string) =>
    JSON.parse(readFileSync(join(REPO, 'node_modules', name, 'package.json'), 'utf8')).version;
  const specs = PEERS.map((name) => `${name}@${version(name)}`);
  const flags = ['--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'];
  await run(npm, ['install', ...flags, tarball, ...specs], { cwd: project });
}

/** The package a resolved URL belongs to (its last node_modules segment), or null. */
function packageOf(url: string): string | null {
  const match = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\/(?!.*\/node_modules\/)/.exec(url);
  return match?.[1] ?? null;
}
