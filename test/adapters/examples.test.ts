import { after, before, describe, test } from 'node:test';
import { browserFlow, tokenGuessing, unreadableSignIns } from './example-flow.ts';
import { type RunningExample, seedUser, startExample } from './example-runner.ts';

/**
 * Each example app (examples/<framework>/app.ts), started as its README says, driven over HTTP like
 * a browser would: sign in, the protected page, and sign-out everywhere, plus the refusals a
 * hostile page would meet and the sign-in posts it cannot read.
 */

for (const framework of ['express', 'fastify', 'hono']) {
  describe(`examples/${framework}`, () => {
    let app: RunningExample;
    let user: { email: string; password: string };
    before(async () => {
      const { dir, email, password } = await seedUser();
      user = { email, password };
      app = await startExample(['--conditions=source', `examples/${framework}/app.ts`], {
        COATCHECK_DATA_DIR: dir,
      });
    });
    after(() => app?.stop());

    test('signs in, shows the protected page, signs out everywhere', async () => {
      await browserFlow(app, { ...user, signIn: '/login', signOut: '/sign-out-everywhere' });
    });

    test('answers a sign-in post it cannot read with a 4xx, never a 500', async () => {
      await unreadableSignIns(app, '/login');
    });

    test('blocks a client that keeps presenting invalid session tokens (429)', async () => {
      await tokenGuessing(app);
    });
  });
}
