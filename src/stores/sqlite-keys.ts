import type { DatabaseSync, SQLOutputValue, StatementSync } from 'node:sqlite';
import type { KeyStore, PublicOkpJwk, SigningKeyRecord } from '../tokens/key-store.ts';
import { failure, inWriteTransaction } from './sqlite-db.ts';

const COLUMNS = 'kid, alg, public_jwk, private_key, created_at, not_before, expires_at';

type Row = Record<string, SQLOutputValue>;

/**
 * Signing keys in the `signing_keys` table of a database from openSqliteDatabase (migration v2).
 * The CLI and the server share the file, so `keys rotate` is seen by a running server on its next
 * signature. Every database failure surfaces as StoreUnavailableError.
 */
export class SqliteKeyStore implements KeyStore {
  readonly #db: DatabaseSync;
  readonly #list: StatementSync;
  readonly #addFirst: StatementSync;
  readonly #insert: StatementSync;
  readonly #retire: StatementSync;
  readonly #prune: StatementSync;

  /** Prepares every statement once. */
  constructor(db: DatabaseSync) {
    this.#db = db;
    try {
      this.#list = db.prepare(`SELECT ${COLUMNS} FROM signing_keys ORDER BY created_at DESC`);
      // One statement, so atomic: two processes creating the first key cannot both succeed.
      this.#addFirst = db.prepare(
        `INSERT INTO signing_keys (${COLUMNS}) SELECT ?, ?, ?, ?, ?, ?, NULL
         WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE expires_at IS NULL)`,
      );
      this.#insert = db.prepare(
        `INSERT INTO signing_keys (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)`,
      );
      this.#retire = db.prepare(
        'UPDATE signing_keys SET expires_at = ?1 WHERE expires_at IS NULL OR expires_at > ?1',
      );
      this.#prune = db.prepare('DELETE FROM signing_keys WHERE expires_at <= ?');
    } catch (error) {
      throw failure('prepare', error);
    }
  }

  async list(): Promise<SigningKeyRecord[]> {
    try {
      return this.#list.all().map(toRecord);
    } catch (error) {
      throw failure('keys list', error);
    }
  }

  async addFirst(record: SigningKeyRecord): Promise<boolean> {
    try {
      const { changes } = this.#addFirst.run(...head(record));
      return Number(changes) === 1;
    } catch (error) {
      throw failure('keys add', error);
    }
  }

  async rotate(record: SigningKeyRecord, options: { retireAt: number; now: number }) {
    try {
      inWriteTransaction(this.#db, () => {
        this.#prune.run(options.now);
        this.#retire.run(options.retireAt);
        this.#insert.run(...head(record), record.expiresAt);
      });
    } catch (error) {
      throw failure('keys rotate', error);
    }
  }
}

/** The first six columns of a record, in COLUMNS order. */
function head(r: SigningKeyRecord): [string, string, string, Uint8Array, number, number] {
  return [r.kid, r.alg, JSON.stringify(r.publicJwk), r.privateKey, r.createdAt, r.notBefore];
}

function toRecord(row: Row): SigningKeyRecord {
  const jwk = JSON.parse(String(row.public_jwk)) as PublicOkpJwk;
  return {
    kid: String(row.kid),
    alg: 'EdDSA',
    publicJwk: { kty: 'OKP', crv: 'Ed25519', x: String(jwk.x) },
    privateKey: row.private_key as Uint8Array,
    createdAt: Number(row.created_at),
    notBefore: Number(row.not_before),
    expiresAt: row.expires_at === null ? null : Number(row.expires_at),
  };
}
