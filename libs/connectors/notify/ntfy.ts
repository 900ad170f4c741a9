import type { NotifyPayload, NotifyEvent } from '@handoff/contracts';
import type { NtfySecrets } from '@handoff/contracts';
import type { z } from 'zod';
import type { ExecuteResult } from '../connector.ts';
import { parseRetryAfter } from '../webhook.ts';
import { plainDigest, utf8Bytes } from './compose.ts';
import { postJson, refusal, keyedId } from './http.ts';
import type { SendContext } from './http.ts';

/**
 * ntfy (https://docs.ntfy.sh/publish/): JSON publish to the server's root URL, `{topic, title,
 * message, priority, tags, click}`; a protected topic takes `Authorization: Bearer <token>`. The
 * answer is the stored message, `{id, time, event: "message", topic, …}`. ntfy has no key to dedupe
 * a repeat on, so a publish cut off after sending is an unknown outcome.
 */

/** ntfy turns a longer message into an attachment (or refuses it): message-size-limit, 4096 bytes. */
const MESSAGE_BYTES = 4096;
/** ntfy's request bucket refills one request every 5 s by default (visitor-request-limit-replenish). */
const REQUEST_LIMIT_MS = 10_000;
/** 42908: the daily message quota; asking again before the next day cannot help. */
const DAILY_LIMIT_MS = 60 * 60_000;

/** Emoji short codes ntfy shows before the title, one per kind of event in the digest. */
const TAGS: Record<NotifyEvent, string> = {
  approval_needed: 'bell',
  dead: 'x',
  in_doubt: 'question',
  executor_stale: 'hourglass',
  breaker_opened: 'zap',
  gate_changed: 'no_entry',
  model_node_quarantined: 'warning',
  backup_failed: 'floppy_disk',
};

export async function sendNtfy(
  payload: NotifyPayload,
  send: SendContext<z.infer<typeof NtfySecrets>>,
): Promise<ExecuteResult> {
  const { secrets } = send;
  const url = new URL(secrets.url);
  // the root of the server, keeping a path prefix a reverse proxy may put it under
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  url.search = '';
  const body = {
    topic: secrets.topic,
    title: payload.title,
    message: plainDigest(payload, { limit: MESSAGE_BYTES, withTitle: false, measure: utf8Bytes }),
    priority: payload.priority === 'high' ? 4 : 3,
    tags: [...new Set(payload.items.map((i) => TAGS[i.event]))],
    ...(payload.url ? { click: payload.url } : {}),
  };
  const target = `notify ntfy POST ${url.host}`; // never the topic: on a public server it is the password
  const headers: Record<string, string> = secrets.token ? { authorization: `Bearer ${secrets.token}` } : {};
  const answer = await postJson(send, url, body, target, headers);
  if (answer.status >= 200 && answer.status < 300) {
    const id = (answer.json as { id?: unknown } | undefined)?.id;
    // a 2xx is ntfy's word that it stored the message; without its id the key names it
    return {
      externalId:
        typeof id === 'string' && /^[A-Za-z0-9]{1,64}$/.test(id)
          ? `ntfy:${id}`
          : keyedId('ntfy', send.intent.idempotencyKey),
      url: null,
    };
  }
  const error = answer.json as { code?: unknown; error?: unknown } | undefined;
  const wait =
    parseRetryAfter(answer.headers['retry-after']) ?? (error?.code === 42908 ? DAILY_LIMIT_MS : REQUEST_LIMIT_MS);
  const detail = typeof error?.error === 'string' ? `${error.error} (${String(error.code)})` : answer.text;
  throw refusal(target, answer, send.redact, wait, detail);
}
