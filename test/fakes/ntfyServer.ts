import { randomBytes } from 'node:crypto';
import { sendJson, startRecordingServer } from './recordingHttp.ts';
import type { RecordingServer } from './recordingHttp.ts';

/**
 * A fake ntfy server, following https://docs.ntfy.sh/publish/ : JSON publish to the root URL
 * (`{topic, title, message, priority, tags, click}`, "Publish as JSON"), access tokens as
 * `Authorization: Bearer` ("Authentication"), the answer being the stored message (`{id, time,
 * expires, event: "message", topic, …}`), and errors as ntfy's errHTTP JSON
 * (`{"code":40101,"http":401,"error":"unauthorized","link":…}`, server/errors.go): 400 40009 for
 * an invalid topic, 401 40101 without a token on a protected topic, 403 40301 with a wrong one,
 * 429 42901 when the visitor's request bucket is empty.
 */

export interface NtfyMessage {
  id: string;
  topic: string;
  title?: string;
  message: string;
  priority?: number;
  tags?: string[];
  click?: string;
}

export type NtfyFake = RecordingServer & {
  messages: NtfyMessage[];
  /** Topics that need this bearer token. */
  protectedTopics: Map<string, string>;
};

const error = (code: number, http: number, text: string) => ({
  code,
  http,
  error: text,
  link: 'https://ntfy.sh/docs/publish/#authentication',
});

export async function startNtfyServer(): Promise<NtfyFake> {
  const messages: NtfyMessage[] = [];
  const protectedTopics = new Map<string, string>();
  const server = await startRecordingServer((req, res) => {
    if (req.method !== 'POST' && req.method !== 'PUT') return sendJson(res, 404, error(40401, 404, 'page not found'));
    const body = req.json as Partial<NtfyMessage> | undefined;
    if (typeof body !== 'object' || body === null)
      return sendJson(res, 400, error(40017, 400, 'invalid request: request body must be message JSON'));
    if (typeof body.topic !== 'string' || !/^[-_A-Za-z0-9]{1,64}$/.test(body.topic))
      return sendJson(res, 400, error(40009, 400, 'invalid request: topic invalid'));
    const needed = protectedTopics.get(body.topic);
    if (needed !== undefined) {
      const auth = req.headers.authorization;
      if (!auth) return sendJson(res, 401, error(40101, 401, 'unauthorized'));
      if (auth !== `Bearer ${needed}`) return sendJson(res, 403, error(40301, 403, 'forbidden'));
    }
    const stored: NtfyMessage = {
      id: randomBytes(6).toString('hex'),
      topic: body.topic,
      message: typeof body.message === 'string' ? body.message : 'triggered',
      ...(body.title ? { title: body.title } : {}),
      ...(body.priority ? { priority: body.priority } : {}),
      ...(body.tags ? { tags: body.tags } : {}),
      ...(body.click ? { click: body.click } : {}),
    };
    messages.push(stored);
    const now = Math.floor(Date.now() / 1000);
    sendJson(res, 200, { ...stored, time: now, expires: now + 43200, event: 'message' });
  });
  return Object.assign(server, { messages, protectedTopics });
}

/** ntfy's answer when the visitor's request bucket is empty (no Retry-After header). */
export const NTFY_TOO_MANY = {
  status: 429,
  headers: { 'content-type': 'application/json' },
  body: {
    code: 42901,
    http: 429,
    error: 'limit reached: too many requests, please be nice',
    link: 'https://ntfy.sh/docs/publish/#limitations',
  },
};
