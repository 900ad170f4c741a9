import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { sql } from 'kysely';
import { Policy, createExecutorRedactor } from '@handoff/contracts';
import { PermanentError, RateLimitedError, RetryableError, UnknownOutcomeError } from '@handoff/connectors';
import type { ConnectorContext, ConnectorIntent } from '@handoff/connectors';
import { createXConnector, writeBackToSecretsFile, XPayload } from '@handoff/connectors';
import type { RefreshedCredentials, XConnector } from '@handoff/connectors';
// Not on the package's surface: X's weighted count is tested where it is computed.
import { xWeightedLength } from '../../libs/connectors/x.ts';
import { claimLease, recordAttempt } from '@handoff/intents';
import { processTicket } from '@handoff/executor';
import { startPipeline } from '../support/pipeline.ts';
import type { PipelineHarness } from '../support/pipeline.ts';
import { startCoordinator } from '@handoff/coordinator';
import type { RunningCoordinator } from '@handoff/coordinator';
import { createTestDatabase } from '../support/database.ts';
import type { TestDatabase } from '../support/database.ts';
import { startXFake } from '../fakes/xApi.ts';
import type { XFake } from '../fakes/xApi.ts';

const silent = pino({ level: 'silent' });
const policy = Policy.parse({});

let fake: XFake;
let x: XConnector;
const refreshed: RefreshedCredentials[] = [];
let seq = 0;

before(async () => {
  fake = await startXFake();
  x = createXConnector({ onCredentialsRefreshed: (c) => void refreshed.push(c), timeoutMs: 5000 });
});
after(async () => {
  await x.close();
  await fake.close();
});

function account(opts: { confidential?: boolean; withUserId?: boolean } = {}) {
  const u = fake.addUser({ confidential: opts.confidential });
  const credentials: Record<string, unknown> = {
    accessToken: u.accessToken,
    refreshToken: u.refreshToken,
    clientId: u.clientId,
    apiBaseUrl: fake.baseUrl,
    ...(u.clientSecret ? { clientSecret: u.clientSecret } : {}),
    ...(opts.withUserId === false ? {} : { userId: u.user.id, username: u.user.username }),
  };
  return { ...u, name: `acct${++seq}`, credentials };
}

function ctx(
  credentials: Record<string, unknown> | undefined,
  extra: Partial<ConnectorContext> = {},
): ConnectorContext {
  return { signal: new AbortController().signal, log: silent, credentials, policy, ...extra };
}

function intent(acct: string, payload: unknown, createdAt = new Date()): ConnectorIntent<XPayload> {
  return {
    id: randomUUID(),
    channel: 'x',
    account: acct,
    idempotencyKey: randomUUID(),
    payload: XPayload.parse(payload),
    createdAt,
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

const unique = (): string => `handoff test post ${randomUUID()}`;

describe('x connector against the X API fake', () => {
  test("payload schema: text weighs 1..280 by X's count, ids are digits, at most 4 media", () => {
    assert.ok(XPayload.safeParse({ text: 'a'.repeat(280) }).success);
    assert.ok(!XPayload.safeParse({ text: 'a'.repeat(281) }).success);
    assert.ok(!XPayload.safeParse({ text: '  ' }).success);
    assert.ok(!XPayload.safeParse({ text: 'a', replyTo: 'abc' }).success);
    assert.ok(!XPayload.safeParse({ text: 'a', mediaIds: ['1', '2', '3', '4', '5'] }).success);
    assert.ok(!XPayload.safeParse({ text: 'a', extra: 1 }).success);
  });

  test("the payload schema refuses a text over X's weighted 280 and says its weight, though it has at most 280 code points", () => {
    const refusal = (text: string): string => {
      const parsed = XPayload.safeParse({ text });
      assert.ok(!parsed.success, `${[...text].length} code points weighing ${xWeightedLength(text)} were accepted`);
      assert.equal(parsed.error.issues.length, 1);
      assert.deepEqual(parsed.error.issues[0]!.path, ['text']);
      return parsed.error.issues[0]!.message;
    };
    // CJK characters weigh 2: 141 of them weigh 282
    assert.equal(xWeightedLength('漢'.repeat(141)), 282);
    assert.match(refusal('漢'.repeat(141)), /weighs 282\b.*280/);
    assert.ok(XPayload.safeParse({ text: '漢'.repeat(140) }).success, '140 CJK characters weigh 280');
    // emoji weigh 2 (a ZWJ sequence counts once): 141 code points, weight 282
    assert.equal(xWeightedLength('👍'.repeat(141)), 282);
    assert.match(refusal('👍'.repeat(141)), /weighs 282\b/);
    assert.equal(xWeightedLength('👩‍👩‍👧‍👦'), 2);
    // any URL weighs 23: 257 letters, a space and a URL of 40 characters weigh 281 ...
    const url = 'https://example.com/a/rather/long/path/x';
    assert.equal(xWeightedLength(`${'a'.repeat(257)} ${url}`), 281);
    assert.match(refusal(`${'a'.repeat(257)} ${url}`), /weighs 281\b/);
    // ... and 256 of them with the same URL weigh exactly 280, though that is 297 code points
    const atLimit = `${'a'.repeat(256)} ${url}`;
    assert.equal([...atLimit].length, 297);
    assert.equal(xWeightedLength(atLimit), 280);
    assert.ok(XPayload.safeParse({ text: atLimit }).success);
    assert.ok(
      XPayload.safeParse({ text: `${'漢'.repeat(100)}${'a'.repeat(80)}` }).success,
      'a mix weighing exactly 280',
    );
  });

  test('posts, and names the post by id and url', async () => {
    const a = account();
    const text = unique();
    const result = await x.execute(intent(a.name, { text }), ctx(a.credentials));
    const stored = fake.tweets.find((t) => t.id === result.externalId);
    assert.equal(stored?.text, text);
    assert.equal(result.url, `https://x.com/${a.user.username}/status/${result.externalId}`);
  });

  test('maps reply, quote and media to the v2 body', async () => {
    const a = account();
    const result = await x.execute(
      intent(a.name, { text: unique(), replyTo: '123', quoteOf: '456', mediaIds: ['7', '8'] }),
      ctx(a.credentials),
    );
    const body = fake.tweets.find((t) => t.id === result.externalId)?.body;
    assert.deepEqual(body?.reply, { in_reply_to_tweet_id: '123' });
    assert.equal(body?.quote_tweet_id, '456');
    assert.deepEqual(body?.media, { media_ids: ['7', '8'] });
  });

  test('an expired token is refreshed; the rotated refresh token is used next time', async () => {
    const a = account({ confidential: true });
    fake.expire(a.accessToken);
    const before = refreshed.length;
    await x.execute(intent(a.name, { text: unique() }), ctx(a.credentials));
    assert.equal(refreshed.length, before + 1, 'the hook heard of the refresh');
    const first = refreshed.at(-1)!;
    assert.equal(first.account, a.name);
    assert.notEqual(first.refreshToken, a.refreshToken, 'X rotated the refresh token');
    const tokenCalls = fake.requests.filter((r) => r.route === 'POST /2/oauth2/token');
    assert.match(tokenCalls.at(-1)?.authorization ?? '', /^Basic /, 'a confidential client authenticates with Basic');
    // The new access token expires too: the second refresh must use the rotated refresh token
    // (the old one no longer works at the fake), with the same secrets.json credentials.
    fake.expire(first.accessToken);
    await x.execute(intent(a.name, { text: unique() }), ctx(a.credentials));
    assert.equal(refreshed.length, before + 2);
    const lastForm = new URLSearchParams(
      fake.requests.filter((r) => r.route === 'POST /2/oauth2/token').at(-1)?.body ?? '',
    );
    assert.equal(lastForm.get('refresh_token'), first.refreshToken);
  });

  test("tokens a refresh brings are known to the executor's redactors made before it (receipts, errors, its log)", async () => {
    const a = account({ confidential: true });
    const executorRedactor = createExecutorRedactor([a.accessToken, a.refreshToken]);
    fake.expire(a.accessToken);
    const before = refreshed.length;
    await x.execute(intent(a.name, { text: unique() }), ctx(a.credentials));
    assert.equal(refreshed.length, before + 1);
    const fresh = refreshed.at(-1)!;
    for (const token of [fresh.accessToken, fresh.refreshToken!]) {
      for (const form of [token, Buffer.from(token).toString('base64'), encodeURIComponent(token).toUpperCase()]) {
        assert.equal(executorRedactor(`echoed: ${form}`), 'echoed: [redacted]', form);
      }
    }
  });

  test('concurrent posts with an expired token share one refresh (the refresh token rotates)', async () => {
    const a = account();
    fake.expire(a.accessToken);
    const before = fake.count('POST /2/oauth2/token');
    const results = await Promise.all(
      [1, 2, 3].map(() => x.execute(intent(a.name, { text: unique() }), ctx(a.credentials))),
    );
    assert.equal(results.length, 3);
    assert.equal(fake.count('POST /2/oauth2/token') - before, 1);
  });

  test('expiresAt in the past refreshes before posting (public client: client_id in the form)', async () => {
    const a = account();
    const before = fake.count('POST /2/tweets');
    await x.execute(
      intent(a.name, { text: unique() }),
      ctx({ ...a.credentials, expiresAt: new Date(Date.now() - 1000).toISOString() }),
    );
    assert.equal(fake.count('POST /2/tweets') - before, 1, 'no wasted 401 round trip');
    const form = new URLSearchParams(
      fake.requests.filter((r) => r.route === 'POST /2/oauth2/token').at(-1)?.body ?? '',
    );
    assert.equal(form.get('client_id'), a.clientId);
  });

  test('a refused refresh is permanent: re-authorise', async () => {
    const a = account();
    fake.expire(a.accessToken);
    const err = await rejectsWith(
      x.execute(intent(a.name, { text: unique() }), ctx({ ...a.credentials, refreshToken: 'rt-not-valid-anymore' })),
      PermanentError,
    );
    assert.match(err.message, /re-authorise/);
  });

  test('429 with x-rate-limit-reset → RateLimitedError until the reset', async () => {
    const a = account();
    const reset = Math.ceil(Date.now() / 1000) + 120;
    fake.script('POST /2/tweets', {
      status: 429,
      headers: { 'x-rate-limit-limit': '100', 'x-rate-limit-remaining': '0', 'x-rate-limit-reset': String(reset) },
      body: { title: 'Too Many Requests', detail: 'Too Many Requests', type: 'about:blank', status: 429 },
    });
    const err = await rejectsWith(x.execute(intent(a.name, { text: unique() }), ctx(a.credentials)), RateLimitedError);
    assert.ok(err.retryAfterMs > 115_000 && err.retryAfterMs <= 121_000, `retryAfterMs ${err.retryAfterMs}`);
  });

  test('x-rate-limit-remaining: 0 on a success holds the next post until the reset, without calling X', async () => {
    const a = account();
    fake.postLimit = 1;
    try {
      await x.execute(intent(a.name, { text: unique() }), ctx(a.credentials));
      const before = fake.count('POST /2/tweets');
      const err = await rejectsWith(
        x.execute(intent(a.name, { text: unique() }), ctx(a.credentials)),
        RateLimitedError,
      );
      assert.ok(err.retryAfterMs > 800_000);
      assert.equal(fake.count('POST /2/tweets'), before);
    } finally {
      fake.postLimit = 100;
    }
  });

  test('duplicate-content 403 is evidence: the earlier post is found and returned as done', async () => {
    const a = account({ withUserId: false });
    const text = `${unique()} & <friends>`;
    const it = intent(a.name, { text });
    const first = await x.execute(it, ctx(a.credentials));
    const again = await x.execute({ ...it, attemptNo: 2 }, ctx(a.credentials));
    assert.equal(again.externalId, first.externalId);
    assert.equal(
      again.url,
      `https://x.com/${a.user.username}/status/${first.externalId}`,
      'username learned from /2/users/me',
    );
  });

  test('duplicate-content 403 for a post made before the intent is permanent with a clear message', async () => {
    const a = account();
    const text = unique();
    fake.seed(a.user.id, text, new Date(Date.now() - 3_600_000));
    const err = await rejectsWith(x.execute(intent(a.name, { text }), ctx(a.credentials)), PermanentError);
    assert.match(err.message, /duplicate content/);
  });

  test('400 is permanent, 5xx retryable, both with the problem detail', async () => {
    const a = account();
    fake.script('POST /2/tweets', {
      status: 400,
      body: {
        errors: [{ message: 'bad reply id' }],
        title: 'Invalid Request',
        detail: 'One or more parameters to your request was invalid.',
        type: 'https://api.twitter.com/2/problems/invalid-request',
      },
    });
    const p = await rejectsWith(x.execute(intent(a.name, { text: unique() }), ctx(a.credentials)), PermanentError);
    assert.match(p.message, /400.*invalid/i);
    fake.script('POST /2/tweets', {
      status: 503,
      body: { title: 'Service Unavailable', detail: 'Service Unavailable', type: 'about:blank', status: 503 },
    });
    await rejectsWith(x.execute(intent(a.name, { text: unique() }), ctx(a.credentials)), RetryableError);
  });

  test('a connection dropped after sending is an unknown outcome; refused before it, retryable', async () => {
    const a = account();
    fake.drop('POST /2/tweets', 'after-effect');
    await rejectsWith(x.execute(intent(a.name, { text: unique() }), ctx(a.credentials)), UnknownOutcomeError);
    await rejectsWith(
      x.execute(intent(a.name, { text: unique() }), ctx({ ...a.credentials, apiBaseUrl: 'http://127.0.0.1:1' })),
      RetryableError,
    );
  });

  test('a slow X (latency beyond the timeout) is an unknown outcome; reconcile then finds the post', async () => {
    const a = account();
    const quick = createXConnector({ timeoutMs: 1000 });
    const text = unique();
    const it = intent(a.name, { text });
    const started = new Date();
    fake.delayMs = 3000;
    try {
      await rejectsWith(quick.execute(it, ctx(a.credentials)), UnknownOutcomeError);
    } finally {
      fake.delayMs = 0;
    }
    await new Promise((r) => setTimeout(r, 3000)); // the fake finishes the post it was still working on
    const verdict = await quick.reconcile!(it, ctx(a.credentials, { attemptStartedAt: started }));
    assert.equal(verdict.status, 'done');
    await quick.close();
  });

  test('writeBackToSecretsFile rewrites the account atomically with mode 0600', () => {
    const dir = mkdtempSync(join(tmpdir(), 'handoff-x-'));
    const file = join(dir, 'secrets.json');
    writeFileSync(
      file,
      JSON.stringify({
        x: { main: { accessToken: 'a', refreshToken: 'r', clientId: 'c' } },
        webhook: { w: { headers: {} } },
      }),
      { mode: 0o600 },
    );
    writeBackToSecretsFile(file)({
      channel: 'x',
      account: 'main',
      accessToken: 'a2',
      refreshToken: 'r2',
      expiresAt: '2030-01-01T00:00:00.000Z',
    });
    const data = JSON.parse(readFileSync(file, 'utf8'));
    assert.deepEqual(data.x.main, {
      accessToken: 'a2',
      refreshToken: 'r2',
      clientId: 'c',
      expiresAt: '2030-01-01T00:00:00.000Z',
    });
    assert.deepEqual(data.webhook, { w: { headers: {} } });
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(dir), ['secrets.json'], 'no temporary file left');
    rmSync(dir, { recursive: true });
  });

  test('reconcile: done (escaped text), not_done, URL → unknown, lookup failure → unknown', async () => {
    const a = account();
    const text = `${unique()} a<b & c>d`;
    const it = intent(a.name, { text });
    const started = new Date();
    const posted = await x.execute(it, ctx(a.credentials));
    assert.deepEqual(await x.reconcile!(it, ctx(a.credentials, { attemptStartedAt: started })), {
      status: 'done',
      externalId: posted.externalId,
      url: posted.url,
    });
    assert.deepEqual(
      await x.reconcile!(intent(a.name, { text: unique() }), ctx(a.credentials, { attemptStartedAt: started })),
      { status: 'not_done' },
    );
    const withUrl = intent(a.name, { text: `${unique()} https://example.com/page` });
    await x.execute(withUrl, ctx(a.credentials));
    const u = await x.reconcile!(withUrl, ctx(a.credentials, { attemptStartedAt: started }));
    assert.equal(u.status, 'unknown');
    const down = await x.reconcile!(
      it,
      ctx({ ...a.credentials, apiBaseUrl: 'http://127.0.0.1:1' }, { attemptStartedAt: started }),
    );
    assert.equal(down.status, 'unknown');
    // A post older than the attempt window does not count.
    const old = unique();
    fake.seed(a.user.id, old, new Date(Date.now() - 3_600_000));
    assert.deepEqual(
      await x.reconcile!(intent(a.name, { text: old }), ctx(a.credentials, { attemptStartedAt: started })),
      { status: 'not_done' },
    );
  });
});

describe('x connector in the executor pipeline', () => {
  let h: PipelineHarness;
  before(async () => {
    h = await startPipeline({
      connectors: [x],
      policy: { approval: { rules: [{ channel: 'x', requireApproval: false }] }, lease: { ttlSeconds: 5 } },
    });
  });
  after(async () => {
    await h.close();
  });

  async function crashedAttempt(acct: string, text: string) {
    const { intent: created } = await h.service.create(
      { channel: 'x', account: acct, payload: { text }, idempotencyKey: randomUUID() },
      'test',
    );
    const a = await claimLease(h.tdb.db, { intentId: created.id, owner: 'A', ttlSeconds: 5, heldKeys: ['x:*'] });
    assert.ok(a);
    assert.ok(await recordAttempt(h.tdb.db, { intentId: created.id, epoch: a.epoch, executorId: 'A' }));
    return created;
  }
  async function expire(id: string) {
    await h.tdb.db
      .updateTable('intents')
      .set({ lease_expires_at: new Date(Date.now() - 1000) })
      .where('id', '=', id)
      .execute();
  }

  test('effect happened before the crash → reconciled done, no second post', async () => {
    const a = account();
    const text = unique();
    const it = await crashedAttempt(a.name, text);
    // A's call reached X; A died before writing the receipt.
    await x.execute(intent(a.name, { text }), ctx(a.credentials));
    await expire(it.id);
    const before = fake.count('POST /2/tweets');
    const outcome = await processTicket(h.executor('B', { secrets: { x: { [a.name]: a.credentials } } }), it.id);
    assert.equal(outcome, 'reconciled_done');
    assert.equal(fake.count('POST /2/tweets'), before, 'no second call at X');
    const detail = await h.service.get(it.id);
    assert.equal(detail?.state, 'succeeded');
    assert.equal(fake.tweets.filter((t) => t.text === text).length, 1);
  });

  test('effect did not happen → not_done → exactly one more post', async () => {
    const a = account();
    const text = unique();
    const it = await crashedAttempt(a.name, text);
    await expire(it.id);
    const before = fake.count('POST /2/tweets');
    const outcome = await processTicket(h.executor('B', { secrets: { x: { [a.name]: a.credentials } } }), it.id);
    assert.equal(outcome, 'reconciled_not_done_executed');
    assert.equal(fake.count('POST /2/tweets') - before, 1);
    assert.equal(fake.tweets.filter((t) => t.text === text).length, 1);
  });

  test('X unreachable during reconcile → unknown → in_doubt, no post', async () => {
    const a = account();
    const it = await crashedAttempt(a.name, unique());
    await expire(it.id);
    const before = fake.count('POST /2/tweets');
    const outcome = await processTicket(
      h.executor('B', { secrets: { x: { [a.name]: { ...a.credentials, apiBaseUrl: 'http://127.0.0.1:1' } } } }),
      it.id,
    );
    assert.equal(outcome, 'in_doubt');
    assert.equal(fake.count('POST /2/tweets'), before);
  });

  test('no credential appears in logs, errors, or any intent, attempt or receipt row', async () => {
    const lines: string[] = [];
    const log = pino(
      { level: 'trace' },
      new Writable({
        write(chunk, _enc, cb) {
          lines.push(String(chunk));
          cb();
        },
      }),
    );
    const a = account({ confidential: true });
    const secrets = [a.accessToken, a.refreshToken, a.clientSecret!];
    const errors: string[] = [];
    fake.echoTokens = true;
    try {
      const deps = (creds: Record<string, unknown>) => h.executor('S', { log, secrets: { x: { [a.name]: creds } } });
      const run = async (text: string, creds: Record<string, unknown> = a.credentials) => {
        const { intent: created } = await h.service.create(
          { channel: 'x', account: a.name, payload: { text }, idempotencyKey: randomUUID() },
          'test',
        );
        await processTicket(deps(creds), created.id);
        return created.id;
      };
      // success after a refresh (new tokens join the secrets to look for)
      fake.expire(a.accessToken);
      await run(unique());
      const rotated = refreshed.filter((r) => r.account === a.name);
      for (const r of rotated) secrets.push(r.accessToken, r.refreshToken!);
      // 401 that echoes the token, then a refused refresh → permanent
      const badCreds = {
        ...a.credentials,
        accessToken: `at-bogus-${randomUUID()}`,
        refreshToken: `rt-bogus-${randomUUID()}`,
      };
      secrets.push(badCreds.accessToken as string, badCreds.refreshToken as string);
      await run(unique(), badCreds);
      // 400 whose body echoes a token, 503, duplicate from someone else
      fake.script('POST /2/tweets', {
        status: 400,
        body: {
          title: 'Invalid Request',
          detail: `bad request with ${rotated.at(-1)?.accessToken}`,
          type: 'about:blank',
        },
      });
      await run(unique());
      fake.script('POST /2/tweets', { status: 503, body: { title: 'Service Unavailable', detail: 'down' } });
      await run(unique());
      const dup = unique();
      fake.seed(a.user.id, dup, new Date(Date.now() - 3_600_000));
      await run(dup);
      // direct calls, to see the thrown messages
      for (const creds of [badCreds, { ...a.credentials, apiBaseUrl: 'http://127.0.0.1:1' }]) {
        try {
          await x.execute(intent(a.name, { text: unique() }), ctx(creds, { log }));
        } catch (err) {
          errors.push(String(err), (err as Error).stack ?? '', JSON.stringify(err));
        }
      }
    } finally {
      fake.echoTokens = false;
    }
    const rows = await sql<{ j: unknown }>`
      SELECT row_to_json(i)::text AS j FROM intents i
      UNION ALL SELECT row_to_json(a)::text FROM attempts a
      UNION ALL SELECT row_to_json(r)::text FROM receipts r`.execute(h.tdb.db);
    const haystack = [...lines, ...errors, ...rows.rows.map((r) => String(r.j))].join('\n');
    assert.ok(lines.length > 0, 'the logger saw the runs');
    assert.match(haystack, /answered 400/, 'the failures were recorded');
    for (const s of secrets) {
      const at = haystack.indexOf(s);
      assert.ok(
        at < 0,
        `a secret (${s.slice(0, 6)}…) leaked: …${haystack.slice(Math.max(0, at - 300), at + 50).replaceAll(s, '<SECRET>')}`,
      );
    }
  });
});

describe('creating an x intent over HTTP', () => {
  let database: TestDatabase;
  let coordinator: RunningCoordinator;
  let home: string;
  let token: string;

  before(async () => {
    database = await createTestDatabase();
    home = mkdtempSync(join(tmpdir(), 'handoff-x-create-'));
    coordinator = await startCoordinator({ home, databaseUrl: database.url, port: 0, log: silent });
    token = readFileSync(join(home, 'operator.token'), 'utf8').trim();
  });
  after(async () => {
    await coordinator?.close();
    await database?.drop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async function create(text: string): Promise<{ status: number; json: any }> {
    const res = await fetch(`${coordinator.url}/v1/intents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'x', payload: { text }, idempotencyKey: randomUUID() }),
    });
    return { status: res.status, json: await res.json() };
  }

  test('a text over the weighted 280 is refused at creation with a 400 naming payload.text and its weight', async () => {
    for (const [text, weight] of [
      ['漢'.repeat(141), 282],
      ['👍'.repeat(141), 282],
      [`${'a'.repeat(257)} https://example.com/a/rather/long/path/x`, 281],
    ] as const) {
      const answer = await create(text);
      assert.equal(answer.status, 400, JSON.stringify(answer.json));
      assert.equal(answer.json.error.code, 'validation_failed');
      assert.match(answer.json.error.message, new RegExp(`payload\\.text: weighs ${weight}\\b`));
      assert.deepEqual(
        answer.json.error.details.map((d: { path: string }) => d.path),
        ['payload.text'],
      );
    }
    const rows = await database.db.selectFrom('intents').select('id').where('channel', '=', 'x').execute();
    assert.equal(rows.length, 0, 'no intent was written');
  });

  test('a text weighing exactly 280 is created', async () => {
    const answer = await create(`${'漢'.repeat(100)}${'a'.repeat(80)}`);
    assert.equal(answer.status, 201, JSON.stringify(answer.json));
    assert.equal(answer.json.channel, 'x');
  });
});
