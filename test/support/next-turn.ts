import { setImmediate as immediate } from 'node:timers/promises';

/**
 * Resolves once the event loop has polled for I/O after the call: what any request sent after
 * now waits for before this process reads it. A SQLite near cache hears of another connection's
 * commit in that poll (its directory watch), so a test's next validate is the next request's.
 */
export async function nextTurn(): Promise<void> {
  // The first immediate may run in this turn's check phase; the second runs in the next turn's,
  // after its poll phase.
  await immediate();
  await immediate();
}
