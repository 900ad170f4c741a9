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
