import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * A real HTTP receiver on 127.0.0.1 for tests: records every request it reads and answers as the
 * test scripts it. Used by the connector, executor and chaos tests.
 *
 * Default answer: 200 `{"id": "<n>", "url": "<sink>/<n>"}`, where n counts distinct
 * Idempotency-Keys, so a repeat of the same key gets the same id, as an idempotent receiver would.
 * Every request is recorded all the same: `countByKey()` shows how often each key arrived.
 */
export interface RecordedRequest {
  /** 0-based order of arrival. */
  seq: number;
  method: string;
  /** Path and query, e.g. `/hooks/a?x=1`. */
  path: string;
  /** Lower-cased names, as Node parses them. */
  headers: IncomingHttpHeaders;
  idempotencyKey: string | undefined;
  body: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
  receivedAt: Date;
}

export interface SinkResponse {
  status?: number;
  headers?: Record<string, string | string[]>;
  /** A string is sent as is; anything else as JSON. Undefined: an empty body. */
  body?: unknown;
  /** Wait this long before answering. */
  delayMs?: number;
  /** Never answer (the request stays open until the client gives up or the sink closes). */
  hang?: boolean;
  /** Read the body, record the request, then drop the connection without answering. */
  destroy?: boolean;
}

/** Returns the answer for one request; undefined falls through to the default answer. */
export type SinkScript = (req: RecordedRequest) => SinkResponse | undefined | Promise<SinkResponse | undefined>;

export interface RecordingSink {
  /** Base URL, e.g. `http://127.0.0.1:41234`, without a trailing slash. */
  readonly url: string;
  readonly port: number;
  readonly requests: RecordedRequest[];
  /** `${url}/__status`: the webhook payload's statusUrl for reconciling against this sink. */
  readonly statusUrl: string;
  /** How many status checks arrived. */
  statusChecks(): number;
  /** Sets the script for every later request (a function, or one fixed answer). null: the default. */
  respondWith(script: SinkScript | SinkResponse | null): void;
  /** Queues answers for the next requests, one each, before the script applies. */
  respondNext(...responses: SinkResponse[]): void;
  /** How many requests arrived per Idempotency-Key (requests without one are not counted). */
  countByKey(): Map<string, number>;
  /** Resolves once at least n requests have been recorded; rejects after timeoutMs. */
  waitForRequests(n: number, timeoutMs?: number): Promise<RecordedRequest[]>;
  /** Forgets recorded requests, queued answers, the script and the id counter. */
  reset(): void;
  /** Closes the server and destroys every open connection (hanging ones included). */
  close(): Promise<void>;
}

/** GET here with an Idempotency-Key: 200 when a request with that key was recorded, else 404. */
export const STATUS_PATH = '/__status';

export interface RecordingSinkOptions {
  /** Default 0: a free port. */
  port?: number;
  script?: SinkScript | SinkResponse;
}

function toScript(script: SinkScript | SinkResponse | null | undefined): SinkScript | undefined {
  if (script === null || script === undefined) return undefined;
  if (typeof script === 'function') return script;
  return () => script;
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export async function startRecordingSink(options: RecordingSinkOptions = {}): Promise<RecordingSink> {
  const requests: RecordedRequest[] = [];
  const queue: SinkResponse[] = [];
  const idsByKey = new Map<string, string>();
  let counter = 0;
  let script = toScript(options.script);
  let waiters: { n: number; resolve: () => void }[] = [];
  const sockets = new Set<Socket>();
  let baseUrl = '';
  let statusChecks = 0;

  const defaultAnswer = (req: RecordedRequest): SinkResponse => {
    let id = req.idempotencyKey === undefined ? undefined : idsByKey.get(req.idempotencyKey);
    if (id === undefined) {
      counter += 1;
      id = String(counter);
      if (req.idempotencyKey !== undefined) idsByKey.set(req.idempotencyKey, id);
    }
    return { status: 200, body: { id, url: `${baseUrl}/${id}` } };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.url?.startsWith(STATUS_PATH)) {
      // "did you get key K?", answered from what was recorded; not itself an effect, so not recorded
      statusChecks += 1;
      const key = header(req.headers['idempotency-key']);
      const id = key === undefined ? undefined : idsByKey.get(key);
      const seen = key !== undefined && requests.some((r) => r.idempotencyKey === key);
      res.writeHead(seen ? 200 : 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify(seen ? { id: id ?? key, url: `${baseUrl}/${id ?? ''}` } : { error: 'unknown key' }));
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    let json: unknown;
    try {
      json = body === '' ? undefined : JSON.parse(body);
    } catch {
      json = undefined;
    }
    const recorded: RecordedRequest = {
      seq: requests.length,
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers: req.headers,
      idempotencyKey: header(req.headers['idempotency-key']),
      body,
      json,
      receivedAt: new Date(),
    };
    requests.push(recorded);
    waiters = waiters.filter((w) => {
      if (requests.length >= w.n) w.resolve();
      return requests.length < w.n;
    });

    const answer = queue.shift() ?? (await script?.(recorded)) ?? defaultAnswer(recorded);
    if (answer.delayMs) await new Promise((r) => setTimeout(r, answer.delayMs));
    if (answer.destroy) {
      req.socket.destroy();
      return;
    }
    if (answer.hang) return;

    let payload = '';
    const headers: Record<string, string | string[]> = { ...(answer.headers ?? {}) };
    if (typeof answer.body === 'string') payload = answer.body;
    else if (answer.body !== undefined) {
      payload = JSON.stringify(answer.body);
      if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type'))
        headers['content-type'] = 'application/json';
    }
    if (res.destroyed) return;
    res.writeHead(answer.status ?? 200, headers);
    res.end(payload);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`recording sink script failed: ${String(err)}`);
      }
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('recording sink: no TCP address');
  const port = address.port;
  baseUrl = `http://127.0.0.1:${port}`;

  return {
    url: baseUrl,
    port,
    requests,
    statusUrl: `${baseUrl}${STATUS_PATH}`,
    statusChecks: () => statusChecks,
    respondWith(next) {
      script = toScript(next);
    },
    respondNext(...responses) {
      queue.push(...responses);
    },
    countByKey() {
      const counts = new Map<string, number>();
      for (const r of requests) {
        if (r.idempotencyKey !== undefined) counts.set(r.idempotencyKey, (counts.get(r.idempotencyKey) ?? 0) + 1);
      }
      return counts;
    },
    waitForRequests(n, timeoutMs = 10_000) {
      if (requests.length >= n) return Promise.resolve(requests.slice());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== waiter);
          reject(new Error(`recording sink: ${requests.length} of ${n} requests after ${timeoutMs} ms`));
        }, timeoutMs);
        const waiter = {
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve(requests.slice());
          },
        };
        waiters.push(waiter);
      });
    },
    reset() {
      requests.length = 0;
      queue.length = 0;
      idsByKey.clear();
      counter = 0;
      script = undefined;
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
