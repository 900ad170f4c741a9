import type { NotifyPayload, SlackSecrets } from '@handoff/contracts';
import type { z } from 'zod';
import type { ExecuteResult } from '../connector.ts';
import { parseRetryAfter } from '../webhook.ts';
import { fitDigest, moreText } from './compose.ts';
import { keyedId, postJson, refusal } from './http.ts';
import type { SendContext } from './http.ts';

/**
 * Slack incoming webhooks (https://api.slack.com/messaging/webhooks): POST `{text}` (mrkdwn) to the
 * webhook URL, which is itself the credential. Slack answers 200 `ok`, or a status with a text
 * body naming the problem (400 invalid_payload, 403 action_prohibited, 404 no_service or
 * channel_not_found, 410 channel_is_archived, 429 with Retry-After, 500 rollup_error). It returns
 * no message id and dedupes nothing.
 */

/** Slack truncates `text` past 40,000 characters; stay well inside. */
const TEXT_LIMIT = 39_000;
/** Incoming webhooks allow about one message a second: Retry-After says more when Slack sends it. */
const DEFAULT_WAIT_MS = 30_000;

/** mrkdwn's control characters are &, < and > (https://api.slack.com/reference/surfaces/formatting#escaping). */
function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** `<url|label>`: the URL may not carry the characters that end or split the link. */
function slackLink(url: string, label: string): string {
  const safe = url.replace(/[<>|\s]/g, (c) => encodeURIComponent(c));
  return `<${safe}|${slackEscape(label).replace(/\|/g, '¦')}>`;
}

function slackText(payload: NotifyPayload): string {
  return fitDigest(payload, {
    head: (message) => `*${slackEscape(payload.title.replace(/\s+/g, ' '))}*\n${slackEscape(message)}`,
    item: (i) => `• ${i.url ? slackLink(i.url, i.subject) : slackEscape(i.subject)}`,
    more: (k) => `_${moreText(k)}_`,
    tail: payload.url ? slackLink(payload.url, 'Open in handoff') : '',
    limit: TEXT_LIMIT,
  });
}

export async function sendSlack(
  payload: NotifyPayload,
  send: SendContext<z.infer<typeof SlackSecrets>>,
): Promise<ExecuteResult> {
  const url = new URL(send.secrets.webhookUrl);
  const target = `notify slack POST ${url.host}`; // never the path: it is the credential
  const answer = await postJson(send, url, { text: slackText(payload) }, target);
  if (answer.status >= 200 && answer.status < 300) {
    return { externalId: keyedId('slack', send.intent.idempotencyKey), url: null };
  }
  const wait = parseRetryAfter(answer.headers['retry-after']) ?? DEFAULT_WAIT_MS;
  throw refusal(target, answer, send.redact, wait);
}
