import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
// the cookie parser (request.server.parseCookie) is @fastify/cookie's, registered by routes.ts
import type {} from '@fastify/cookie';
import { sql } from 'kysely';
import { ApiError } from '@handoff/contracts';
import type { Db } from '@handoff/db';

/**
 * The console's sessions (migrations/010_console_sessions.sql). A browser signs in with a token (or
 * the code of a one-time link) and gets a cookie holding a random session id; the session stands
 * for that token. The auth hook (auth.ts) asks `tokenHashOf` which token a cookie stands for and
 * then checks the token exactly as it checks a bearer token, so a revoked or expired token ends its
 * sessions at once.
 *
 * CSRF (decision 106): the cookie is SameSite=Strict, and a request that changes anything must also
 * come from the console's own origin (Origin header) and carry the session's CSRF token in
 * `x-csrf-token`. Requests with a bearer token never look at the cookie, so they are not CSRF-able.
 */

/** How long a session lasts from sign-in (decision 105): a working day; then sign in again. */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;
/** How long the link `handoff start` prints works (once). */
export const SIGNIN_CODE_TTL_MS = 5 * 60 * 1000;

/** `__Host-` (Secure, Path=/, no Domain) where the browser allows it: under HTTPS. */
export function sessionCookieName(request: FastifyRequest): string {
  return request.protocol === 'https' ? '__Host-handoff_session' : 'handoff_session';
}
const COOKIE_NAMES = ['__Host-handoff_session', 'handoff_session'];

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

const sha256 = (value: string): string => createHash('sha256').update(value, 'utf8').digest('hex');
const secret = (): string => randomBytes(32).toString('base64url');

/** What the auth hook learned from a session cookie; the console's routes read it. */
export interface ConsoleSessionInfo {
  idHash: string;
  csrfToken: string;
  expiresAt: Date;
}

declare module 'fastify' {
  interface FastifyRequest {
    consoleSession?: ConsoleSessionInfo;
  }
}

/** The origin the browser is on, as this request reached us (no proxy is trusted: trustProxy is off). */
export function ownOrigin(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`;
}

/** A request that changes something must come from our own page: Origin present and ours. */
export function assertSameOrigin(request: FastifyRequest): void {
  const origin = request.headers.origin;
  if (origin !== ownOrigin(request)) {
    throw new ApiError(
      403,
      'forbidden',
      origin === undefined
        ? 'a console request that changes something must carry an Origin header'
        : `requests from ${origin} may not change anything here`,
    );
  }
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function cookieValue(request: FastifyRequest): string | null {
  const header = request.headers.cookie;
  if (typeof header !== 'string' || header === '') return null;
  const cookies = request.server.parseCookie(header);
  for (const name of COOKIE_NAMES) {
    const value = cookies[name];
    if (typeof value === 'string' && value !== '') return value;
  }
  return null;
}

export interface SessionStore {
  /** A new session for the token with this id; the cookie value is returned once, only its hash is kept. */
  create(tokenId: string): Promise<{ cookie: string; csrfToken: string; expiresAt: Date }>;
  /** Spends a one-time sign-in code: the token id it was made for, or null (unknown, used, expired). */
  redeemCode(code: string): Promise<string | null>;
  /** A one-time sign-in code for the token with this id. */
  createCode(tokenId: string): Promise<{ code: string; expiresAt: Date }>;
  destroy(idHash: string): Promise<void>;
  /**
   * For the auth hook: the token hash a request's session cookie stands for, null without a cookie.
   * A cookie of no live session is a 401; a state-changing request without our Origin and the
   * session's CSRF token is a 403.
   */
  tokenHashOf(request: FastifyRequest): Promise<string | null>;
}

export function createSessionStore(db: Db): SessionStore {
  // Expired rows are deleted now and then, on the way (no timer to stop at close).
  let lastSweep = 0;
  const sweep = (): void => {
    if (Date.now() - lastSweep < 60_000) return;
    lastSweep = Date.now();
    void Promise.all([
      sql`DELETE FROM console_sessions WHERE expires_at < now()`.execute(db),
      sql`DELETE FROM console_signin_codes WHERE expires_at < now() - interval '1 day'`.execute(db),
    ]).catch(() => {});
  };

  return {
    async create(tokenId) {
      sweep();
      const cookie = secret();
      const csrfToken = secret();
      const expiresAt = new Date(Date.now() + SESSION_TTL_MS);
      await sql`INSERT INTO console_sessions (id_hash, token_id, csrf_token, expires_at)
                VALUES (${sha256(cookie)}, ${tokenId}, ${csrfToken}, ${expiresAt})`.execute(db);
      return { cookie, csrfToken, expiresAt };
    },

    async createCode(tokenId) {
      sweep();
      const code = secret();
      const expiresAt = new Date(Date.now() + SIGNIN_CODE_TTL_MS);
      await sql`INSERT INTO console_signin_codes (code_hash, token_id, expires_at)
                VALUES (${sha256(code)}, ${tokenId}, ${expiresAt})`.execute(db);
      return { code, expiresAt };
    },

    async redeemCode(code) {
      // one statement: two browsers racing for one code cannot both win
      const { rows } = await sql<{ token_id: string }>`
        UPDATE console_signin_codes SET used_at = clock_timestamp()
        WHERE code_hash = ${sha256(code)} AND used_at IS NULL AND expires_at > clock_timestamp()
        RETURNING token_id`.execute(db);
      return rows[0]?.token_id ?? null;
    },

    async destroy(idHash) {
      await sql`DELETE FROM console_sessions WHERE id_hash = ${idHash}`.execute(db);
    },

    async tokenHashOf(request) {
      const cookie = cookieValue(request);
      if (cookie === null) return null;
      const idHash = sha256(cookie);
      const { rows } = await sql<{ token_hash: string; csrf_token: string; expires_at: Date }>`
        SELECT t.token_hash, s.csrf_token, s.expires_at
        FROM console_sessions s JOIN api_tokens t ON t.id = s.token_id
        WHERE s.id_hash = ${idHash} AND s.expires_at > clock_timestamp()`.execute(db);
      const row = rows[0];
      if (!row)
        throw new ApiError(401, 'unauthorized', 'the console session has expired or was signed out; sign in again');
      if (!SAFE_METHODS.has(request.method)) {
        assertSameOrigin(request);
        const sent = request.headers['x-csrf-token'];
        if (typeof sent !== 'string' || !sameSecret(sent, row.csrf_token))
          throw new ApiError(403, 'forbidden', 'missing or wrong x-csrf-token for this console session');
      }
      request.consoleSession = { idHash, csrfToken: row.csrf_token, expiresAt: row.expires_at };
      return row.token_hash;
    },
  };
}
