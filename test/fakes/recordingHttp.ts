import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One request a fake provider received, as it arrived. */
export interface Received {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  json: unknown;
}

/** An answer a test scripts for the next request: a status with headers and a body, or a cut connection. */
export type Scripted =
  | { status: number; headers?: Record<string, string>; body?: string | object }
  | { drop: true }
  /** Read the request and never answer (the client's timeout fires). */
  | { hang: true };

export interface RecordingServer {
  url: string;
  port: number;
  received: Received[];
  /** Answers for the next requests, first in first out; without one the fake answers as the provider does. */
  next: Scripted[];
  close(): Promise<void>;
}

/**
 * The HTTP plumbing the provider fakes share (ntfyServer.ts, slackWebhook.ts, telegramBotApi.ts):
 * a server on 127.0.0.1 with a random port that records every request and answers with the
 * provider's own logic unless a test scripted the answer.
 */
export async function startRecordingServer(
  answer: (req: Received, res: ServerResponse) => void,
): Promise<RecordingServer> {
  const sockets = new Set<Socket>();
  const fake: RecordingServer = { url: '', port: 0, received: [], next: [], close: async () => {} };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = body ? JSON.parse(body) : undefined;
      } catch {
        json = undefined;
      }
      const got: Received = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, json };
      fake.received.push(got);
      const scripted = fake.next.shift();
      if (!scripted) return answer(got, res);
      if ('drop' in scripted) return req.socket.destroy();
      if ('hang' in scripted) return;
      const text = typeof scripted.body === 'string' ? scripted.body : JSON.stringify(scripted.body ?? '');
      res.writeHead(scripted.status, scripted.headers ?? {});
      res.end(text);
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.port = (server.address() as AddressInfo).port;
  fake.url = `http://127.0.0.1:${fake.port}`;
  fake.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return fake;
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}
