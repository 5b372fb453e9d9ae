import { join } from 'node:path';
import { Accounts, SessionEngine } from 'coatcheck';
import { openSqliteStores } from 'coatcheck/sqlite';
import { coatcheck } from 'coatcheck/web';

// One SQLite file holds users, sessions and the audit trail; the coatcheck CLI writes the same
// file, so `COATCHECK_PASSWORD=… npx coatcheck user add you@example.com` creates an account.
const stores = openSqliteStores(join(process.env.COATCHECK_DATA_DIR ?? 'data', 'coatcheck.db'));
const { sessions: store, users, audit } = stores;
const engine = new SessionEngine({ store, users, audit });
const accounts = new Accounts({ users, engine, audit });

// Secure defaults: __Host-coatcheck; HttpOnly; Secure; SameSite=Lax. Next.js gives route handlers
// no client IP: behind a proxy you trust, pass `clientIp: (request) => <its header>`.
export const auth = coatcheck({ engine, accounts });
