import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/core/errors.ts';
import { lifetimesFor, resolvePolicy } from '../../src/core/policy.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

/** Lifetimes of a remembered (persistent) session for a user with `roles`. */
function lifetimes(policy: ReturnType<typeof resolvePolicy>, roles: string[]) {
  return lifetimesFor(policy, roles, true);
}

describe('resolvePolicy: per-role overrides', () => {
  it('keeps the admin defaults when the caller configures another role', () => {
    const policy = resolvePolicy({ roles: { support: { idleTimeoutSeconds: 3600 } } });
    assert.deepEqual(lifetimes(policy, ['admin']), { idleMs: 30 * MIN, absoluteMs: 12 * HOUR });
    assert.deepEqual(lifetimes(policy, ['support']), { idleMs: HOUR, absoluteMs: 30 * DAY });
  });

  it('keeps the default admin value the caller did not override', () => {
    const policy = resolvePolicy({ roles: { admin: { idleTimeoutSeconds: 600 } } });
    assert.deepEqual(lifetimes(policy, ['admin']), { idleMs: 10 * MIN, absoluteMs: 12 * HOUR });
  });

  it('lets the caller change the admin lifetimes explicitly', () => {
    const policy = resolvePolicy({
      roles: { admin: { idleTimeoutSeconds: 3600, absoluteLifetimeSeconds: 2 * 86_400 } },
    });
    assert.deepEqual(lifetimes(policy, ['admin']), { idleMs: HOUR, absoluteMs: 2 * DAY });
  });

  it('never lets an override lengthen a session past the base lifetimes (strictest wins)', () => {
    const policy = resolvePolicy({
      idleTimeoutSeconds: 3600,
      absoluteLifetimeSeconds: 86_400,
      roles: { kiosk: { idleTimeoutSeconds: 30 * 86_400, absoluteLifetimeSeconds: 90 * 86_400 } },
    });
    assert.deepEqual(lifetimes(policy, ['kiosk']), { idleMs: HOUR, absoluteMs: DAY });
    // A base stricter than the admin default applies to admins too.
    assert.deepEqual(lifetimes(policy, ['admin']), { idleMs: 30 * MIN, absoluteMs: 12 * HOUR });
    const strict = resolvePolicy({ idleTimeoutSeconds: 600, absoluteLifetimeSeconds: 3600 });
    assert.deepEqual(lifetimes(strict, ['admin']), { idleMs: 10 * MIN, absoluteMs: HOUR });
  });

  it('gives a user with several overridden roles the strictest value of each', () => {
    const policy = resolvePolicy({
      roles: { support: { idleTimeoutSeconds: 600, absoluteLifetimeSeconds: 86_400 } },
    });
    assert.deepEqual(lifetimes(policy, ['support', 'admin']), {
      idleMs: 10 * MIN,
      absoluteMs: 12 * HOUR,
    });
  });

  it('names a bad role override in the error', () => {
    assert.throws(
      () => resolvePolicy({ roles: { support: { idleTimeoutSeconds: 0 } } }),
      /roles\.support\.idleTimeoutSeconds/,
    );
  });

  it('refuses a role override that is not an object with ConfigError, not a TypeError', () => {
    for (const bad of [null, 5, 'long']) {
      assert.throws(
        () => resolvePolicy({ roles: { support: bad as never } }),
        (error: unknown) => error instanceof ConfigError && /roles\.support/.test(error.message),
      );
    }
  });
});
