import type { NotifyEmailSecrets, NotifyPayload } from '@handoff/contracts';
import type { z } from 'zod';
import type { ConnectorContext, ConnectorIntent, ExecuteResult, ReconcileResult } from '../connector.ts';
import type { EmailConnector, EmailPayload } from '../email.ts';
import { plainDigest } from './compose.ts';

/**
 * Mail through the email connector itself: its SMTP transport, its error classes, its Message-ID
 * from the idempotency key (so receivers see a repeat as the same message), and, when the target
 * has `imap`, its exact reconcile (the Message-ID in Sent).
 */

type Secrets = z.infer<typeof NotifyEmailSecrets>;

/** A plain-text mail has no hard limit; this keeps a digest a digest. */
const TEXT_LIMIT = 20_000;

function asEmail(intent: ConnectorIntent, payload: NotifyPayload, secrets: Secrets): ConnectorIntent<EmailPayload> {
  return {
    ...intent,
    channel: 'email',
    payload: {
      to: secrets.to,
      // a subject is one line
      subject: payload.title.replace(/\s+/g, ' ').trim(),
      text: plainDigest(payload, { limit: TEXT_LIMIT, withTitle: false }),
    },
  };
}

function emailContext(ctx: ConnectorContext, secrets: Secrets): ConnectorContext {
  const { smtp, imap, from } = secrets;
  return { ...ctx, credentials: { smtp, from, ...(imap ? { imap } : {}) } };
}

export function sendEmail(
  email: EmailConnector,
  intent: ConnectorIntent,
  payload: NotifyPayload,
  secrets: Secrets,
  ctx: ConnectorContext,
): Promise<ExecuteResult> {
  return email.execute(asEmail(intent, payload, secrets), emailContext(ctx, secrets));
}

export function reconcileEmail(
  email: EmailConnector,
  intent: ConnectorIntent,
  payload: NotifyPayload,
  secrets: Secrets,
  ctx: ConnectorContext,
): Promise<ReconcileResult> {
  return email.reconcile!(asEmail(intent, payload, secrets), emailContext(ctx, secrets));
}
