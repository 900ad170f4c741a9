import type { NotifyPayload, TelegramSecrets } from '@handoff/contracts';
import type { z } from 'zod';
import type { ExecuteResult } from '../connector.ts';
import { PermanentError, UnknownOutcomeError } from '../errors.ts';
import { parseRetryAfter } from '../webhook.ts';
import { fitDigest, moreText } from './compose.ts';
import { keyedId, postJson, refusal } from './http.ts';
import type { SendContext } from './http.ts';

/**
 * Telegram Bot API (https://core.telegram.org/bots/api#sendmessage): POST
 * `<apiBaseUrl>/bot<token>/sendMessage` with `{chat_id, text, parse_mode: "HTML",
 * link_preview_options}`. Answers `{ok: true, result: Message}`, or `{ok: false, error_code,
 * description, parameters?: {retry_after, migrate_to_chat_id}}`. Nothing dedupes a repeat.
 */

/** sendMessage's limit is 4096 characters after entity parsing; counting the markup too keeps it safe. */
const TEXT_LIMIT = 4096;
const DEFAULT_BASE = 'https://api.telegram.org';
const DEFAULT_WAIT_MS = 30_000;

/** The HTML parse mode needs only &, < and > escaped in text, and " in attribute values. */
function telegramEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function link(url: string, label: string): string {
  return `<a href="${telegramEscape(url).replace(/"/g, '&quot;')}">${telegramEscape(label)}</a>`;
}

function telegramText(payload: NotifyPayload): string {
  return fitDigest(payload, {
    head: (message) => `<b>${telegramEscape(payload.title)}</b>\n${telegramEscape(message)}`,
    item: (i) => `• ${i.url ? link(i.url, i.subject) : telegramEscape(i.subject)}`,
    more: (k) => `<i>${moreText(k)}</i>`,
    tail: payload.url ? link(payload.url, 'Open in handoff') : '',
    limit: TEXT_LIMIT,
  });
}

interface TelegramAnswer {
  ok?: unknown;
  error_code?: unknown;
  description?: unknown;
  parameters?: { retry_after?: unknown; migrate_to_chat_id?: unknown };
  result?: { message_id?: unknown; chat?: { username?: unknown } };
}

export async function sendTelegram(
  payload: NotifyPayload,
  send: SendContext<z.infer<typeof TelegramSecrets>>,
): Promise<ExecuteResult> {
  const { secrets } = send;
  const base = new URL(secrets.apiBaseUrl ?? DEFAULT_BASE);
  const url = new URL(`${base.pathname.replace(/\/$/, '')}/bot${secrets.botToken}/sendMessage`, base);
  const target = `notify telegram POST ${url.host} sendMessage`; // never the path: it holds the token
  const answer = await postJson(
    send,
    url,
    {
      chat_id: secrets.chatId,
      text: telegramText(payload),
      parse_mode: 'HTML',
      link_preview_options: { is_disabled: true },
    },
    target,
  );
  const json = (answer.json ?? {}) as TelegramAnswer;
  if (answer.status >= 200 && answer.status < 300 && json.ok === true) {
    const id = json.result?.message_id;
    const username = json.result?.chat?.username;
    if (typeof id === 'number' && Number.isSafeInteger(id)) {
      return {
        externalId: `telegram:${id}`,
        // only a public chat has a link anyone can open
        url:
          typeof username === 'string' && /^[A-Za-z0-9_]{4,32}$/.test(username)
            ? `https://t.me/${username}/${id}`
            : null,
      };
    }
    return { externalId: keyedId('telegram', send.intent.idempotencyKey), url: null };
  }
  if (answer.status >= 200 && answer.status < 300 && json.ok !== false) {
    // a 2xx that is not the Bot API's answer: the message may or may not have gone out
    throw new UnknownOutcomeError(`${target} answered ${answer.status} without the Bot API's {ok} answer`);
  }
  const description = typeof json.description === 'string' ? json.description : answer.text;
  if (typeof json.parameters?.migrate_to_chat_id === 'number') {
    throw new PermanentError(
      `${target} answered ${answer.status}: the group became a supergroup with chat id ${json.parameters.migrate_to_chat_id}; set chatId in secrets.json to it`,
    );
  }
  const retryAfter = json.parameters?.retry_after;
  const wait =
    typeof retryAfter === 'number' && retryAfter >= 0
      ? retryAfter * 1000
      : (parseRetryAfter(answer.headers['retry-after']) ?? DEFAULT_WAIT_MS);
  // {ok: false} with a 2xx status is a refusal all the same; its error_code says which
  const status =
    answer.status >= 200 && answer.status < 300 && typeof json.error_code === 'number'
      ? json.error_code
      : answer.status;
  throw refusal(target, { ...answer, status }, send.redact, wait, description);
}
