import { fstatSync, openSync, readSync, statSync } from 'node:fs';
import type { DatabaseSync } from 'node:sqlite';
import type { ChangeProbe } from '../core/store.ts';

/**
 * Tells whether any connection, in any process, has committed to a WAL-mode SQLite database, by
 * reading the WAL-index header at the start of its `-shm` file
 * (https://sqlite.org/walformat.html#the_wal_index_header). Every commit rewrites that header
 * (change counter, frame count, salts, checksum), and its format is fixed across SQLite versions
 * because processes running different versions share the file. One 96-byte `pread` (~2 µs): the
 * JOIN it lets a near cache skip costs ~8 µs, most of it the read transaction's two `fcntl` locks.
 *
 * Written by hand: node:sqlite exposes no such check (`PRAGMA data_version` needs a read
 * transaction, the very cost this avoids, and misses the connection's own commits).
 */

/** Two copies of the 48-byte WalIndexHdr; a writer updates the second, then the first. */
const HEADER_BYTES = 48;

/**
 * One read-only descriptor per `-shm` file (by inode), never closed, on purpose: closing any
 * descriptor of a file drops every POSIX lock this process holds on it, SQLite's own included
 * (another connection of this process may still be using the file).
 */
const descriptors = new Map<string, number>();

/**
 * The change probe of an open database, or null when it has none to offer (in-memory, not in WAL
 * mode, or with exclusive locking, where the index lives in heap memory): a near cache then stays
 * off. Its first `changed()` answers true.
 */
export function walChangeProbe(db: DatabaseSync): ChangeProbe | null {
  const path = db.location();
  if (path === null || pragma(db, 'journal_mode') !== 'wal') return null;
  if (pragma(db, 'locking_mode') !== 'normal') return null;
  const fd = shmDescriptor(`${path}-shm`);
  if (fd === null) return null;
  // Compared as 32-bit words: Buffer#compare with offsets cost ~2.5k instructions a call.
  const words = new Int32Array((HEADER_BYTES * 2) / 4);
  const read = Buffer.from(words.buffer);
  const seen = new Int32Array(HEADER_BYTES / 4);
  let primed = false;
  return {
    changed() {
      // Closed: the last connection's close unlinks the -shm this descriptor still reads, which
      // would never change again. Always a change, so every lookup reads the store (and fails).
      if (!db.isOpen) return true;
      if (readSync(fd, read, 0, read.length, 0) !== read.length) return true;
      let same = primed;
      for (let i = 0; i < seen.length; i++) {
        const word = words[i] as number;
        // The copies differ while a writer is between them: changed, and not remembered.
        if (word !== words[i + seen.length]) return true;
        if (word !== seen[i]) same = false;
      }
      if (same) return false;
      seen.set(words.subarray(0, seen.length));
      primed = true;
      return true;
    },
  };
}

function pragma(db: DatabaseSync, name: string): unknown {
  return db.prepare(`PRAGMA ${name}`).get()?.[name];
}

/** This process's descriptor of the file now at `path` (a file deleted and recreated gets a new one). */
function shmDescriptor(path: string): number | null {
  try {
    const key = `${path}\0${statSync(path).ino}`;
    let fd = descriptors.get(key);
    if (fd === undefined) {
      fd = openSync(path, 'r');
      // Opened after the stat: recorded under the inode it really has.
      descriptors.set(`${path}\0${fstatSync(fd).ino}`, fd);
    }
    return fd;
  } catch {
    return null;
  }
}
