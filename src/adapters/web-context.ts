import type { PublicUser } from '../accounts/public-user.ts';
import type { ClientInfo } from '../core/engine.ts';
import type { SessionUser } from '../core/store.ts';
import { type AdapterConfig, type Auth, formToken } from './core.ts';
import {
  endAllSessions,
  endSession,
  isSessionCookie,
  signInWithPassword,
  startSession,
} from './sign-in.ts';
import { readFormLimited } from './web-form.ts';

/** What a handler wrapped by the Web adapter may do beyond reading the request. */
export interface WebContext {
  /** The signed-in caller, or null when signed out. */
  readonly auth: Auth | null;
  /** The form body, read once with the size limit (use it instead of `request.formData()`). */
  form(): Promise<FormData>;
  /** Password sign-in (needs `accounts`): new session id; the cookie goes on your response. */
  signIn(input: unknown): Promise<PublicUser>;
  /** Starts a session for a user the app authenticated itself; the previous one is revoked. */
  startSession(user: SessionUser, options?: { remember?: boolean }): Promise<Auth>;
  /** Ends this session server-side; the clearing cookie goes on your response. */
  signOut(): Promise<void>;
  /** Ends every session of the signed-in user, this one included; returns how many others. */
  signOutEverywhere(): Promise<number>;
  /** The form token for this session (a hidden `csrf_token` field), null when signed out. */
  csrfToken(): string | null;
}

/**
 * One request's context: a class rather than an object of closures, so the per-request cost is
 * one small allocation. Collects the Set-Cookie lines the wrapper puts on the response.
 */
export class RequestContext implements WebContext {
  /** Set-Cookie lines for the response, at most one for the session cookie. */
  readonly cookies: string[] = [];
  #auth: Auth | null;
  #form: Promise<FormData> | undefined;
  readonly #request: Request;
  readonly #config: AdapterConfig;
  readonly #ip: string | null;
  readonly #maxFormBytes: number;

  constructor(args: {
    request: Request;
    config: AdapterConfig;
    auth: Auth | null;
    ip: string | null;
    maxFormBytes: number;
  }) {
    this.#request = args.request;
    this.#config = args.config;
    this.#auth = args.auth;
    this.#ip = args.ip;
    this.#maxFormBytes = args.maxFormBytes;
  }

  get auth(): Auth | null {
    return this.#auth;
  }

  form(): Promise<FormData> {
    this.#form ??= readFormLimited(this.#request, this.#maxFormBytes);
    return this.#form;
  }

  async signIn(input: unknown): Promise<PublicUser> {
    const done = await signInWithPassword(this.#config, input, this.#client(), this.#auth);
    this.setCookie(done.setCookie);
    this.#auth = done.auth;
    return done.user;
  }

  async startSession(user: SessionUser, options: { remember?: boolean } = {}): Promise<Auth> {
    const client = { ...this.#client(), remember: options.remember ?? false };
    const done = await startSession(this.#config, user, client, this.#auth);
    this.setCookie(done.setCookie);
    this.#auth = done.auth;
    return done.auth;
  }

  async signOut(): Promise<void> {
    this.setCookie(await endSession(this.#config, this.#auth, this.#client()));
    this.#auth = null;
  }

  async signOutEverywhere(): Promise<number> {
    const done = await endAllSessions(this.#config, this.#auth, this.#client());
    this.setCookie(done.setCookie);
    this.#auth = null;
    return done.revoked;
  }

  csrfToken(): string | null {
    return this.#auth ? formToken(this.#auth) : null;
  }

  /** Queues `line`, replacing an earlier line for the session cookie (e.g. a clearing one). */
  setCookie(line: string): void {
    const at = this.cookies.findIndex((l) => isSessionCookie(this.#config, l));
    if (at !== -1) this.cookies.splice(at, 1);
    this.cookies.push(line);
  }

  #client(): ClientInfo {
    return { ip: this.#ip, userAgent: this.#request.headers.get('user-agent') };
  }
}
