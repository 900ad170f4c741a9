import { z } from 'zod';
import { AccountName } from './intent.ts';

/**
 * Notifications (docs/console.md, "Notifications"). The coordinator notices events and folds each
 * burst into one digest per target; the digest is an intent on the `notify` channel whose account
 * is the target's name, performed by an executor that holds the target's credentials.
 */
export const NOTIFY_CHANNEL = 'notify';

export const NotifyEvent = z.enum([
  'approval_needed',
  'dead',
  'in_doubt',
  'executor_stale',
  'breaker_opened',
  'gate_changed',
  'model_node_quarantined',
  'backup_failed',
]);
export type NotifyEvent = z.infer<typeof NotifyEvent>;

export const NotifyKind = z.enum(['ntfy', 'slack', 'telegram', 'email']);
export type NotifyKind = z.infer<typeof NotifyKind>;

/** `policy.json` `notify.targets[]`: who hears of what. Credentials are not here: see NotifySecrets. */
export const NotifyTarget = z.strictObject({
  /** The `notify` channel's account: the executor's secrets.json `notify.<name>` holds its credentials. */
  name: AccountName,
  kind: NotifyKind,
  events: z
    .array(NotifyEvent)
    .min(1)
    .default([...NotifyEvent.options]),
});
export type NotifyTarget = z.infer<typeof NotifyTarget>;

/** `policy.json` `notify`. */
export const NotifyPolicy = z.strictObject({
  targets: z.array(NotifyTarget).default([]),
  /** Events within this window are folded into one message per target. */
  digestSeconds: z.int().min(1).max(3600).default(30),
  /** The console's address as operators reach it, for the links in messages (default: the coordinator's own). */
  consoleUrl: z.url().optional(),
});
export type NotifyPolicy = z.infer<typeof NotifyPolicy>;

/** One event in a digest. */
export const NotifyItem = z.strictObject({
  event: NotifyEvent,
  /** One line a person reads: "x:@acme post 3f2a… waits for approval". */
  subject: z.string().min(1).max(300),
  /** The console page of what it is about. */
  url: z.url().optional(),
  at: z.iso.datetime({ offset: true }),
});
export type NotifyItem = z.infer<typeof NotifyItem>;

/** The payload of an intent on the `notify` channel. */
export const NotifyPayload = z.strictObject({
  /** The policy's kind for this target: an executor whose secrets say another kind refuses it. */
  kind: NotifyKind,
  title: z.string().min(1).max(200),
  message: z.string().min(1).max(4000),
  /** Where the message links: the item's own page for one event, the console's Needs-you view for a digest. */
  url: z.url().optional(),
  priority: z.enum(['default', 'high']).default('default'),
  items: z.array(NotifyItem).min(1).max(200),
  /** Events folded into this message (items may be capped; the message says how many more). */
  total: z.int().min(1),
});
export type NotifyPayload = z.infer<typeof NotifyPayload>;

/**
 * The executor's `secrets.json` `notify.<target name>`: where the target's messages go and with
 * what credentials. Strict, so a misspelt field is named instead of ignored. `hosts` may narrow
 * nothing here (each kind implies its own provider's host, accountHosts in secrets.ts) but is
 * allowed as on every account.
 */
const HttpUrl = z.url({ protocol: /^https?$/, message: 'must be an http:// or https:// URL' });
const Hosts = z.array(z.string()).optional();

/** https://docs.ntfy.sh/publish/ : JSON publish to the server's root URL, bearer token for protected topics. */
export const NtfySecrets = z.strictObject({
  kind: z.literal('ntfy'),
  /** The server, e.g. https://ntfy.sh (no topic). */
  url: HttpUrl,
  /** ntfy's rule for topic names; on a public server the topic is the password. */
  topic: z.string().regex(/^[-_A-Za-z0-9]{1,64}$/, 'must be 1 to 64 letters, digits, "-" or "_"'),
  /** An access token (tk_…), sent as `Authorization: Bearer`. */
  token: z.string().min(1).optional(),
  hosts: Hosts,
});

/** https://api.slack.com/messaging/webhooks : the incoming webhook URL is the credential. */
export const SlackSecrets = z.strictObject({
  kind: z.literal('slack'),
  webhookUrl: HttpUrl,
  hosts: Hosts,
});

/** https://core.telegram.org/bots/api#sendmessage */
export const TelegramSecrets = z.strictObject({
  kind: z.literal('telegram'),
  botToken: z.string().regex(/^\d+:[A-Za-z0-9_-]+$/, 'must be a bot token as BotFather gives it ("123456:ABC-…")'),
  /** A chat id (negative for groups and channels) or a public channel's "@username". */
  chatId: z.union([
    z.int(),
    z.string().regex(/^(-?\d+|@[A-Za-z0-9_]{4,32})$/, 'must be a chat id or "@channelusername"'),
  ]),
  /** Default https://api.telegram.org (a local Bot API server may stand in). */
  apiBaseUrl: HttpUrl.optional(),
  hosts: Hosts,
});

/**
 * Mail through the email connector's own SMTP code: `smtp` (and the optional `imap`, which makes a
 * cut-off send reconcilable) take the same settings as an `email` account; that connector checks them.
 */
export const NotifyEmailSecrets = z.strictObject({
  kind: z.literal('email'),
  smtp: z.record(z.string(), z.unknown()),
  imap: z.record(z.string(), z.unknown()).optional(),
  from: z.string().min(1),
  to: z.union([z.email(), z.array(z.email()).min(1)]),
  hosts: Hosts,
});

export const NotifySecrets = z.discriminatedUnion('kind', [
  NtfySecrets,
  SlackSecrets,
  TelegramSecrets,
  NotifyEmailSecrets,
]);
export type NotifySecrets = z.infer<typeof NotifySecrets>;
