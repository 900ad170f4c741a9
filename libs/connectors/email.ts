import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import nodemailer from 'nodemailer';
import { ImapFlow } from 'imapflow';
import { z } from 'zod';
import { credentialValues, describeZodIssues, formatIssues } from '@handoff/contracts';
import { redactorFor } from './redact.ts';
import type { Connector, ConnectorContext, ConnectorIntent, ExecuteResult, ReconcileResult } from './connector.ts';
import { ConnectorError, PermanentError, RateLimitedError, RetryableError, UnknownOutcomeError } from './errors.ts';

/**
 * email: SMTP through nodemailer; optional IMAP (imapflow) to file the sent copy and to reconcile.
 *
 * The Message-ID is a pure function of the idempotency key, so a repeat is recognisable by every
 * receiver and by our own reconcile. See docs/connectors.md for the reasoning.
 */

const Address = z.email({ message: 'must be an email address' });
const Addresses = z.union([Address, z.array(Address).min(1)]);
const NoCrLf = z.string().regex(/^[^\r\n]*$/, { message: 'must not contain CR or LF' });

export const EmailPayload = z
  .strictObject({
    to: Addresses,
    cc: Addresses.optional(),
    bcc: Addresses.optional(),
    subject: NoCrLf.max(998),
    text: z.string().optional(),
    html: z.string().optional(),
    replyTo: Address.optional(),
    /** A Message-ID, `<...>`. */
    inReplyTo: NoCrLf.max(998).optional(),
    references: z.union([NoCrLf.max(998), z.array(NoCrLf.max(998))]).optional(),
  })
  .refine((p) => p.text !== undefined || p.html !== undefined, {
    message: 'needs text or html (or both)',
    path: ['text'],
  });
export type EmailPayload = z.infer<typeof EmailPayload>;

const EmailCredentials = z.object({
  smtp: z.object({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535),
    secure: z.boolean().optional(),
    user: z.string().optional(),
    pass: z.string().optional(),
    requireTLS: z.boolean().optional(),
    tls: z.object({ rejectUnauthorized: z.boolean().optional() }).optional(),
  }),
  from: z.string().min(1),
  imap: z
    .object({
      host: z.string().min(1),
      port: z.number().int().min(1).max(65535),
      secure: z.boolean().optional(),
      user: z.string().min(1),
      pass: z.string(),
      sentFolder: z.string().min(1).optional(),
      /** Also search these folders in reconcile (e.g. Gmail's "[Gmail]/All Mail"). */
      extraFolders: z.array(z.string().min(1)).optional(),
      tls: z.object({ rejectUnauthorized: z.boolean().optional() }).optional(),
    })
    .optional(),
});
export type EmailCredentials = z.infer<typeof EmailCredentials>;

export interface EmailConnectorOptions {
  connectionTimeoutMs?: number;
  greetingTimeoutMs?: number;
  /** Idle socket timeout; after the message body left, hitting it means "unknown outcome". */
  socketTimeoutMs?: number;
  /**
   * Reconcile trusts "not in Sent" only once the abandoned attempt started at least this long ago:
   * by then its SMTP transaction and the IMAP append of the sent copy have either finished or
   * timed out. Younger attempts are waited for (the executor keeps renewing the lease meanwhile).
   * Default: connection + greeting + socket timeout + IMAP timeout + 10 s.
   */
  reconcileMinAgeMs?: number;
  /** Delay for a "too many" 421/450/451/452 without a usable hint. Default 60 s. */
  rateLimitDelayMs?: number;
  imapTimeoutMs?: number;
}

export type EmailConnector = Connector<EmailPayload>;

/** `<sha256(key)[0..32]@domain>`: the same key always yields the same Message-ID. */
export function emailMessageId(idempotencyKey: string, from: string): string {
  const hash = createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 32);
  return `<${hash}@${fromDomain(from)}>`;
}

function fromDomain(from: string): string {
  const match = /@([A-Za-z0-9.-]+)>?\s*$/.exec(from.trim());
  const domain = match?.[1]?.toLowerCase();
  return domain && /^[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(domain) ? domain : 'handoff.local';
}

function list(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

function parseCredentials(credentials: Record<string, unknown> | undefined): EmailCredentials {
  if (credentials === undefined) throw new PermanentError('email: no credentials for this account on this executor');
  const parsed = EmailCredentials.safeParse(credentials);
  if (!parsed.success) {
    // field names and zod's messages only: messages of these checks never quote the value
    throw new PermanentError(`email credentials for this account are malformed: ${issuesWithoutValues(parsed.error)}`);
  }
  return parsed.data;
}

function issuesWithoutValues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.code}`).join('; ');
}

/** The account's passwords (and users: they are half of a PLAIN or LOGIN exchange), in every encoding. */
function secretsOf(creds: EmailCredentials): string[] {
  return [...credentialValues(creds), creds.smtp.user, creds.imap?.user].filter(
    (s): s is string => typeof s === 'string',
  );
}

function redactor(secrets: string[], ctx: Pick<ConnectorContext, 'redact'>): (text: string) => string {
  const redact = redactorFor({ credentials: undefined, redact: ctx.redact }, secrets);
  // AUTH exchanges are base64: never echo a server line that quotes one back
  return (text) => redact(text).replace(/AUTH\s+\S+\s+\S+/gi, 'AUTH [redacted]');
}

const RATE_HINT = /too many|rate|limit|throttl|try again later|slow down/i;

interface SmtpFailure {
  code?: string;
  responseCode?: number;
  response?: string;
  command?: string;
  message?: string;
}

/** Exported for unit tests. `bodySent`: the whole message body had been handed to the socket. */
export function classifySmtpError(
  err: unknown,
  bodySent: boolean,
  redact: (s: string) => string,
  rateLimitDelayMs = 60_000,
): ConnectorError {
  if (err instanceof ConnectorError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as SmtpFailure;
  const detail = redact(String(e.response ?? e.message ?? err))
    .replace(/\s+/g, ' ')
    .slice(0, 300);
  const where = e.command ? ` at ${e.command.split(' ')[0]}` : '';
  const rc = typeof e.responseCode === 'number' ? e.responseCode : undefined;
  const cause = { cause: err };

  if (rc !== undefined) {
    // The server answered: whatever it refused, it did not accept the message (an accepted DATA is 250).
    if (e.code === 'EAUTH') {
      if (rc >= 400 && rc < 500) return new RetryableError(`smtp authentication temporarily failed (${rc})`, cause);
      return new PermanentError(`smtp authentication failed (${rc}): check the account's credentials`, cause);
    }
    if ([421, 450, 451, 452].includes(rc) && RATE_HINT.test(detail)) {
      return new RateLimitedError(`smtp server rate limit (${rc})${where}: ${detail}`, rateLimitDelayMs, cause);
    }
    if (rc >= 400 && rc < 500) return new RetryableError(`smtp transient failure (${rc})${where}: ${detail}`, cause);
    if (rc === 503) return new RetryableError(`smtp bad sequence (503)${where}: ${detail}`, cause);
    if (rc >= 500) return new PermanentError(`smtp refused (${rc})${where}: ${detail}`, cause);
  }
  if (e.code === 'EAUTH' || e.code === 'ENOAUTH')
    return new PermanentError(`smtp authentication failed (${e.code})`, cause);
  if (e.code === 'ECONFIG' || e.code === 'EENVELOPE' || e.code === 'EMESSAGE' || e.code === 'EMAXRECIPIENTS') {
    if (!bodySent) return new PermanentError(`smtp message refused by the client (${e.code}): ${detail}`, cause);
  }
  if (!bodySent) {
    // Nothing the server could act on has been sent: a transaction without the final "." is discarded.
    return new RetryableError(`smtp failed before the message was sent (${e.code ?? 'no code'}): ${detail}`, cause);
  }
  return new UnknownOutcomeError(
    `smtp connection lost after the message was sent, before the server's reply (${e.code ?? 'no code'}): ${detail}`,
    cause,
  );
}

export function createEmailConnector(options: EmailConnectorOptions = {}): EmailConnector {
  const connectionTimeout = options.connectionTimeoutMs ?? 10_000;
  const greetingTimeout = options.greetingTimeoutMs ?? 10_000;
  const socketTimeout = options.socketTimeoutMs ?? 60_000;
  const imapTimeout = options.imapTimeoutMs ?? 15_000;
  const minAge =
    options.reconcileMinAgeMs ?? connectionTimeout + greetingTimeout + socketTimeout + imapTimeout + 10_000;
  const rateDelay = options.rateLimitDelayMs ?? 60_000;

  async function execute(intent: ConnectorIntent<EmailPayload>, ctx: ConnectorContext): Promise<ExecuteResult> {
    const parsed = EmailPayload.safeParse(intent.payload);
    if (!parsed.success)
      throw new PermanentError(`invalid email payload: ${formatIssues(describeZodIssues(parsed.error, 'payload'))}`);
    const payload = parsed.data;
    const creds = parseCredentials(ctx.credentials);
    const redact = redactor(secretsOf(creds), ctx);
    const messageId = emailMessageId(intent.idempotencyKey, creds.from);
    const raw = await buildRaw(payload, creds.from, messageId);
    const recipients = [...list(payload.to), ...list(payload.cc), ...list(payload.bcc)];

    const transport = nodemailer.createTransport({
      host: creds.smtp.host,
      port: creds.smtp.port,
      secure: creds.smtp.secure ?? creds.smtp.port === 465,
      requireTLS: creds.smtp.requireTLS,
      auth: creds.smtp.user !== undefined ? { user: creds.smtp.user, pass: creds.smtp.pass ?? '' } : undefined,
      tls:
        creds.smtp.tls?.rejectUnauthorized === undefined
          ? undefined
          : { rejectUnauthorized: creds.smtp.tls.rejectUnauthorized },
      connectionTimeout,
      greetingTimeout,
      socketTimeout,
      logger: false,
      debug: false,
    });
    let bodySent = false;
    const body = Readable.from([raw]);
    body.on('end', () => {
      bodySent = true;
    });
    const started = Date.now();
    try {
      const info = await transport.sendMail({
        envelope: { from: addrOnly(creds.from), to: recipients },
        raw: body,
        // nodemailer 10 aborts a single send on this signal (types lag behind)
        ...({ signal: ctx.signal } as object),
      });
      const rejected = (info.rejected ?? []).length;
      ctx.log.info({ intentId: intent.id, messageId, ms: Date.now() - started, rejected }, 'email accepted by smtp');
    } catch (err) {
      throw classifySmtpError(err, bodySent, redact, rateDelay);
    } finally {
      transport.close();
    }

    if (creds.imap) {
      // The effect happened; filing the copy is what makes a later reconcile's "not found" true.
      // It runs even if the lease was lost meanwhile: Sent must reflect what the server accepted.
      try {
        await withImap(creds.imap, imapTimeout, async (client) => {
          const folder = await sentFolder(client, creds.imap!);
          await client.append(folder, raw, ['\\Seen']);
        });
      } catch (err) {
        ctx.log.warn(
          { intentId: intent.id, messageId, err: redact(errText(err)) },
          'email sent, but filing the copy in Sent failed',
        );
      }
    }
    return { externalId: messageId, url: null };
  }

  async function reconcile(intent: ConnectorIntent<EmailPayload>, ctx: ConnectorContext): Promise<ReconcileResult> {
    let creds: EmailCredentials;
    try {
      creds = parseCredentials(ctx.credentials);
    } catch (err) {
      return { status: 'unknown', reason: (err as Error).message };
    }
    if (!creds.imap)
      return { status: 'unknown', reason: 'no IMAP account configured: cannot look for the Message-ID in Sent' };
    const redact = redactor(secretsOf(creds), ctx);
    const messageId = emailMessageId(intent.idempotencyKey, creds.from);
    const startedAt = ctx.attemptStartedAt?.getTime() ?? 0;
    const wait = startedAt + minAge - Date.now();
    if (wait > 0) {
      // An attempt this young may still be finishing (SMTP, then the append): wait it out.
      try {
        await sleep(wait, undefined, { signal: ctx.signal });
      } catch {
        return { status: 'unknown', reason: 'reconcile aborted while waiting for the abandoned attempt to settle' };
      }
    }
    try {
      const found = await withImap(creds.imap, imapTimeout, async (client) => {
        const folders = [await sentFolder(client, creds.imap!), ...(creds.imap!.extraFolders ?? [])];
        for (const folder of folders) {
          const lock = await client.getMailboxLock(folder, { readOnly: true });
          try {
            const hits = await client.search({ header: { 'message-id': messageId } }, { uid: true });
            if (hits && hits.length > 0) return true;
          } finally {
            lock.release();
          }
        }
        return false;
      });
      return found ? { status: 'done', externalId: messageId, url: null } : { status: 'not_done' };
    } catch (err) {
      return { status: 'unknown', reason: `imap search failed: ${redact(errText(err))}` };
    }
  }

  return {
    name: 'email',
    externalEffect: true,
    needsCredentials: true,
    payloadSchema: EmailPayload,
    execute,
    reconcile,
  };
}

export const emailConnector: EmailConnector = createEmailConnector();

function addrOnly(from: string): string {
  const m = /<([^>]+)>\s*$/.exec(from);
  return (m?.[1] ?? from).trim();
}

function errText(err: unknown): string {
  if (err instanceof Error) {
    const extra = (err as { responseText?: unknown }).responseText;
    return `${err.message}${typeof extra === 'string' ? `: ${extra}` : ''}`.slice(0, 300);
  }
  return String(err).slice(0, 300);
}

/** The exact bytes sent over SMTP, and the bytes filed in Sent. */
async function buildRaw(payload: EmailPayload, from: string, messageId: string): Promise<Buffer> {
  const composer = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });
  const info = await composer.sendMail({
    from,
    to: payload.to,
    cc: payload.cc,
    // no bcc here: the stream transport would write a Bcc header into bytes every recipient gets
    subject: payload.subject,
    text: payload.text,
    html: payload.html,
    replyTo: payload.replyTo,
    inReplyTo: payload.inReplyTo,
    references: payload.references,
    messageId,
    date: new Date(),
  });
  return info.message as Buffer;
}

type ImapCreds = NonNullable<EmailCredentials['imap']>;

async function withImap<T>(imap: ImapCreds, timeoutMs: number, fn: (client: ImapFlow) => Promise<T>): Promise<T> {
  const client = new ImapFlow({
    host: imap.host,
    port: imap.port,
    secure: imap.secure ?? imap.port === 993,
    auth: { user: imap.user, pass: imap.pass },
    logger: false,
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    tls: imap.tls?.rejectUnauthorized === undefined ? undefined : { rejectUnauthorized: imap.tls.rejectUnauthorized },
  });
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.logout().catch(() => client.close());
  }
}

async function sentFolder(client: ImapFlow, imap: ImapCreds): Promise<string> {
  if (imap.sentFolder) return imap.sentFolder;
  const boxes = await client.list();
  const special = boxes.find((b) => b.specialUse === '\\Sent');
  if (special) return special.path;
  const named = boxes.find((b) => b.path.toLowerCase() === 'sent');
  if (named) return named.path;
  await client.mailboxCreate('Sent');
  return 'Sent';
}
