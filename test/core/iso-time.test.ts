import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isoTime } from '../../src/core/iso-time.ts';

// Every log line's timestamp comes from isoTime: it must be exactly Date#toISOString.

const LAST = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z

test('isoTime equals toISOString for any millisecond of 1970–9999', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: LAST }), (ms) => {
      assert.equal(isoTime(ms), new Date(ms).toISOString());
    }),
    { numRuns: 20_000 },
  );
});

test('isoTime equals toISOString at the calendar edges', () => {
  const edges = [
    0,
    Date.UTC(2000, 1, 29, 23, 59, 59, 999), // a leap day of a century divisible by 400
    Date.UTC(2100, 1, 28, 12), // 2100 is not a leap year
    Date.UTC(2100, 2, 1),
    Date.UTC(2024, 11, 31, 23, 59, 59, 999),
    Date.UTC(2025, 0, 1),
    Date.now(),
    LAST,
  ];
  for (const ms of edges) assert.equal(isoTime(ms), new Date(ms).toISOString());
});

test('outside that range isoTime still answers as toISOString does', () => {
  for (const ms of [-1, LAST + 1, 1.5, -8.64e15, 8.64e15]) {
    assert.equal(isoTime(ms), new Date(ms).toISOString());
  }
  assert.throws(() => isoTime(Number.NaN), RangeError);
});
