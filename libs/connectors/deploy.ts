import { createEffectAgent } from './effectAgent.ts';
import type { Dispatcher } from 'undici';
import { z } from 'zod';
import type { Connector, ConnectorContext, ConnectorIntent, ExecuteResult, ReconcileResult } from './connector.ts';
import { PermanentError, RateLimitedError, RetryableError } from './errors.ts';
import { redactorFor } from './redact.ts';
import type { Resolve } from './addressGuard.ts';
import { assertCredentialHost } from './credentialHosts.ts';
import { hostRefused, parseRetryAfter, receiverOf } from './webhook.ts';
import { epochResetMs, firstHeader, httpCall, snippet } from './xHttp.ts';
import type { HttpAnswer } from './xHttp.ts';

/** GitHub owner and repository names: letters, digits, `-`, `_` and `.`. */
const GhName = z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/, 'must be a GitHub owner or repository name');

// Header names a payload may set (same rules as the webhook connector, minus the ones it owns).
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const HEADER_VALUE = /^[^\r\n\0]*$/;
const FORBIDDEN = new Set([
  'connection',
  'keep-alive',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'idempotency-key',
  'host',
  'content-length',
]);
const Headers = z.record(z.string(), z.string()).superRefine((headers, ctx) => {
  for (const [name, value] of Object.entries(headers)) {
    if (!HEADER_NAME.test(name) || FORBIDDEN.has(name.toLowerCase()) || !HEADER_VALUE.test(value)) {
      ctx.addIssue({
        code: 'custom',
        path: [name],
        message: `header "${name}" is not allowed (invalid, hop-by-hop, or set by the connector)`,
      });
    }
  }
});

export const GithubDeployPayload = z.strictObject({
  kind: z.literal('github'),
  owner: GhName,
  repo: GhName,
  ref: z.string().min(1).max(255),
  environment: z.string().min(1).max(255).optional(),
  description: z.string().max(1000).optional(),
  task: z.string().min(1).max(100).optional(),
  /** Merged into the deployment payload beside `handoff_idempotency_key`. */
  payload: z.record(z.string(), z.unknown()).optional(),
  autoMerge: z.boolean().optional(),
  requiredContexts: z.array(z.string()).optional(),
});

export const WebhookDeployPayload = z.strictObject({
  kind: z.literal('webhook'),
  url: z.url({ protocol: /^https?$/, message: 'must be an http:// or https:// URL' }),
  body: z.unknown().optional(),
  headers: Headers.optional(),
  /** Answers "did you get key K?": GET with Idempotency-Key; `{key}` in it is replaced by the key. */
  statusUrl: z.url({ protocol: /^https?$/, message: 'must be an http:// or https:// URL' }).optional(),
});

export const DeployPayload = z.discriminatedUnion('kind', [GithubDeployPayload, WebhookDeployPayload]);
export type DeployPayload = z.infer<typeof DeployPayload>;
export type GithubDeployPayload = z.infer<typeof GithubDeployPayload>;
export type WebhookDeployPayload = z.infer<typeof WebhookDeployPayload>;

const GithubCredentials = z.object({
  token: z.string().min(1),
  apiBaseUrl: z.url({ protocol: /^https?$/ }).default('https://api.github.com'),
});
const WebhookCredentials = z.object({ headers: z.record(z.string(), z.string()).optional() });

export const IDEMPOTENCY_FIELD = 'handoff_idempotency_key';
const SECONDARY_DEFAULT_MS = 60_000;
const MAX_PAGES = 5;

export interface DeployConnectorOptions {
  /** Default: an own Agent that refuses internal addresses at connect time (a dispatcher passed in does not). */
  dispatcher?: Dispatcher;
  /** Name resolution for the address check (tests). */
  resolve?: Resolve;
  /** Per request; default 30 s. */
  timeoutMs?: number;
  now?: () => number;
}

export type DeployConnector = Connector<DeployPayload> & { close(): Promise<void> };

function fields(error: z.ZodError): string {
  return [...new Set(error.issues.map((i) => i.path.join('.') || '(root)'))].join(', ');
}

export function createDeployConnector(options: DeployConnectorOptions = {}): DeployConnector {
  // Deploy URLs come from intents (webhook kind) or an account's apiBaseUrl: both are held to the
  // same address rule as webhooks, with the same policy allowedHosts as the exemption list.
  let allowedHosts: readonly string[] = [];
  const ownAgent = options.dispatcher
    ? undefined
    : createEffectAgent({ addressGuard: { allowedHosts: () => allowedHosts, resolve: options.resolve } });
  const dispatcher: Dispatcher = options.dispatcher ?? (ownAgent as Dispatcher);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const now = options.now ?? Date.now;

  function parse(intent: ConnectorIntent<DeployPayload>): DeployPayload {
    const parsed = DeployPayload.safeParse(intent.payload);
    if (!parsed.success) {
      throw new PermanentError(
        `invalid deploy payload: ${parsed.error.issues.map((i) => `payload.${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    }
    return parsed.data;
  }

  // ---------- GitHub deployments ----------

  function github(intent: ConnectorIntent<DeployPayload>, ctx: ConnectorContext) {
    if (ctx.credentials === undefined)
      throw new PermanentError('no deploy credentials for this account on this executor (github needs {token})');
    const parsed = GithubCredentials.safeParse(ctx.credentials);
    if (!parsed.success)
      throw new PermanentError(
        `deploy credentials for this account are malformed for github (fields: ${fields(parsed.error)})`,
      );
    const creds = parsed.data;
    const redact = redactorFor(ctx);
    const call = (method: 'GET' | 'POST', path: string, body: unknown, target: string) => {
      const url = new URL(path, creds.apiBaseUrl.endsWith('/') ? creds.apiBaseUrl : `${creds.apiBaseUrl}/`);
      assertCredentialHost(intent, ctx.credentials, url, target);
      return httpCall({
        dispatcher,
        method,
        url: url.toString(),
        headers: {
          authorization: `Bearer ${creds.token}`,
          accept: 'application/vnd.github+json',
          'x-github-api-version': '2022-11-28',
          'user-agent': 'handoff-deploy-connector',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        timeoutMs,
        signal: ctx.signal,
        target,
        redact,
        sideEffect: method === 'POST',
      });
    };
    return { call, redact };
  }

  /** GitHub's primary (x-ratelimit-remaining: 0) and secondary (Retry-After, or "secondary rate limit") limits. */
  function githubRateLimit(answer: HttpAnswer, target: string): RateLimitedError | undefined {
    if (answer.status !== 403 && answer.status !== 429) return undefined;
    const retryAfter = parseRetryAfter(answer.headers['retry-after'], now());
    if (retryAfter !== undefined)
      return new RateLimitedError(
        `${target} answered ${answer.status}: secondary rate limit, retry after ${Math.ceil(retryAfter / 1000)} s`,
        retryAfter,
      );
    if (firstHeader(answer.headers['x-ratelimit-remaining'])?.trim() === '0') {
      const ms = epochResetMs(answer.headers['x-ratelimit-reset'], now()) ?? SECONDARY_DEFAULT_MS;
      return new RateLimitedError(
        `${target} answered ${answer.status}: primary rate limit exhausted for ${Math.ceil(ms / 1000)} s`,
        ms,
      );
    }
    const message = (answer.json as { message?: unknown } | undefined)?.message;
    if (answer.status === 429 || (typeof message === 'string' && /secondary rate limit|abuse/i.test(message))) {
      // GitHub: without headers, wait at least a minute.
      return new RateLimitedError(
        `${target} answered ${answer.status}: secondary rate limit, waiting ${SECONDARY_DEFAULT_MS / 1000} s`,
        SECONDARY_DEFAULT_MS,
      );
    }
    return undefined;
  }

  async function executeGithub(
    intent: ConnectorIntent<DeployPayload>,
    p: GithubDeployPayload,
    ctx: ConnectorContext,
  ): Promise<ExecuteResult> {
    const { call, redact } = github(intent, ctx);
    const target = `github POST /repos/${p.owner}/${p.repo}/deployments`;
    const body: Record<string, unknown> = {
      ref: p.ref,
      payload: { ...(p.payload ?? {}), [IDEMPOTENCY_FIELD]: intent.idempotencyKey },
    };
    if (p.environment !== undefined) body.environment = p.environment;
    if (p.description !== undefined) body.description = p.description;
    if (p.task !== undefined) body.task = p.task;
    if (p.autoMerge !== undefined) body.auto_merge = p.autoMerge;
    if (p.requiredContexts !== undefined) body.required_contexts = p.requiredContexts;
    const answer = await call(
      'POST',
      `repos/${encodeURIComponent(p.owner)}/${encodeURIComponent(p.repo)}/deployments`,
      body,
      target,
    );
    if (answer.status === 201) {
      const d = answer.json as { id?: unknown; url?: unknown; statuses_url?: unknown } | undefined;
      if (typeof d?.id !== 'number' && typeof d?.id !== 'string')
        throw new RetryableError(`${target} answered 201 without a deployment id`);
      const url = typeof d.url === 'string' ? d.url : typeof d.statuses_url === 'string' ? d.statuses_url : null;
      return { externalId: String(d.id), url };
    }
    if (answer.status === 202) {
      // GitHub merged the default branch into the ref (auto_merge) and created NO deployment;
      // it asks the client to try again, which then deploys the merged ref.
      throw new RetryableError(
        `${target} answered 202 (auto-merged the default branch into ${p.ref}; no deployment yet)${snippet(answer.text, redact)}`,
      );
    }
    const limited = githubRateLimit(answer, target);
    if (limited) throw limited;
    if (answer.status >= 500)
      throw new RetryableError(`${target} answered ${answer.status}${snippet(answer.text, redact)}`);
    // 401 bad token, 403 no permission, 404 no repo, 409 merge conflict, 422 validation or failed
    // required contexts: repeating cannot help.
    throw new PermanentError(`${target} answered ${answer.status}${snippet(answer.text, redact)}`);
  }

  async function reconcileGithub(
    intent: ConnectorIntent<DeployPayload>,
    p: GithubDeployPayload,
    ctx: ConnectorContext,
  ): Promise<ReconcileResult> {
    const { call, redact } = github(intent, ctx);
    const target = `github GET /repos/${p.owner}/${p.repo}/deployments`;
    for (let page = 1; page <= MAX_PAGES; page++) {
      // Without an environment GitHub creates the deployment in "production"; list the same one.
      const q = new URLSearchParams({
        ref: p.ref,
        environment: p.environment ?? 'production',
        per_page: '100',
        page: String(page),
      });
      const answer = await call(
        'GET',
        `repos/${encodeURIComponent(p.owner)}/${encodeURIComponent(p.repo)}/deployments?${q}`,
        undefined,
        target,
      );
      if (answer.status !== 200 || !Array.isArray(answer.json)) {
        return { status: 'unknown', reason: `${target} answered ${answer.status}${snippet(answer.text, redact)}` };
      }
      for (const d of answer.json as Array<{
        id?: unknown;
        url?: unknown;
        statuses_url?: unknown;
        payload?: unknown;
      }>) {
        let payload = d.payload;
        if (typeof payload === 'string') {
          try {
            payload = JSON.parse(payload);
          } catch {
            payload = undefined;
          }
        }
        const key = (payload as Record<string, unknown> | undefined)?.[IDEMPOTENCY_FIELD];
        if (key === intent.idempotencyKey && (typeof d.id === 'number' || typeof d.id === 'string')) {
          const url = typeof d.url === 'string' ? d.url : typeof d.statuses_url === 'string' ? d.statuses_url : null;
          return { status: 'done', externalId: String(d.id), url };
        }
      }
      if (answer.json.length < 100) break;
      if (page === MAX_PAGES)
        return {
          status: 'unknown',
          reason: `more than ${MAX_PAGES * 100} deployments of ${p.ref}; not all were searched`,
        };
    }
    return { status: 'not_done' };
  }

  // ---------- generic deploy webhook ----------

  function webhookHeaders(ctx: ConnectorContext): { headers: Record<string, string>; redact: (s: string) => string } {
    if (ctx.credentials === undefined) return { headers: {}, redact: (s) => s };
    const parsed = WebhookCredentials.safeParse(ctx.credentials);
    if (!parsed.success)
      throw new PermanentError(
        `deploy credentials for this account are malformed for webhook (fields: ${fields(parsed.error)})`,
      );
    const headers = parsed.data.headers ?? {};
    for (const [name, value] of Object.entries(headers)) {
      if (!HEADER_NAME.test(name) || FORBIDDEN.has(name.toLowerCase()) || !HEADER_VALUE.test(value)) {
        throw new PermanentError(`deploy credentials for this account: header "${name}" is not allowed`);
      }
    }
    return { headers, redact: redactorFor(ctx) };
  }

  async function executeWebhook(
    intent: ConnectorIntent<DeployPayload>,
    p: WebhookDeployPayload,
    ctx: ConnectorContext,
  ): Promise<ExecuteResult> {
    const { headers: credHeaders, redact } = webhookHeaders(ctx);
    const url = new URL(p.url);
    const refused = hostRefused(url, ctx.policy);
    if (refused) throw new PermanentError(`deploy webhook ${refused}`);
    const target = `deploy webhook POST ${url.host}`;
    assertCredentialHost(intent, ctx.credentials, url, target);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (p.body !== undefined) headers['content-type'] = 'application/json';
    for (const [n, v] of Object.entries(p.headers ?? {})) headers[n.toLowerCase()] = v;
    for (const [n, v] of Object.entries(credHeaders)) headers[n.toLowerCase()] = v;
    headers['idempotency-key'] = intent.idempotencyKey;
    const answer = await httpCall({
      dispatcher,
      method: 'POST',
      url: url.toString(),
      headers,
      body: p.body === undefined ? undefined : JSON.stringify(p.body),
      timeoutMs: Math.min(timeoutMs, ctx.policy.webhook.timeoutMs),
      signal: ctx.signal,
      target,
      redact,
      sideEffect: true,
    });
    if (answer.status >= 200 && answer.status < 300) {
      const rec = (typeof answer.json === 'object' && answer.json !== null ? answer.json : {}) as {
        id?: unknown;
        url?: unknown;
      };
      const id =
        typeof rec.id === 'string' && rec.id !== ''
          ? rec.id
          : typeof rec.id === 'number'
            ? String(rec.id)
            : `deploy:${intent.idempotencyKey}`;
      return { externalId: id, url: typeof rec.url === 'string' ? rec.url : null };
    }
    if (answer.status === 429) {
      throw new RateLimitedError(
        `${target} answered 429`,
        parseRetryAfter(answer.headers['retry-after'], now()) ?? 1000,
      );
    }
    if (answer.status === 408 || answer.status >= 500)
      throw new RetryableError(`${target} answered ${answer.status}${snippet(answer.text, redact)}`);
    throw new PermanentError(`${target} answered ${answer.status}${snippet(answer.text, redact)}`);
  }

  async function reconcileWebhook(
    intent: ConnectorIntent<DeployPayload>,
    p: WebhookDeployPayload,
    ctx: ConnectorContext,
  ): Promise<ReconcileResult> {
    if (!p.statusUrl) return { status: 'unknown', reason: 'this deploy webhook has no statusUrl to ask' };
    const { headers: credHeaders, redact } = webhookHeaders(ctx);
    const url = new URL(
      p.statusUrl.replaceAll('%7Bkey%7D', '{key}').replaceAll('{key}', encodeURIComponent(intent.idempotencyKey)),
    );
    const target = `deploy status GET ${url.host}`;
    // statusUrl obeys the same rules as url (it used to skip allowedHosts)
    const refused = hostRefused(url, ctx.policy);
    if (refused) return { status: 'unknown', reason: `${target}: ${refused}` };
    assertCredentialHost(intent, ctx.credentials, url, target);
    const headers: Record<string, string> = { accept: 'application/json' };
    for (const [n, v] of Object.entries(p.headers ?? {})) headers[n.toLowerCase()] = v;
    for (const [n, v] of Object.entries(credHeaders)) headers[n.toLowerCase()] = v;
    headers['idempotency-key'] = intent.idempotencyKey;
    const answer = await httpCall({
      dispatcher,
      method: 'GET',
      url: url.toString(),
      headers,
      timeoutMs,
      signal: ctx.signal,
      target,
      redact,
      sideEffect: false,
    });
    if (answer.status === 404) return { status: 'not_done' };
    if (answer.status !== 200)
      return { status: 'unknown', reason: `${target} answered ${answer.status}${snippet(answer.text, redact)}` };
    const rec = (
      typeof answer.json === 'object' && answer.json !== null && !Array.isArray(answer.json) ? answer.json : undefined
    ) as { exists?: unknown; id?: unknown; url?: unknown } | undefined;
    if (!rec) return { status: 'unknown', reason: `${target} answered 200 without a JSON object` };
    if (rec.exists === false) return { status: 'not_done' };
    const id =
      typeof rec.id === 'string' && rec.id !== '' ? rec.id : typeof rec.id === 'number' ? String(rec.id) : undefined;
    if (rec.exists !== true && id === undefined)
      return { status: 'unknown', reason: `${target} answered 200 without "exists" or "id"` };
    return {
      status: 'done',
      externalId: id ?? `deploy:${intent.idempotencyKey}`,
      url: typeof rec.url === 'string' ? rec.url : null,
    };
  }

  return {
    name: 'deploy',
    externalEffect: true,
    // Accounts are per target: github needs {token}; a webhook account may be {} or {headers}.
    needsCredentials: true,
    payloadSchema: DeployPayload,
    async execute(intent, ctx) {
      allowedHosts = ctx.policy.webhook.allowedHosts;
      const p = parse(intent);
      return p.kind === 'github' ? executeGithub(intent, p, ctx) : executeWebhook(intent, p, ctx);
    },
    async reconcile(intent, ctx) {
      allowedHosts = ctx.policy.webhook.allowedHosts;
      try {
        const p = parse(intent);
        return p.kind === 'github' ? await reconcileGithub(intent, p, ctx) : await reconcileWebhook(intent, p, ctx);
      } catch (err) {
        // Any failure to ask is "cannot tell", never "not done". Messages are already redacted.
        return {
          status: 'unknown',
          reason: `deploy lookup failed: ${err instanceof Error ? err.message : String(err)}`,
        };
      }
    },
    // A deploy hook's URL comes from the intent, as a webhook's does; GitHub's host is the account's.
    breakerTarget: (payload) => (payload.kind === 'webhook' ? receiverOf(payload.url) : undefined),
    async close() {
      await ownAgent?.close();
    },
  };
}

export const deployConnector: DeployConnector = createDeployConnector();
