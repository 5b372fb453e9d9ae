import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JWTPayload } from 'jose';
import type { SessionUser } from '../../src/core/store.ts';
import type { ReplayGuard } from '../../src/download/replay.ts';
import {
  createDownloadServer,
  type DownloadLogEntry,
  type ListeningDownloadServer,
} from '../../src/download/server.ts';
import type { ParseErrorEvent } from '../../src/server/http/early-refusals.ts';
import { type DownloadGrant, issueDownloadToken } from '../../src/tokens/download.ts';
import { createKeySeal } from '../../src/tokens/key-seal.ts';
import { MemoryKeyStore } from '../../src/tokens/key-store.ts';
import { SigningKeys } from '../../src/tokens/keys.ts';

/**
 * A download server on an ephemeral port serving a temp directory, the signing keys that mint for
 * it (memory store, injected clock), and two raw HTTP clients: node:http sends the request target
 * exactly as given, where fetch would resolve `..` before sending; `sendRaw` sends bytes node:http
 * would refuse to (no Host, two of them, a broken request line).
 */

export const ISSUER = 'https://app.example.test';
export const AUDIENCE = 'https://files.example.test';
export const REPORT = 'hello, this is the report: 0123456789';
export const OUTSIDE = 'TOP SECRET OUTSIDE THE ROOT';

export const user: SessionUser = {
  id: 'u1',
  email: 'ada@example.test',
  name: null,
  roles: ['user'],
  locked: false,
};

/** A raw HTTP answer. */
export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

/** What a download test needs. */
export interface DownloadFixture {
  readonly root: string;
  readonly keys: SigningKeys;
  readonly clock: { now: number };
  readonly logs: DownloadLogEntry[];
  /** What `logParseError` received. */
  readonly parseErrors: ParseErrorEvent[];
  readonly running: ListeningDownloadServer;
  /** Mints a real download token (as the app does) for `resource`. */
  mint(resource: string): Promise<DownloadGrant>;
  /** Signs arbitrary claims with the real key (for claim-level refusals). */
  sign(claims: JWTPayload, typ?: string): Promise<string>;
  /** The claims a real token would carry, to start a variation from. */
  claims(resource: string): JWTPayload;
  /** GET (or `method`) `target`, sent byte for byte. */
  get(
    target: string,
    init?: { method?: string; headers?: Record<string, string> },
  ): Promise<RawResponse>;
  /**
   * Writes `request` (latin1) on a fresh connection, half-closes it and reads the one response
   * the server sends until it closes the connection.
   */
  sendRaw(request: string): Promise<RawResponse>;
  close(): Promise<void>;
}

/** Builds the tree, the keys and the server. The key set is local unless `jwksUrl` is given. */
export async function startDownloadFixture(
  options: { jwksUrl?: string; replay?: ReplayGuard; clockToleranceSeconds?: number } = {},
): Promise<DownloadFixture> {
  const base = mkdtempSync(join(tmpdir(), 'coatcheck-dl-'));
  const root = join(base, 'root');
  const outside = join(base, 'outside');
  mkdirSync(join(root, 'users', 'u1', 'deep'), { recursive: true });
  mkdirSync(join(root, 'users', 'u2'), { recursive: true });
  mkdirSync(join(root, 'public'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(root, 'users', 'u1', 'report.txt'), REPORT);
  writeFileSync(join(root, 'users', 'u1', 'other.txt'), 'another file');
  writeFileSync(join(root, 'users', 'u1', 'deep', 'Jörg “final”.pdf'), '%PDF-1.7 fake');
  writeFileSync(join(root, 'users', 'u1', 'empty.bin'), '');
  writeFileSync(join(root, 'users', 'u1', 'page.html'), '<script>alert(1)</script>');
  writeFileSync(join(root, 'users', 'u2', 'secret.txt'), 'u2 only');
  writeFileSync(join(root, 'public', 'readme.txt'), 'public readme');
  writeFileSync(join(outside, 'secret.txt'), OUTSIDE);
  symlinkSync(join(outside, 'secret.txt'), join(root, 'users', 'u1', 'escape.txt'));
  symlinkSync(outside, join(root, 'users', 'u1', 'outdir'));
  symlinkSync(join(root, 'users', 'u1', 'report.txt'), join(root, 'users', 'u1', 'alias.txt'));

  const clock = { now: Date.now() };
  const keys = new SigningKeys({
    store: new MemoryKeyStore(),
    seal: createKeySeal(null),
    now: () => clock.now,
  });
  const logs: DownloadLogEntry[] = [];
  const parseErrors: ParseErrorEvent[] = [];
  const source = options.jwksUrl
    ? { jwksUrl: options.jwksUrl, jwksCooldownMs: 0 }
    : { keys: await keys.jwks() };
  const server = createDownloadServer({
    root,
    issuer: ISSUER,
    audience: AUDIENCE,
    ...source,
    ...(options.replay ? { replay: options.replay } : {}),
    ...(options.clockToleranceSeconds === undefined
      ? {}
      : { clockToleranceSeconds: options.clockToleranceSeconds }),
    now: () => clock.now,
    log: (entry) => logs.push(entry),
    logParseError: (event) => parseErrors.push(event),
  });
  const running = await server.listen({ port: 0 });
  const { port } = new URL(running.url);

  const claims = (resource: string): JWTPayload => {
    const iat = Math.floor(clock.now / 1000);
    return {
      iss: ISSUER,
      aud: AUDIENCE,
      sub: user.id,
      resource,
      sid: 's1',
      jti: `jti-${Math.random().toString(36).slice(2)}-${iat}`,
      iat,
      exp: iat + 120,
    };
  };

  return {
    root,
    keys,
    clock,
    logs,
    parseErrors,
    running,
    mint: (resource) =>
      issueDownloadToken(keys, {
        issuer: ISSUER,
        downloadUrl: new URL(AUDIENCE),
        user,
        sessionId: 's1',
        resource,
        now: clock.now,
      }),
    sign: (c, typ = 'download+jwt') => keys.sign(c, { typ }),
    claims,
    get: (target, init = {}) =>
      new Promise((resolve, reject) => {
        const req = httpRequest(
          {
            host: '127.0.0.1',
            port,
            path: target,
            method: init.method ?? 'GET',
            headers: init.headers,
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                headers: res.headers,
                body: Buffer.concat(chunks),
              }),
            );
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end();
      }),
    sendRaw: (request) =>
      new Promise((resolve, reject) => {
        const socket = connect(Number(port), '127.0.0.1');
        const chunks: Buffer[] = [];
        socket.on('data', (chunk: Buffer) => chunks.push(chunk));
        socket.on('error', reject);
        socket.on('close', () => {
          const raw = Buffer.concat(chunks);
          const end = raw.indexOf('\r\n\r\n');
          if (end === -1) return reject(new Error(`no response: ${raw.toString('latin1')}`));
          const [statusLine = '', ...lines] = raw.toString('latin1', 0, end).split('\r\n');
          const headers: Record<string, string> = {};
          for (const line of lines) {
            const colon = line.indexOf(':');
            headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
          }
          let body: Buffer = raw.subarray(end + 4);
          if (headers['transfer-encoding'] === 'chunked') body = unchunk(body);
          resolve({ status: Number(statusLine.split(' ')[1]), headers, body });
        });
        socket.end(Buffer.from(request, 'latin1'));
      }),
    close: async () => {
      await running.close();
      rmSync(base, { recursive: true, force: true });
    },
  };
}

/** `/files/<path>?token=<token>` for a grant's path, as the URL the app hands out. */
export function pathOf(grant: DownloadGrant): string {
  const url = new URL(grant.url);
  return `${url.pathname}${url.search}`;
}

/** The payload of a chunked body (no trailers, no extensions: what node:http writes). */
function unchunk(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0; ; ) {
    const eol = body.indexOf('\r\n', at);
    const size = Number.parseInt(body.toString('latin1', at, eol), 16);
    if (!(size > 0)) return Buffer.concat(parts);
    parts.push(body.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}
