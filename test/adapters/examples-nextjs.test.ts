import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { freePort } from '../support/processes.ts';
import { browserFlow } from './example-flow.ts';
import { REPO, seedUser, startExample } from './example-runner.ts';

/**
 * examples/nextjs for real: the package is built (the example imports `coatcheck/web` like a user
 * and Next.js resolves it to dist/), `next build` compiles and type-checks the App Router app with
 * its proxy.ts, `next start` serves it, and the browser flow runs against it over HTTP.
 */

const run = promisify(execFile);
const NEXT = join(REPO, 'node_modules/next/dist/bin/next');
const env = { NEXT_TELEMETRY_DISABLED: '1' };

describe('examples/nextjs', { timeout: 180_000 }, () => {
  test('signs in, shows the protected page, signs out everywhere', async (t) => {
    // On a timeout the test body runs on: t.signal stops the builds and the server it starts then.
    const { signal } = t;
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    await run(npm, ['run', 'build'], { cwd: REPO, signal });
    await run(process.execPath, [NEXT, 'build', 'examples/nextjs'], {
      cwd: REPO,
      env: { ...process.env, ...env },
      signal,
    }).catch((error) => {
      throw new Error(`next build failed:\n${error.stdout}${error.stderr}`);
    });
    const { dir, email, password } = await seedUser();
    const port = await freePort();
    const args = [NEXT, 'start', 'examples/nextjs', '-p', String(port), '-H', '127.0.0.1'];
    const app = await startExample(args, { ...env, COATCHECK_DATA_DIR: dir }, { signal });
    t.after(() => app.stop());
    await browserFlow(app, {
      email,
      password,
      signIn: '/api/sign-in',
      signOut: '/api/sign-out-everywhere',
    });
  });
});
