import { startRecordingServer } from './recordingHttp.ts';
import type { RecordingServer } from './recordingHttp.ts';

/**
 * A fake Slack incoming webhook, following https://api.slack.com/messaging/webhooks ("Handling
 * errors"): POST JSON `{text, blocks?}` to the webhook URL; 200 with the text body `ok`; errors are
 * a status with a plain-text body naming the problem: 400 `invalid_payload` (not JSON, or no
 * text), 403 `invalid_token`, 404 `no_service` for an unknown or revoked URL, 410
 * `channel_is_archived`, 429 with `Retry-After` (scripted by tests), 500 `rollup_error`.
 */

export type SlackFake = RecordingServer & {
  /** The path of the one URL this workspace has issued: /services/T…/B…/<secret>. */
  hookPath: string;
  archived: boolean;
  messages: Array<{ text: string }>;
};

export async function startSlackWebhook(secret: string): Promise<SlackFake> {
  const hookPath = `/services/T0HANDOFF/B0NOTIFY/${secret}`;
  const messages: Array<{ text: string }> = [];
  // eslint-disable-next-line prefer-const -- the handler runs only after the server is made
  let fake: SlackFake;
  const server = await startRecordingServer((req, res) => {
    const text = (status: number, body: string) => {
      res.writeHead(status, { 'content-type': 'text/html' });
      res.end(body);
    };
    if (req.method !== 'POST' || req.path !== hookPath) return text(404, 'no_service');
    if (fake.archived) return text(410, 'channel_is_archived');
    const body = req.json as { text?: unknown } | undefined;
    if (typeof body?.text !== 'string' || body.text === '') return text(400, 'invalid_payload');
    messages.push({ text: body.text });
    text(200, 'ok');
  });
  fake = Object.assign(server, { hookPath, messages, archived: false });
  return fake;
}
