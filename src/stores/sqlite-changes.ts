import {
  type FSWatcher,
  fstatSync,
  openSync,
  readSync,
  statSync,
  watch as watchDir,
} from 'node:fs';
import { basename, dirname } from 'node:path';
import type { DatabaseSync, StatementResultingChanges, StatementSync } from 'node:sqlite';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChangeProbe } from '../core/store.ts';

/**
 * Tells whether any connection, in any process, has committed to a WAL-mode SQLite database, by
 * reading the WAL-index header at the start of its `-shm` file
 * (https://sqlite.org/walformat.html#the_wal_index_header). Every commit rewrites that header
 * (change counter, frame count, salts, checksum), and its format is fixed across SQLite versions
 * because processes running different versions share the file. One 96-byte `pread` (~2 µs): the
 * JOIN it lets a near cache skip costs ~8 µs, most of it the read transaction's two `fcntl` locks.
 * The stores' own frequent writes (sign-ins, renewals, audit events) go through `neutralCommit`,
 * which lets the probes of their connection take those commits as seen instead of flushing.
 *
 * The `pread` is a system call, and under load it was most of what a near-cached SQLite lookup
 * cost over the memory store. So a probe reads the header again only when it may have moved:
 * - when the kernel said a file of the database was written (`fs.watch` on its directory, i.e.
 *   inotify). Every commit writes its frames to the `-wal` file before it publishes them in the
 *   header, so the notice is queued before any process can see the commit;
 * - when a store of this process wrote through any connection to the file (`noteCommit`), so that
 *   another engine here sees it at its very next lookup, in the same turn of the event loop;
 * - and whenever 1 ms (`rereadAfterMs`) passed since its last read, whatever the notices say. The
 *   stores' revoking writes resolve only 1 ms after their commit (`noteCommit`), so no process
 *   can act on a revocation through Coatcheck before every probe will read it. A commit by other
 *   programs (the sqlite3 shell) is seen within 1 ms, and usually at once through the notice.
 *   Without a working watch, it reads on every lookup, as before.
 *
 * Written by hand: node:sqlite exposes no such check (`PRAGMA data_version` needs a read
 * transaction, the very cost this avoids on every lookup, and misses the connection's own commits:
 * which is what `neutralCommit`, on the far rarer writes, uses it for).
 */

/** Two copies of the 48-byte WalIndexHdr; a writer updates the second, then the first. */
const HEADER_BYTES = 48;
const HEADER_WORDS = HEADER_BYTES / 4;
/** WalIndexHdr.iChange, in words: every commit adds one; nothing else does (recovery resets it). */
const I_CHANGE = 2;

/**
 * One read-only descriptor per `-shm` file (by inode), never closed, on purpose: closing any
 * descriptor of a file drops every POSIX lock this process holds on it, SQLite's own included
 * (another connection of this process may still be using the file).
 */
const descriptors = new Map<string, number>();

/** Longest a probe trusts the header it last read when nothing said the file changed. */
const REREAD_AFTER_MS = 1;

/** What this process heard of writes to one database file (the file, its `-wal` and `-shm`). */
interface Notices {
  /** Moves on at every write heard of: a probe that saw another count reads the header again. */
  count: number;
  /** Null while no watch reports writes (none could be set up, or it failed): read every time. */
  watcher: FSWatcher | null;
  /** Connections of this process with probes on the file; the watch closes with the last. */
  connections: number;
}

/** By database path: one directory watch per file, whatever the number of connections. */
const noticesByPath = new Map<string, Notices>();

/** What one probe last saw: the header it compares against, and when and at what count. */
interface Seen {
  readonly header: Int32Array;
  primed: boolean;
  /** `Notices.count` when the header was read. */
  count: number;
  /** `performance.now()` when it was read; -Infinity to read again at the next call. */
  readAt: number;
}

/** The probes of one connection, which `neutralCommit` tells of that connection's own writes. */
interface Watch {
  readonly fd: number;
  readonly path: string;
  readonly notices: Notices;
  /** Weak: a probe lives as long as the near cache holding it; engines come and go. */
  readonly probes: Set<WeakRef<Seen>>;
  readonly dataVersion: StatementSync;
  readonly scratch: Scratch;
}

/** Both header copies as 32-bit words, and the same memory as bytes for `readSync`. */
interface Scratch {
  readonly words: Int32Array;
  readonly bytes: Buffer;
}

const watches = new WeakMap<DatabaseSync, Watch>();

/** How often a probe reads the header (tests); by default every write heard of, and each 1 ms. */
export interface ProbeOptions {
  /** Reads again after this long even without a notice; 0 reads on every call. @default 1 */
  readonly rereadAfterMs?: number;
}

/**
 * The change probe of an open database, or null when it has none to offer (in-memory, not in WAL
 * mode, or with exclusive locking, where the index lives in heap memory): a near cache then stays
 * off. Its first `changed()` answers true.
 */
export function walChangeProbe(db: DatabaseSync, options: ProbeOptions = {}): ChangeProbe | null {
  const path = db.location();
  if (path === null || pragma(db, 'journal_mode') !== 'wal') return null;
  if (pragma(db, 'locking_mode') !== 'normal') return null;
  const fd = shmDescriptor(`${path}-shm`);
  if (fd === null) return null;
  const rereadAfterMs = options.rereadAfterMs ?? REREAD_AFTER_MS;
  const read = scratch();
  const seen: Seen = { header: new Int32Array(HEADER_WORDS), primed: false, count: 0, readAt: 0 };
  const w = watch(db, path, fd);
  const notices = w.notices;
  w.probes.add(new WeakRef(seen));
  return {
    changed() {
      // Closed: the last connection's close unlinks the -shm this descriptor still reads, which
      // would never change again. Always a change, so every lookup reads the store (and fails).
      if (!db.isOpen) {
        stopWatching(db);
        return true;
      }
      const now = performance.now();
      const count = notices.count;
      if (
        seen.primed &&
        notices.watcher !== null &&
        seen.count === count &&
        now - seen.readAt < rereadAfterMs
      ) {
        return false;
      }
      // The copies differ while a writer is between them: changed, not remembered, read again.
      if (!readHeader(fd, read)) {
        seen.readAt = Number.NEGATIVE_INFINITY;
        return true;
      }
      seen.count = count;
      seen.readAt = now;
      if (seen.primed && sameHeader(read.words, seen.header)) return false;
      seen.header.set(read.words.subarray(0, HEADER_WORDS));
      seen.primed = true;
      return true;
    },
  };
}

/**
 * After a commit by a store that a near cache must hear of (a delete, a lock, a role change):
 * tells the probes of every connection of this process to `db`'s file at once (they read the
 * header at their next call, in this same turn of the event loop), and resolves `REREAD_AFTER_MS`
 * later (at once for an in-memory database, which no other connection reads). Whoever awaits it
 * learns of the commit only once every probe of any other process reads the header again at its
 * next call, heard of the write or not: a revocation through Coatcheck is seen at the very next
 * lookup in every process. (A notice can come after a request that was sent after the commit: a
 * busy server's epoll keeps a socket ahead of it in its ready list.)
 */
export async function noteCommit(db: DatabaseSync): Promise<void> {
  const committedAt = performance.now();
  const path = db.isOpen ? db.location() : null;
  if (path === null) return; // in memory (or closed): no probe anywhere reads this database
  const notices = noticesByPath.get(path);
  if (notices !== undefined) notices.count++;
  // A timer counts from the event loop's cached time, which can be well before the commit: it
  // may fire sooner than the real 1 ms, so the clock decides.
  while (performance.now() - committedAt < REREAD_AFTER_MS) await sleep(REREAD_AFTER_MS);
}

/** Releases `db`'s share of the directory watch; call before closing it. Idempotent. */
export function stopWatching(db: DatabaseSync): void {
  const w = watches.get(db);
  if (w === undefined) return;
  watches.delete(db);
  if (--w.notices.connections > 0) return;
  w.notices.watcher?.close();
  if (noticesByPath.get(w.path) === w.notices) noticesByPath.delete(w.path);
}

/**
 * Runs `write`, one autocommit statement of `db` that no near cache needs to hear of (a new row, a
 * renewal; never a delete, a lock or a role change, which other engines on this connection learn
 * of only through their probes), and lets `db`'s probes take its commit as seen, so they do not
 * flush for it. Only when provably nothing else committed meanwhile: otherwise, or when in doubt,
 * they answer `changed()` as if this were any commit. Returns (or throws) what `write` does.
 */
export function neutralCommit(
  db: DatabaseSync,
  write: () => StatementResultingChanges,
): StatementResultingChanges {
  const w = watches.get(db);
  const before = w === undefined ? null : begin(db, w);
  const result = write(); // a throw records nothing: the probes see whatever it left
  if (w !== undefined && before !== null) end(w, before, Number(result.changes) > 0);
  return result;
}

/** What `neutralCommit` knew before the write: the connection's data_version, then the header. */
interface Before {
  readonly version: number;
  readonly header: Int32Array;
}

function begin(db: DatabaseSync, w: Watch): Before | null {
  try {
    // In a transaction the write commits later, and data_version would not look past its snapshot.
    if (w.probes.size === 0 || !db.isOpen || db.isTransaction) return null;
    // data_version first, the header second: the two windows they vouch for must overlap.
    const version = w.dataVersion.get()?.[0];
    if (typeof version !== 'number' || !readHeader(w.fd, w.scratch)) return null;
    return { version, header: w.scratch.words.slice(0, HEADER_WORDS) };
  } catch {
    return null; // closed, or an I/O error: not recorded
  }
}

/**
 * After a successful write: moves every probe that had seen exactly the header before it to the
 * header after it, when both of two independent checks say the only commit in between was ours:
 * - iChange moved by exactly as many commits as the write made (one if it changed a row, else
 *   none): each commit by anyone adds one (a WAL restart or checkpoint adds none, and changes no
 *   row), so a foreign commit before or after ours shows. It alone would be fooled by a crash
 *   recovery, which resets the counter to 0.
 * - `PRAGMA data_version` of this connection did not move: SQLite documents that it changes when,
 *   and only when, another connection committed since its previous read transaction (it compares
 *   the whole header with the connection's own copy). Read before the first header read and after
 *   the second, it vouches for the whole span. It alone would be fooled by a read transaction
 *   held open across the write (a pending statement of the caller's), which the count catches.
 */
function end(w: Watch, before: Before, wrote: boolean): void {
  try {
    if (!readHeader(w.fd, w.scratch)) return;
    const moved =
      ((w.scratch.words[I_CHANGE] as number) - (before.header[I_CHANGE] as number)) >>> 0;
    if (moved !== (wrote ? 1 : 0)) return;
    if (w.dataVersion.get()?.[0] !== before.version) return;
  } catch {
    return;
  }
  for (const ref of w.probes) {
    const seen = ref.deref();
    if (seen === undefined) w.probes.delete(ref);
    // A probe that had not seen the header before the write has a change to report: left alone.
    else if (seen.primed && sameHeader(before.header, seen.header)) {
      seen.header.set(w.scratch.words.subarray(0, HEADER_WORDS));
    }
  }
}

function watch(db: DatabaseSync, path: string, fd: number): Watch {
  let w = watches.get(db);
  if (w === undefined) {
    const dataVersion = db.prepare('PRAGMA data_version');
    dataVersion.setReturnArrays(true);
    const notices = noticesFor(path);
    notices.connections++;
    w = { fd, path, notices, probes: new Set(), dataVersion, scratch: scratch() };
    watches.set(db, w);
  }
  return w;
}

/**
 * The notices of writes to the database at `path`, from a watch of its directory: a file can be
 * deleted and created again (a checkpoint may truncate the -wal, a restore replace the file), a
 * directory entry's watch sees every incarnation. Without one, `watcher` stays null.
 */
function noticesFor(path: string): Notices {
  const known = noticesByPath.get(path);
  if (known !== undefined) return known;
  const name = basename(path);
  const notices: Notices = { count: 0, watcher: null, connections: 0 };
  try {
    // Not persistent: the watch must not keep a process alive that has nothing else to do.
    const watcher = watchDir(dirname(path), { persistent: false }, (_event, file) => {
      if (file === null || file.startsWith(name)) notices.count++;
    });
    watcher.on('error', () => {
      notices.watcher = null;
      watcher.close();
    });
    notices.watcher = watcher;
  } catch {
    // No watch here (the inotify limit, a file system without it): every lookup reads the header.
  }
  noticesByPath.set(path, notices);
  return notices;
}

function scratch(): Scratch {
  // Compared as 32-bit words: Buffer#compare with offsets cost ~2.5k instructions a call.
  const words = new Int32Array(HEADER_WORDS * 2);
  return { words, bytes: Buffer.from(words.buffer) };
}

/** Reads both copies of the header; false when short or when the copies differ. */
function readHeader(fd: number, { words, bytes }: Scratch): boolean {
  if (readSync(fd, bytes, 0, bytes.length, 0) !== bytes.length) return false;
  for (let i = 0; i < HEADER_WORDS; i++) {
    if (words[i] !== words[i + HEADER_WORDS]) return false;
  }
  return true;
}

/** Whether the first copy in `words` equals `header`. */
function sameHeader(words: Int32Array, header: Int32Array): boolean {
  for (let i = 0; i < HEADER_WORDS; i++) if (words[i] !== header[i]) return false;
  return true;
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
