import type { Dispatcher } from 'undici';
import { NotifyPayload, NotifySecrets, NOTIFY_CHANNEL, describeZodIssues, formatIssues } from '@handoff/contracts';
import type { Connector, ConnectorContext, ConnectorIntent, ExecuteResult, ReconcileResult } from './connector.ts';
import { createEffectAgent } from './effectAgent.ts';
import { emailConnector } from './email.ts';
import type { EmailConnector } from './email.ts';
import { PermanentError } from './errors.ts';
import { redactorFor } from './redact.ts';
import type { SendContext } from './notify/http.ts';
import { reconcileEmail, sendEmail } from './notify/email.ts';
import { sendNtfy } from './notify/ntfy.ts';
import { sendSlack } from './notify/slack.ts';
import { sendTelegram } from './notify/telegram.ts';

/**
 * notify: one message to one notification target (docs/connectors.md "notify"). The coordinator
 * writes the intent (account = the target's name, payload = NotifyPayload); the executor that holds
 * `secrets.json` `notify.<target>` sends it through the provider its `kind` names. Every address
 * comes from the secrets, never from the payload: a payload's links are text in the message.
 */

export interface NotifyConnectorOptions {
  /** Dispatcher for ntfy, Slack and Telegram; default a dedicated keep-alive Agent, closed by close(). */
  dispatcher?: Dispatcher;
  /** Per request; default 30 s. */
  timeoutMs?: number;
  /** The email connector that sends mail targets (default the built-in one). */
  email?: EmailConnector;
}

export type NotifyConnector = Connector<NotifyPayload> & { close(): Promise<void> };

function parsePayload(intent: ConnectorIntent<NotifyPayload>): NotifyPayload {
  // Parse again: the executor's copy comes from the database, and this fills defaults.
  const parsed = NotifyPayload.safeParse(intent.payload);
  if (!parsed.success)
    throw new PermanentError(`invalid notify payload: ${formatIssues(describeZodIssues(parsed.error, 'payload'))}`);
  return parsed.data;
}

function parseSecrets(intent: ConnectorIntent, credentials: Record<string, unknown> | undefined): NotifySecrets {
  const where = `secrets.json notify.${intent.account}`;
  if (credentials === undefined) throw new PermanentError(`notify: no ${where} on this executor`);
  const parsed = NotifySecrets.safeParse(credentials);
  if (!parsed.success) {
    // field names and the rule only: zod's messages for these checks never quote the value
    const issues = parsed.error.issues.map((i) => `${[where, ...i.path].join('.')}: ${i.message}`).join('; ');
    throw new PermanentError(`notify target ${intent.account} is malformed: ${issues}`);
  }
  return parsed.data;
}

/** The payload says which kind the policy means; the secrets say which kind this executor can send. */
function checkKind(intent: ConnectorIntent, payload: NotifyPayload, secrets: NotifySecrets): void {
  if (payload.kind !== secrets.kind)
    throw new PermanentError(
      `notify target ${intent.account} is a ${payload.kind} target in the policy, but this executor's secrets.json holds ${secrets.kind} credentials for it: make notify.targets[].kind and secrets.json notify.${intent.account}.kind agree`,
    );
}

export function createNotifyConnector(options: NotifyConnectorOptions = {}): NotifyConnector {
  // No address guard: every URL here is the operator's own setting in secrets.json (a self-hosted
  // ntfy on the LAN is normal), as for x's and calendar's servers; payloads name none.
  const ownAgent = options.dispatcher ? undefined : createEffectAgent();
  const dispatcher: Dispatcher = options.dispatcher ?? (ownAgent as Dispatcher);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const email = options.email ?? emailConnector;

  async function execute(intent: ConnectorIntent<NotifyPayload>, ctx: ConnectorContext): Promise<ExecuteResult> {
    const payload = parsePayload(intent);
    const secrets = parseSecrets(intent, ctx.credentials);
    checkKind(intent, payload, secrets);
    if (secrets.kind === 'email') return sendEmail(email, intent, payload, secrets, ctx);
    const send = <S>(s: S): SendContext<S> => ({
      intent,
      secrets: s,
      ctx,
      dispatcher,
      timeoutMs,
      redact: redactorFor(ctx),
    });
    if (secrets.kind === 'ntfy') return sendNtfy(payload, send(secrets));
    if (secrets.kind === 'slack') return sendSlack(payload, send(secrets));
    return sendTelegram(payload, send(secrets));
  }

  async function reconcile(intent: ConnectorIntent<NotifyPayload>, ctx: ConnectorContext): Promise<ReconcileResult> {
    let payload: NotifyPayload;
    let secrets: NotifySecrets;
    try {
      payload = parsePayload(intent);
      secrets = parseSecrets(intent, ctx.credentials);
    } catch (err) {
      return { status: 'unknown', reason: (err as Error).message };
    }
    // Only mail with an IMAP account can be looked up exactly; ntfy, Slack and Telegram keep no
    // key to ask by, and matching their text would be a guess.
    if (secrets.kind === 'email' && secrets.imap && payload.kind === 'email')
      return reconcileEmail(email, intent, payload, secrets, ctx);
    return {
      status: 'unknown',
      reason: `notify ${secrets.kind}: the provider cannot be asked whether it received this message${secrets.kind === 'email' ? ' (no imap for this target)' : ''}`,
    };
  }

  return {
    name: NOTIFY_CHANNEL,
    // it reaches people; whether it needs approval is the policy's (notify is off by default)
    externalEffect: true,
    needsCredentials: true,
    payloadSchema: NotifyPayload,
    execute,
    reconcile,
    async close() {
      await ownAgent?.close();
    },
  };
}

export const notifyConnector: NotifyConnector = createNotifyConnector();
