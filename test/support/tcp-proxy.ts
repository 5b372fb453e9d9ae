/**
 * A TCP proxy in front of a test server (Redis, a Sentinel), to make a link misbehave the way a
 * network does without an error: late (every byte the server sends held back), silent (a
 * subscription that stops delivering), or cut.
 */
import type { AddressInfo } from 'node:net';
import { connect, createServer, type Socket } from 'node:net';

/** A running proxy on 127.0.0.1. */
export interface TcpProxy {
  readonly port: number;
  /**
   * From now on, drops what the server sends to the connections open now that sent a SUBSCRIBE:
   * a silently dead subscription (a reconnection is heard again).
   */
  silenceSubscribers(): void;
  /** Cuts every connection open so far (the client sees them close and reconnects). */
  drop(): void;
  /** Cuts every connection and stops listening. */
  close(): void;
}

/** Starts a proxy to 127.0.0.1:`port`; `delayMs` holds back what the server sends (not the client). */
export async function startTcpProxy(port: number, options: { delayMs?: number } = {}) {
  const delayMs = options.delayMs ?? 0;
  const sockets = new Set<Socket>();
  const subscribers = new Set<Socket>();
  const silenced = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        sockets.delete(socket);
        subscribers.delete(client);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (chunk: Buffer) => {
      if (/SUBSCRIBE/i.test(chunk.toString('latin1'))) subscribers.add(client);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (silenced.has(client)) return;
      if (delayMs === 0) client.write(chunk);
      else setTimeout(() => client.writable && client.write(chunk), delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const drop = () => {
    for (const socket of sockets) socket.destroy();
  };
  return {
    port: (server.address() as AddressInfo).port,
    silenceSubscribers: () => {
      for (const socket of subscribers) silenced.add(socket);
    },
    drop,
    close: () => {
      drop();
      server.close();
    },
  } satisfies TcpProxy;
}
