import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { sql } from 'kysely';
import { buildCoordinator, createSignInLink } from '@handoff/coordinator';
import type { BuiltCoordinator } from '@handoff/coordinator';
import { createTestDatabase } from '../support/database.ts';
import type { TestDatabase } from '../support/database.ts';

const silent = pino({ level: 'silent' });
/** app.inject talks to the app as http://localhost:80 */
const ORIGIN = 'http://localhost:80';

interface Answer {
  status: number;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  headers: Record<string, unknown>;
  text: string;
}

/**
 * The console's sessions on the real app (no browser): a token is exchanged for an HttpOnly,
 * SameSite=Strict cookie; the cookie stands for the token everywhere in the API; what changes state
 * needs our Origin and the session's CSRF token; viewers change nothing; sessions expire, end at
 * sign-out and with their token; the one-time link works once.
 */
describe('console sessions', () => {
  let database: TestDatabase;
  let coordinator: BuiltCoordinator;
  let home: string;
  let operator: string;
  let viewer: string;
  let agent: string;

  async function call(
    method: string,
    url: string,
    opts: { cookie?: string; origin?: string | null; csrf?: string; body?: unknown; bearer?: string } = {},
  ): Promise<Answer> {
    const headers: Record<string, string> = {};
    if (opts.cookie) headers['cookie'] = opts.cookie;
    if (opts.bearer) headers['authorization'] = `Bearer ${opts.bearer}`;
    const origin = opts.origin === undefined ? ORIGIN : opts.origin;
    if (origin !== null) headers['origin'] = origin;
    if (opts.csrf) headers['x-csrf-token'] = opts.csrf;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const res = await coordinator.app.inject({
      method: method as 'GET',
      url,
      headers,
      ...(opts.body === undefined ? {} : { payload: JSON.stringify(opts.body) }),
    });
    let json: unknown;
    try {
      json = JSON.parse(res.body);
    } catch {
      json = undefined;
    }
    return { status: res.statusCode, json, headers: res.headers, text: res.body };
  }

  /** Signs in; the cookie to send back and the CSRF token. */
  async function signIn(body: unknown): Promise<{ cookie: string; csrf: string; setCookie: string }> {
    const answer = await call('POST', '/console/api/session', { body });
    assert.equal(answer.status, 200, answer.text);
    const setCookie = String(answer.headers['set-cookie']);
    const cookie = setCookie.split(';')[0]!;
    return { cookie, csrf: answer.json.csrfToken, setCookie };
  }

  async function pendingIntent(label: string): Promise<string> {
    const created = await call('POST', '/v1/intents', {
      bearer: operator,
      body: { channel: 'noop', payload: { n: 1 }, idempotencyKey: `${label}-${process.pid}`, requiresApproval: true },
    });
    assert.equal(created.status, 201, created.text);
    return created.json.id;
  }

  before(async () => {
    database = await createTestDatabase();
    home = await mkdtemp(join(tmpdir(), 'handoff-console-'));
    coordinator = await buildCoordinator({ home, databaseUrl: database.url, log: silent });
    operator = (await readFile(join(home, 'operator.token'), 'utf8')).trim();
    const mint = async (role: string): Promise<string> => {
      const answer = await call('POST', '/v1/tokens', { bearer: operator, body: { role } });
      assert.equal(answer.status, 201, answer.text);
      return answer.json.token;
    };
    viewer = await mint('viewer');
    agent = await mint('agent');
  });

  after(async () => {
    await coordinator?.close();
    await database?.drop();
    await rm(home, { recursive: true, force: true });
  });

  test('the page and its assets are served without a token, with a CSP that allows only its own script', async () => {
    const page = await call('GET', '/console/');
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.match(String(page.headers['content-security-policy']), /script-src 'self'/);
    assert.match(page.text, /\/console\/assets\/console\.js/);
    assert.equal((await call('GET', '/console/assets/console.js')).status, 200);
    assert.equal((await call('GET', '/console/assets/..%2Fsessions.ts')).status, 404);
    assert.equal((await call('GET', '/console')).status, 302);
  });

  test('a token is exchanged for an HttpOnly, SameSite=Strict session cookie that expires; the cookie holds no token', async () => {
    const { cookie, setCookie } = await signIn({ token: operator });
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /SameSite=Strict/);
    assert.match(setCookie, /Expires=/);
    assert.match(setCookie, /Path=\//);
    assert.doesNotMatch(setCookie, /Secure/, 'plain HTTP on loopback: a Secure cookie would not be kept');
    assert.ok(!setCookie.includes(operator));
    const me = await call('GET', '/console/api/session', { cookie });
    assert.equal(me.status, 200, me.text);
    assert.equal(me.json.role, 'operator');
    assert.ok(Date.parse(me.json.expiresAt) > Date.now() + 60 * 60 * 1000);
    // the cookie works on the API like the token
    assert.equal((await call('GET', '/v1/live', { cookie })).status, 200);
  });

  test('a bad token, an agent token and a sign-in from another origin are refused', async () => {
    assert.equal((await call('POST', '/console/api/session', { body: { token: 'hnd_nope' } })).status, 401);
    const asAgent = await call('POST', '/console/api/session', { body: { token: agent } });
    assert.equal(asAgent.status, 403, asAgent.text);
    const elsewhere = await call('POST', '/console/api/session', {
      body: { token: operator },
      origin: 'http://evil.example',
    });
    assert.equal(elsewhere.status, 403, elsewhere.text);
    assert.equal(elsewhere.headers['set-cookie'], undefined);
  });

  test('a state-changing request with the cookie needs our Origin and the session CSRF token', async () => {
    const id = await pendingIntent('csrf');
    const { cookie, csrf } = await signIn({ token: operator });
    const approve = `/v1/intents/${id}/approve`;
    const refusals = [
      await call('POST', approve, { cookie, csrf, origin: 'http://evil.example', body: {} }),
      await call('POST', approve, { cookie, csrf, origin: null, body: {} }),
      await call('POST', approve, { cookie, body: {} }),
      await call('POST', approve, { cookie, csrf: `${csrf}x`, body: {} }),
    ];
    for (const r of refusals) {
      assert.equal(r.status, 403, r.text);
      assert.equal(r.json.error.code, 'forbidden');
    }
    const still = await call('GET', `/v1/intents/${id}`, { cookie });
    assert.equal(still.json.state, 'pending_approval', 'nothing was approved by the refused requests');
    const ok = await call('POST', approve, { cookie, csrf, body: {} });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.approvedBy, (await call('GET', '/console/api/session', { cookie })).json.actor);
  });

  test('a viewer session sees everything and changes nothing', async () => {
    const id = await pendingIntent('viewer');
    const { cookie, csrf } = await signIn({ token: viewer });
    assert.equal((await call('GET', '/console/api/pending', { cookie })).status, 200);
    assert.equal((await call('GET', `/v1/intents/${id}`, { cookie })).status, 200);
    for (const [method, url, body] of [
      ['POST', `/v1/intents/${id}/approve`, {}],
      ['POST', `/v1/intents/${id}/reject`, { reason: 'no' }],
      ['PUT', '/v1/gates/global', { enabled: false, reason: 'viewer' }],
      ['POST', '/v1/tokens', { role: 'operator' }],
      ['POST', '/console/api/signin-links', undefined],
    ] as const) {
      const answer = await call(method, url, { cookie, csrf, body });
      assert.equal(answer.status, 403, `${method} ${url}: ${answer.text}`);
    }
    assert.equal((await call('GET', `/v1/intents/${id}`, { cookie })).json.state, 'pending_approval');
  });

  test('an expired session, a signed-out one and one whose token was revoked are refused (401)', async () => {
    const expired = await signIn({ token: operator });
    await sql`UPDATE console_sessions SET expires_at = now() - interval '1 second'`.execute(coordinator.app.db);
    assert.equal((await call('GET', '/v1/live', { cookie: expired.cookie })).status, 401);

    const out = await signIn({ token: operator });
    const signOut = await call('DELETE', '/console/api/session', { cookie: out.cookie, csrf: out.csrf });
    assert.equal(signOut.status, 204, signOut.text);
    assert.equal((await call('GET', '/v1/live', { cookie: out.cookie })).status, 401);

    const minted = await call('POST', '/v1/tokens', { bearer: operator, body: { role: 'viewer', name: 'to-revoke' } });
    const session = await signIn({ token: minted.json.token });
    assert.equal((await call('GET', '/v1/live', { cookie: session.cookie })).status, 200);
    await coordinator.app.db
      .updateTable('api_tokens')
      .set({ revoked_at: new Date() })
      .where('id', '=', minted.json.id)
      .execute();
    assert.equal((await call('GET', '/v1/live', { cookie: session.cookie })).status, 401);
  });

  test('the one-time sign-in link works once, and only for a few minutes', async () => {
    const link = await createSignInLink({
      databaseUrl: database.url,
      tokenFile: join(home, 'operator.token'),
      baseUrl: 'http://127.0.0.1:18800',
    });
    const code = /^http:\/\/127\.0\.0\.1:18800\/console\/#code=([A-Za-z0-9_-]+)$/.exec(link.url)?.[1];
    assert.ok(code, link.url);
    assert.ok(Date.parse(link.expiresAt) - Date.now() <= 5 * 60 * 1000);
    const first = await signIn({ code });
    assert.equal((await call('GET', '/console/api/session', { cookie: first.cookie })).json.role, 'operator');
    assert.equal((await call('POST', '/console/api/session', { body: { code } })).status, 401, 'a second use');

    const viaApi = await call('POST', '/console/api/signin-links', { bearer: operator });
    assert.equal(viaApi.status, 201, viaApi.text);
    const late = /#code=(.+)$/.exec(viaApi.json.url)![1]!;
    await sql`UPDATE console_signin_codes SET expires_at = now() - interval '1 second' WHERE used_at IS NULL`.execute(
      coordinator.app.db,
    );
    assert.equal((await call('POST', '/console/api/session', { body: { code: late } })).status, 401, 'expired');
  });

  test('pending approvals come with what they will do, per channel', async () => {
    const make = async (channel: string, payload: unknown): Promise<string> => {
      const r = await call('POST', '/v1/intents', {
        bearer: operator,
        body: { channel, payload, idempotencyKey: `${channel}-preview-${process.pid}`, requiresApproval: true },
      });
      assert.equal(r.status, 201, r.text);
      return r.json.id;
    };
    const x = await make('x', { text: 'hello 世界 https://example.com' });
    const mail = await make('email', { to: 'a@example.com', cc: ['b@example.com'], subject: 'Hi', text: 'Body' });
    const cal = await make('calendar', {
      op: 'create',
      summary: 'Standup',
      start: '2026-12-10T09:00:00',
      end: '2026-12-10T09:15:00',
      timezone: 'Europe/Berlin',
    });
    const hook = await make('webhook', { url: 'https://example.com/hook', method: 'PUT', body: { a: 1 } });
    const { cookie } = await signIn({ token: viewer });
    const list = await call('GET', '/console/api/pending', { cookie });
    assert.equal(list.status, 200, list.text);
    const preview = (id: string) => list.json.approvals.find((a: { id: string }) => a.id === id).preview;
    // "hello " 6 + 2 CJK at 2 each + " " 1 + a URL at 23
    assert.deepEqual(preview(x), {
      kind: 'x',
      text: 'hello 世界 https://example.com',
      weightedLength: 34,
      maxLength: 280,
    });
    assert.deepEqual(preview(mail).to, ['a@example.com']);
    assert.deepEqual(preview(mail).cc, ['b@example.com']);
    assert.equal(preview(mail).subject, 'Hi');
    assert.equal(preview(cal).start, '2026-12-10T08:00:00.000Z', 'wall time in Europe/Berlin, as an instant');
    assert.equal(preview(hook).method, 'PUT');
    assert.equal(preview(hook).url, 'https://example.com/hook');
  });

  test('/live no longer reads a token from the URL', async () => {
    const answer = await call('GET', `/live?token=${encodeURIComponent(operator)}`);
    assert.equal(answer.status, 401);
    assert.equal((await call('GET', '/live', { bearer: viewer })).status, 200);
  });
});
