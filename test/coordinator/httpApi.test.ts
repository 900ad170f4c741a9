import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { buildCoordinator, ensureOperatorToken } from '@handoff/coordinator';
import type { BuiltCoordinator } from '@handoff/coordinator';
import { createTestDatabase } from '../support/database.ts';
import type { TestDatabase } from '../support/database.ts';

const silent = pino({ level: 'silent' });

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed JSON body, or undefined when the body is not JSON. */
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

interface CallOptions {
  token?: string | null;
  body?: unknown;
  /** Sent as is, with `contentType` (default application/json). */
  raw?: string;
  contentType?: string;
}

/**
 * The coordinator's HTTP contract (status codes, error codes, the shapes of answers) on the real
 * app, wired as `handoff start` wires it, driven with `app.inject`: no socket in between.
 */
describe('coordinator HTTP API', () => {
  let database: TestDatabase;
  let coordinator: BuiltCoordinator;
  let home: string;
  let operator: string;
  let agent: string;
  let viewer: string;

  async function call(method: string, path: string, opts: CallOptions = {}): Promise<Answer> {
    const headers: Record<string, string> = {};
    const token = opts.token === undefined ? operator : opts.token;
    if (token !== null) headers['authorization'] = `Bearer ${token}`;
    let body: string | undefined;
    if (opts.raw !== undefined) {
      body = opts.raw;
      headers['content-type'] = opts.contentType ?? 'application/json';
    } else if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] = 'application/json';
    }
    const res = await coordinator.app.inject({
      method: method as 'GET',
      url: path,
      headers,
      ...(body === undefined ? {} : { payload: body }),
    });
    const text = res.body;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const answerHeaders = new Headers();
    for (const [name, value] of Object.entries(res.headers))
      if (value !== undefined) answerHeaders.set(name, String(value));
    return { status: res.statusCode, headers: answerHeaders, text, json };
  }

  let keySeq = 0;
  const key = (label: string): string => `${label}-${process.pid}-${++keySeq}`;
  const noop = (label: string, extra: Record<string, unknown> = {}) => ({
    channel: 'noop',
    payload: { n: 1 },
    idempotencyKey: key(label),
    ...extra,
  });

  function assertError(answer: Answer, status: number, code: string): void {
    assert.equal(answer.status, status, answer.text);
    assert.equal(answer.json?.error?.code, code, answer.text);
    assert.equal(typeof answer.json.error.message, 'string');
  }

  before(async () => {
    database = await createTestDatabase();
    home = await mkdtemp(join(tmpdir(), 'handoff-coordinator-'));
    coordinator = await buildCoordinator({ home, databaseUrl: database.url, log: silent });
    operator = (await readFile(join(home, 'operator.token'), 'utf8')).trim();
    const a = await call('POST', '/v1/tokens', { body: { role: 'agent', name: 'test-agent' } });
    const v = await call('POST', '/v1/tokens', { body: { role: 'viewer' } });
    assert.equal(a.status, 201, a.text);
    assert.equal(v.status, 201, v.text);
    agent = a.json.token;
    viewer = v.json.token;
  });

  after(async () => {
    await coordinator?.close();
    await database?.drop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  describe('tokens and roles', () => {
    test('/healthz answers without a token', async () => {
      const answer = await call('GET', '/healthz', { token: null });
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.json, { ok: true, db: 'up' });
    });

    test('every other endpoint refuses a request without a token or with a bad one (401)', async () => {
      for (const [method, path] of [
        ['GET', '/v1/intents'],
        ['POST', '/v1/intents'],
        ['GET', '/v1/gates'],
        ['GET', '/v1/live'],
        ['GET', '/live'],
      ] as const) {
        assertError(await call(method, path, { token: null }), 401, 'unauthorized');
        assertError(await call(method, path, { token: 'not-a-token' }), 401, 'unauthorized');
        // well-formed, but never issued
        assertError(await call(method, path, { token: `hnd_${'A'.repeat(43)}` }), 401, 'unauthorized');
      }
    });

    test('a token is matched by its hash: the database never holds the token itself', async () => {
      const rows = await database.db.selectFrom('api_tokens').select(['token_hash']).execute();
      assert.ok(rows.length >= 3);
      for (const row of rows) {
        assert.match(row.token_hash, /^[0-9a-f]{64}$/);
        assert.notEqual(row.token_hash, operator);
      }
    });

    test('a viewer may read but not decide, create or mint tokens (403)', async () => {
      assert.equal((await call('GET', '/v1/intents', { token: viewer })).status, 200);
      const created = await call('POST', '/v1/intents', {
        token: agent,
        body: noop('viewer-target', { requiresApproval: true }),
      });
      assert.equal(created.status, 201, created.text);
      assertError(await call('POST', `/v1/intents/${created.json.id}/approve`, { token: viewer }), 403, 'forbidden');
      assertError(await call('POST', '/v1/intents', { token: viewer, body: noop('viewer-create') }), 403, 'forbidden');
      assertError(await call('POST', '/v1/tokens', { token: viewer, body: { role: 'operator' } }), 403, 'forbidden');
      assertError(await call('PUT', '/v1/gates/global', { token: viewer, body: { enabled: false } }), 403, 'forbidden');
    });

    test('an agent may create intents but not approve them', async () => {
      const created = await call('POST', '/v1/intents', {
        token: agent,
        body: noop('agent', { requiresApproval: true }),
      });
      assert.equal(created.status, 201, created.text);
      // the token's role and id, not its name (test/coordinator/tokenIdentity.test.ts)
      assert.match(created.json.createdBy, /^agent:[0-9a-f-]{36}$/);
      assertError(await call('POST', `/v1/intents/${created.json.id}/approve`, { token: agent }), 403, 'forbidden');
    });

    test('an operator mints tokens that work at once, and the minting is audited', async () => {
      const minted = await call('POST', '/v1/tokens', { body: { role: 'viewer', name: 'grafana' } });
      assert.equal(minted.status, 201, minted.text);
      assert.match(minted.json.token, /^hnd_[A-Za-z0-9_-]{43}$/);
      assert.equal(minted.json.role, 'viewer');
      assert.equal((await call('GET', '/v1/gates', { token: minted.json.token })).status, 200);
      const audit = await database.db
        .selectFrom('audit_log')
        .selectAll()
        .where('target', '=', minted.json.id)
        .execute();
      assert.equal(audit.length, 1);
      assert.equal(audit[0]?.action, 'token.create');
      assert.ok(
        !JSON.stringify(audit[0]?.details).includes(minted.json.token),
        'the audit row must not hold the token',
      );
    });

    test('operator.token is written with mode 0600 and kept across restarts while it is valid', async () => {
      const path = join(home, 'operator.token');
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      const again = await ensureOperatorToken(database.db, home);
      assert.equal(again.created, false);
      assert.equal(again.token, operator);
    });

    test('an operator.token that no longer matches a live token is replaced', async () => {
      const otherHome = await mkdtemp(join(tmpdir(), 'handoff-token-'));
      try {
        await writeFile(join(otherHome, 'operator.token'), `hnd_${'B'.repeat(43)}\n`, { mode: 0o644 });
        const fresh = await ensureOperatorToken(database.db, otherHome);
        assert.equal(fresh.created, true);
        assert.equal((await readFile(join(otherHome, 'operator.token'), 'utf8')).trim(), fresh.token);
        assert.equal((await stat(join(otherHome, 'operator.token'))).mode & 0o777, 0o600);
        assert.equal((await call('GET', '/v1/gates', { token: fresh.token })).status, 200);
      } finally {
        await rm(otherHome, { recursive: true, force: true });
      }
    });
  });

  describe('creating intents', () => {
    test('creating twice with the same key and payload answers 201, then 200 with the same intent', async () => {
      const body = noop('idem');
      const first = await call('POST', '/v1/intents', { token: agent, body });
      const second = await call('POST', '/v1/intents', { token: agent, body });
      assert.equal(first.status, 201, first.text);
      assert.equal(second.status, 200, second.text);
      assert.equal(second.json.id, first.json.id);
      assert.equal(first.headers.get('location'), `/v1/intents/${first.json.id}`);
    });

    test('the same key with a different payload is a 409 idempotency_conflict', async () => {
      const body = noop('conflict');
      assert.equal((await call('POST', '/v1/intents', { body })).status, 201);
      const clash = await call('POST', '/v1/intents', { body: { ...body, payload: { n: 2 } } });
      assertError(clash, 409, 'idempotency_conflict');
    });

    test('a noop intent needs no approval: it is created approved', async () => {
      const created = await call('POST', '/v1/intents', { body: noop('auto') });
      assert.equal(created.status, 201, created.text);
      assert.equal(created.json.state, 'approved');
      assert.equal(created.json.account, 'default');
      assert.match(created.json.payloadHash, /\S/);
    });

    test('a webhook intent waits for a person (draft-only by default)', async () => {
      const created = await call('POST', '/v1/intents', {
        body: {
          channel: 'webhook',
          payload: { url: 'http://127.0.0.1:9/hook', body: { a: 1 } },
          idempotencyKey: key('hook'),
        },
      });
      assert.equal(created.status, 201, created.text);
      assert.equal(created.json.state, 'pending_approval');
    });

    test('requiresApproval: true raises the policy for a noop intent', async () => {
      const created = await call('POST', '/v1/intents', { body: noop('raised', { requiresApproval: true }) });
      assert.equal(created.status, 201, created.text);
      assert.equal(created.json.state, 'pending_approval');
      assert.equal(created.json.requiresApproval, true);
    });
  });

  describe('decisions', () => {
    test('approve without a body moves a pending intent to approved, and records who', async () => {
      const created = await call('POST', '/v1/intents', { body: noop('approve', { requiresApproval: true }) });
      const approved = await call('POST', `/v1/intents/${created.json.id}/approve`);
      assert.equal(approved.status, 200, approved.text);
      assert.equal(approved.json.state, 'approved');
      assert.match(approved.json.approvedBy, /^operator:[0-9a-f-]{36}$/);
      const detail = await call('GET', `/v1/intents/${created.json.id}`, { token: viewer });
      assert.equal(detail.status, 200, detail.text);
      assert.deepEqual(detail.json.attempts, []);
      assert.deepEqual(detail.json.receipts, []);
      assert.equal(detail.json.approvals[0]?.decision, 'approve');
    });

    test('approve also accepts an empty JSON body and a reason', async () => {
      const one = await call('POST', '/v1/intents', { body: noop('approve-empty', { requiresApproval: true }) });
      const empty = await call('POST', `/v1/intents/${one.json.id}/approve`, { raw: '' });
      assert.equal(empty.status, 200, empty.text);
      const two = await call('POST', '/v1/intents', { body: noop('approve-reason', { requiresApproval: true }) });
      const withReason = await call('POST', `/v1/intents/${two.json.id}/approve`, { body: { reason: 'looks right' } });
      assert.equal(withReason.status, 200, withReason.text);
    });

    test('approving an intent that is not pending is a 409 invalid_state', async () => {
      const created = await call('POST', '/v1/intents', { body: noop('approve-twice') });
      assert.equal(created.json.state, 'approved');
      assertError(await call('POST', `/v1/intents/${created.json.id}/approve`), 409, 'invalid_state');
    });

    test('reject needs a reason: without one it is a 400 naming `reason`', async () => {
      const created = await call('POST', '/v1/intents', { body: noop('reject', { requiresApproval: true }) });
      const missing = await call('POST', `/v1/intents/${created.json.id}/reject`, { body: {} });
      assertError(missing, 400, 'validation_failed');
      assert.match(missing.json.error.message, /reason/);
      assert.ok(
        missing.json.error.details.some((d: { path: string }) => d.path === 'body.reason'),
        missing.text,
      );
      const noBody = await call('POST', `/v1/intents/${created.json.id}/reject`);
      assert.equal(noBody.status, 400, noBody.text);
      const rejected = await call('POST', `/v1/intents/${created.json.id}/reject`, {
        body: { reason: 'wrong audience' },
      });
      assert.equal(rejected.status, 200, rejected.text);
      assert.equal(rejected.json.state, 'rejected');
    });

    test('an in-doubt intent can be resolved by an operator, another retried', async () => {
      const a = await call('POST', '/v1/intents', { body: noop('resolve') });
      const b = await call('POST', '/v1/intents', { body: noop('retry') });
      await database.db
        .updateTable('intents')
        .set({ state: 'in_doubt' })
        .where('id', 'in', [a.json.id, b.json.id])
        .execute();
      assertError(await call('POST', `/v1/intents/${a.json.id}/resolve`, { body: {} }), 400, 'validation_failed');
      const resolved = await call('POST', `/v1/intents/${a.json.id}/resolve`, {
        body: { externalId: 'ext-1', url: 'https://example.test/1' },
      });
      assert.equal(resolved.status, 200, resolved.text);
      assert.equal(resolved.json.state, 'succeeded');
      const retried = await call('POST', `/v1/intents/${b.json.id}/retry`);
      assert.equal(retried.status, 200, retried.text);
      assert.equal(retried.json.state, 'approved');
    });
  });

  describe('invalid input is a 4xx that names the field, never a 500', () => {
    test('a body that is not JSON is a 400 bad_request', async () => {
      assertError(await call('POST', '/v1/intents', { raw: '{"channel": "noop",' }), 400, 'bad_request');
      assertError(await call('POST', '/v1/intents', { raw: '' }), 400, 'bad_request');
    });

    test('a body that is not JSON at all (text/plain) is refused with a JSON error', async () => {
      const answer = await call('POST', '/v1/intents', { raw: 'hello', contentType: 'text/plain' });
      assertError(answer, 415, 'bad_request');
    });

    test('a body over 1 MiB is a 413 payload_too_large', async () => {
      const big = { channel: 'noop', idempotencyKey: key('big'), payload: { blob: 'x'.repeat(1024 * 1024) } };
      const answer = await call('POST', '/v1/intents', { body: big });
      assertError(answer, 413, 'payload_too_large');
      assert.equal(answer.json.error.message, 'request body is larger than 1 MiB, the limit of POST /v1/intents');
    });

    test('a router body over its own limit (8 MiB) is a 413 that names that limit', async () => {
      const prompt = { model: 'any', messages: [{ role: 'user', content: 'x'.repeat(8 * 1024 * 1024) }] };
      const answer = await call('POST', '/v1/chat/completions', { body: prompt });
      assertError(answer, 413, 'payload_too_large');
      assert.equal(
        answer.json.error.message,
        'request body is larger than 8 MiB, the limit of POST /v1/chat/completions',
      );
    });

    test('a wrong type names the field', async () => {
      const answer = await call('POST', '/v1/intents', { body: { ...noop('types'), channel: 5 } });
      assertError(answer, 400, 'validation_failed');
      assert.match(answer.json.error.message, /body\.channel: /);
      assert.deepEqual(
        answer.json.error.details.map((d: { path: string }) => d.path),
        ['body.channel'],
      );
    });

    test('every bad field is named at once, unknown keys included', async () => {
      const answer = await call('POST', '/v1/intents', {
        body: { channel: 'Noop!', payload: [], idempotencyKey: '', surprise: true },
      });
      assertError(answer, 400, 'validation_failed');
      const paths = answer.json.error.details.map((d: { path: string }) => d.path).sort();
      assert.deepEqual(paths, ['body.channel', 'body.idempotencyKey', 'body.payload', 'body.surprise']);
    });

    test('an idempotencyKey over 255 characters is named', async () => {
      const answer = await call('POST', '/v1/intents', { body: noop('long', { idempotencyKey: 'k'.repeat(256) }) });
      assertError(answer, 400, 'validation_failed');
      assert.match(answer.json.error.message, /idempotencyKey/);
    });

    test("a webhook payload is checked by the connector's schema: payload.url is named", async () => {
      const answer = await call('POST', '/v1/intents', {
        body: { channel: 'webhook', payload: { url: 'not a url', body: null }, idempotencyKey: key('bad-url') },
      });
      assertError(answer, 400, 'validation_failed');
      assert.match(answer.json.error.message, /payload\.url/);
    });

    test('an unknown channel is a 400 unknown_channel', async () => {
      const answer = await call('POST', '/v1/intents', { body: { ...noop('unknown'), channel: 'carrier-pigeon' } });
      assertError(answer, 400, 'unknown_channel');
    });

    test('an unknown id is a 404, a malformed one a 400 naming params.id', async () => {
      assertError(await call('GET', '/v1/intents/00000000-0000-4000-8000-000000000000'), 404, 'not_found');
      assertError(await call('POST', '/v1/intents/00000000-0000-4000-8000-000000000000/approve'), 404, 'not_found');
      const malformed = await call('GET', '/v1/intents/not-a-uuid');
      assertError(malformed, 400, 'validation_failed');
      assert.match(malformed.json.error.message, /params\.id/);
    });

    test('a bad query string is named too', async () => {
      const answer = await call('GET', '/v1/intents?state=sleeping&limit=0');
      assertError(answer, 400, 'validation_failed');
      const paths = answer.json.error.details.map((d: { path: string }) => d.path).sort();
      assert.deepEqual(paths, ['querystring.limit', 'querystring.state']);
    });

    test('an unknown route is a JSON 404', async () => {
      assertError(await call('GET', '/v1/nothing-here'), 404, 'not_found');
    });
  });

  describe('listing, gates, live and metrics', () => {
    test('the list filters by state and channel', async () => {
      const pending = await call('POST', '/v1/intents', { body: noop('list', { requiresApproval: true }) });
      const answer = await call('GET', '/v1/intents?state=pending_approval&channel=noop&limit=1000', { token: viewer });
      assert.equal(answer.status, 200, answer.text);
      assert.ok(Array.isArray(answer.json.intents));
      assert.ok(answer.json.intents.some((i: { id: string }) => i.id === pending.json.id));
      assert.ok(
        answer.json.intents.every(
          (i: { state: string; channel: string }) => i.state === 'pending_approval' && i.channel === 'noop',
        ),
      );
    });

    test('the list shows an excerpt of each payload, not the payload, and pages by cursor newest first, each intent once', async () => {
      const channel = 'noop';
      const account = `paging-${process.pid}`;
      const created: string[] = [];
      for (let i = 0; i < 7; i++) {
        const body = { channel, account, idempotencyKey: key('page'), payload: { i, blob: 'y'.repeat(100_000) } };
        const answer = await call('POST', '/v1/intents', { body });
        assert.equal(answer.status, 201, answer.text);
        created.push(answer.json.id);
      }
      const seen: { id: string; createdAt: string }[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const answer = await call(
          'GET',
          `/v1/intents?account=${account}&limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
          { token: viewer },
        );
        assert.equal(answer.status, 200, answer.text);
        assert.ok(
          answer.text.length < 10_000,
          `a page of three is small (${answer.text.length} bytes), though each payload is 100 KB`,
        );
        for (const i of answer.json.intents) {
          assert.equal('payload' in i, false);
          assert.equal(i.payloadExcerpt.length, 200);
          assert.ok(i.payloadExcerpt.startsWith('{"i": '), i.payloadExcerpt);
          assert.ok(i.payloadBytes > 100_000);
          seen.push(i);
        }
        cursor = answer.json.nextCursor;
        pages++;
      } while (cursor !== null);
      assert.equal(pages, 3);
      assert.deepEqual(
        seen.map((i) => i.id),
        [...created].reverse(),
        'newest first, every intent exactly once',
      );
      const full = await call('GET', `/v1/intents/${created[0]}`, { token: viewer });
      assert.equal(full.json.payload.blob.length, 100_000, 'GET /v1/intents/:id still has the whole payload');
    });

    test('a list answer stops at its byte cap and says where to go on', async () => {
      const account = `bytecap-${process.pid}`;
      // ~1.3 KB a row (a 255-character key, an excerpt of 200): 300 rows are more than the 256 KiB cap
      await Promise.all(
        Array.from({ length: 300 }, (_, i) =>
          call('POST', '/v1/intents', {
            body: {
              channel: 'noop',
              account,
              idempotencyKey: `${'k'.repeat(240)}-${process.pid}-${i}`,
              payload: { text: 'z'.repeat(400) },
            },
          }),
        ),
      );
      const first = await call('GET', `/v1/intents?account=${account}&limit=1000`, { token: viewer });
      assert.equal(first.status, 200, first.text);
      assert.ok(Buffer.byteLength(first.text) <= 256 * 1024, `the answer is ${Buffer.byteLength(first.text)} bytes`);
      assert.ok(
        first.json.intents.length < 300 && first.json.intents.length > 100,
        `${first.json.intents.length} rows on the first page`,
      );
      assert.equal(typeof first.json.nextCursor, 'string');
      const rest = await call('GET', `/v1/intents?account=${account}&limit=1000&cursor=${first.json.nextCursor}`, {
        token: viewer,
      });
      assert.equal(rest.json.nextCursor, null);
      assert.equal(new Set([...first.json.intents, ...rest.json.intents].map((i: { id: string }) => i.id)).size, 300);
    });

    test('a cursor the API did not give out is a 400 naming querystring.cursor', async () => {
      for (const bad of ['nope', Buffer.from('{"createdAt":"2026","id":"x"}').toString('base64url'), 'x'.repeat(300)]) {
        const answer = await call('GET', `/v1/intents?cursor=${bad}`);
        assertError(answer, 400, 'validation_failed');
        assert.match(answer.json.error.message, /querystring\.cursor/);
      }
    });

    test('closing the global gate shows up in GET /v1/gates; reopening it too', async () => {
      const closed = await call('PUT', '/v1/gates/global', { body: { enabled: false, reason: 'incident 42' } });
      assert.equal(closed.status, 200, closed.text);
      assert.equal(closed.json.enabled, false);
      const gates = await call('GET', '/v1/gates', { token: viewer });
      const global = gates.json.gates.find((g: { scope: string }) => g.scope === 'global');
      assert.equal(global?.enabled, false);
      assert.equal(global?.reason, 'incident 42');
      assert.match(global?.updatedBy ?? '', /^operator:[0-9a-f-]{36}$/);
      const reopened = await call('PUT', '/v1/gates/global', { body: { enabled: true } });
      assert.equal(reopened.status, 200, reopened.text);
      assert.equal(reopened.json.enabled, true);
    });

    test('a gate scope that is not global, a channel or channel:account is a 400', async () => {
      const answer = await call('PUT', '/v1/gates/Not%20A%20Scope', { body: { enabled: false } });
      assertError(answer, 400, 'validation_failed');
      assert.match(answer.json.error.message, /params\.scope/);
      assert.equal((await call('PUT', '/v1/gates/x:@antifund', { body: { enabled: true } })).status, 200);
    });

    test('GET /v1/live answers JSON for a viewer', async () => {
      const answer = await call('GET', '/v1/live', { token: viewer });
      assert.equal(answer.status, 200, answer.text);
      assert.ok(Array.isArray(answer.json.gates));
      assert.equal(typeof answer.json.generatedAt, 'string');
    });

    test('/live renders HTML that escapes what intents carry, and never reads a token from the URL', async () => {
      const evil = `<script>alert("x")</script>-${key('live')}`;
      const created = await call('POST', '/v1/intents', {
        body: { channel: 'noop', payload: {}, idempotencyKey: evil },
      });
      assert.equal(created.status, 201, created.text);
      // make it show on the page: in-doubt intents are listed there
      await database.db
        .updateTable('intents')
        .set({ state: 'in_doubt', last_error: '<img src=x onerror=alert(1)>' })
        .where('id', '=', created.json.id)
        .execute();
      // a token in the URL ends up in histories and logs: the console's session cookie replaced it
      assertError(await call('GET', `/live?token=${encodeURIComponent(viewer)}`, { token: null }), 401, 'unauthorized');
      const page = await call('GET', '/live', { token: viewer });
      assert.equal(page.status, 200, page.text);
      assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
      assert.match(page.text, /<meta http-equiv="refresh" content="2">/);
      assert.ok(page.text.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;'), 'the key is shown, escaped');
      assert.ok(!page.text.includes('<script'), 'no script tag reaches the page');
      assert.ok(!page.text.includes('<img'), 'no markup from data reaches the page');
      assert.ok(!page.text.includes(viewer), 'the page does not repeat the token');
      assertError(
        await call('GET', `/v1/live?token=${encodeURIComponent(viewer)}`, { token: null }),
        401,
        'unauthorized',
      );
    });

    test('/metrics serves Prometheus text without a token on a loopback bind', async () => {
      const answer = await call('GET', '/metrics', { token: null });
      assert.equal(answer.status, 200, answer.text);
      assert.match(answer.headers.get('content-type') ?? '', /^text\/plain/);
      assert.match(answer.text, /^# TYPE handoff_http_requests_total counter$/m);
      assert.match(
        answer.text,
        /^handoff_http_requests_total\{route="\/v1\/intents",method="POST",status="201"\} \d+$/m,
      );
      assert.match(answer.text, /^handoff_http_request_duration_seconds_bucket\{/m);
      assert.match(answer.text, /^handoff_intents\{state="approved",channel="noop"\} [1-9]\d*$/m);
      assert.match(answer.text, /^handoff_executors_alive \d+$/m);
      assert.match(answer.text, /^handoff_gates_closed \d+$/m);
      assert.match(answer.text, /^process_cpu_user_seconds_total /m);
      // event-loop delay: what a frozen coordinator would show first
      assert.match(answer.text, /^nodejs_eventloop_lag_p99_seconds \d/m);
      assert.match(answer.text, /^nodejs_eventloop_lag_max_seconds \d/m);
    });
  });
});
