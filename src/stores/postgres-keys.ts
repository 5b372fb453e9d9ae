import type { JSONValue, Row, Sql } from 'postgres';
import type { KeyStore, PublicOkpJwk, SigningKeyRecord } from '../tokens/key-store.ts';
import { attempt } from './postgres-breaker.ts';
import { defaultQueryTimeoutMs, type PostgresQueryOptions } from './postgres-db.ts';

const COLUMNS = [
  'kid',
  'alg',
  'public_jwk',
  'private_key',
  'created_at',
  'not_before',
  'expires_at',
] as const;

/**
 * Signing keys in the `signing_keys` table of a database migrated by migratePostgres (times are
 * epoch ms in bigint columns; private_key holds the sealed bytes). Writers take the table's
 * EXCLUSIVE lock (readers are not blocked), so two nodes creating the first key, or rotating at
 * once, never leave two signing keys. Every failure, and no answer within `queryTimeoutMs`,
 * surfaces as StoreUnavailableError.
 */
export class PostgresKeyStore implements KeyStore {
  readonly #sql: Sql;
  readonly #timeoutMs: number;

  /** Uses the pool `sql` (shared with the other PostgreSQL stores; closing is theirs). */
  constructor(sql: Sql, options: PostgresQueryOptions = {}) {
    this.#sql = sql;
    this.#timeoutMs = options.queryTimeoutMs ?? defaultQueryTimeoutMs();
  }

  async list(): Promise<SigningKeyRecord[]> {
    const sql = this.#sql;
    const rows = await attempt(
      sql,
      'keys list',
      this.#timeoutMs,
      async () => sql`SELECT ${sql(COLUMNS)} FROM signing_keys ORDER BY created_at DESC`,
    );
    return rows.map(toRecord);
  }

  async addFirst(record: SigningKeyRecord): Promise<boolean> {
    const sql = this.#sql;
    return attempt(sql, 'keys add', this.#timeoutMs, () =>
      sql.begin(async (tx) => {
        await tx`LOCK TABLE signing_keys IN EXCLUSIVE MODE`;
        const [signing] = await tx`SELECT 1 FROM signing_keys WHERE expires_at IS NULL LIMIT 1`;
        if (signing !== undefined) return false;
        await tx`INSERT INTO signing_keys ${tx(toRow(sql, record))}`;
        return true;
      }),
    );
  }

  async rotate(record: SigningKeyRecord, options: { retireAt: number; now: number }) {
    const sql = this.#sql;
    await attempt(sql, 'keys rotate', this.#timeoutMs, () =>
      sql.begin(async (tx) => {
        await tx`LOCK TABLE signing_keys IN EXCLUSIVE MODE`;
        await tx`DELETE FROM signing_keys WHERE expires_at <= ${options.now}`;
        await tx`UPDATE signing_keys SET expires_at = ${options.retireAt}
          WHERE expires_at IS NULL OR expires_at > ${options.retireAt}`;
        await tx`INSERT INTO signing_keys ${tx(toRow(sql, record))}`;
      }),
    );
  }
}

function toRow(sql: Sql, r: SigningKeyRecord) {
  return {
    kid: r.kid,
    alg: r.alg,
    public_jwk: sql.json(r.publicJwk as unknown as JSONValue),
    private_key: Buffer.from(r.privateKey),
    created_at: r.createdAt,
    not_before: r.notBefore,
    expires_at: r.expiresAt,
  };
}

function toRecord(row: Row): SigningKeyRecord {
  const jwk = row.public_jwk as PublicOkpJwk;
  return {
    kid: String(row.kid),
    alg: 'EdDSA',
    publicJwk: { kty: 'OKP', crv: 'Ed25519', x: String(jwk.x) },
    privateKey: new Uint8Array(row.private_key as Buffer),
    createdAt: Number(row.created_at),
    notBefore: Number(row.not_before),
    expiresAt: row.expires_at === null ? null : Number(row.expires_at),
  };
}
