import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { sql } from 'kysely';
import { Policy } from '@handoff/contracts';
import { PermanentError, RateLimitedError, RetryableError, UnknownOutcomeError } from '@handoff/connectors';
import type { ConnectorContext, ConnectorIntent } from '@handoff/connectors';
import { createDeployConnector, DeployPayload } from '@handoff/connectors';
import type { DeployConnector } from '@handoff/connectors';
import { claimLease, recordAttempt } from '@handoff/intents';
import { processTicket } from '@handoff/executor';
import { startPipeline } from '../support/pipeline.ts';
import type { PipelineHarness } from '../support/pipeline.ts';
import { startGithubFake } from '../fakes/githubApi.ts';
import type { GithubFake } from '../fakes/githubApi.ts';

const silent = pino({ level: 'silent' });
// The fake GitHub and receivers listen on loopback, which deploy calls reach only when policy names it.
const policy = Policy.parse({ webhook: { allowedHosts: ['127.0.0.1'] } });
const TOKEN = `ghp_handofftest${randomUUID().replaceAll('-', '')}`;

/** A deploy webhook receiver that dedupes on Idempotency-Key and answers a status URL. */
async function startDeployReceiver() {
  const done = new Map<string, string>();
  const state = { posts: 0, statusCalls: 0, statusAnswer: undefined as undefined | number, authSeen: [] as string[] };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://r');
      if (req.headers.authorization) state.authSeen.push(req.headers.authorization);
      if (req.method === 'POST' && url.pathname === '/deploy') {
        state.posts++;
        const key = String(req.headers['idempotency-key']);
        if (!done.has(key)) done.set(key, `dep-${done.size + 1}`);
        res
          .writeHead(202, { 'content-type': 'application/json' })
          .end(JSON.stringify({ id: done.get(key), url: `http://r/deploys/${done.get(key)}` }));
        return;
      }
      if (req.method === 'GET' && url.pathname.startsWith('/status')) {
        state.statusCalls++;
        if (state.statusAnswer !== undefined) {
          res.writeHead(state.statusAnswer).end('{"error":"status store down"}');
          return;
        }
        const key =
          url.pathname === '/status'
            ? String(req.headers['idempotency-key'])
            : decodeURIComponent(url.pathname.slice('/status/'.length));
        const id = done.get(key);
        if (!id) res.writeHead(404).end('{"exists":false}');
        else
          res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify({ exists: true, id, url: `http://r/deploys/${id}` }));
        return;
      }
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return {
    base: `http://127.0.0.1:${address.port}`,
    done,
    state,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

let gh: GithubFake;
let receiver: Awaited<ReturnType<typeof startDeployReceiver>>;
let deploy: DeployConnector;

before(async () => {
  gh = await startGithubFake();
  gh.tokens.add(TOKEN);
  receiver = await startDeployReceiver();
  deploy = createDeployConnector({ timeoutMs: 5000 });
});
after(async () => {
  await deploy.close();
  await gh.close();
  await receiver.close();
});

const creds = (): Record<string, unknown> => ({ token: TOKEN, apiBaseUrl: gh.baseUrl });

function ctx(
  credentials: Record<string, unknown> | undefined,
  extra: Partial<ConnectorContext> = {},
): ConnectorContext {
  return { signal: new AbortController().signal, log: silent, credentials, policy, ...extra };
}

function intent(payload: unknown, key: string = randomUUID()): ConnectorIntent<DeployPayload> {
  return {
    id: randomUUID(),
    channel: 'deploy',
    account: 'prod',
    idempotencyKey: key,
    payload: DeployPayload.parse(payload),
    createdAt: new Date(),
    attemptNo: 1,
  };
}

async function rejectsWith<T extends Error>(p: Promise<unknown>, type: new (...args: never[]) => T): Promise<T> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof type, `expected ${type.name}, got ${String(err)}`);
    return err;
  }
  assert.fail(`expected ${type.name}, but the call succeeded`);
}

const ghPayload = (extra: Record<string, unknown> = {}) => ({
  kind: 'github',
  owner: 'acme',
  repo: 'site',
  ref: 'main',
  environment: 'staging',
  ...extra,
});

describe('deploy connector: GitHub deployments', () => {
  test('payload schema is discriminated by kind', () => {
    assert.ok(DeployPayload.safeParse(ghPayload()).success);
    assert.ok(!DeployPayload.safeParse({ kind: 'github', owner: 'a/b', repo: 'x', ref: 'main' }).success);
    assert.ok(!DeployPayload.safeParse({ kind: 'ftp', url: 'x' }).success);
    assert.ok(
      DeployPayload.safeParse({ kind: 'webhook', url: 'http://127.0.0.1/x', statusUrl: 'http://127.0.0.1/s/{key}' })
        .success,
    );
  });

  test('creates a deployment with the key in its payload', async () => {
    const it = intent(ghPayload({ description: 'ship it', payload: { version: '1.2.3' }, requiredContexts: [] }));
    const result = await deploy.execute(it, ctx(creds()));
    const d = gh.deployments.find((x) => String(x.id) === result.externalId);
    assert.ok(d);
    assert.equal(d.payload.handoff_idempotency_key, it.idempotencyKey);
    assert.equal(d.payload.version, '1.2.3');
    assert.equal(d.environment, 'staging');
    assert.equal(result.url, d.url);
  });

  test('409 merge conflict and 422 (unknown ref, failing contexts) are permanent; 401 too', async () => {
    gh.refs.add('conflicted');
    gh.conflicts.add('conflicted');
    assert.match(
      (await rejectsWith(deploy.execute(intent(ghPayload({ ref: 'conflicted' })), ctx(creds())), PermanentError))
        .message,
      /409/,
    );
    assert.match(
      (await rejectsWith(deploy.execute(intent(ghPayload({ ref: 'nope' })), ctx(creds())), PermanentError)).message,
      /422.*No ref found/,
    );
    gh.refs.add('red');
    gh.failingContexts.add('red');
    assert.match(
      (await rejectsWith(deploy.execute(intent(ghPayload({ ref: 'red' })), ctx(creds())), PermanentError)).message,
      /422/,
    );
    await rejectsWith(deploy.execute(intent(ghPayload()), ctx({ ...creds(), token: 'ghp_wrong' })), PermanentError);
  });

  test('202 auto-merge creates no deployment: retryable, and the retry deploys', async () => {
    gh.refs.add('topic');
    gh.behind.add('topic');
    const it = intent(ghPayload({ ref: 'topic' }));
    await rejectsWith(deploy.execute(it, ctx(creds())), RetryableError);
    const result = await deploy.execute(it, ctx(creds()));
    assert.equal(gh.deployments.filter((d) => d.payload.handoff_idempotency_key === it.idempotencyKey).length, 1);
    assert.ok(result.externalId);
  });

  test('rate limits: primary (remaining 0 → until reset), secondary (Retry-After; or a minute), 429', async () => {
    const reset = Math.ceil(Date.now() / 1000) + 600;
    gh.script('POST /repos/:owner/:repo/deployments', {
      status: 403,
      headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(reset) },
      body: { message: 'API rate limit exceeded for user ID 1.' },
    });
    const primary = await rejectsWith(deploy.execute(intent(ghPayload()), ctx(creds())), RateLimitedError);
    assert.ok(primary.retryAfterMs > 590_000 && primary.retryAfterMs <= 601_000, String(primary.retryAfterMs));
    gh.script('POST /repos/:owner/:repo/deployments', {
      status: 403,
      headers: { 'retry-after': '30' },
      body: { message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.' },
    });
    assert.equal(
      (await rejectsWith(deploy.execute(intent(ghPayload()), ctx(creds())), RateLimitedError)).retryAfterMs,
      30_000,
    );
    gh.script('POST /repos/:owner/:repo/deployments', {
      status: 403,
      body: { message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.' },
    });
    assert.equal(
      (await rejectsWith(deploy.execute(intent(ghPayload()), ctx(creds())), RateLimitedError)).retryAfterMs,
      60_000,
    );
    gh.script('POST /repos/:owner/:repo/deployments', {
      status: 429,
      headers: { 'retry-after': '5' },
      body: { message: 'Too many requests' },
    });
    assert.equal(
      (await rejectsWith(deploy.execute(intent(ghPayload()), ctx(creds())), RateLimitedError)).retryAfterMs,
      5000,
    );
    gh.script('POST /repos/:owner/:repo/deployments', {
      status: 403,
      body: { message: 'Resource not accessible by integration' },
    });
    await rejectsWith(deploy.execute(intent(ghPayload()), ctx(creds())), PermanentError);
  });

  test('5xx retryable; a reset after sending is an unknown outcome', async () => {
    gh.script('POST /repos/:owner/:repo/deployments', { status: 502, body: { message: 'Server Error' } });
    await rejectsWith(deploy.execute(intent(ghPayload()), ctx(creds())), RetryableError);
    gh.drop('POST /repos/:owner/:repo/deployments', 'after-effect');
    await rejectsWith(deploy.execute(intent(ghPayload()), ctx(creds())), UnknownOutcomeError);
  });

  test('reconcile by key: done, not_done, unknown on failure; default environment is production', async () => {
    const it = intent(ghPayload({ environment: undefined }));
    const made = await deploy.execute(it, ctx(creds()));
    assert.deepEqual(await deploy.reconcile!(it, ctx(creds())), {
      status: 'done',
      externalId: made.externalId,
      url: made.url,
    });
    assert.deepEqual(await deploy.reconcile!(intent(ghPayload()), ctx(creds())), { status: 'not_done' });
    gh.script('GET /repos/:owner/:repo/deployments', { status: 500, body: { message: 'Server Error' } });
    assert.equal((await deploy.reconcile!(it, ctx(creds()))).status, 'unknown');
    assert.equal(
      (await deploy.reconcile!(it, ctx({ ...creds(), apiBaseUrl: 'http://127.0.0.1:1' }))).status,
      'unknown',
    );
  });
});

describe('deploy connector: generic deploy webhook', () => {
  const hook = (extra: Record<string, unknown> = {}) => ({
    kind: 'webhook',
    url: `${receiver.base}/deploy`,
    body: { service: 'api' },
    ...extra,
  });

  test('posts with Idempotency-Key; the id comes from the body', async () => {
    const it = intent(hook());
    const result = await deploy.execute(
      it,
      ctx({ hosts: ['127.0.0.1'], headers: { authorization: 'Bearer hook-secret-abcdefgh' } }),
    );
    assert.equal(result.externalId, receiver.done.get(it.idempotencyKey));
    assert.ok(receiver.state.authSeen.includes('Bearer hook-secret-abcdefgh'));
  });

  test('reconcile through the status URL: {key} placeholder and header forms, 404, errors, none', async () => {
    const it = intent(hook({ statusUrl: `${receiver.base}/status/{key}` }));
    assert.deepEqual(await deploy.reconcile!(it, ctx({})), { status: 'not_done' });
    const made = await deploy.execute(it, ctx({}));
    assert.deepEqual(await deploy.reconcile!(it, ctx({})), {
      status: 'done',
      externalId: made.externalId,
      url: made.url,
    });
    const byHeader = intent(hook({ statusUrl: `${receiver.base}/status` }), it.idempotencyKey);
    assert.equal((await deploy.reconcile!(byHeader, ctx({}))).status, 'done');
    receiver.state.statusAnswer = 503;
    try {
      assert.equal((await deploy.reconcile!(it, ctx({}))).status, 'unknown');
    } finally {
      receiver.state.statusAnswer = undefined;
    }
    assert.equal((await deploy.reconcile!(intent(hook()), ctx({}))).status, 'unknown', 'no statusUrl: cannot tell');
  });

  test('the statusUrl obeys allowedHosts and the account hosts like the url: no status call elsewhere', async () => {
    const it = intent(hook({ statusUrl: `http://localhost:${new URL(receiver.base).port}/status/{key}` }));
    const before = receiver.state.statusCalls;
    const narrow = { ...ctx({}), policy: Policy.parse({ webhook: { allowedHosts: [new URL(receiver.base).host] } }) };
    const refused = await deploy.reconcile!(it, narrow);
    assert.equal(refused.status, 'unknown');
    assert.match((refused as { reason: string }).reason, /allowedHosts/);
    const wide = Policy.parse({ webhook: { allowedHosts: ['127.0.0.1', 'localhost'] } });
    const bound = await deploy.reconcile!(it, {
      ...ctx({ hosts: [new URL(receiver.base).host], headers: { authorization: 'Bearer hook-secret-abcdefgh' } }),
      policy: wide,
    });
    assert.match((bound as { reason: string }).reason, /not among the hosts the credentials of deploy:/);
    assert.equal(receiver.state.statusCalls, before);
  });
});

describe('deploy connector in the executor pipeline', () => {
  let h: PipelineHarness;
  before(async () => {
    h = await startPipeline({
      connectors: [deploy],
      policy: {
        approval: { rules: [{ channel: 'deploy', requireApproval: false }] },
        lease: { ttlSeconds: 5 },
        webhook: { allowedHosts: ['127.0.0.1'] },
      },
    });
  });
  after(async () => {
    await h.close();
  });

  async function crashed(payload: Record<string, unknown>) {
    const key = randomUUID();
    const { intent: created } = await h.service.create(
      { channel: 'deploy', account: 'prod', payload, idempotencyKey: key },
      'test',
    );
    const a = await claimLease(h.tdb.db, { intentId: created.id, owner: 'A', ttlSeconds: 5, heldKeys: ['deploy:*'] });
    assert.ok(a);
    assert.ok(await recordAttempt(h.tdb.db, { intentId: created.id, epoch: a.epoch, executorId: 'A' }));
    return { id: created.id, key };
  }
  const expire = (id: string) =>
    h.tdb.db
      .updateTable('intents')
      .set({ lease_expires_at: new Date(Date.now() - 1000) })
      .where('id', '=', id)
      .execute();
  const B = (credentials: Record<string, unknown>) => h.executor('B', { secrets: { deploy: { prod: credentials } } });

  const kinds: Array<{
    name: string;
    payload: () => Record<string, unknown>;
    downPayload?: () => Record<string, unknown>;
    calls: () => number;
    creds: () => Record<string, unknown>;
    down: () => Record<string, unknown>;
  }> = [
    {
      name: 'github',
      payload: () => ghPayload({ ref: 'main', environment: `env-${randomUUID().slice(0, 8)}` }),
      calls: () => gh.count('POST /repos/:owner/:repo/deployments'),
      creds: () => creds(),
      down: () => ({ ...creds(), apiBaseUrl: 'http://127.0.0.1:1' }),
    },
    {
      name: 'webhook',
      payload: () => ({
        kind: 'webhook',
        url: `${receiver.base}/deploy`,
        body: {},
        statusUrl: `${receiver.base}/status/{key}`,
      }),
      calls: () => receiver.state.posts,
      creds: () => ({}),
      down: () => ({}),
      // the status endpoint unreachable (nothing listens on port 1)
      downPayload: () => ({
        kind: 'webhook',
        url: `${receiver.base}/deploy`,
        body: {},
        statusUrl: 'http://127.0.0.1:1/status/{key}',
      }),
    },
  ];

  for (const k of kinds) {
    test(`${k.name}: effect happened → reconciled done, no second call`, async () => {
      const payload = k.payload();
      const c = await crashed(payload);
      await deploy.execute(intent(payload, c.key), ctx(k.creds()));
      await expire(c.id);
      const before = k.calls();
      assert.equal(await processTicket(B(k.creds()), c.id), 'reconciled_done');
      assert.equal(k.calls(), before);
      assert.equal((await h.service.get(c.id))?.state, 'succeeded');
    });

    test(`${k.name}: not happened → not_done → exactly one more call`, async () => {
      const c = await crashed(k.payload());
      await expire(c.id);
      const before = k.calls();
      assert.equal(await processTicket(B(k.creds()), c.id), 'reconciled_not_done_executed');
      assert.equal(k.calls() - before, 1);
    });

    test(`${k.name}: provider unreachable during reconcile → unknown → in_doubt`, async () => {
      const c = await crashed(k.downPayload ? k.downPayload() : k.payload());
      await expire(c.id);
      const before = k.calls();
      assert.equal(await processTicket(B(k.down()), c.id), 'in_doubt');
      assert.equal(k.calls(), before);
      const receipt = (await h.service.get(c.id))?.receipts[0];
      assert.equal(receipt?.kind, 'failure');
    });
  }

  test('the GitHub token never appears in logs, errors, or any intent, attempt or receipt row', async () => {
    const lines: string[] = [];
    const log = pino(
      { level: 'trace' },
      new Writable({
        write(chunk, _e, cb) {
          lines.push(String(chunk));
          cb();
        },
      }),
    );
    const wrong = `ghp_wrong${randomUUID().replaceAll('-', '')}`;
    const hookSecret = `hook-${randomUUID()}`;
    const secrets = [TOKEN, wrong, hookSecret];
    const errors: string[] = [];
    gh.echoTokens = true;
    try {
      const run = async (payload: Record<string, unknown>, credentials: Record<string, unknown>) => {
        const { intent: created } = await h.service.create(
          { channel: 'deploy', account: 'prod', payload, idempotencyKey: randomUUID() },
          'test',
        );
        await processTicket(h.executor('S', { log, secrets: { deploy: { prod: credentials } } }), created.id);
      };
      await run(ghPayload(), creds());
      await run(ghPayload(), { ...creds(), token: wrong });
      await run(ghPayload({ ref: 'nope' }), creds());
      gh.script('POST /repos/:owner/:repo/deployments', { status: 500, body: { message: `oops ${TOKEN}` } });
      await run(ghPayload(), creds());
      await run(
        { kind: 'webhook', url: `${receiver.base}/nowhere`, body: {} },
        { hosts: ['127.0.0.1'], headers: { authorization: `Bearer ${hookSecret}` } },
      );
      for (const c of [
        { ...creds(), token: wrong },
        { ...creds(), apiBaseUrl: 'http://127.0.0.1:1' },
      ]) {
        try {
          await deploy.execute(intent(ghPayload()), ctx(c, { log }));
        } catch (err) {
          errors.push(String(err), (err as Error).stack ?? '', JSON.stringify(err));
        }
      }
    } finally {
      gh.echoTokens = false;
    }
    const rows = await sql<{ j: unknown }>`
      SELECT row_to_json(i)::text AS j FROM intents i
      UNION ALL SELECT row_to_json(a)::text FROM attempts a
      UNION ALL SELECT row_to_json(r)::text FROM receipts r`.execute(h.tdb.db);
    const haystack = [...lines, ...errors, ...rows.rows.map((r) => String(r.j))].join('\n');
    assert.match(haystack, /Bad credentials/, 'the 401 was recorded');
    assert.match(haystack, /answered 404/, 'the webhook failure was recorded');
    for (const s of secrets) {
      const at = haystack.indexOf(s);
      assert.ok(
        at < 0,
        `a secret leaked: …${haystack.slice(Math.max(0, at - 300), at + 50).replaceAll(s, '<SECRET>')}`,
      );
    }
  });
});
