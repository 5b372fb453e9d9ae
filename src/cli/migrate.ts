import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { MIGRATIONS, openSqliteDatabase, schemaVersion } from '../stores/sqlite.ts';
import { COMMON_HELP, type Command, configFor } from './command.ts';

/** `coatcheck migrate`: creates or upgrades the SQLite schema and prints its version. Idempotent. */
export const migrateCommand: Command = {
  name: 'migrate',
  summary: 'create or upgrade the SQLite database schema',
  positionals: 0,
  help: `Usage: coatcheck migrate [--config <path>]

Creates <COATCHECK_DATA_DIR>/coatcheck.db if needed, applies any missing schema migrations and
prints the schema version. Safe to run at any time, also beside a running server (the server
applies migrations itself at start; this command is for deploy scripts and checks).

Example:
  COATCHECK_DATA_DIR=/var/lib/coatcheck coatcheck migrate
${COMMON_HELP}`,
  async run(args, io) {
    // The same file the server opens (services.ts).
    const path = join(configFor(args, io).dataDir, 'coatcheck.db');
    const before = existsSync(path) ? versionOf(path) : 0;
    const db = openSqliteDatabase(path);
    try {
      const after = schemaVersion(db);
      const change = after === before ? 'up to date' : `migrated from version ${before}`;
      io.out(`${path}: schema version ${after} of ${MIGRATIONS.length} (${change})\n`);
    } finally {
      db.close();
    }
    return 0;
  },
};

/** The schema version of an existing file, read without changing it (0 before any migration). */
function versionOf(path: string): number {
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(path, { readOnly: true });
    return schemaVersion(db);
  } catch {
    return 0; // no schema_migrations table yet (or not a database: opening will say so)
  } finally {
    db?.close();
  }
}
