import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

/** Runs `sql` against the SQLite file from another process, as the CLI or a second server would. */
export function inAnotherProcess(path: string, sql: string): void {
  const script = `
    const { DatabaseSync } = require('node:sqlite');
    const db = new DatabaseSync(process.argv[1], { timeout: 5000 });
    db.exec(process.argv[2]);
    db.close();`;
  const run = spawnSync(process.execPath, ['-e', script, path, sql], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
}
