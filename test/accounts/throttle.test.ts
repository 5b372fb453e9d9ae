import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { THROTTLE_PRESETS, Throttle } from '../../src/accounts/throttle.ts';
import { ConfigError } from '../../src/core/errors.ts';

const S = 1000;

function setup(options: Partial<ConstructorParameters<typeof Throttle>[0]> = {}) {
  const clock = { now: 1_000_000 };
  const throttle = new Throttle({
    ...THROTTLE_PRESETS.loginPerAccount,
    ...options,
    now: () => clock.now,
  });
  return { clock, throttle };
}

describe('Throttle', () => {
  it('allows the free failures, then backs off 1 s, 2 s, 4 s …', () => {
    const { throttle } = setup();
    for (let i = 0; i < 5; i++) assert.equal(throttle.recordFailure('a@x.test'), 0);
    assert.equal(throttle.blockedForSeconds('a@x.test'), 0);
    assert.equal(throttle.recordFailure('a@x.test'), 1);
    assert.equal(throttle.recordFailure('a@x.test'), 2);
    assert.equal(throttle.recordFailure('a@x.test'), 4);
    assert.equal(throttle.blockedForSeconds('a@x.test'), 4);
  });

  it('caps the delay so an attacker cannot lock the victim out for long', () => {
    const { clock, throttle } = setup();
    for (let i = 0; i < 1000; i++) throttle.recordFailure('victim@x.test');
    assert.equal(throttle.blockedForSeconds('victim@x.test'), 60);
    clock.now += 60 * S;
    assert.equal(throttle.blockedForSeconds('victim@x.test'), 0, 'free again after the cap');
    // A persistent attacker stays at the cap: time spent blocked does not decay the count.
    assert.equal(throttle.recordFailure('victim@x.test'), 60);
  });

  it('reports Retry-After in whole seconds, counting down with the clock', () => {
    const { clock, throttle } = setup({ freeFailures: 0, baseDelaySeconds: 4 });
    throttle.recordFailure('k');
    clock.now += 1500;
    assert.equal(throttle.blockedForSeconds('k'), 3);
    clock.now += 2499;
    assert.equal(throttle.blockedForSeconds('k'), 1);
    clock.now += 1;
    assert.equal(throttle.blockedForSeconds('k'), 0);
  });

  it('resets a key on success', () => {
    const { throttle } = setup();
    for (let i = 0; i < 8; i++) throttle.recordFailure('a@x.test');
    assert.ok(throttle.blockedForSeconds('a@x.test') > 0);
    throttle.reset('a@x.test');
    assert.equal(throttle.blockedForSeconds('a@x.test'), 0);
    for (let i = 0; i < 5; i++) assert.equal(throttle.recordFailure('a@x.test'), 0);
  });

  it('refunds one failure counted in advance, lifting the block it caused', () => {
    const { throttle } = setup();
    for (let i = 0; i < 6; i++) throttle.recordFailure('10.0.0.1');
    assert.equal(throttle.blockedForSeconds('10.0.0.1'), 1);
    throttle.refund('10.0.0.1');
    assert.equal(throttle.blockedForSeconds('10.0.0.1'), 0);
    assert.equal(throttle.recordFailure('10.0.0.1'), 1, 'the five real failures still count');
    for (let i = 0; i < 3; i++) throttle.recordFailure('10.0.0.1');
    throttle.refund('10.0.0.1');
    assert.ok(throttle.blockedForSeconds('10.0.0.1') > 0, 'earlier failures keep their block');
  });

  it('forgets failures after a quiet period (one per decay interval)', () => {
    const { clock, throttle } = setup();
    for (let i = 0; i < 5; i++) throttle.recordFailure('a@x.test');
    clock.now += 300 * S; // one failure forgotten
    assert.equal(throttle.recordFailure('a@x.test'), 0);
    assert.equal(throttle.recordFailure('a@x.test'), 1);
    clock.now += 1 * S + 6 * 300 * S; // quiet long enough for all of them
    for (let i = 0; i < 5; i++) assert.equal(throttle.recordFailure('a@x.test'), 0);
  });

  it('keeps keys independent: one blocked account does not block another', () => {
    const { throttle } = setup();
    for (let i = 0; i < 10; i++) throttle.recordFailure('victim@x.test');
    assert.ok(throttle.blockedForSeconds('victim@x.test') > 0);
    assert.equal(throttle.blockedForSeconds('other@x.test'), 0);
    assert.equal(throttle.recordFailure('other@x.test'), 0);
  });

  it('bounds memory: never more than maxKeys, and decayed keys are swept', () => {
    const { clock, throttle } = setup({ maxKeys: 100 });
    for (let i = 0; i < 10_000; i++) throttle.recordFailure(`spray-${i}`);
    assert.equal(throttle.size, 100);
    assert.equal(throttle.blockedForSeconds('spray-0'), 0, 'oldest keys were dropped');
    clock.now += 24 * 3600 * S;
    throttle.recordFailure('late');
    assert.equal(throttle.size, 1, 'a sweep dropped every fully decayed key');
  });

  it('works as the engine GuessLimiter with the clock the engine passes in', () => {
    const throttle = new Throttle({ ...THROTTLE_PRESETS.tokenGuessPerIp, now: () => 0 });
    const t0 = 5_000_000;
    // A NAT seeing a steady ~60 stale cookies a minute is never blocked …
    for (let i = 0; i < 600; i++) throttle.recordFailure('10.0.0.1', t0 + i * S);
    assert.equal(throttle.blockedForSeconds('10.0.0.1', t0 + 600 * S), 0);
    // … but a burst of 1,000 random tokens in a minute is, up to the 5-minute cap.
    let blocked = 0;
    for (let i = 0; i < 1000; i++) {
      const now = t0 + 3600 * S + i * 60;
      if (throttle.blockedForSeconds('203.0.113.9', now) > 0) blocked++;
      else throttle.recordFailure('203.0.113.9', now);
    }
    assert.ok(blocked > 800, `only ${blocked} of 1000 blocked`);
    assert.ok(throttle.blockedForSeconds('203.0.113.9', t0 + 3660 * S) <= 300);
  });

  it('refuses nonsense options at start-up', () => {
    assert.throws(
      () => new Throttle({ freeFailures: -1, maxDelaySeconds: 1, decaySeconds: 1 }),
      ConfigError,
    );
    assert.throws(
      () => new Throttle({ freeFailures: 1, maxDelaySeconds: 0, decaySeconds: 1 }),
      ConfigError,
    );
    assert.throws(
      () => new Throttle({ freeFailures: 1, maxDelaySeconds: 1, decaySeconds: 1, maxKeys: 0 }),
      ConfigError,
    );
  });
});
