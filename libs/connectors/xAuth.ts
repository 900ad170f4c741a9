import { chmodSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { Dispatcher } from 'undici';
import { z } from 'zod';
import { PermanentError, RateLimitedError, RetryableError } from './errors.ts';
import { epochResetMs, httpCall, snippet } from './xHttp.ts';
import { parseRetryAfter } from './webhook.ts';

/** `secrets.json` → `x` → `<account>`. Values are never echoed: zod messages name fields only. */
export const XCredentials = z.object({
  accessToken: z.string().min(1),
  refreshToken: z.string().min(1).optional(),
  clientId: z.string().min(1).optional(),
  clientSecret: z.string().min(1).optional(),
  /** When the access token expires: epoch milliseconds or an ISO date. */
  expiresAt: z.union([z.number(), z.string()]).optional(),
  apiBaseUrl: z.url({ protocol: /^https?$/ }).default('https://api.x.com'),
  userId: z.string().regex(/^\d+$/).optional(),
  username: z
    .string()
    .regex(/^[A-Za-z0-9_]{1,15}$/)
    .optional(),
});
export type XCredentials = z.infer<typeof XCredentials>;

export function parseXCredentials(raw: Record<string, unknown> | undefined): XCredentials {
  if (raw === undefined) throw new PermanentError('no x credentials for this account on this executor');
  const parsed = XCredentials.safeParse(raw);
  if (!parsed.success) {
    const fields = [...new Set(parsed.error.issues.map((i) => i.path.join('.') || '(root)'))].join(', ');
    throw new PermanentError(`x credentials for this account are malformed (fields: ${fields})`);
  }
  return parsed.data;
}

export interface TokenSet {
  accessToken: string;
  refreshToken?: string;
  /** Epoch ms; undefined: unknown, use until a 401 says otherwise. */
  expiresAt?: number;
}

/** What `onCredentialsRefreshed` receives: the fields that changed, for writing back to secrets.json. */
export interface RefreshedCredentials {
  channel: 'x';
  account: string;
  accessToken: string;
  refreshToken?: string;
  /** ISO date. */
  expiresAt?: string;
}

function toEpochMs(value: number | string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number') return value < 1e12 ? value * 1000 : value; // seconds or ms
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : t;
}

const EXPIRY_SLACK_MS = 60_000;

/**
 * Access tokens per account, kept in memory for the executor's lifetime. X rotates the refresh
 * token on every refresh and the old one stops working, so refreshes per account are
 * single-flight: two intents that both see an expired token share one refresh.
 */
export class XTokenStore {
  readonly #cache = new Map<string, { origin: string; tokens: TokenSet }>();
  readonly #inflight = new Map<string, Promise<TokenSet>>();
  readonly #onRefreshed?: (c: RefreshedCredentials) => Promise<void> | void;
  readonly #now: () => number;

  constructor(opts: { onRefreshed?: (c: RefreshedCredentials) => Promise<void> | void; now?: () => number } = {}) {
    this.#onRefreshed = opts.onRefreshed;
    this.#now = opts.now ?? Date.now;
  }

  /** The current tokens for an account: the refreshed ones, unless secrets.json changed since. */
  current(account: string, creds: XCredentials): TokenSet {
    const key = this.#key(account, creds);
    const cached = this.#cache.get(key);
    if (cached) return cached.tokens;
    // secrets.json may now hold what we refreshed to (written back): then that entry is current.
    for (const entry of this.#cache.values()) {
      if (entry.origin.startsWith(`${account}\n`) && entry.tokens.accessToken === creds.accessToken)
        return entry.tokens;
    }
    const tokens: TokenSet = {
      accessToken: creds.accessToken,
      refreshToken: creds.refreshToken,
      expiresAt: toEpochMs(creds.expiresAt),
    };
    this.#cache.set(key, { origin: key, tokens });
    return tokens;
  }

  /** Cached per account AND per secrets.json version, so a changed file starts afresh. */
  #key(account: string, creds: XCredentials): string {
    return `${account}\n${creds.accessToken}\n${creds.refreshToken ?? ''}`;
  }

  isExpired(tokens: TokenSet): boolean {
    return tokens.expiresAt !== undefined && tokens.expiresAt - EXPIRY_SLACK_MS <= this.#now();
  }

  /** Refreshes unless someone already replaced `stale` (then returns theirs). */
  async refresh(
    account: string,
    creds: XCredentials,
    stale: TokenSet,
    http: {
      dispatcher: Dispatcher;
      timeoutMs: number;
      signal?: AbortSignal;
      redact: (s: string) => string;
      addSecret: (s: string) => void;
    },
  ): Promise<TokenSet> {
    const now = this.current(account, creds);
    if (now.accessToken !== stale.accessToken) return now;
    const key = this.#key(account, creds);
    const running = this.#inflight.get(key);
    if (running) return running;
    const p = this.#doRefresh(account, creds, now, http).finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, p);
    return p;
  }

  async #doRefresh(
    account: string,
    creds: XCredentials,
    tokens: TokenSet,
    http: {
      dispatcher: Dispatcher;
      timeoutMs: number;
      signal?: AbortSignal;
      redact: (s: string) => string;
      addSecret: (s: string) => void;
    },
  ): Promise<TokenSet> {
    if (!tokens.refreshToken || !creds.clientId) {
      throw new PermanentError(
        'x access token expired or was refused, and this account has no refreshToken/clientId to refresh it: re-authorise',
      );
    }
    const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refreshToken });
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    };
    if (creds.clientSecret) {
      // Confidential client: HTTP Basic with client id and secret.
      headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(creds.clientId)}:${encodeURIComponent(creds.clientSecret)}`).toString('base64')}`;
    } else {
      form.set('client_id', creds.clientId);
    }
    const target = 'x POST /2/oauth2/token';
    const answer = await httpCall({
      dispatcher: http.dispatcher,
      method: 'POST',
      url: new URL('/2/oauth2/token', creds.apiBaseUrl).toString(),
      headers,
      body: form.toString(),
      timeoutMs: http.timeoutMs,
      signal: http.signal,
      target,
      redact: http.redact,
      // A lost refresh answer may have rotated the refresh token: retrying may then fail with
      // invalid_grant, which is reported as permanent (re-authorise). No post was made either way.
      sideEffect: false,
    });
    if (answer.status === 429) {
      const ms =
        epochResetMs(answer.headers['x-rate-limit-reset'], this.#now()) ??
        parseRetryAfter(answer.headers['retry-after']) ??
        60_000;
      throw new RateLimitedError(`${target} answered 429`, ms);
    }
    if (answer.status >= 500)
      throw new RetryableError(`${target} answered ${answer.status}${snippet(answer.text, http.redact)}`);
    const body = (answer.json ?? {}) as { access_token?: unknown; refresh_token?: unknown; expires_in?: unknown };
    if (answer.status !== 200 || typeof body.access_token !== 'string') {
      throw new PermanentError(
        `${target} refused the refresh (${answer.status})${snippet(answer.text, http.redact)}: re-authorise this account`,
      );
    }
    http.addSecret(body.access_token);
    if (typeof body.refresh_token === 'string') http.addSecret(body.refresh_token);
    const next: TokenSet = {
      accessToken: body.access_token,
      refreshToken: typeof body.refresh_token === 'string' ? body.refresh_token : tokens.refreshToken,
      expiresAt: typeof body.expires_in === 'number' ? this.#now() + body.expires_in * 1000 : undefined,
    };
    for (const entry of this.#cache.values()) if (entry.tokens === tokens) entry.tokens = next;
    if (this.#onRefreshed) {
      try {
        await this.#onRefreshed({
          channel: 'x',
          account,
          accessToken: next.accessToken,
          refreshToken: next.refreshToken,
          expiresAt: next.expiresAt === undefined ? undefined : new Date(next.expiresAt).toISOString(),
        });
      } catch {
        // The in-memory token stays good; only a restart would need the file. Never fail a post for it.
      }
    }
    return next;
  }

  /** Every token this store has seen, for redaction. */
  allTokens(): string[] {
    const out: string[] = [];
    for (const { tokens } of this.#cache.values()) {
      out.push(tokens.accessToken);
      if (tokens.refreshToken) out.push(tokens.refreshToken);
    }
    return out;
  }
}

/**
 * An `onCredentialsRefreshed` hook that writes rotated tokens back into secrets.json atomically
 * (temporary file with mode 0600 in the same directory, then rename), so a restarted executor
 * does not hold a refresh token X already invalidated. Other channels and fields are kept.
 */
export function writeBackToSecretsFile(path: string): (c: RefreshedCredentials) => void {
  return (c) => {
    const data = JSON.parse(readFileSync(path, 'utf8')) as Record<string, Record<string, Record<string, unknown>>>;
    const account = data[c.channel]?.[c.account];
    if (!account) return;
    account.accessToken = c.accessToken;
    if (c.refreshToken !== undefined) account.refreshToken = c.refreshToken;
    if (c.expiresAt !== undefined) account.expiresAt = c.expiresAt;
    else delete account.expiresAt;
    const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(data, null, 2)}\n`, { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, path);
  };
}
