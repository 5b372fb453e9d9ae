import type { SessionRecord, SessionUser } from '../core/store.ts';

/** The signed-in caller of a request and how their token arrived. */
export interface Auth {
  readonly user: SessionUser;
  readonly session: SessionRecord;
  readonly transport: 'cookie' | 'bearer';
}

/** Hono environment of the Coatcheck app: per-request values set by middleware. */
export interface AppEnv {
  Variables: {
    /** Random per-request id, echoed as X-Request-Id and on every log line. */
    requestId: string;
    /** Client IP: the socket peer, or X-Forwarded-For when the peer is a trusted proxy. */
    clientIp: string;
    /** The validated session, or null when signed out (or the token was refused). */
    auth: Auth | null;
  };
}
