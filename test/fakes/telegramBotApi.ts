import { sendJson, startRecordingServer } from './recordingHttp.ts';
import type { RecordingServer } from './recordingHttp.ts';

/**
 * A fake Telegram Bot API, following https://core.telegram.org/bots/api#making-requests and
 * #sendmessage: `POST /bot<token>/sendMessage` with JSON `{chat_id, text, parse_mode?,
 * link_preview_options?}`; answers `{ok: true, result: Message}` (message_id, chat {id, type,
 * username?}, date, text), or `{ok: false, error_code, description}`: 401 "Unauthorized" for an
 * unknown token, 400 "Bad Request: chat not found", 400 "Bad Request: can't parse entities: …" for
 * HTML it cannot parse, and (#responseparameters) 429 "Too Many Requests: retry after N" with
 * `parameters.retry_after` (scripted by tests).
 */

export interface TelegramChat {
  id: number;
  type: 'private' | 'group' | 'supergroup' | 'channel';
  username?: string;
}

export type TelegramFake = RecordingServer & {
  token: string;
  chats: Map<string, TelegramChat>;
  messages: Array<{ chatId: number; messageId: number; text: string; parseMode?: string }>;
};

/** The Bot API's HTML: only these tags, and every & < > escaped outside them. */
const TAG = /<\/?(b|strong|i|em|u|ins|s|strike|del|a|code|pre|tg-spoiler|blockquote)(\s+href="[^"<>]*")?\s*>/g;

function parsesAsHtml(text: string): boolean {
  return !/[<>]/.test(text.replace(TAG, '')) && !/&(?!(amp|lt|gt|quot);)/.test(text);
}

export async function startTelegramBotApi(token: string): Promise<TelegramFake> {
  const chats = new Map<string, TelegramChat>();
  const messages: TelegramFake['messages'] = [];
  let nextId = 100;
  const server = await startRecordingServer((req, res) => {
    const fail = (code: number, description: string) =>
      sendJson(res, code, { ok: false, error_code: code, description });
    const m = /^\/bot([^/]+)\/sendMessage$/.exec(req.path);
    if (!m) return fail(404, 'Not Found');
    if (m[1] !== token) return fail(401, 'Unauthorized');
    const body = req.json as { chat_id?: unknown; text?: unknown; parse_mode?: unknown } | undefined;
    const chat = chats.get(String(body?.chat_id));
    if (!chat) return fail(400, 'Bad Request: chat not found');
    if (typeof body?.text !== 'string' || body.text.trim() === '')
      return fail(400, 'Bad Request: message text is empty');
    if (body.text.length > 4096) return fail(400, 'Bad Request: message is too long');
    if (body.parse_mode === 'HTML' && !parsesAsHtml(body.text))
      return fail(400, "Bad Request: can't parse entities: unsupported start tag");
    const messageId = nextId++;
    messages.push({ chatId: chat.id, messageId, text: body.text, parseMode: body.parse_mode as string | undefined });
    sendJson(res, 200, {
      ok: true,
      result: { message_id: messageId, chat, date: Math.floor(Date.now() / 1000), text: body.text },
    });
  });
  return Object.assign(server, { token, chats, messages });
}
