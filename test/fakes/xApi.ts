import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A fake of the X API v2 endpoints handoff uses, on 127.0.0.1 with a random port. It follows the
 * public documentation (see xApi.md): problem-JSON errors, x-rate-limit-* headers, the
 * duplicate-content 403, OAuth 2.0 refresh with rotating refresh tokens. State lives in memory.
 */

export interface FakeTweet {
  id: string;
  text: string;
  authorId: string;
  createdAt: Date;
  body: Record<string, unknown>;
}

interface AccessToken {
  userId: string;
  expiresAt: number;
}

export interface FakeUser {
  id: string;
  username: string;
}

export interface ScriptedAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

/** When to drop the connection: before the effect (nothing stored) or after it (tweet stored). */
export type DropMode = 'before-effect' | 'after-effect';

export interface XFake {
  baseUrl: string;
  users: Map<string, FakeUser>;
  tweets: FakeTweet[];
  /** Calls per `METHOD path-pattern`, e.g. `POST /2/tweets`, `GET /2/users/:id/tweets`. */
  calls: Map<string, number>;
  /** Every Authorization header and form body seen, for assertions about what was sent. */
  requests: Array<{ route: string; authorization?: string; body: string }>;
  /** A new user with a fresh access token, refresh token and client; returns the credentials. */
  addUser(opts?: { username?: string; confidential?: boolean; accessTtlMs?: number }): {
    user: FakeUser;
    accessToken: string;
    refreshToken: string;
    clientId: string;
    clientSecret?: string;
  };
  /** Marks an access token expired (as X does after expires_in, 2 h by default). */
  expire(accessToken: string): void;
  /** The next request to `route` gets this answer instead of the real one. */
  script(route: string, answer: ScriptedAnswer): void;
  /** The next request to `route` is read and then its connection destroyed. */
  drop(route: string, mode: DropMode): void;
  /** Puts a post in a user's timeline directly (someone posted it by hand). */
  seed(userId: string, text: string, createdAt?: Date): FakeTweet;
  count(route: string): number;
  delayMs: number;
  /** Error bodies echo the presented bearer token (adversarial: connectors must redact it). */
  echoTokens: boolean;
  /** Shorten URLs in stored text to t.co links, as X does. */
  shortenUrls: boolean;
  /** Per-user 15-minute window for POST /2/tweets. */
  postLimit: number;
  close(): Promise<void>;
}

const DUPLICATE_DETAIL = 'You are not allowed to create a Tweet with duplicate content.';

function problem(
  status: number,
  title: string,
  detail: string,
  type = 'about:blank',
): { title: string; detail: string; type: string; status: number } {
  return { title, detail, type, status };
}

function escapeText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export async function startXFake(): Promise<XFake> {
  const users = new Map<string, FakeUser>();
  const access = new Map<string, AccessToken>();
  const refresh = new Map<string, { userId: string; clientId: string; accessTtlMs: number }>();
  const clients = new Map<string, string | undefined>();
  const tweets: FakeTweet[] = [];
  const calls = new Map<string, number>();
  const requests: XFake['requests'] = [];
  const scripted = new Map<string, ScriptedAnswer[]>();
  const drops = new Map<string, DropMode[]>();
  const postWindow = new Map<string, { used: number; resetAt: number }>();
  const sockets = new Set<Socket>();
  let nextId = 1_700_000_000_000_000_000n;
  const newId = (): string => String(++nextId);
  const token = (prefix: string): string => `${prefix}-${randomBytes(12).toString('hex')}`;

  const fake: XFake = {
    baseUrl: '',
    users,
    tweets,
    calls,
    requests,
    delayMs: 0,
    echoTokens: false,
    shortenUrls: true,
    postLimit: 100,
    addUser(opts = {}) {
      const user: FakeUser = { id: newId(), username: opts.username ?? `user${users.size + 1}` };
      users.set(user.id, user);
      const clientId = token('client');
      const clientSecret = opts.confidential ? token('csecret') : undefined;
      clients.set(clientId, clientSecret);
      const accessTtlMs = opts.accessTtlMs ?? 7_200_000;
      const accessToken = token('at');
      access.set(accessToken, { userId: user.id, expiresAt: Date.now() + accessTtlMs });
      const refreshToken = token('rt');
      refresh.set(refreshToken, { userId: user.id, clientId, accessTtlMs });
      return { user, accessToken, refreshToken, clientId, clientSecret };
    },
    expire(accessToken) {
      const t = access.get(accessToken);
      if (t) t.expiresAt = 0;
    },
    script(route, answer) {
      const list = scripted.get(route) ?? [];
      list.push(answer);
      scripted.set(route, list);
    },
    drop(route, mode) {
      const list = drops.get(route) ?? [];
      list.push(mode);
      drops.set(route, list);
    },
    seed(userId, text, createdAt = new Date()) {
      const t: FakeTweet = {
        id: newId(),
        text: fake.shortenUrls ? shorten(text) : text,
        authorId: userId,
        createdAt,
        body: { text },
      };
      tweets.push(t);
      return t;
    },
    count: (route) => calls.get(route) ?? 0,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };

  function shorten(text: string): string {
    return text.replace(/https?:\/\/\S+/g, () => `https://t.co/${randomBytes(5).toString('hex')}`);
  }

  function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(text);
  }

  function rateHeaders(userId: string): Record<string, string> {
    const w = window(userId);
    return {
      'x-rate-limit-limit': String(fake.postLimit),
      'x-rate-limit-remaining': String(Math.max(0, fake.postLimit - w.used)),
      'x-rate-limit-reset': String(Math.ceil(w.resetAt / 1000)),
    };
  }

  function window(userId: string): { used: number; resetAt: number } {
    let w = postWindow.get(userId);
    if (!w || w.resetAt <= Date.now()) {
      w = { used: 0, resetAt: Date.now() + 15 * 60_000 };
      postWindow.set(userId, w);
    }
    return w;
  }

  function route(req: IncomingMessage): string {
    const path = (req.url ?? '').split('?')[0] ?? '';
    if (/^\/2\/users\/\d+\/tweets$/.test(path)) return `${req.method} /2/users/:id/tweets`;
    return `${req.method} ${path}`;
  }

  function authUser(req: IncomingMessage, res: ServerResponse): string | undefined {
    const header = req.headers.authorization ?? '';
    const bearer = header.startsWith('Bearer ') ? header.slice(7) : undefined;
    const t = bearer ? access.get(bearer) : undefined;
    if (!t || t.expiresAt <= Date.now()) {
      const detail = fake.echoTokens && bearer ? `Unauthorized: token ${bearer} is invalid or expired` : 'Unauthorized';
      send(res, 401, problem(401, 'Unauthorized', detail));
      return undefined;
    }
    return t.userId;
  }

  async function handle(req: IncomingMessage, res: ServerResponse, body: string): Promise<void> {
    const r = route(req);
    calls.set(r, (calls.get(r) ?? 0) + 1);
    requests.push({ route: r, authorization: req.headers.authorization, body });
    if (fake.delayMs > 0) await sleep(fake.delayMs);

    const dropMode = drops.get(r)?.shift();
    if (dropMode === 'before-effect') {
      req.socket.destroy();
      return;
    }
    const scriptedAnswer = scripted.get(r)?.shift();
    if (scriptedAnswer) {
      send(res, scriptedAnswer.status, scriptedAnswer.body, scriptedAnswer.headers);
      return;
    }

    const url = new URL(req.url ?? '/', 'http://fake');
    if (r === 'POST /2/oauth2/token') return tokenEndpoint(req, res, body);
    if (r === 'GET /2/users/me') {
      const userId = authUser(req, res);
      if (!userId) return;
      const u = users.get(userId)!;
      send(res, 200, { data: { id: u.id, name: u.username, username: u.username } });
      return;
    }
    if (r === 'POST /2/tweets') {
      const userId = authUser(req, res);
      if (!userId) return;
      const w = window(userId);
      if (w.used >= fake.postLimit) {
        send(res, 429, problem(429, 'Too Many Requests', 'Too Many Requests'), rateHeaders(userId));
        return;
      }
      w.used++;
      let json: Record<string, unknown>;
      try {
        json = JSON.parse(body) as Record<string, unknown>;
      } catch {
        send(
          res,
          400,
          {
            errors: [{ message: 'Request body is not valid JSON' }],
            title: 'Invalid Request',
            detail: 'One or more parameters to your request was invalid.',
            type: 'https://api.twitter.com/2/problems/invalid-request',
          },
          rateHeaders(userId),
        );
        return;
      }
      const text = json.text;
      if (typeof text !== 'string' || text.length === 0) {
        send(
          res,
          400,
          {
            errors: [{ parameters: { text: [] }, message: 'text is required unless media or poll is present' }],
            title: 'Invalid Request',
            detail: 'One or more parameters to your request was invalid.',
            type: 'https://api.twitter.com/2/problems/invalid-request',
          },
          rateHeaders(userId),
        );
        return;
      }
      const stored = fake.shortenUrls ? shorten(text) : text;
      // X refuses identical text from the same account (exact comparison of the submitted text).
      if (tweets.some((t) => t.authorId === userId && t.body.text === text)) {
        send(res, 403, problem(403, 'Forbidden', DUPLICATE_DETAIL), rateHeaders(userId));
        return;
      }
      const t: FakeTweet = { id: newId(), text: stored, authorId: userId, createdAt: new Date(), body: json };
      tweets.push(t);
      if (dropMode === 'after-effect') {
        req.socket.destroy();
        return;
      }
      send(res, 201, { data: { id: t.id, text: stored, edit_history_tweet_ids: [t.id] } }, rateHeaders(userId));
      return;
    }
    if (r === 'GET /2/users/:id/tweets') {
      const userId = authUser(req, res);
      if (!userId) return;
      const pathUser = url.pathname.split('/')[3]!;
      if (!users.has(pathUser)) {
        send(res, 200, {
          errors: [
            {
              value: pathUser,
              detail: `Could not find user with id: [${pathUser}].`,
              title: 'Not Found Error',
              resource_type: 'user',
              parameter: 'id',
              resource_id: pathUser,
              type: 'https://api.twitter.com/2/problems/resource-not-found',
            },
          ],
        });
        return;
      }
      const max = Number(url.searchParams.get('max_results') ?? '10');
      if (!(max >= 5 && max <= 100)) {
        send(res, 400, {
          errors: [
            {
              parameters: { max_results: [String(max)] },
              message: 'The `max_results` query parameter value is not between 5 and 100',
            },
          ],
          title: 'Invalid Request',
          detail: 'One or more parameters to your request was invalid.',
          type: 'https://api.twitter.com/2/problems/invalid-request',
        });
        return;
      }
      const start = url.searchParams.get('start_time');
      if (start !== null && !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(start)) {
        send(res, 400, {
          errors: [
            {
              parameters: { start_time: [start] },
              message: "Invalid 'start_time':'" + start + "'. 'start_time' must be a valid ISO 8601 date",
            },
          ],
          title: 'Invalid Request',
          detail: 'One or more parameters to your request was invalid.',
          type: 'https://api.twitter.com/2/problems/invalid-request',
        });
        return;
      }
      const fields = (url.searchParams.get('tweet.fields') ?? '').split(',');
      const since = start ? Date.parse(start) : 0;
      // Newest first, as the timeline endpoint returns them.
      const mine = tweets
        .filter((t) => t.authorId === pathUser && t.createdAt.getTime() >= since)
        .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (BigInt(b.id) > BigInt(a.id) ? 1 : -1));
      const offset = Number(url.searchParams.get('pagination_token') ?? '0');
      const page = mine.slice(offset, offset + max);
      const data = page.map((t) => ({
        id: t.id,
        text: escapeText(t.text),
        edit_history_tweet_ids: [t.id],
        ...(fields.includes('created_at') ? { created_at: t.createdAt.toISOString() } : {}),
      }));
      const meta: Record<string, unknown> = { result_count: data.length };
      if (data.length > 0) {
        meta.newest_id = data[0]!.id;
        meta.oldest_id = data[data.length - 1]!.id;
      }
      if (offset + max < mine.length) meta.next_token = String(offset + max);
      send(res, 200, data.length > 0 ? { data, meta } : { meta });
      return;
    }
    send(res, 404, problem(404, 'Not Found Error', `no route ${r}`));
  }

  function tokenEndpoint(req: IncomingMessage, res: ServerResponse, body: string): void {
    const form = new URLSearchParams(body);
    let clientId = form.get('client_id') ?? undefined;
    const basic = req.headers.authorization?.startsWith('Basic ')
      ? Buffer.from(req.headers.authorization.slice(6), 'base64').toString('utf8')
      : undefined;
    if (basic) {
      const [id, secret] = basic.split(':').map((p) => decodeURIComponent(p));
      if (!id || !clients.has(id) || clients.get(id) !== secret) {
        send(res, 401, { error: 'unauthorized_client', error_description: 'Missing valid authorization header' });
        return;
      }
      clientId = id;
    } else if (clientId && clients.get(clientId) !== undefined) {
      // a confidential client must authenticate with Basic
      send(res, 401, { error: 'unauthorized_client', error_description: 'Missing valid authorization header' });
      return;
    }
    const rt = form.get('refresh_token') ?? '';
    const entry = refresh.get(rt);
    if (form.get('grant_type') !== 'refresh_token' || !entry || entry.clientId !== clientId) {
      send(res, 400, { error: 'invalid_request', error_description: 'Value passed for the token was invalid.' });
      return;
    }
    // Rotation: the old refresh token stops working, a new pair is issued.
    refresh.delete(rt);
    const accessToken = token('at');
    const refreshToken = token('rt');
    access.set(accessToken, { userId: entry.userId, expiresAt: Date.now() + entry.accessTtlMs });
    refresh.set(refreshToken, entry);
    send(res, 200, {
      token_type: 'bearer',
      expires_in: Math.floor(entry.accessTtlMs / 1000),
      access_token: accessToken,
      scope: 'tweet.read tweet.write users.read offline.access',
      refresh_token: refreshToken,
    });
  }

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks).toString('utf8')).catch((err: unknown) => {
        if (!res.headersSent) send(res, 500, problem(500, 'Internal Server Error', String(err)));
      });
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('x fake did not bind');
  fake.baseUrl = `http://127.0.0.1:${address.port}`;
  return fake;
}
