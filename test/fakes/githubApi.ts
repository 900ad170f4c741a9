import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A fake of GitHub's REST deployments endpoints (see githubApi.md), on 127.0.0.1 with a random
 * port: create and list deployments, with GitHub's status codes, `{message, documentation_url}`
 * error bodies, x-ratelimit-* headers, primary and secondary rate limits. State lives in memory.
 */

export interface FakeDeployment {
  id: number;
  node_id: string;
  url: string;
  statuses_url: string;
  repository_url: string;
  sha: string;
  ref: string;
  task: string;
  payload: Record<string, unknown>;
  environment: string;
  description: string | null;
  created_at: string;
  updated_at: string;
  original_environment: string;
  transient_environment: boolean;
  production_environment: boolean;
  owner: string;
  repo: string;
}

export interface ScriptedAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface GithubFake {
  baseUrl: string;
  /** Tokens accepted in `Authorization: Bearer <t>` (or `token <t>`). */
  tokens: Set<string>;
  deployments: FakeDeployment[];
  /** Refs that exist; any other ref answers 422 "No ref found". Default: main, and any ref in it. */
  refs: Set<string>;
  /** Refs whose auto-merge conflicts (409). */
  conflicts: Set<string>;
  /** Refs whose required status contexts fail (422). */
  failingContexts: Set<string>;
  /** Refs behind the default branch: with auto_merge (the default), the first create merges and answers 202. */
  behind: Set<string>;
  script(route: string, answer: ScriptedAnswer): void;
  /** The next request to `route` is read, then its connection destroyed; `after-effect` stores the deployment first. */
  drop(route: string, mode: 'before-effect' | 'after-effect'): void;
  count(route: string): number;
  delayMs: number;
  /** Error bodies echo the presented token (adversarial: connectors must redact it). */
  echoTokens: boolean;
  /** Primary limit remaining for the hour. */
  remaining: number;
  close(): Promise<void>;
}

const DOCS = 'https://docs.github.com/rest/deployments/deployments';

export async function startGithubFake(): Promise<GithubFake> {
  const calls = new Map<string, number>();
  const scripted = new Map<string, ScriptedAnswer[]>();
  const drops = new Map<string, Array<'before-effect' | 'after-effect'>>();
  const sockets = new Set<Socket>();
  let nextId = 1_000_000;
  const resetAt = Math.ceil(Date.now() / 1000) + 3600;

  const fake: GithubFake = {
    baseUrl: '',
    tokens: new Set(),
    deployments: [],
    refs: new Set(['main']),
    conflicts: new Set(),
    failingContexts: new Set(),
    behind: new Set(),
    delayMs: 0,
    echoTokens: false,
    remaining: 5000,
    script(route, answer) {
      scripted.set(route, [...(scripted.get(route) ?? []), answer]);
    },
    drop(route, mode) {
      drops.set(route, [...(drops.get(route) ?? []), mode]);
    },
    count: (route) => calls.get(route) ?? 0,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };

  function rateHeaders(): Record<string, string> {
    return {
      'x-ratelimit-limit': '5000',
      'x-ratelimit-remaining': String(Math.max(0, fake.remaining)),
      'x-ratelimit-used': String(5000 - Math.max(0, fake.remaining)),
      'x-ratelimit-reset': String(resetAt),
      'x-ratelimit-resource': 'core',
    };
  }

  function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'x-github-api-version-selected': '2022-11-28',
      ...rateHeaders(),
      ...headers,
    });
    res.end(body === undefined ? '' : JSON.stringify(body));
  }

  function route(req: IncomingMessage): string {
    const path = (req.url ?? '').split('?')[0] ?? '';
    if (/^\/repos\/[^/]+\/[^/]+\/deployments$/.test(path)) return `${req.method} /repos/:owner/:repo/deployments`;
    return `${req.method} ${path}`;
  }

  async function handle(req: IncomingMessage, res: ServerResponse, text: string): Promise<void> {
    const r = route(req);
    calls.set(r, (calls.get(r) ?? 0) + 1);
    if (fake.delayMs > 0) await sleep(fake.delayMs);
    const dropMode = drops.get(r)?.shift();
    if (dropMode === 'before-effect') {
      req.socket.destroy();
      return;
    }
    const s = scripted.get(r)?.shift();
    if (s) {
      send(res, s.status, s.body, s.headers);
      return;
    }
    const auth = req.headers.authorization ?? '';
    const presented = auth.replace(/^(Bearer|token) /, '');
    if (!fake.tokens.has(presented)) {
      send(res, 401, {
        message: fake.echoTokens ? `Bad credentials: ${presented}` : 'Bad credentials',
        documentation_url: 'https://docs.github.com/rest',
        status: '401',
      });
      return;
    }
    if (fake.remaining <= 0) {
      send(res, 403, {
        message:
          'API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID.',
        documentation_url: 'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api',
        status: '403',
      });
      return;
    }
    fake.remaining--;
    const url = new URL(req.url ?? '/', 'http://fake');
    const [, , owner, repo] = url.pathname.split('/');
    if (r === 'POST /repos/:owner/:repo/deployments') {
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(text) as Record<string, unknown>;
      } catch {
        send(res, 400, { message: 'Problems parsing JSON', documentation_url: DOCS, status: '400' });
        return;
      }
      const ref = body.ref;
      if (typeof ref !== 'string' || ref === '') {
        send(res, 422, {
          message: 'Invalid request.\n\n"ref" wasn\'t supplied.',
          documentation_url: DOCS,
          status: '422',
        });
        return;
      }
      if (!fake.refs.has(ref)) {
        send(res, 422, { message: `No ref found for: ${ref}`, documentation_url: DOCS, status: '422' });
        return;
      }
      const autoMerge = body.auto_merge !== false;
      if (autoMerge && fake.conflicts.has(ref)) {
        send(res, 409, { message: `Conflict merging main into ${ref}.`, documentation_url: DOCS, status: '409' });
        return;
      }
      if (autoMerge && fake.behind.has(ref)) {
        fake.behind.delete(ref);
        send(res, 202, { message: 'Auto-merged main into topic-branch on deployment.' });
        return;
      }
      const contexts = body.required_contexts;
      if (fake.failingContexts.has(ref) && !(Array.isArray(contexts) && contexts.length === 0)) {
        send(res, 422, {
          message: 'Conflict: Commit status checks failed for ' + ref + '.',
          errors: [
            {
              contexts: [{ context: 'ci', state: 'failure' }],
              resource: 'Deployment',
              field: 'required_contexts',
              code: 'invalid',
            },
          ],
          documentation_url: DOCS,
          status: '422',
        });
        return;
      }
      let payload: Record<string, unknown> = {};
      if (typeof body.payload === 'string') {
        try {
          payload = JSON.parse(body.payload) as Record<string, unknown>;
        } catch {
          payload = {};
        }
      } else if (typeof body.payload === 'object' && body.payload !== null)
        payload = body.payload as Record<string, unknown>;
      const id = ++nextId;
      const env = typeof body.environment === 'string' ? body.environment : 'production';
      const base = `${fake.baseUrl}/repos/${owner}/${repo}`;
      const now = new Date().toISOString();
      const d: FakeDeployment = {
        id,
        node_id: `DE_${id}`,
        url: `${base}/deployments/${id}`,
        statuses_url: `${base}/deployments/${id}/statuses`,
        repository_url: base,
        sha: 'a84d88e7554fc1fa21bcbc4efae3c782a70d2b9d',
        ref,
        task: typeof body.task === 'string' ? body.task : 'deploy',
        payload,
        environment: env,
        original_environment: env,
        description: typeof body.description === 'string' ? body.description : null,
        created_at: now,
        updated_at: now,
        transient_environment: false,
        production_environment: env === 'production',
        owner: owner!,
        repo: repo!,
      };
      fake.deployments.push(d);
      if (dropMode === 'after-effect') {
        req.socket.destroy();
        return;
      }
      send(res, 201, view(d));
      return;
    }
    if (r === 'GET /repos/:owner/:repo/deployments') {
      const perPage = Math.min(100, Number(url.searchParams.get('per_page') ?? '30'));
      const page = Math.max(1, Number(url.searchParams.get('page') ?? '1'));
      const ref = url.searchParams.get('ref');
      const env = url.searchParams.get('environment');
      const list = fake.deployments
        .filter(
          (d) =>
            d.owner === owner &&
            d.repo === repo &&
            (ref === null || d.ref === ref) &&
            (env === null || d.environment === env),
        )
        .sort((a, b) => b.id - a.id);
      send(res, 200, list.slice((page - 1) * perPage, page * perPage).map(view));
      return;
    }
    send(res, 404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' });
  }

  function view(d: FakeDeployment): Record<string, unknown> {
    const { owner: _o, repo: _r, ...rest } = d;
    return { ...rest, creator: { login: 'octocat', id: 1, type: 'User' } };
  }

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks).toString('utf8')).catch((err: unknown) => {
        if (!res.headersSent) send(res, 500, { message: String(err) });
      });
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('github fake did not bind');
  fake.baseUrl = `http://127.0.0.1:${address.port}`;
  return fake;
}
