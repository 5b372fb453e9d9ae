import { writeSync } from 'node:fs';
import type { DestinationStream } from 'pino';

/**
 * A pino destination that gathers the lines logged in one turn of the event loop and writes them
 * with one write(2) at the end of the turn, instead of one write per line. Written by hand because
 * pino's own options are either one synchronous write per line (~4 µs each on these machines:
 * most of what an access-log line cost per request, measured in bench/) or asynchronous with
 * lines held back until a buffer fills. Here no line waits longer than the current turn, and lines
 * still pending when the process exits (process.exit, a crash) are written synchronously first.
 */
export function batchedDestination(sink: DestinationStream = stdoutSink()): DestinationStream {
  const batch: Batch = { lines: [], sink };
  return {
    write(line: string) {
      batch.lines.push(line);
      if (batch.lines.length === 1) {
        pending.add(batch);
        setImmediate(flush, batch);
      }
    },
  };
}

interface Batch {
  lines: string[];
  readonly sink: DestinationStream;
}

/** Batches holding lines not yet written; the exit hook writes them. */
const pending = new Set<Batch>();
process.on('exit', () => {
  for (const batch of pending) flush(batch);
});

function flush(batch: Batch): void {
  if (batch.lines.length === 0) return;
  const text = batch.lines.join('');
  batch.lines = [];
  pending.delete(batch);
  batch.sink.write(text);
}

/** How long a write that found stdout busy (EAGAIN) waits before trying again, as SonicBoom. */
const BUSY_WRITE_MS = 100;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * Synchronous writes of whole strings to a file descriptor (stdout), as pino's
 * `pino.destination({ dest: 1, sync: true })` makes them: a short write is continued, a busy
 * descriptor (EAGAIN, EBUSY) retried after 100 ms, and a reader that went away (EPIPE) ends the
 * logging quietly; any other error is thrown. Written by hand for its cost only: SonicBoom measures
 * each string's UTF-8 length, then converts it once to write it and once more to account for what
 * was written, ~12.5k instructions a write of an access-log line against ~5.6k here (callgrind, a
 * loop of 20,000 writes to /dev/null), and the batch above already does the buffering it adds.
 */
export function stdoutSink(fd = 1): DestinationStream {
  let broken = false;
  return {
    write(text: string) {
      if (broken) return;
      let rest: string | Buffer = text;
      for (;;) {
        let written: number;
        try {
          // Two calls for writeSync's two overloads (string, buffer): a union matches neither.
          written = typeof rest === 'string' ? writeSync(fd, rest) : writeSync(fd, rest);
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code === 'EAGAIN' || code === 'EBUSY') {
            Atomics.wait(sleeper, 0, 0, BUSY_WRITE_MS);
            continue;
          }
          if (code === 'EPIPE') {
            broken = true;
            return;
          }
          throw error;
        }
        // A string is encoded to UTF-8 to be written: compare in bytes, and carry on from the
        // first byte not written (rare: only a pipe or a socket writes short).
        if (typeof rest === 'string') {
          if (written >= Buffer.byteLength(rest)) return;
          rest = Buffer.from(rest);
        } else if (written >= rest.length) return;
        rest = rest.subarray(written);
      }
    },
  };
}
