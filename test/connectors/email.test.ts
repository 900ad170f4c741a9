import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { sql } from 'kysely';
import { ImapFlow } from 'imapflow';
import { Policy } from '@handoff/contracts';
import { PermanentError, RateLimitedError, RetryableError, UnknownOutcomeError } from '@handoff/connectors';
import type { ConnectorContext, ConnectorIntent } from '@handoff/connectors';
import { claimLease, recordAttempt } from '@handoff/intents';
import { createEmailConnector, emailMessageId, EmailPayload } from '@handoff/connectors';
import type { EmailCredentials } from '@handoff/connectors';
import { processTicket } from '@handoff/executor';
import { startSmtpPeer, type SmtpPeer } from '../support/smtpPeer.ts';
import { dovecotAvailable, startImapPeer, type ImapPeer } from '../support/imapPeer.ts';
import { freePort } from '../support/ports.ts';
import { startPipeline, type PipelineHarness } from '../support/pipeline.ts';

// Unique strings that must never show up anywhere the run writes.
const SMTP_PASS = `smtp-secret-${randomUUID()}`;
const IMAP_PASS = `imap-secret-${randomUUID()}`;
const WRONG_PASS = `wrong-secret-${randomUUID()}`;
const SECRETS = [SMTP_PASS, IMAP_PASS, WRONG_PASS];

const FROM = 'Handoff Bot <bot@example.test>';
const logLines: string[] = [];
const capture = new Writable({
  write(chunk: Buffer, _enc, cb) {
    logLines.push(chunk.toString());
    cb();
  },
});
const log = pino({ level: 'debug' }, capture);
const errorsSeen: string[] = [];

let smtp: SmtpPeer;
let imap: ImapPeer | undefined;
let h: PipelineHarness;
const connector = createEmailConnector({
  connectionTimeoutMs: 3_000,
  greetingTimeoutMs: 3_000,
  socketTimeoutMs: 3_000,
  imapTimeoutMs: 3_000,
  reconcileMinAgeMs: 0,
});

function creds(opts: { pass?: string; imap?: boolean } = {}): EmailCredentials {
  return {
    smtp: {
      host: '127.0.0.1',
      port: smtp.port,
      secure: false,
      requireTLS: true,
      user: smtp.user,
      pass: opts.pass ?? SMTP_PASS,
      tls: { rejectUnauthorized: false },
    },
    from: FROM,
    ...(opts.imap !== false && imap
      ? { imap: { host: '127.0.0.1', port: imap.port, secure: false, user: imap.user, pass: IMAP_PASS } }
      : {}),
  };
}

function ctx(credentials: EmailCredentials | undefined, extra: Partial<ConnectorContext> = {}): ConnectorContext {
  return {
    signal: new AbortController().signal,
    log,
    credentials: credentials as Record<string, unknown> | undefined,
    policy: Policy.parse({}),
    ...extra,
  };
}

function mail(payload: unknown, key: string = randomUUID()): ConnectorIntent<EmailPayload> {
  return {
    id: randomUUID(),
    channel: 'email',
    account: 'main',
    idempotencyKey: key,
    payload: EmailPayload.parse(payload),
    createdAt: new Date(),
    attemptNo: 1,
  };
}

const basic = { to: 'alice@example.test', subject: 'Hello', text: 'Hi Alice' };

async function rejectsWith<T extends Error>(fn: () => Promise<unknown>, type: new (...args: never[]) => T): Promise<T> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof Error) errorsSeen.push(`${err.name}: ${err.message}`);
    assert.ok(err instanceof type, `expected ${type.name}, got ${String(err)}`);
    return err;
  }
  assert.fail(`expected ${type.name}, nothing thrown`);
}

/** The raw sources of the messages in Sent with this Message-ID. */
async function inSent(messageId: string): Promise<string[]> {
  assert.ok(imap);
  const c = new ImapFlow({
    host: '127.0.0.1',
    port: imap.port,
    secure: false,
    auth: { user: imap.user, pass: IMAP_PASS },
    logger: false,
  });
  await c.connect();
  try {
    const lock = await c.getMailboxLock('Sent');
    try {
      const hits = await c.search({ header: { 'message-id': messageId } }, { uid: true });
      const out: string[] = [];
      for (const uid of hits || []) {
        const msg = await c.fetchOne(String(uid), { source: true }, { uid: true });
        if (msg && msg.source) out.push(msg.source.toString('utf8'));
      }
      return out;
    } finally {
      lock.release();
    }
  } finally {
    await c.logout();
  }
}

before(async () => {
  smtp = await startSmtpPeer({ user: 'bot', pass: SMTP_PASS });
  if (dovecotAvailable()) imap = await startImapPeer({ user: 'bot', pass: IMAP_PASS });
  h = await startPipeline({
    connectors: [connector],
    policy: { approval: { rules: [{ channel: 'email', requireApproval: false }] }, lease: { ttlSeconds: 5 } },
  });
});

after(async () => {
  await h?.close();
  await smtp?.close();
  await imap?.close();
});

describe('email connector against a real SMTP server', () => {
  test('payload validation: needs text or html, addresses must be emails, no CRLF in the subject', () => {
    assert.equal(EmailPayload.safeParse({ to: 'a@b.test', subject: 's' }).success, false);
    assert.equal(EmailPayload.safeParse({ to: 'not-an-email', subject: 's', text: 't' }).success, false);
    assert.equal(EmailPayload.safeParse({ to: 'a@b.test', subject: 's\r\nBcc: x@y.test', text: 't' }).success, false);
    assert.equal(
      EmailPayload.safeParse({ to: ['a@b.test', 'c@d.test'], cc: 'e@f.test', subject: 's', html: '<p>x</p>' }).success,
      true,
    );
  });

  test('delivers over STARTTLS with auth; the Message-ID derives from the idempotency key', async () => {
    const key = `mail-${randomUUID()}`;
    const before = smtp.received.length;
    const result = await connector.execute(
      mail(
        {
          to: ['alice@example.test'],
          cc: 'carol@example.test',
          bcc: 'dave@example.test',
          subject: 'Quarterly report',
          text: 'Numbers attached.',
          html: '<p>Numbers attached.</p>',
          replyTo: 'ops@example.test',
          inReplyTo: '<prev@example.test>',
          references: ['<root@example.test>', '<prev@example.test>'],
        },
        key,
      ),
      ctx(creds()),
    );
    const expectedId = emailMessageId(key, FROM);
    assert.match(expectedId, /^<[0-9a-f]{32}@example\.test>$/);
    assert.equal(result.externalId, expectedId);
    assert.equal(result.url, null);
    assert.equal(emailMessageId(key, FROM), expectedId, 'deterministic');
    assert.equal(smtp.received.length, before + 1);
    const got = smtp.received.at(-1)!;
    assert.equal(got.messageId, expectedId);
    assert.deepEqual(got.envelope.to.sort(), ['alice@example.test', 'carol@example.test', 'dave@example.test']);
    assert.equal(got.envelope.from, 'bot@example.test');
    assert.match(got.raw, /^Subject: Quarterly report\r$/m);
    assert.doesNotMatch(got.raw, /^Bcc:/im, 'Bcc is in the envelope only, never in the bytes every recipient gets');
    assert.match(got.raw, /^Reply-To: ops@example\.test\r$/m);
    assert.match(got.raw, /^In-Reply-To: <prev@example\.test>\r$/m);
    assert.match(got.raw, /^References: <root@example\.test> <prev@example\.test>\r$/m);
    assert.match(got.raw, /Numbers attached\./);
    assert.match(got.raw, /<p>Numbers attached\.<\/p>/);
    if (imap) assert.deepEqual(await inSent(expectedId), [got.raw], 'the exact bytes sent are filed in Sent');
  });

  test('wrong password: permanent, and the message names no credential', async () => {
    const err = await rejectsWith(
      () => connector.execute(mail(basic), ctx(creds({ pass: WRONG_PASS }))),
      PermanentError,
    );
    assert.match(err.message, /authentication failed \(535\)/);
  });

  test('451 is retryable, 550 permanent, 421 "too many" rate limited', async () => {
    smtp.next.push({ kind: 'reply', code: 451, message: 'Local error in processing' });
    await rejectsWith(() => connector.execute(mail(basic), ctx(creds())), RetryableError);
    smtp.next.push({ kind: 'reply', code: 550, message: 'Mailbox unavailable' });
    const perm = await rejectsWith(() => connector.execute(mail(basic), ctx(creds())), PermanentError);
    assert.match(perm.message, /550/);
    smtp.next.push({ kind: 'reply', code: 421, message: 'Too many messages, slow down' });
    const limited = await rejectsWith(() => connector.execute(mail(basic), ctx(creds())), RateLimitedError);
    assert.equal(limited.retryAfterMs, 60_000);
  });

  test('a connection dropped after DATA, before the reply, is an unknown outcome', async () => {
    const seen = smtp.bodiesSeen;
    smtp.next.push({ kind: 'drop' });
    const err = await rejectsWith(() => connector.execute(mail(basic), ctx(creds())), UnknownOutcomeError);
    assert.equal(smtp.bodiesSeen, seen + 1, 'the server did receive the whole message');
    assert.match(err.message, /after the message was sent/);
  });

  test('no reply after DATA until the socket timeout: unknown outcome', async () => {
    const quick = createEmailConnector({ connectionTimeoutMs: 2_000, greetingTimeoutMs: 2_000, socketTimeoutMs: 400 });
    smtp.next.push({ kind: 'hang' });
    const err = await rejectsWith(() => quick.execute(mail(basic), ctx(creds({ imap: false }))), UnknownOutcomeError);
    assert.match(err.message, /ETIMEDOUT/);
  });

  test('reconcile waits until an abandoned attempt is old enough, and is unknown when aborted meanwhile', async (t) => {
    if (!imap) return t.skip('dovecot not installed (apt-get install dovecot-imapd)');
    const patient = createEmailConnector({ reconcileMinAgeMs: 400, imapTimeoutMs: 3_000 });
    const t0 = Date.now();
    assert.deepEqual(await patient.reconcile!(mail(basic), ctx(creds(), { attemptStartedAt: new Date() })), {
      status: 'not_done',
    });
    assert.ok(Date.now() - t0 >= 350, 'waited for the attempt to settle');
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const verdict = await patient.reconcile!(
      mail(basic),
      ctx(creds(), { attemptStartedAt: new Date(), signal: ac.signal }),
    );
    assert.equal(verdict.status, 'unknown');
  });

  test('connection refused before sending is retryable', async () => {
    const port = await freePort();
    const c = creds({ imap: false });
    c.smtp.port = port;
    await rejectsWith(() => connector.execute(mail(basic), ctx(c)), RetryableError);
  });

  test('missing or malformed credentials are permanent and name fields only', async () => {
    await rejectsWith(() => connector.execute(mail(basic), ctx(undefined)), PermanentError);
    const bad = { smtp: { host: '127.0.0.1', port: 'x', pass: WRONG_PASS }, from: FROM } as unknown as EmailCredentials;
    const err = await rejectsWith(() => connector.execute(mail(basic), ctx(bad)), PermanentError);
    assert.match(err.message, /smtp\.port/);
  });
});

describe('email crash recovery through the real pipeline', () => {
  let seq = 0;
  async function crashedIntent(account: string): Promise<{ id: string; key: string }> {
    const key = `email-crash-${process.pid}-${++seq}-${randomUUID()}`;
    const { intent } = await h.service.create(
      { channel: 'email', account, payload: { ...basic, subject: `crash ${seq}` }, idempotencyKey: key },
      'test',
    );
    const a = await claimLease(h.tdb.db, { intentId: intent.id, owner: 'A', ttlSeconds: 5, heldKeys: ['email:*'] });
    assert.ok(a);
    assert.ok(await recordAttempt(h.tdb.db, { intentId: intent.id, epoch: a.epoch, executorId: 'A' }));
    return { id: intent.id, key };
  }
  async function expire(id: string): Promise<void> {
    await h.tdb.db
      .updateTable('intents')
      .set({ lease_expires_at: new Date(Date.now() - 1000) })
      .where('id', '=', id)
      .execute();
  }
  function executorB(credentials: EmailCredentials) {
    return h.executor('B', {
      secrets: {
        email: { main: credentials as Record<string, unknown>, noimap: credentials as Record<string, unknown> },
      },
      log,
    });
  }

  test('sent before the crash: reconcile finds it in Sent, no second send', async (t) => {
    if (!imap) return t.skip('dovecot not installed (apt-get install dovecot-imapd)');
    const { id, key } = await crashedIntent('main');
    // A's call went through (SMTP accepted and the copy was filed), then A died before its receipt
    await connector.execute({ ...mail({ ...basic, subject: 'crash' }, key), id }, ctx(creds()));
    const count = smtp.received.length;
    await expire(id);
    assert.equal(await processTicket(executorB(creds()), id), 'reconciled_done');
    assert.equal(smtp.received.length, count, 'no second send');
    const detail = await h.service.get(id);
    assert.equal(detail?.state, 'succeeded');
    assert.equal(detail?.receipts[0]?.externalId, emailMessageId(key, FROM));
  });

  test('not sent before the crash: reconcile says not_done, exactly one more send', async (t) => {
    if (!imap) return t.skip('dovecot not installed (apt-get install dovecot-imapd)');
    const { id, key } = await crashedIntent('main');
    const count = smtp.received.length;
    await expire(id);
    assert.equal(await processTicket(executorB(creds()), id), 'reconciled_not_done_executed');
    assert.equal(smtp.received.length, count + 1, 'exactly one send');
    assert.equal(smtp.received.filter((m) => m.messageId === emailMessageId(key, FROM)).length, 1);
    assert.equal((await h.service.get(id))?.state, 'succeeded');
  });

  test('IMAP unreachable during reconcile: in_doubt, no send', async (t) => {
    if (!imap) return t.skip('dovecot not installed (apt-get install dovecot-imapd)');
    const { id } = await crashedIntent('main');
    const count = smtp.received.length;
    await expire(id);
    await imap.pause();
    try {
      assert.equal(await processTicket(executorB(creds()), id), 'in_doubt');
    } finally {
      await imap.resume();
    }
    assert.equal(smtp.received.length, count);
    assert.equal((await h.service.get(id))?.state, 'in_doubt');
  });

  test('no IMAP configured: a cut-off send is in_doubt', async () => {
    const { id } = await crashedIntent('noimap');
    const count = smtp.received.length;
    await expire(id);
    assert.equal(await processTicket(executorB(creds({ imap: false })), id), 'in_doubt');
    assert.equal(smtp.received.length, count);
  });

  test('a fresh intent through the pipeline: succeeded; a dropped DATA: in_doubt', async () => {
    const { intent } = await h.service.create(
      { channel: 'email', account: 'main', payload: basic, idempotencyKey: `email-ok-${randomUUID()}` },
      'test',
    );
    assert.equal(await processTicket(executorB(creds()), intent.id), 'succeeded');
    smtp.next.push({ kind: 'drop' });
    const { intent: dropped } = await h.service.create(
      { channel: 'email', account: 'main', payload: basic, idempotencyKey: `email-drop-${randomUUID()}` },
      'test',
    );
    assert.equal(await processTicket(executorB(creds()), dropped.id), 'in_doubt');
    const { intent: denied } = await h.service.create(
      { channel: 'email', account: 'main', payload: basic, idempotencyKey: `email-auth-${randomUUID()}` },
      'test',
    );
    assert.equal(await processTicket(executorB(creds({ pass: WRONG_PASS })), denied.id), 'dead');
  });
});

describe('email secrets', () => {
  test('no password appears in logs, errors, intents, attempts or receipts', async () => {
    const tables = ['intents', 'attempts', 'receipts'] as const;
    const dumps: string[] = [];
    for (const table of tables) {
      const { rows } = await sql<{ t: string }>`SELECT t::text AS t FROM ${sql.table(table)} t`.execute(h.tdb.db);
      dumps.push(...rows.map((r) => r.t));
    }
    assert.ok(logLines.length > 0, 'the run logged something');
    assert.ok(errorsSeen.length > 0, 'errors were collected');
    assert.ok(
      dumps.some((d) => d.includes('authentication failed')),
      'the auth failure is on record',
    );
    const everything = [...logLines, ...errorsSeen, ...dumps].join('\n');
    for (const secret of SECRETS) assert.equal(everything.includes(secret), false, 'a secret leaked');
  });
});
