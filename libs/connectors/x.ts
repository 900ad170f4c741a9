import { createEffectAgent } from './effectAgent.ts';
import type { Dispatcher } from 'undici';
import { z } from 'zod';
import { learnCredential } from '@handoff/contracts';
// CommonJS without named exports Node can see: the default import is its module.exports.
import twitterText from 'twitter-text';
import type { Connector, ConnectorContext, ConnectorIntent, ExecuteResult, ReconcileResult } from './connector.ts';
import { PermanentError, RateLimitedError, RetryableError, UnknownOutcomeError } from './errors.ts';
import { parseRetryAfter } from './webhook.ts';
import { XTokenStore, parseXCredentials } from './xAuth.ts';
import { assertCredentialHost } from './credentialHosts.ts';
import type { RefreshedCredentials, TokenSet, XCredentials } from './xAuth.ts';
import { epochResetMs, firstHeader, httpCall, redactor, snippet } from './xHttp.ts';
import type { HttpAnswer } from './xHttp.ts';

export { writeBackToSecretsFile, XCredentials } from './xAuth.ts';
export type { RefreshedCredentials } from './xAuth.ts';

const TweetId = z.string().regex(/^\d{1,19}$/, 'must be a tweet id (digits)');

/** X's limit on a post's weighted length. */
export const X_MAX_WEIGHTED_LENGTH = 280;

/**
 * The length X counts, by its own library (twitter-text): most CJK characters and emoji weigh 2,
 * any URL 23 however long, other characters 1, after NFC. Counting code points would let a post
 * through creation and approval that X then refuses.
 */
export function xWeightedLength(text: string): number {
  return twitterText.parseTweet(text).weightedLength;
}

export const XPayload = z.strictObject({
  text: z
    .string()
    .refine((t) => t.trim().length > 0, 'must not be empty')
    .superRefine((t, ctx) => {
      const weighted = xWeightedLength(t);
      if (weighted > X_MAX_WEIGHTED_LENGTH) {
        ctx.addIssue({
          code: 'custom',
          message: `weighs ${weighted} by X's count, over its limit of ${X_MAX_WEIGHTED_LENGTH} (CJK characters and emoji weigh 2, a URL 23)`,
        });
      }
    }),
  replyTo: TweetId.optional(),
  quoteOf: TweetId.optional(),
  mediaIds: z
    .array(z.string().regex(/^\d{1,19}$/, 'must be a media id (digits)'))
    .min(1)
    .max(4)
    .optional(),
});
export type XPayload = z.infer<typeof XPayload>;

export interface XConnectorOptions {
  dispatcher?: Dispatcher;
  /** Per request; default 30 s. */
  timeoutMs?: number;
  /** Called after a refresh rotated the tokens; see writeBackToSecretsFile. Failures are ignored. */
  onCredentialsRefreshed?: (c: RefreshedCredentials) => Promise<void> | void;
  now?: () => number;
  /** How far before the attempt started reconcile looks; default 5 minutes (clock skew). */
  reconcileSlackMs?: number;
}

export type XConnector = Connector<XPayload> & { close(): Promise<void> };

const DUPLICATE = /duplicate content/i;
const URLISH = /\bhttps?:\/\/|\b[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}(\/\S*)?\b/i;
const DEFAULT_429_MS = 15 * 60_000;
const MAX_PAGES = 5;

/** Text the way X stores it, for comparison: v2 returns &, < and > HTML-escaped; NFC; X trims. */
export function normaliseXText(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&').normalize('NFC').trim();
}

/** X's `start_time` wants `YYYY-MM-DDTHH:mm:ssZ`, no milliseconds. */
function xTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

export function createXConnector(options: XConnectorOptions = {}): XConnector {
  const ownAgent = options.dispatcher ? undefined : createEffectAgent();
  const dispatcher: Dispatcher = options.dispatcher ?? (ownAgent as Dispatcher);
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const slackMs = options.reconcileSlackMs ?? 5 * 60_000;
  const tokens = new XTokenStore({ onRefreshed: options.onCredentialsRefreshed, now });
  /** Per account: the moment x-rate-limit-remaining: 0 said the window ends. */
  const blockedUntil = new Map<string, number>();
  /** Per account: user id and name learned from /2/users/me. */
  const me = new Map<string, { id: string; username: string }>();

  interface Session {
    account: string;
    creds: XCredentials;
    /** The account's secrets.json entry, for the credential host check. */
    raw: Record<string, unknown> | undefined;
    redact: (s: string) => string;
    addSecret: (s: string) => void;
    signal: AbortSignal;
  }

  function session(intent: ConnectorIntent<XPayload>, ctx: ConnectorContext): Session {
    const creds = parseXCredentials(ctx.credentials);
    const secrets = [creds.accessToken, creds.refreshToken, creds.clientSecret, creds.clientId, ...tokens.allTokens()];
    const all = ctx.redact ?? ((t: string) => t);
    let redact = (
      (own) => (t: string) =>
        all(own(t))
    )(redactor(secrets));
    return {
      account: intent.account,
      creds,
      raw: ctx.credentials,
      get redact() {
        return redact;
      },
      addSecret(s: string) {
        learnCredential(s); // the executor's own redactors (receipts, errors, its log) learn it too
        secrets.push(s);
        redact = (
          (own) => (t: string) =>
            all(own(t))
        )(redactor(secrets));
      },
      signal: ctx.signal,
    } as Session;
  }

  /** One authorised call; on 401 refresh once and repeat (a 401 means X did not act on it). */
  async function authed(
    s: Session,
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    target: string,
  ): Promise<HttpAnswer> {
    const url = new URL(path, s.creds.apiBaseUrl);
    assertCredentialHost({ channel: 'x', account: s.account }, s.raw, url, target);
    let current = tokens.current(s.account, s.creds);
    if (tokens.isExpired(current)) current = await refresh(s, current);
    const send = (t: TokenSet) =>
      httpCall({
        dispatcher,
        method,
        url: url.toString(),
        headers: {
          authorization: `Bearer ${t.accessToken}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        timeoutMs,
        signal: s.signal,
        target,
        redact: s.redact,
        sideEffect: method === 'POST',
      });
    let answer = await send(current);
    if (answer.status === 401) {
      current = await refresh(s, current);
      answer = await send(current);
      if (answer.status === 401)
        throw new PermanentError(
          `${target} answered 401 after a token refresh${snippet(answer.text, s.redact)}: re-authorise this account`,
        );
    }
    // Limits are per endpoint: only the posting window may hold back the next post.
    if (method === 'POST' && path === '/2/tweets') noteRateLimit(s.account, answer);
    return answer;
  }

  function refresh(s: Session, stale: TokenSet): Promise<TokenSet> {
    return tokens.refresh(s.account, s.creds, stale, {
      dispatcher,
      timeoutMs,
      signal: s.signal,
      redact: s.redact,
      addSecret: s.addSecret,
    });
  }

  function noteRateLimit(account: string, answer: HttpAnswer): void {
    if (firstHeader(answer.headers['x-rate-limit-remaining'])?.trim() === '0') {
      const ms = epochResetMs(answer.headers['x-rate-limit-reset'], now());
      if (ms !== undefined) blockedUntil.set(account, now() + ms);
    }
  }

  function rateLimited(target: string, answer: HttpAnswer): RateLimitedError {
    // The 24-hour user cap, when it is the one exhausted, resets later than the 15-minute window.
    const daily =
      firstHeader(answer.headers['x-user-limit-24hour-remaining'])?.trim() === '0'
        ? epochResetMs(answer.headers['x-user-limit-24hour-reset'], now())
        : undefined;
    const ms =
      daily ??
      epochResetMs(answer.headers['x-rate-limit-reset'], now()) ??
      parseRetryAfter(answer.headers['retry-after'], now()) ??
      DEFAULT_429_MS;
    return new RateLimitedError(`${target} answered 429 (rate limited for ${Math.ceil(ms / 1000)} s)`, ms);
  }

  async function whoAmI(s: Session): Promise<{ id: string; username: string | undefined }> {
    if (s.creds.userId) return { id: s.creds.userId, username: s.creds.username ?? me.get(s.account)?.username };
    const known = me.get(s.account);
    if (known) return known;
    const target = 'x GET /2/users/me';
    const answer = await authed(s, 'GET', '/2/users/me', undefined, target);
    const data = (answer.json as { data?: { id?: unknown; username?: unknown } } | undefined)?.data;
    if (answer.status !== 200 || typeof data?.id !== 'string') {
      throw new RetryableError(`${target} answered ${answer.status}${snippet(answer.text, s.redact)}`);
    }
    const found = { id: data.id, username: typeof data.username === 'string' ? data.username : '' };
    me.set(s.account, found);
    return found;
  }

  function tweetUrl(username: string | undefined, id: string): string {
    return `https://x.com/${username || 'i'}/status/${id}`;
  }

  /** Finds our post among the account's posts since `sinceMs`. */
  async function findPost(
    s: Session,
    text: string,
    sinceMs: number,
  ): Promise<{ found: ExecuteResult | undefined; urls: boolean }> {
    const user = await whoAmI(s);
    const wanted = normaliseXText(text);
    const urls = URLISH.test(text);
    let pagination: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const q = new URLSearchParams({
        max_results: '100',
        start_time: xTime(sinceMs),
        'tweet.fields': 'created_at,text',
      });
      if (pagination) q.set('pagination_token', pagination);
      const target = 'x GET /2/users/:id/tweets';
      const answer = await authed(s, 'GET', `/2/users/${encodeURIComponent(user.id)}/tweets?${q}`, undefined, target);
      if (answer.status === 429) throw rateLimited(target, answer);
      if (answer.status !== 200)
        throw new RetryableError(`${target} answered ${answer.status}${snippet(answer.text, s.redact)}`);
      const body = answer.json as
        | { data?: Array<{ id?: unknown; text?: unknown; created_at?: unknown }>; meta?: { next_token?: unknown } }
        | undefined;
      for (const t of body?.data ?? []) {
        if (typeof t.id !== 'string' || !/^\d{1,19}$/.test(t.id) || typeof t.text !== 'string') continue;
        const at = typeof t.created_at === 'string' ? Date.parse(t.created_at) : NaN;
        if (!Number.isNaN(at) && at < sinceMs) continue;
        if (normaliseXText(t.text) === wanted)
          return { found: { externalId: t.id, url: tweetUrl(user.username, t.id) }, urls };
      }
      pagination = typeof body?.meta?.next_token === 'string' ? body.meta.next_token : undefined;
      if (!pagination) break;
    }
    return { found: undefined, urls };
  }

  async function execute(intent: ConnectorIntent<XPayload>, ctx: ConnectorContext): Promise<ExecuteResult> {
    const parsed = XPayload.safeParse(intent.payload);
    if (!parsed.success) {
      throw new PermanentError(
        `invalid x payload: ${parsed.error.issues.map((i) => `payload.${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    }
    const p = parsed.data;
    const s = session(intent, ctx);
    const until = blockedUntil.get(s.account);
    if (until !== undefined && until > now()) {
      throw new RateLimitedError(
        `x rate limit for ${s.account} exhausted until ${new Date(until).toISOString()}`,
        until - now(),
      );
    }
    const body: Record<string, unknown> = { text: p.text };
    if (p.replyTo) body.reply = { in_reply_to_tweet_id: p.replyTo };
    if (p.quoteOf) body.quote_tweet_id = p.quoteOf;
    if (p.mediaIds) body.media = { media_ids: p.mediaIds };

    const target = 'x POST /2/tweets';
    const answer = await authed(s, 'POST', '/2/tweets', body, target);
    const status = answer.status;
    if (status === 201 || status === 200) {
      const data = (answer.json as { data?: { id?: unknown } } | undefined)?.data;
      if (typeof data?.id !== 'string' || !/^\d{1,19}$/.test(data.id)) {
        // X said it posted, but we cannot name the post: reconcile or a person must.
        throw new UnknownOutcomeError(`${target} answered ${status} without a valid post id`);
      }
      const username = s.creds.username ?? me.get(s.account)?.username;
      return { externalId: data.id, url: tweetUrl(username, data.id) };
    }
    const problem = answer.json as { detail?: unknown; title?: unknown } | undefined;
    const detail = typeof problem?.detail === 'string' ? problem.detail : '';
    if (status === 403 && DUPLICATE.test(detail)) {
      // Evidence, not a failure: a post with this text exists. Is it ours (an earlier attempt)?
      let lookup;
      try {
        lookup = await findPost(s, p.text, intent.createdAt.getTime() - slackMs);
      } catch (err) {
        throw new UnknownOutcomeError(
          `x refused the post as duplicate content, and looking up the existing post failed: ${s.redact(err instanceof Error ? err.message : String(err))}`,
        );
      }
      if (lookup.found) {
        ctx.log.info(
          { intentId: intent.id, externalId: lookup.found.externalId },
          'x duplicate content: found the post an earlier attempt made',
        );
        return lookup.found;
      }
      if (lookup.urls) {
        throw new UnknownOutcomeError(
          'x refused the post as duplicate content; the text contains a URL, which X rewrites (t.co), so the existing post cannot be matched exactly: resolve by hand',
        );
      }
      throw new PermanentError(
        'x refused the post as duplicate content, and no post with this text was made by this account since the intent was created: the same text was posted earlier by someone else or another intent',
      );
    }
    if (status === 429) throw rateLimited(target, answer);
    if (status >= 500) throw new RetryableError(`${target} answered ${status}${snippet(answer.text, s.redact)}`);
    throw new PermanentError(`${target} answered ${status}${snippet(answer.text, s.redact)}`);
  }

  async function reconcile(intent: ConnectorIntent<XPayload>, ctx: ConnectorContext): Promise<ReconcileResult> {
    try {
      const p = XPayload.parse(intent.payload);
      const s = session(intent, ctx);
      const started = (ctx.attemptStartedAt ?? intent.createdAt).getTime();
      const lookup = await findPost(s, p.text, started - slackMs);
      if (lookup.found) return { status: 'done', ...lookup.found };
      if (lookup.urls) {
        return {
          status: 'unknown',
          reason: 'the text contains a URL, which X rewrites (t.co): a post cannot be matched exactly',
        };
      }
      return { status: 'not_done' };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      return {
        status: 'unknown',
        reason: `x lookup failed: ${(ctx.redact ?? ((t: string) => t))(redactor(tokens.allTokens())(message))}`,
      };
    }
  }

  return {
    name: 'x',
    externalEffect: true,
    needsCredentials: true,
    payloadSchema: XPayload,
    execute,
    reconcile,
    async close() {
      await ownAgent?.close();
    },
  };
}

export const xConnector: XConnector = createXConnector();
