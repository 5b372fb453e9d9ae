/** Temp directories of a benchmark run: removed on exit and on SIGINT/SIGTERM, whatever happens. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Every temp directory made here, removed on exit and on SIGINT/SIGTERM even without close(). */
const tempDirs = new Set<string>();
const removeTempDirs = () => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
};
process.once('exit', removeTempDirs);
// A signal listener replaces the default action (exit): raise the signal again once the listener
// is gone, or every process importing this would outlive SIGTERM (the bench servers did).
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    removeTempDirs();
    process.kill(process.pid, signal);
  });
}

/** A fresh temp directory under the OS temp dir, removed when the process ends. */
export function benchTempDir(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `coatcheck-bench-${label}-`));
  tempDirs.add(dir);
  return dir;
}

/** Stops tracking a directory the caller has removed itself. */
export function forgetTempDir(dir: string): void {
  tempDirs.delete(dir);
}
