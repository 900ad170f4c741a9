import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { z } from 'zod';
import { NotifyPayload, Policy, accountHosts } from '@handoff/contracts';
import {
  PermanentError,
  RateLimitedError,
  RetryableError,
  UnknownOutcomeError,
  createEmailConnector,
  createNotifyConnector,
  emailMessageId,
} from '@handoff/connectors';
import type { ConnectorContext, ConnectorIntent } from '@handoff/connectors';
import { loadSecrets } from '@handoff/executor';
import { NTFY_TOO_MANY, startNtfyServer, type NtfyFake } from '../fakes/ntfyServer.ts';
import { startSlackWebhook, type SlackFake } from '../fakes/slackWebhook.ts';
import { startTelegramBotApi, type TelegramFake } from '../fakes/telegramBotApi.ts';
import { startRecordingServer, type RecordingServer } from '../fakes/recordingHttp.ts';
import { startSmtpPeer, type SmtpPeer } from '../support/smtpPeer.ts';
import { freePort } from '../support/ports.ts';
import { startStack, waitFor } from '../support/stack.ts';
import { startPipeline } from '../support/pipeline.ts';
import { claimLease, recordAttempt } from '@handoff/intents';
import { processTicket } from '@handoff/executor';

// Unique strings that must never appear in an error, a log line or a row.
const NTFY_TOKEN = `tk_${randomUUID().replace(/-/g, '')}`;
const NTFY_TOPIC = `handoff-${randomUUID().slice(0, 8)}`;
const SLACK_SECRET = `slacksecret${randomUUID().replace(/-/g, '')}`;
const BOT_TOKEN = `123456789:AA${randomUUID().replace(/-/g, '')}`;
const SMTP_PASS = `smtp-secret-${randomUUID()}`;
const SECRETS = [NTFY_TOKEN, NTFY_TOPIC, SLACK_SECRET, BOT_TOKEN, SMTP_PASS];

const logLines: string[] = [];
const log = pino(
  { level: 'trace' },
  new Writable({
    write(chunk: Buffer, _enc, cb) {
      logLines.push(chunk.toString());
      cb();
    },
  }),
);
const errorsSeen: string[] = [];

let ntfy: NtfyFake;
let slack: SlackFake;
let telegram: TelegramFake;
let smtp: SmtpPeer;
/** Somewhere a credential must never reach: every request it gets is a leak. */
let hostile: RecordingServer;

const email = createEmailConnector({ connectionTimeoutMs: 3_000, greetingTimeoutMs: 3_000, socketTimeoutMs: 3_000 });
const connector = createNotifyConnector({ timeoutMs: 1_500, email });

const ntfySecrets = () => ({ kind: 'ntfy', url: ntfy.url, topic: NTFY_TOPIC, token: NTFY_TOKEN });
const slackSecrets = () => ({ kind: 'slack', webhookUrl: `${slack.url}${slack.hookPath}` });
const telegramSecrets = (chatId: number | string = -1001) => ({
  kind: 'telegram',
  botToken: BOT_TOKEN,
  chatId,
  apiBaseUrl: telegram.url,
});
const emailSecrets = () => ({
  kind: 'email',
  smtp: {
    host: '127.0.0.1',
    port: smtp.port,
    secure: false,
    requireTLS: true,
    user: smtp.user,
    pass: SMTP_PASS,
    tls: { rejectUnauthorized: false },
  },
  from: 'handoff <handoff@example.test>',
  to: ['ops@example.test', 'oncall@example.test'],
});

const at = new Date().toISOString();
function payload(over: Partial<z.input<typeof NotifyPayload>> = {}): z.input<typeof NotifyPayload> {
  return {
    kind: 'ntfy',
    title: '2 things need you',
    message: 'handoff noticed 2 events.',
    url: 'https://handoff.example.test/console/#needs-you',
    items: [
      {
        event: 'approval_needed',
        subject: 'x:@acme post 3f2a waits for approval',
        url: 'https://handoff.example.test/console/#/intents/3f2a',
        at,
      },
      { event: 'dead', subject: 'webhook:ops intent 9c1d is dead', at },
    ],
    total: 2,
    ...over,
  };
}

function intent(
  p: z.input<typeof NotifyPayload>,
  account = 'ops',
  key: string = randomUUID(),
): ConnectorIntent<NotifyPayload> {
  return {
    id: randomUUID(),
    channel: 'notify',
    account,
    idempotencyKey: key,
    payload: NotifyPayload.parse(p),
    createdAt: new Date(),
    attemptNo: 1,
  };
}

function ctx(credentials: Record<string, unknown> | undefined): ConnectorContext {
  return { signal: new AbortController().signal, log, credentials, policy: Policy.parse({}) };
}

async function rejectsWith<T extends Error>(fn: () => Promise<unknown>, type: new (...args: never[]) => T): Promise<T> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof Error) errorsSeen.push(`${err.name}: ${err.message}\n${err.stack ?? ''}`);
    assert.ok(err instanceof type, `expected ${type.name}, got ${String(err)}`);
    return err;
  }
  assert.fail(`expected ${type.name}, nothing thrown`);
}

before(async () => {
  [ntfy, slack, telegram, smtp, hostile] = await Promise.all([
    startNtfyServer(),
    startSlackWebhook(SLACK_SECRET),
    startTelegramBotApi(BOT_TOKEN),
    startSmtpPeer({ user: 'notify', pass: SMTP_PASS }),
    startRecordingServer((_req, res) => res.end('{}')),
  ]);
  ntfy.protectedTopics.set(NTFY_TOPIC, NTFY_TOKEN);
  telegram.chats.set('-1001', { id: -1001, type: 'channel', username: 'handoff_ops' });
  telegram.chats.set('42', { id: 42, type: 'private' });
});

after(async () => {
  await connector.close();
  await Promise.all([ntfy, slack, telegram, smtp, hostile].map((s) => s?.close()));
});

describe('notify: ntfy', () => {
  test('publishes JSON to the root URL with the topic, title, priority, tags, click link and bearer token', async () => {
    const result = await connector.execute(intent(payload({ priority: 'high' })), ctx(ntfySecrets()));
    const req = ntfy.received.at(-1)!;
    assert.equal(req.method, 'POST');
    assert.equal(req.path, '/');
    assert.equal(req.headers.authorization, `Bearer ${NTFY_TOKEN}`);
    assert.equal(req.headers['content-type'], 'application/json');
    const body = req.json as Record<string, unknown>;
    assert.equal(body.topic, NTFY_TOPIC);
    assert.equal(body.title, '2 things need you');
    assert.equal(body.priority, 4);
    assert.deepEqual(body.tags, ['bell', 'x']);
    assert.equal(body.click, 'https://handoff.example.test/console/#needs-you');
    assert.match(
      String(body.message),
      /^handoff noticed 2 events\.\n\n- x:@acme post 3f2a waits for approval\n {2}https:\/\/handoff\.example\.test\/console\/#\/intents\/3f2a\n- webhook:ops intent 9c1d is dead/,
    );
    assert.equal(result.externalId, `ntfy:${ntfy.messages.at(-1)!.id}`);
    assert.equal(result.url, null);
  });

  test('a default priority is ntfy priority 3; a server under a path prefix gets the prefix', async () => {
    await connector.execute(intent(payload()), ctx({ ...ntfySecrets(), url: `${ntfy.url}/ntfy` }));
    assert.equal(ntfy.received.at(-1)!.path, '/ntfy/');
    assert.equal((ntfy.received.at(-1)!.json as { priority: number }).priority, 3);
  });

  test('lists at most 10 items, each with its link, and says how many more the digest folded', async () => {
    const items = Array.from({ length: 12 }, (_, i) => ({
      event: 'in_doubt' as const,
      subject: `intent ${i} is in doubt`,
      url: `https://handoff.example.test/console/#/intents/${i}`,
      at,
    }));
    await connector.execute(intent(payload({ items, total: 25 })), ctx(ntfySecrets()));
    const message = String((ntfy.received.at(-1)!.json as { message: string }).message);
    assert.ok(message.includes('- intent 9 is in doubt\n  https://handoff.example.test/console/#/intents/9'));
    assert.ok(!message.includes('intent 10 is in doubt'));
    assert.match(message, /and 15 more/);
    assert.match(message, /Open: https:\/\/handoff\.example\.test\/console\/#needs-you$/);
  });

  test('a message stays within ntfy 4096-byte limit, however many long items', async () => {
    const items = Array.from({ length: 200 }, (_, i) => ({
      event: 'dead' as const,
      subject: `é${'x'.repeat(290)} ${i}`,
      at,
    }));
    await connector.execute(intent(payload({ message: 'ü'.repeat(3000), items, total: 200 })), ctx(ntfySecrets()));
    const message = (ntfy.received.at(-1)!.json as { message: string }).message;
    assert.ok(Buffer.byteLength(message) <= 4096, `${Buffer.byteLength(message)} bytes`);
    assert.match(message, /and 200 more|and \d+ more/);
  });

  test('401 and 403 are permanent and name the credentials, never the token or topic', async () => {
    const { token: _drop, ...noToken } = ntfySecrets();
    const e401 = await rejectsWith(() => connector.execute(intent(payload()), ctx(noToken)), PermanentError);
    assert.match(e401.message, /401.*unauthorized.*check this target's credentials/);
    const e403 = await rejectsWith(
      () => connector.execute(intent(payload()), ctx({ ...ntfySecrets(), token: `tk_wrong${NTFY_TOKEN}` })),
      PermanentError,
    );
    assert.match(e403.message, /403.*forbidden/);
  });

  test('429 waits for the request bucket; 500 is retryable; 400 is permanent', async () => {
    ntfy.next.push(NTFY_TOO_MANY);
    const limited = await rejectsWith(() => connector.execute(intent(payload()), ctx(ntfySecrets())), RateLimitedError);
    assert.equal(limited.retryAfterMs, 10_000);
    ntfy.next.push({ ...NTFY_TOO_MANY, headers: { 'retry-after': '3' } });
    assert.equal(
      (await rejectsWith(() => connector.execute(intent(payload()), ctx(ntfySecrets())), RateLimitedError))
        .retryAfterMs,
      3_000,
    );
    ntfy.next.push({ status: 500, body: { code: 50001, http: 500, error: 'internal server error' } });
    await rejectsWith(() => connector.execute(intent(payload()), ctx(ntfySecrets())), RetryableError);
    ntfy.next.push({
      status: 400,
      body: {
        code: 40007,
        http: 400,
        error: 'invalid priority parameter',
        link: 'https://ntfy.sh/docs/publish/#message-priority',
      },
    });
    const bad = await rejectsWith(() => connector.execute(intent(payload()), ctx(ntfySecrets())), PermanentError);
    assert.match(bad.message, /400: invalid priority parameter \(40007\)/);
    assert.ok(!bad.message.includes(NTFY_TOKEN));
  });

  test('a connection cut after the request was sent is an unknown outcome; a refused one is retryable', async () => {
    ntfy.next.push({ drop: true });
    await rejectsWith(() => connector.execute(intent(payload()), ctx(ntfySecrets())), UnknownOutcomeError);
    ntfy.next.push({ hang: true });
    await rejectsWith(() => connector.execute(intent(payload()), ctx(ntfySecrets())), UnknownOutcomeError);
    const closed = await freePort();
    await rejectsWith(
      () => connector.execute(intent(payload()), ctx({ ...ntfySecrets(), url: `http://127.0.0.1:${closed}` })),
      RetryableError,
    );
  });
});

describe('notify: slack', () => {
  const slackPayload = (over: Partial<z.input<typeof NotifyPayload>> = {}) => payload({ kind: 'slack', ...over });

  test('posts {text} in mrkdwn to the webhook URL, escaped, with links; the id is the key hash', async () => {
    const p = slackPayload({ title: 'Gate <closed> & more', message: 'a <b> & c' });
    const key = randomUUID();
    const result = await connector.execute(intent(p, 'ops', key), ctx(slackSecrets()));
    const req = slack.received.at(-1)!;
    assert.equal(req.path, slack.hookPath);
    assert.deepEqual(Object.keys(req.json as object), ['text']);
    const text = (req.json as { text: string }).text;
    assert.ok(text.startsWith('*Gate &lt;closed&gt; &amp; more*\na &lt;b&gt; &amp; c'), text);
    assert.ok(
      text.includes('• <https://handoff.example.test/console/#/intents/3f2a|x:@acme post 3f2a waits for approval>'),
    );
    assert.ok(text.includes('• webhook:ops intent 9c1d is dead'));
    assert.ok(text.endsWith('<https://handoff.example.test/console/#needs-you|Open in handoff>'));
    assert.match(result.externalId, /^slack:[0-9a-f]{24}$/);
    const again = await connector.execute(intent(p, 'ops', key), ctx(slackSecrets()));
    assert.equal(again.externalId, result.externalId);
  });

  test('Slack errors: 404 no_service and 410 archived are permanent, 429 waits Retry-After, 500 retries', async () => {
    const gone = await rejectsWith(
      () =>
        connector.execute(
          intent(slackPayload()),
          ctx({ kind: 'slack', webhookUrl: `${slack.url}/services/T/B/${SLACK_SECRET}x` }),
        ),
      PermanentError,
    );
    assert.match(gone.message, /404: no_service/);
    slack.archived = true;
    try {
      assert.match(
        (await rejectsWith(() => connector.execute(intent(slackPayload()), ctx(slackSecrets())), PermanentError))
          .message,
        /410: channel_is_archived/,
      );
    } finally {
      slack.archived = false;
    }
    slack.next.push({ status: 429, headers: { 'retry-after': '7' }, body: 'rate_limited' });
    assert.equal(
      (await rejectsWith(() => connector.execute(intent(slackPayload()), ctx(slackSecrets())), RateLimitedError))
        .retryAfterMs,
      7_000,
    );
    slack.next.push({ status: 500, body: 'rollup_error' });
    await rejectsWith(() => connector.execute(intent(slackPayload()), ctx(slackSecrets())), RetryableError);
    slack.next.push({ status: 400, body: 'invalid_payload' });
    await rejectsWith(() => connector.execute(intent(slackPayload()), ctx(slackSecrets())), PermanentError);
  });
});

describe('notify: telegram', () => {
  const tgPayload = (over: Partial<z.input<typeof NotifyPayload>> = {}) => payload({ kind: 'telegram', ...over });

  test('sendMessage with HTML the Bot API parses, links, no preview; a public channel gets a t.me link', async () => {
    const p = tgPayload({ title: '<script>alert(1)</script> & co', message: 'x < y > z & "q"' });
    const result = await connector.execute(intent(p), ctx(telegramSecrets()));
    const req = telegram.received.at(-1)!;
    assert.equal(req.path, `/bot${BOT_TOKEN}/sendMessage`);
    const body = req.json as { chat_id: number; text: string; parse_mode: string; link_preview_options: object };
    assert.equal(body.chat_id, -1001);
    assert.equal(body.parse_mode, 'HTML');
    assert.deepEqual(body.link_preview_options, { is_disabled: true });
    assert.ok(
      body.text.startsWith('<b>&lt;script&gt;alert(1)&lt;/script&gt; &amp; co</b>\nx &lt; y &gt; z &amp; "q"'),
      body.text,
    );
    assert.ok(
      body.text.includes(
        '• <a href="https://handoff.example.test/console/#/intents/3f2a">x:@acme post 3f2a waits for approval</a>',
      ),
    );
    const sent = telegram.messages.at(-1)!;
    assert.equal(result.externalId, `telegram:${sent.messageId}`);
    assert.equal(result.url, `https://t.me/handoff_ops/${sent.messageId}`);
    const personal = await connector.execute(intent(p), ctx(telegramSecrets('42')));
    assert.equal(personal.url, null, 'a private chat has no public link');
  });

  test('a digest of 200 long items and a 4000-character message stays within 4096 characters', async () => {
    const items = Array.from({ length: 200 }, (_, i) => ({
      event: 'dead' as const,
      subject: `<${'y'.repeat(290)}> ${i}`,
      url: `https://handoff.example.test/i/${i}`,
      at,
    }));
    await connector.execute(
      intent(tgPayload({ message: '&'.repeat(4000), items, total: 200 })),
      ctx(telegramSecrets()),
    );
    const text = telegram.messages.at(-1)!.text;
    assert.ok(text.length <= 4096, String(text.length));
    assert.match(text, /<i>and 200 more<\/i>/);
  });

  test('429 waits parameters.retry_after; 401, chat not found and a migrated group are permanent', async () => {
    telegram.next.push({
      status: 429,
      body: {
        ok: false,
        error_code: 429,
        description: 'Too Many Requests: retry after 5',
        parameters: { retry_after: 5 },
      },
    });
    assert.equal(
      (await rejectsWith(() => connector.execute(intent(tgPayload()), ctx(telegramSecrets())), RateLimitedError))
        .retryAfterMs,
      5_000,
    );
    const wrongToken = `99:${BOT_TOKEN.split(':')[1]}zz`;
    const e401 = await rejectsWith(
      () => connector.execute(intent(tgPayload()), ctx({ ...telegramSecrets(), botToken: wrongToken })),
      PermanentError,
    );
    assert.match(e401.message, /401: Unauthorized: check this target's credentials/);
    assert.ok(!e401.message.includes(wrongToken.split(':')[1]!));
    assert.match(
      (await rejectsWith(() => connector.execute(intent(tgPayload()), ctx(telegramSecrets(-5))), PermanentError))
        .message,
      /chat not found/,
    );
    telegram.next.push({
      status: 400,
      body: {
        ok: false,
        error_code: 400,
        description: 'Bad Request: group chat was upgraded to a supergroup chat',
        parameters: { migrate_to_chat_id: -1009 },
      },
    });
    assert.match(
      (await rejectsWith(() => connector.execute(intent(tgPayload()), ctx(telegramSecrets())), PermanentError)).message,
      /chat id -1009; set chatId/,
    );
    telegram.next.push({ status: 502, body: 'Bad Gateway' });
    await rejectsWith(() => connector.execute(intent(tgPayload()), ctx(telegramSecrets())), RetryableError);
    telegram.next.push({ hang: true });
    await rejectsWith(() => connector.execute(intent(tgPayload()), ctx(telegramSecrets())), UnknownOutcomeError);
  });
});

describe('notify: email', () => {
  test('mails the digest through the real SMTP server: subject, recipients from the secrets, Message-ID from the key', async () => {
    const key = randomUUID();
    const result = await connector.execute(
      intent(payload({ kind: 'email', title: 'Two\nthings' }), 'ops', key),
      ctx(emailSecrets()),
    );
    const mail = smtp.received.at(-1)!;
    assert.deepEqual(mail.envelope.to, ['ops@example.test', 'oncall@example.test']);
    assert.equal(result.externalId, emailMessageId(key, 'handoff <handoff@example.test>'));
    assert.equal(mail.messageId, result.externalId);
    assert.match(mail.raw, /^Subject: Two things\r$/m);
    assert.match(mail.raw, /- x:@acme post 3f2a waits for approval/);
    assert.match(mail.raw, /Open: https:\/\/handoff\.example\.test\/console\/#needs-you/);
  });

  test('SMTP refusals keep the email connector classes; reconcile without imap is unknown', async () => {
    smtp.next.push({ kind: 'reply', code: 550, message: 'mailbox unavailable' });
    await rejectsWith(() => connector.execute(intent(payload({ kind: 'email' })), ctx(emailSecrets())), PermanentError);
    smtp.next.push({ kind: 'reply', code: 451, message: 'try later' });
    await rejectsWith(() => connector.execute(intent(payload({ kind: 'email' })), ctx(emailSecrets())), RetryableError);
    const r = await connector.reconcile!(intent(payload({ kind: 'email' })), ctx(emailSecrets()));
    assert.equal(r.status, 'unknown');
  });
});

describe('notify: what a target may receive', () => {
  test('a payload for another kind than the secrets hold is refused before any request', async () => {
    const before = ntfy.received.length;
    const err = await rejectsWith(
      () => connector.execute(intent(payload({ kind: 'slack' })), ctx(ntfySecrets())),
      PermanentError,
    );
    assert.match(
      err.message,
      /notify target ops is a slack target in the policy, but this executor's secrets\.json holds ntfy credentials/,
    );
    assert.equal(ntfy.received.length, before);
  });

  test('missing or malformed secrets are permanent and name the field, never a value', async () => {
    await rejectsWith(() => connector.execute(intent(payload()), ctx(undefined)), PermanentError);
    const bad = await rejectsWith(
      () =>
        connector.execute(
          intent(payload({ kind: 'telegram' })),
          ctx({ kind: 'telegram', botToken: `nocolon${SLACK_SECRET}`, chatId: 1, webhookUrl: 'x' }),
        ),
      PermanentError,
    );
    assert.match(bad.message, /notify\.ops\.botToken/);
    assert.match(bad.message, /webhookUrl/);
    assert.ok(!bad.message.includes(SLACK_SECRET));
  });

  test('links in a payload are text: the executor never calls them, and a provider redirect is not followed', async () => {
    const leak = hostile.received.length;
    await connector.execute(
      intent(
        payload({
          url: `${hostile.url}/console`,
          items: [{ event: 'dead', subject: 's', url: `${hostile.url}/i`, at }],
        }),
      ),
      ctx(ntfySecrets()),
    );
    for (const [kind, secrets, fake] of [
      ['ntfy', ntfySecrets(), ntfy],
      ['slack', slackSecrets(), slack],
      ['telegram', telegramSecrets(), telegram],
    ] as const) {
      fake.next.push({ status: 307, headers: { location: `${hostile.url}/steal` } });
      const err = await rejectsWith(() => connector.execute(intent(payload({ kind })), ctx(secrets)), PermanentError);
      assert.match(err.message, /307 \(redirects are not followed/);
    }
    assert.equal(hostile.received.length, leak, 'the hostile host got no request');
  });

  test('each kind implies its provider host for its credentials; telegram defaults to api.telegram.org', () => {
    assert.deepEqual(accountHosts('notify', { kind: 'ntfy', url: 'https://ntfy.example.com/base', topic: 't' }), [
      'ntfy.example.com',
    ]);
    assert.deepEqual(accountHosts('notify', { kind: 'slack', webhookUrl: 'https://hooks.slack.com/services/T/B/x' }), [
      'hooks.slack.com',
    ]);
    assert.deepEqual(accountHosts('notify', { kind: 'telegram', botToken: '1:a', chatId: 1 }), ['api.telegram.org']);
    assert.deepEqual(
      accountHosts('notify', { kind: 'telegram', botToken: '1:a', chatId: 1, apiBaseUrl: 'http://10.0.0.5:8081' }),
      ['10.0.0.5:8081'],
    );
    assert.deepEqual(accountHosts('notify', { kind: 'email', smtp: { host: 'smtp.example.com', port: 587 } }), [
      'smtp.example.com:587',
    ]);
    assert.deepEqual(accountHosts('notify', { kind: 'pigeon', url: 'https://x.example' }), []);
    // and so an executor starts with notify targets that list no hosts of their own
    const home = mkdtempSync(join(tmpdir(), 'handoff-notify-secrets-'));
    try {
      writeFileSync(
        join(home, 'secrets.json'),
        JSON.stringify({
          notify: {
            a: { kind: 'ntfy', url: 'https://ntfy.sh', topic: 't', token: 'tk_x' },
            b: { kind: 'slack', webhookUrl: 'https://hooks.slack.com/services/x' },
          },
        }),
      );
      chmodSync(join(home, 'secrets.json'), 0o600);
      assert.deepEqual(Object.keys(loadSecrets(home).notify ?? {}), ['a', 'b']);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  test('reconcile is unknown for ntfy, slack and telegram: they keep no key to ask by', async () => {
    for (const [kind, secrets] of [
      ['ntfy', ntfySecrets()],
      ['slack', slackSecrets()],
      ['telegram', telegramSecrets()],
    ] as const) {
      const r = await connector.reconcile!(intent(payload({ kind })), ctx(secrets));
      assert.equal(r.status, 'unknown', kind);
    }
  });

  test('no credential appears in any error message, stack or log line', () => {
    const text = [...errorsSeen, ...logLines].join('\n');
    assert.ok(errorsSeen.length > 10);
    for (const secret of SECRETS) assert.ok(!text.includes(secret), `${secret.slice(0, 6)}… leaked`);
  });
});

describe('notify crash recovery through the real pipeline', () => {
  test('a send cut off by a crash is parked in_doubt on takeover, never published twice', async () => {
    const h = await startPipeline({
      policy: { approval: { rules: [{ channel: 'notify', requireApproval: false }] } },
      connectors: [connector],
    });
    try {
      const { intent: created } = await h.service.create(
        { channel: 'notify', account: 'phone', payload: payload(), idempotencyKey: `notify-crash-${randomUUID()}` },
        'test',
      );
      // executor A claims, writes its attempt, publishes, and dies before its receipt
      const a = await claimLease(h.tdb.db, { intentId: created.id, owner: 'A', ttlSeconds: 5, heldKeys: ['notify:*'] });
      assert.ok(a);
      assert.ok(await recordAttempt(h.tdb.db, { intentId: created.id, epoch: a.epoch, executorId: 'A' }));
      await connector.execute(intent(payload(), 'phone', created.idempotencyKey), ctx(ntfySecrets()));
      const published = ntfy.messages.length;
      await h.tdb.db
        .updateTable('intents')
        .set({ lease_expires_at: new Date(Date.now() - 1000) })
        .where('id', '=', created.id)
        .execute();
      const b = h.executor('B', { secrets: { notify: { phone: ntfySecrets() } }, log });
      assert.equal(await processTicket(b, created.id), 'in_doubt');
      assert.equal(ntfy.messages.length, published, 'no second publish');
      assert.equal((await h.service.get(created.id))?.state, 'in_doubt');
    } finally {
      await h.close();
    }
  });
});

describe('notify through a real executor process', () => {
  test('an executor with a notify target in secrets.json delivers; a target of another kind dies; nothing leaks', async () => {
    const stack = await startStack({
      policy: { approval: { rules: [{ channel: 'notify', requireApproval: false }] } },
    });
    try {
      const path = join(stack.home, 'secrets.json');
      writeFileSync(path, JSON.stringify({ notify: { phone: ntfySecrets(), team: slackSecrets() } }));
      chmodSync(path, 0o600);
      const exec = await stack.spawnExecutor('notify-1', { HANDOFF_LOG_LEVEL: 'debug' });
      const create = (account: string, p: z.input<typeof NotifyPayload>) =>
        stack.api<{ id: string; state: string }>('POST', '/v1/intents', {
          channel: 'notify',
          account,
          idempotencyKey: `notify-${randomUUID()}`,
          payload: p,
        });
      const sent = await create('phone', payload({ title: 'from the executor' }));
      assert.equal(sent.status, 201, JSON.stringify(sent.body));
      const wrong = await create('team', payload({ kind: 'telegram' }));
      assert.equal(wrong.status, 201, JSON.stringify(wrong.body));
      type Detail = { state: string; receipts: Array<{ externalId: string | null; errorMessage?: string | null }> };
      const done = await waitFor('the ntfy intent to succeed', async () => {
        const d = await stack.api<Detail>('GET', `/v1/intents/${sent.body.id}`);
        return d.body.state === 'succeeded' ? d.body : undefined;
      });
      const published = ntfy.messages.find((m) => m.title === 'from the executor');
      assert.ok(published);
      assert.equal(done.receipts[0]?.externalId, `ntfy:${published.id}`);
      await waitFor('the wrong-kind intent to die', async () => {
        const d = await stack.api<Detail>('GET', `/v1/intents/${wrong.body.id}`);
        return d.body.state === 'dead' ? d.body : undefined;
      });
      const rows = await stack.tdb.db.selectFrom('receipts').selectAll().execute();
      const seen = JSON.stringify(rows) + exec.output.join('\n');
      assert.match(seen, /is a telegram target in the policy/);
      for (const secret of SECRETS) assert.ok(!seen.includes(secret), `${secret.slice(0, 6)}… leaked`);
    } finally {
      await stack.close();
    }
  });
});
