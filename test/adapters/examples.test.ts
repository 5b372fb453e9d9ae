import { describe, test } from 'node:test';
import { browserFlow } from './example-flow.ts';
import { seedUser, startExample } from './example-runner.ts';

/**
 * Each example app (examples/<framework>/app.ts), started as its README says, driven over HTTP like
 * a browser would: sign in, the protected page, and sign-out everywhere, plus the refusals a
 * hostile page would meet.
 */

for (const framework of ['express', 'fastify', 'hono']) {
  describe(`examples/${framework}`, () => {
    test('signs in, shows the protected page, signs out everywhere', async (t) => {
      const { dir, email, password } = await seedUser();
      const app = await startExample(['--conditions=source', `examples/${framework}/app.ts`], {
        COATCHECK_DATA_DIR: dir,
      });
      t.after(() => app.stop());
      await browserFlow(app, {
        email,
        password,
        signIn: '/login',
        signOut: '/sign-out-everywhere',
      });
    });
  });
}
