import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Policy } from '@handoff/contracts';
import type { PolicyInput } from '@handoff/contracts';
import {
  ConnectorError,
  PermanentError,
  RateLimitedError,
  RetryableError,
  WebhookPayload,
  classifyError,
  createConnectorRegistry,
  createWebhookConnector,
  noopConnector,
  parseRetryAfter,
} from '@handoff/connectors';
import type { ConnectorContext, ConnectorIntent, WebhookConnector } from '@handoff/connectors';
import { Agent } from 'undici';
import { startRecordingSink } from '../support/recordingSink.ts';
import { startTcpProxy } from '../support/tcpProxy.ts';
import type { RecordingSink } from '../support/recordingSink.ts';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRedactor, safeExternalId, safeReceiptUrl } from '@handoff/contracts';
import { loadSecrets } from '@handoff/executor';

const silent = pino({ level: 'silent' });

/** The receivers here listen on loopback, which a webhook may call only when policy names it. */
const LOOPBACK: PolicyInput = { webhook: { allowedHosts: ['127.0.0.1'] } };

function ctx(policy: PolicyInput = LOOPBACK, extra: Partial<ConnectorContext> = {}): ConnectorContext {
  return {
    signal: new AbortController().signal,
    log: silent,
    credentials: undefined,
    policy: Policy.parse(policy),
    ...extra,
  };
}

function intent<P>(payload: P, idempotencyKey: string = randomUUID()): ConnectorIntent<P> {
  return {
    id: randomUUID(),
    channel: 'webhook',
    account: 'default',
    idempotencyKey,
    payload,
    createdAt: new Date(),
    attemptNo: 1,
  };
}

function hook(payload: unknown, key?: string): ConnectorIntent<WebhookPayload> {
  return intent(WebhookPayload.parse(payload), key);
}

/** Runs fn, expects it to throw an error of `type`, and returns that error. */
async function rejectsWith<T extends Error>(fn: () => Promise<unknown>, type: new (...args: never[]) => T): Promise<T> {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof type, `expected ${type.name}, got ${String(err)}`);
    return err;
  }
  assert.fail(`expected ${type.name}, but the call succeeded`);
}

/** A port on 127.0.0.1 that nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  await new Promise<void>((r) => server.close(() => r()));
  return address.port;
}

describe('webhook connector', () => {
  let sink: RecordingSink;
  let webhook: WebhookConnector;

  before(async () => {
    sink = await startRecordingSink();
    webhook = createWebhookConnector();
  });
  after(async () => {
    await webhook.close();
    await sink.close();
  });
  beforeEach(() => sink.reset());

  test('sends the JSON body with the Idempotency-Key and takes the external id and url from the answer', async () => {
    const key = `key-${randomUUID()}`;
    const result = await webhook.execute(
      hook({ url: `${sink.url}/hooks/a?x=1`, headers: { 'X-Custom': 'yes' }, body: { hello: 'world', n: 1 } }, key),
      ctx(),
    );
    assert.equal(sink.requests.length, 1);
    const req = sink.requests[0]!;
    assert.equal(req.method, 'POST');
    assert.equal(req.path, '/hooks/a?x=1');
    assert.equal(req.idempotencyKey, key);
    assert.equal(req.headers['content-type'], 'application/json');
    assert.equal(req.headers['x-custom'], 'yes');
    assert.deepEqual(req.json, { hello: 'world', n: 1 });
    assert.deepEqual(result, { externalId: '1', url: `${sink.url}/1` });
  });

  test('uses the payload method', async () => {
    await webhook.execute(hook({ url: sink.url, method: 'PATCH', body: [1, 2] }), ctx());
    assert.equal(sink.requests[0]!.method, 'PATCH');
    assert.deepEqual(sink.requests[0]!.json, [1, 2]);
  });

  test('a numeric id becomes the external id; without one, x-request-id, then webhook:<key>', async () => {
    sink.respondNext(
      { status: 201, body: { id: 42 } },
      { status: 202, headers: { 'x-request-id': 'req-7' }, body: 'accepted' },
      { status: 204 },
    );
    const a = await webhook.execute(hook({ url: sink.url, body: {} }), ctx());
    assert.deepEqual(a, { externalId: '42', url: null });
    const b = await webhook.execute(hook({ url: sink.url, body: {} }), ctx());
    assert.deepEqual(b, { externalId: 'req-7', url: null });
    const c = await webhook.execute(hook({ url: sink.url, body: {} }, 'k-204'), ctx());
    assert.deepEqual(c, { externalId: 'webhook:k-204', url: null });
  });

  test('429 with Retry-After in seconds is rate limited for that long', async () => {
    sink.respondWith({ status: 429, headers: { 'retry-after': '7' }, body: 'slow down' });
    const err = await rejectsWith(() => webhook.execute(hook({ url: sink.url, body: {} }), ctx()), RateLimitedError);
    assert.equal(err.retryAfterMs, 7000);
    assert.deepEqual(
      { errorClass: classifyError(err).errorClass, retryAfterMs: classifyError(err).retryAfterMs },
      { errorClass: 'rate_limited', retryAfterMs: 7000 },
    );
  });

  test('429 with Retry-After as an HTTP date is rate limited until that date', async () => {
    const at = new Date(Date.now() + 30_000);
    sink.respondWith({ status: 429, headers: { 'retry-after': at.toUTCString() } });
    const err = await rejectsWith(() => webhook.execute(hook({ url: sink.url, body: {} }), ctx()), RateLimitedError);
    // HTTP dates have whole seconds: the answer is up to 1 s shorter, never longer.
    assert.ok(err.retryAfterMs > 28_000 && err.retryAfterMs <= 30_000, `retryAfterMs ${err.retryAfterMs}`);
  });

  test('429 without Retry-After waits the default second', async () => {
    sink.respondWith({ status: 429 });
    const err = await rejectsWith(() => webhook.execute(hook({ url: sink.url, body: {} }), ctx()), RateLimitedError);
    assert.equal(err.retryAfterMs, 1000);
  });

  test('parseRetryAfter reads seconds and HTTP dates, and ignores garbage', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    assert.equal(parseRetryAfter('120', now), 120_000);
    assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:10 GMT', now), 10_000);
    assert.equal(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now), 0);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter(undefined, now), undefined);
  });

  test('503 and 408 are retryable', async () => {
    sink.respondNext({ status: 503, body: 'maintenance' }, { status: 408 });
    const e503 = await rejectsWith(() => webhook.execute(hook({ url: sink.url, body: {} }), ctx()), RetryableError);
    assert.match(e503.message, /503/);
    assert.equal(classifyError(e503).errorClass, 'retryable');
    await rejectsWith(() => webhook.execute(hook({ url: sink.url, body: {} }), ctx()), RetryableError);
  });

  test('400 is permanent, with the status and at most 200 characters of the body in the message', async () => {
    sink.respondWith({ status: 400, body: `bad field "title" ${'x'.repeat(500)}` });
    const err = await rejectsWith(() => webhook.execute(hook({ url: sink.url, body: {} }), ctx()), PermanentError);
    assert.match(err.message, /400/);
    assert.match(err.message, /bad field "title"/);
    assert.ok(!err.message.includes('x'.repeat(201)), 'body not truncated');
    assert.equal(classifyError(err).errorClass, 'permanent');
  });

  test('a receiver that never answers times out as retryable (the receiver dedupes on the key)', async () => {
    sink.respondWith({ hang: true });
    const started = Date.now();
    const err = await rejectsWith(
      () => webhook.execute(hook({ url: sink.url, body: {} }), ctx({ webhook: { timeoutMs: 200 } })),
      RetryableError,
    );
    assert.match(err.message, /UND_ERR_HEADERS_TIMEOUT/);
    assert.ok(Date.now() - started < 5000);
    assert.equal(sink.requests.length, 1, 'the request did reach the receiver');
  });

  test('a connection dropped after the request was sent is retryable', async () => {
    sink.respondWith({ destroy: true });
    const err = await rejectsWith(() => webhook.execute(hook({ url: sink.url, body: {} }), ctx()), RetryableError);
    assert.match(err.message, /after sending/);
    assert.equal(sink.requests.length, 1);
  });

  test('a refused connection is retryable', async () => {
    const port = await closedPort();
    const err = await rejectsWith(
      () => webhook.execute(hook({ url: `http://127.0.0.1:${port}/x`, body: {} }), ctx()),
      RetryableError,
    );
    assert.match(err.message, /ECONNREFUSED/);
  });

  test('the executor aborting the call is retryable', async () => {
    sink.respondWith({ hang: true });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('lease lost')), 50);
    await rejectsWith(
      () => webhook.execute(hook({ url: sink.url, body: {} }), ctx(LOOPBACK, { signal: controller.signal })),
      RetryableError,
    );
  });

  test('a call given up while the network holds it does not reach the receiver once the network heals', async () => {
    // The partition chaos scenario in miniature: the proxy holds every byte, as a black-holed link
    // does, and delivers on thaw what the sender's kernel would still retransmit.
    const proxy = await startTcpProxy('127.0.0.1', sink.port);
    const plain = createWebhookConnector({ dispatcher: new Agent() });
    try {
      const arrivedAfterHeal = async (connector: WebhookConnector, key: string): Promise<number> => {
        // a call that completes first, so that the next one goes out on an established connection
        await connector.execute(hook({ url: `http://127.0.0.1:${proxy.port}/warm`, body: {} }), ctx());
        await new Promise((r) => setTimeout(r, 20)); // undici frees the connection a moment after the answer
        proxy.freeze();
        const controller = new AbortController();
        const call = connector.execute(
          hook({ url: `http://127.0.0.1:${proxy.port}/late`, body: { key } }, key),
          ctx({}, { signal: controller.signal }),
        );
        await new Promise((r) => setTimeout(r, 100));
        controller.abort(new Error('lease lost'));
        await assert.rejects(call);
        await new Promise((r) => setTimeout(r, 50)); // the reset reaches the other end
        proxy.thaw();
        await new Promise((r) => setTimeout(r, 200));
        return sink.countByKey().get(key) ?? 0;
      };
      assert.equal(await arrivedAfterHeal(webhook, 'late-reset'), 0, 'the reset connection delivered nothing');
      // for contrast: an orderly close leaves the request to the kernel, and it arrives late
      assert.equal(await arrivedAfterHeal(plain, 'late-closed'), 1);
    } finally {
      await plain.close();
      await proxy.close();
    }
  });

  test('policy webhook.allowedHosts refuses other hosts permanently, before any request', async () => {
    const err = await rejectsWith(
      () =>
        webhook.execute(hook({ url: sink.url, body: {} }), ctx({ webhook: { allowedHosts: ['hooks.example.com'] } })),
      PermanentError,
    );
    assert.match(err.message, /allowedHosts/);
    assert.equal(sink.requests.length, 0);
    // Listed by host name, or by host:port.
    await webhook.execute(hook({ url: sink.url, body: {} }), ctx({ webhook: { allowedHosts: ['127.0.0.1'] } }));
    await webhook.execute(
      hook({ url: sink.url, body: {} }),
      ctx({ webhook: { allowedHosts: [`127.0.0.1:${sink.port}`] } }),
    );
    assert.equal(sink.requests.length, 2);
  });

  test('credential headers are sent but never appear in error messages or logs', async () => {
    const secret = 'Bearer s3cr3t-token-0123456789';
    const lines: string[] = [];
    const log = pino(
      { level: 'trace' },
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          lines.push(chunk.toString());
          cb();
        },
      }),
    );
    const withCreds = ctx(LOOPBACK, { credentials: { hosts: ['127.0.0.1'], headers: { Authorization: secret } }, log });
    // A receiver that echoes the request headers into its error answers.
    const echo = (status: number) => (req: { headers: unknown }) => ({ status, body: JSON.stringify(req.headers) });

    await webhook.execute(hook({ url: sink.url, body: {} }), withCreds);
    assert.equal(sink.requests[0]!.headers.authorization, secret);

    for (const status of [400, 503, 429]) {
      sink.respondWith(echo(status));
      const err = await rejectsWith(
        () => webhook.execute(hook({ url: sink.url, body: {} }), withCreds),
        ConnectorError,
      );
      assert.ok(!err.message.includes('s3cr3t'), `secret leaked into the ${status} message: ${err.message}`);
      assert.ok(!classifyError(err).message.includes('s3cr3t'));
    }
    sink.respondWith(echo(400));
    const err = await rejectsWith(() => webhook.execute(hook({ url: sink.url, body: {} }), withCreds), PermanentError);
    assert.match(err.message, /\[redacted\]/);
    assert.ok(lines.length > 0, 'the connector logged something');
    assert.ok(!lines.join('').includes('s3cr3t'), 'secret leaked into the log');
  });

  test('malformed credentials are refused without echoing them', async () => {
    const err = await rejectsWith(
      () =>
        webhook.execute(
          hook({ url: sink.url, body: {} }),
          ctx(LOOPBACK, { credentials: { hosts: ['127.0.0.1'], headers: { Authorization: 12345678 } } }),
        ),
      PermanentError,
    );
    assert.ok(!err.message.includes('12345678'));
    const forbidden = await rejectsWith(
      () =>
        webhook.execute(
          hook({ url: sink.url, body: {} }),
          ctx(LOOPBACK, { credentials: { hosts: ['127.0.0.1'], headers: { Host: 'evil.example' } } }),
        ),
      PermanentError,
    );
    assert.ok(!forbidden.message.includes('evil.example'));
    assert.equal(sink.requests.length, 0);
  });
});

describe('credentials bound to hosts', () => {
  let sink: RecordingSink;
  let webhook: WebhookConnector;
  const secret = 'Bearer bound-to-hosts-0123456789';
  before(async () => {
    sink = await startRecordingSink();
    webhook = createWebhookConnector();
  });
  after(async () => {
    await webhook.close();
    await sink.close();
  });
  beforeEach(() => sink.reset());

  test('a credentialed webhook call to a host its account does not name is refused before any request', async () => {
    const creds = { hosts: ['hooks.example.com'], headers: { authorization: secret } };
    const err = await rejectsWith(
      () => webhook.execute(hook({ url: `${sink.url}/x`, body: {} }), ctx(LOOPBACK, { credentials: creds })),
      PermanentError,
    );
    assert.match(err.message, /webhook:default/);
    assert.match(err.message, /"hosts"/);
    assert.ok(!err.message.includes('bound-to-hosts'));
    assert.equal(sink.requests.length, 0);
    // named by host:port, the same call goes through with the header
    await webhook.execute(
      hook({ url: `${sink.url}/x`, body: {} }),
      ctx(LOOPBACK, { credentials: { ...creds, hosts: [`127.0.0.1:${sink.port}`] } }),
    );
    assert.equal(sink.requests[0]!.headers.authorization, secret);
  });

  test('a statusUrl obeys the same rules: another host gets no credentials and no call', async () => {
    const creds = { hosts: [`127.0.0.1:${sink.port}`], headers: { authorization: secret } };
    const other = await closedPort();
    const verdict = await webhook.reconcile!(
      hook({ url: `${sink.url}/x`, statusUrl: `http://127.0.0.1:${other}/status`, body: {} }),
      ctx({ webhook: { allowedHosts: ['127.0.0.1'] } }, { credentials: creds }),
    );
    assert.equal(verdict.status, 'unknown');
    assert.match((verdict as { reason: string }).reason, /not among the hosts/);
    const listed = await webhook.reconcile!(
      hook({ url: `${sink.url}/x`, statusUrl: `http://127.0.0.1:${other}/status`, body: {} }),
      ctx({ webhook: { allowedHosts: [`127.0.0.1:${sink.port}`] } }),
    );
    assert.match((listed as { reason: string }).reason, /allowedHosts/);
  });
});

describe('secrets.json: every credentialed account names its hosts', () => {
  const withSecrets = (secrets: unknown, fn: (home: string) => void): void => {
    const home = mkdtempSync(join(tmpdir(), 'handoff-secrets-'));
    try {
      writeFileSync(join(home, 'secrets.json'), JSON.stringify(secrets));
      chmodSync(join(home, 'secrets.json'), 0o600);
      fn(home);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  };

  test('a credentialed account without hosts is refused at start in one sentence naming channel:account, never a value', () => {
    const value = 'Bearer never-echo-this-0123456789';
    withSecrets({ webhook: { ops: { headers: { authorization: value } } } }, (home) => {
      assert.throws(
        () => loadSecrets(home),
        (err: Error) =>
          /webhook:ops holds credentials but names no "hosts"/.test(err.message) && !err.message.includes('never-echo'),
      );
      // the standalone executor says it and exits before it touches Postgres
      const run = spawnSync(process.execPath, [join(import.meta.dirname, '../../apps/executor/main.ts')], {
        env: { ...process.env, HANDOFF_HOME: home, DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' },
        encoding: 'utf8',
        timeout: 20_000,
      });
      assert.equal(run.status, 1, run.stderr);
      assert.match(run.stderr, /webhook:ops holds credentials but names no "hosts"/);
      assert.ok(!run.stderr.includes('never-echo') && !run.stdout.includes('never-echo'));
    });
    withSecrets(
      {
        webhook: {
          ops: { hosts: ['hooks.example.com', 'ci.example.com:8443', '[::1]:9000'], headers: { authorization: value } },
        },
      },
      (home) => {
        assert.ok(loadSecrets(home).webhook?.ops);
      },
    );
    withSecrets({ webhook: { ops: { hosts: ['https://hooks.example.com/x'], headers: {} } } }, (home) => {
      assert.throws(() => loadSecrets(home), /ops\.hosts\.0/);
    });
  });

  test('accounts with a server of their own imply it; fixed providers imply theirs; an empty account needs none', () => {
    withSecrets(
      {
        x: { a: { accessToken: 'tok-0123456789' } },
        deploy: { gh: { token: 'ghp_0123456789' }, hook: {} },
        email: { m: { smtp: { host: 'smtp.example.com', port: 587, pass: 'p' }, from: 'a@example.com' } },
        calendar: { c: { serverUrl: 'https://dav.example.com/', username: 'u', password: 'p' } },
        webhook: { plain: {} },
      },
      (home) => assert.ok(loadSecrets(home)),
    );
    withSecrets({ deploy: { hook: { headers: { 'x-key': 'k-0123456789' } } } }, (home) =>
      assert.throws(() => loadSecrets(home), /deploy:hook/),
    );
  });
});

describe('the shared redaction', () => {
  const secret = 'S3cret-Value_0123456789';
  const r = createRedactor([`Bearer ${secret}`]);
  const b64 = (s: string) => Buffer.from(s).toString('base64');

  test('finds a credential as is, in any case, base64, base64url, URL-encoded, hex, \\u-escaped, and inside a longer base64 value', () => {
    const forms = [
      secret,
      secret.toUpperCase(),
      secret.toLowerCase(),
      b64(secret),
      Buffer.from(secret).toString('base64url'),
      encodeURIComponent(`a b/${secret}?`),
      Buffer.from(secret).toString('hex'),
      Buffer.from(secret).toString('hex').toUpperCase(),
      b64(`user:${secret}`),
      b64(`xy:${secret}:tail`),
      b64(`Bearer ${secret}`),
      [...Buffer.from(secret)].map((b) => `%${b.toString(16).toUpperCase()}`).join(''),
      JSON.stringify(secret)
        .slice(1, -1)
        .replace(/./g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
    ];
    for (const form of forms) {
      assert.ok(r.finds(`id=${form};`), form);
      assert.ok(!r(`id=${form};`).includes(form.slice(4, 16)), `${form} -> ${r(`id=${form};`)}`);
    }
    assert.equal(r('nothing to see here'), 'nothing to see here');
  });

  test('receipts keep a provider id and URL only when they have the safe shape and hold no credential', () => {
    assert.equal(safeExternalId('12345', 'i', r), '12345');
    assert.equal(safeExternalId('<abc@mail.example>', 'i', r), '<abc@mail.example>');
    assert.equal(safeExternalId(secret, 'i', r), 'withheld:i');
    assert.equal(safeExternalId(b64(secret), 'i', r), 'withheld:i');
    assert.equal(safeExternalId('has space', 'i', r), 'withheld:i');
    assert.equal(safeExternalId('x'.repeat(201), 'i', r), 'withheld:i');
    assert.equal(safeReceiptUrl('https://x.example/status/1', r), 'https://x.example/status/1');
    assert.equal(safeReceiptUrl(`https://x.example/?t=${encodeURIComponent(secret)}`, r), null);
    assert.equal(safeReceiptUrl('https://user:pw@x.example/', r), null);
    assert.equal(safeReceiptUrl('javascript:alert(1)', r), null);
    assert.equal(safeReceiptUrl(`https://x.example/${'a'.repeat(2100)}`, r), null);
  });
});

describe('connector registry', () => {
  const registry = createConnectorRegistry();

  test('lists the built-in connectors', () => {
    assert.deepEqual(registry.names(), ['calendar', 'deploy', 'email', 'noop', 'notify', 'webhook', 'x']);
    for (const name of ['calendar', 'deploy', 'email', 'notify', 'webhook', 'x'])
      assert.equal(registry.get(name)?.externalEffect, true, name);
    assert.equal(registry.get('noop')?.externalEffect, false);
    assert.equal(registry.get('nope'), undefined);
  });

  test('payload validation names the field', () => {
    const badUrl = registry.validatePayload('webhook', { url: 'ftp://example.com/x', body: {} });
    assert.equal(badUrl.ok, false);
    assert.ok(!badUrl.ok && badUrl.issues.some((i) => i.path === 'payload.url'), JSON.stringify(badUrl));

    const missing = registry.validatePayload('webhook', { body: {} });
    assert.ok(!missing.ok && missing.issues.some((i) => i.path === 'payload.url'));

    const badMethod = registry.validatePayload('webhook', { url: 'https://example.com', method: 'GET', body: {} });
    assert.ok(!badMethod.ok && badMethod.issues.some((i) => i.path === 'payload.method'));

    for (const name of ['Idempotency-Key', 'Host', 'content-length', 'Connection', 'Transfer-Encoding']) {
      const res = registry.validatePayload('webhook', {
        url: 'https://example.com',
        headers: { [name]: 'x' },
        body: {},
      });
      assert.ok(
        !res.ok && res.issues.some((i) => i.path === `payload.headers.${name}`),
        `${name}: ${JSON.stringify(res)}`,
      );
    }
    const injected = registry.validatePayload('webhook', {
      url: 'https://example.com',
      headers: { 'x-a': 'a\r\nx-b: b' },
      body: {},
    });
    assert.ok(!injected.ok && injected.issues.some((i) => i.path === 'payload.headers.x-a'));

    const extra = registry.validatePayload('webhook', { url: 'https://example.com', body: {}, header: {} });
    assert.equal(extra.ok, false);

    const unknown = registry.validatePayload('fax', {});
    assert.ok(!unknown.ok && unknown.issues[0]?.path === 'channel');
  });

  test('a valid payload comes back with defaults filled in', () => {
    const res = registry.validatePayload('webhook', { url: 'https://example.com/h', body: { a: 1 } });
    assert.deepEqual(res, { ok: true, payload: { url: 'https://example.com/h', method: 'POST', body: { a: 1 } } });
  });
});

describe('noop connector', () => {
  test('the external id is a pure function of the idempotency key, and reconcile finds it', async () => {
    const a = await noopConnector.execute(intent({ any: 'thing' }, 'key-1'), ctx());
    const again = await noopConnector.execute(intent({ other: true }, 'key-1'), ctx());
    const b = await noopConnector.execute(intent({}, 'key-2'), ctx());
    assert.match(a.externalId, /^noop:[0-9a-f]{16}$/);
    assert.equal(a.url, null);
    assert.equal(again.externalId, a.externalId);
    assert.notEqual(b.externalId, a.externalId);
    assert.deepEqual(await noopConnector.reconcile?.(intent({}, 'key-1'), ctx()), {
      status: 'done',
      externalId: a.externalId,
      url: null,
    });
  });
});

describe('classifyError', () => {
  test('anything that is not a ConnectorError is an unknown outcome', () => {
    assert.equal(classifyError(new Error('boom')).errorClass, 'unknown');
    assert.equal(classifyError('string').errorClass, 'unknown');
    assert.equal(classifyError(new PermanentError('no')).errorClass, 'permanent');
  });
});
