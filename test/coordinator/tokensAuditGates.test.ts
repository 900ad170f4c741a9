/**
 * Issue 12, "Tokens and audit" and the API side of "CLI sharp edges", on the real app (app.inject):
 * tokens that expire and can be revoked (refused at once), last use recorded cheaply, the audit
 * log read back, gates that speak open/closed and refuse a scope nobody knows, an intent found by
 * its idempotency key, and what holds an approved intent back.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { buildCoordinator } from '@handoff/coordinator';
import type { BuiltCoordinator } from '@handoff/coordinator';
import { createTestDatabase } from '../support/database.ts';
import type { TestDatabase } from '../support/database.ts';

interface Answer {
  status: number;
  text: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

describe('tokens, audit, gates and holds over HTTP', () => {
  let database: TestDatabase;
  let coordinator: BuiltCoordinator;
  let home: string;
  let operator: string;
  let agent: string;
  let viewer: string;
  let seq = 0;
  const key = (label: string): string => `${label}-${process.pid}-${++seq}`;

  async function call(
    method: string,
    url: string,
    opts: { token?: string | null; body?: unknown } = {},
  ): Promise<Answer> {
    const headers: Record<string, string> = {};
    const token = opts.token === undefined ? operator : opts.token;
    if (token !== null) headers['authorization'] = `Bearer ${token}`;
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
    return { status: res.statusCode, text: res.body, json };
  }

  function assertError(answer: Answer, status: number, code: string): void {
    assert.equal(answer.status, status, answer.text);
    assert.equal(answer.json?.error?.code, code, answer.text);
  }

  async function mint(role: string, extra: Record<string, unknown> = {}): Promise<{ id: string; token: string }> {
    const created = await call('POST', '/v1/tokens', { body: { role, name: key(role), ...extra } });
    assert.equal(created.status, 201, created.text);
    return { id: created.json.id, token: created.json.token };
  }

  async function pendingIntent(channel = 'noop', account = 'default'): Promise<{ id: string; idempotencyKey: string }> {
    const body = { channel, account, payload: { n: 1 }, idempotencyKey: key('held'), requiresApproval: true };
    const created = await call('POST', '/v1/intents', { body });
    assert.equal(created.status, 201, created.text);
    return created.json;
  }

  before(async () => {
    database = await createTestDatabase();
    home = await mkdtemp(join(tmpdir(), 'handoff-tokens-audit-'));
    coordinator = await buildCoordinator({ home, databaseUrl: database.url, log: pino({ level: 'silent' }) });
    operator = (await readFile(join(home, 'operator.token'), 'utf8')).trim();
    agent = (await mint('agent')).token;
    viewer = (await mint('viewer')).token;
  });

  after(async () => {
    await coordinator?.close();
    await database?.drop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  describe('tokens', () => {
    test('a revoked token is refused (401) on the very next request, and saying why', async () => {
      const { id, token } = await mint('viewer');
      assert.equal((await call('GET', '/v1/gates', { token })).status, 200);
      const revoked = await call('POST', `/v1/tokens/${id}/revoke`);
      assert.equal(revoked.status, 200, revoked.text);
      assert.equal(revoked.json.state, 'revoked');
      assert.ok(revoked.json.revokedAt);
      const refused = await call('GET', '/v1/gates', { token });
      assertError(refused, 401, 'unauthorized');
      assert.match(refused.json.error.message, /revoked/);
    });

    test('a revoked operator token loses every power at once, even over its own kind', async () => {
      const other = await mint('operator');
      assert.equal((await call('POST', `/v1/tokens/${other.id}/revoke`)).status, 200);
      assertError(
        await call('POST', '/v1/tokens', { token: other.token, body: { role: 'operator' } }),
        401,
        'unauthorized',
      );
      assertError(await call('POST', `/v1/tokens/${other.id}/revoke`, { token: other.token }), 401, 'unauthorized');
    });

    test('an expired token is refused (401): the database clock decides', async () => {
      const { id, token } = await mint('agent', { expiresIn: '30d' });
      assert.equal((await call('GET', '/v1/intents', { token })).status, 200);
      await database.db
        .updateTable('api_tokens')
        .set({ expires_at: new Date(Date.now() - 1000) })
        .where('id', '=', id)
        .execute();
      const refused = await call('GET', '/v1/intents', { token });
      assertError(refused, 401, 'unauthorized');
      assert.match(refused.json.error.message, /expired/);
      const listed = (await call('GET', '/v1/tokens')).json.tokens.find((t: { id: string }) => t.id === id);
      assert.equal(listed.state, 'expired');
    });

    test('a token made to expire in 1s works, then is refused once the second is past', async () => {
      const created = await call('POST', '/v1/tokens', { body: { role: 'viewer', expiresIn: '1s' } });
      assert.equal(created.status, 201, created.text);
      const at = Date.parse(created.json.expiresAt);
      assert.ok(at > Date.now() - 5000 && at < Date.now() + 5000, created.json.expiresAt);
      assert.equal((await call('GET', '/v1/gates', { token: created.json.token })).status, 200);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assertError(await call('GET', '/v1/gates', { token: created.json.token }), 401, 'unauthorized');
    });

    test('expiresIn is a duration such as 30d; anything else is refused (400) naming the field', async () => {
      for (const bad of ['30', 'soon', '0s', '-1d', '11000d', 30]) {
        const answer = await call('POST', '/v1/tokens', { body: { role: 'viewer', expiresIn: bad } });
        assertError(answer, 400, 'validation_failed');
        assert.match(answer.json.error.message, /expiresIn/);
      }
      const ok = await call('POST', '/v1/tokens', { body: { role: 'viewer', expiresIn: '2w' } });
      assert.equal(ok.status, 201, ok.text);
      const days = (Date.parse(ok.json.expiresAt) - Date.parse(ok.json.createdAt)) / 86_400_000;
      assert.ok(Math.abs(days - 14) < 0.01, String(days));
    });

    test('a viewer or an agent may not create, list or revoke tokens (403)', async () => {
      const target = await mint('viewer');
      for (const token of [viewer, agent]) {
        assertError(await call('POST', '/v1/tokens', { token, body: { role: 'operator' } }), 403, 'forbidden');
        assertError(await call('POST', '/v1/tokens', { token, body: { role: 'agent' } }), 403, 'forbidden');
        assertError(await call('GET', '/v1/tokens', { token }), 403, 'forbidden');
        assertError(await call('POST', `/v1/tokens/${target.id}/revoke`, { token }), 403, 'forbidden');
      }
      // and the target still works
      assert.equal((await call('GET', '/v1/gates', { token: target.token })).status, 200);
    });

    test('no answer ever holds a token hash, and only the create answer holds the secret', async () => {
      const { id, token } = await mint('viewer');
      const hashes = (await database.db.selectFrom('api_tokens').select('token_hash').execute()).map(
        (r) => r.token_hash,
      );
      const answers = [
        await call('GET', '/v1/tokens'),
        await call('POST', `/v1/tokens/${id}/revoke`),
        await call('GET', '/v1/audit?limit=500'),
        await call('GET', '/v1/live'),
      ];
      for (const answer of answers) {
        assert.equal(answer.status, 200, answer.text);
        assert.doesNotMatch(answer.text, /token_?hash/i);
        for (const hash of hashes) assert.ok(!answer.text.includes(hash), 'a token hash leaked');
        assert.ok(!answer.text.includes(token), 'a token secret leaked');
        assert.ok(!answer.text.includes(operator), 'the operator secret leaked');
      }
      for (const t of answers[0]!.json.tokens) assert.equal(t.token, undefined);
    });

    test('revoking twice changes nothing the second time; an unknown id is 404', async () => {
      const { id } = await mint('viewer');
      const first = await call('POST', `/v1/tokens/${id}/revoke`);
      const second = await call('POST', `/v1/tokens/${id}/revoke`);
      assert.equal(second.status, 200, second.text);
      assert.equal(second.json.revokedAt, first.json.revokedAt);
      const rows = await call('GET', `/v1/audit?action=token.revoke&target=${id}`);
      assert.equal(rows.json.entries.length, 1);
      assertError(await call('POST', '/v1/tokens/3b241101-e2bb-4255-8caf-4136c566a962/revoke'), 404, 'not_found');
      assertError(await call('POST', '/v1/tokens/not-a-uuid/revoke'), 400, 'validation_failed');
    });

    test('last use is recorded, at most once a minute per token (no write per request)', async () => {
      const { id, token } = await mint('viewer');
      const lastUsed = async (): Promise<string | null> =>
        (await call('GET', '/v1/tokens')).json.tokens.find((t: { id: string }) => t.id === id).lastUsedAt;
      assert.equal(await lastUsed(), null);
      assert.equal((await call('GET', '/v1/gates', { token })).status, 200);
      let first: string | null = null;
      for (let i = 0; i < 50 && first === null; i++) {
        first = await lastUsed();
        if (first === null) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.ok(first, 'the first use is recorded');
      for (let i = 0; i < 5; i++) assert.equal((await call('GET', '/v1/gates', { token })).status, 200);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(await lastUsed(), first, 'uses within the minute write nothing');
    });
  });

  describe('audit', () => {
    test('approvals, rejections, retries, resolves, gate changes with reasons and tokens are all read back', async () => {
      const a = await pendingIntent();
      const b = await pendingIntent();
      assert.equal(
        (await call('POST', `/v1/intents/${a.id}/approve`, { body: { reason: 'looks right' } })).status,
        200,
      );
      assert.equal((await call('POST', `/v1/intents/${b.id}/reject`, { body: { reason: 'not today' } })).status, 200);
      const c = await pendingIntent();
      await database.db.updateTable('intents').set({ state: 'dead' }).where('id', '=', c.id).execute();
      assert.equal(
        (await call('POST', `/v1/intents/${c.id}/retry`, { body: { reason: 'provider back' } })).status,
        200,
      );
      const d = await pendingIntent();
      await database.db.updateTable('intents').set({ state: 'in_doubt' }).where('id', '=', d.id).execute();
      const resolved = await call('POST', `/v1/intents/${d.id}/resolve`, {
        body: { externalId: 'ext-9', reason: 'found it' },
      });
      assert.equal(resolved.status, 200, resolved.text);
      assert.equal(
        (await call('PUT', '/v1/gates/webhook', { body: { state: 'closed', reason: 'incident 7' } })).status,
        200,
      );
      assert.equal((await call('PUT', '/v1/gates/webhook', { body: { state: 'open', reason: 'fixed' } })).status, 200);
      assert.equal((await call('DELETE', '/v1/gates/webhook?reason=tidy')).status, 200);
      const { id: tokenId } = await mint('viewer');
      assert.equal((await call('POST', `/v1/tokens/${tokenId}/revoke`)).status, 200);

      const answer = await call('GET', '/v1/audit?since=1h&limit=500');
      assert.equal(answer.status, 200, answer.text);
      type Entry = {
        action: string;
        target: string;
        actor: string;
        actorName: string | null;
        details: Record<string, unknown>;
      };
      const entries: Entry[] = answer.json.entries;
      const find = (action: string, target: string) => entries.find((e) => e.action === action && e.target === target);
      assert.equal(find('intent.approve', a.id)?.details.reason, 'looks right');
      assert.equal(find('intent.reject', b.id)?.details.reason, 'not today');
      assert.equal(find('intent.retry', c.id)?.details.reason, 'provider back');
      assert.equal(find('intent.resolve', d.id)?.details.externalId, 'ext-9');
      assert.equal(find('gate.close', 'webhook')?.details.reason, 'incident 7');
      assert.equal(find('gate.open', 'webhook')?.details.reason, 'fixed');
      assert.equal(find('gate.remove', 'webhook')?.details.reason, 'tidy');
      assert.ok(find('token.create', tokenId));
      assert.ok(find('token.revoke', tokenId));
      const approval = find('intent.approve', a.id)!;
      assert.match(approval.actor, /^operator:[0-9a-f-]{36}$/);
      assert.equal(approval.actorName, 'operator', 'the actor token is named for people to read');
      // newest first
      const ids = answer.json.entries.map((e: { id: string }) => Number(e.id));
      assert.deepEqual(
        ids,
        [...ids].sort((x, y) => y - x),
      );
    });

    test('filters: an action family, an actor by name or by <role>:<id>, a target; pages with a cursor', async () => {
      const gates = await call('GET', '/v1/audit?action=gate');
      assert.ok(gates.json.entries.length >= 3);
      for (const e of gates.json.entries) assert.match(e.action, /^gate\./);
      const byName = await call('GET', '/v1/audit?actor=OPERATOR');
      assert.ok(byName.json.entries.length > 0);
      const actor = byName.json.entries[0].actor;
      for (const e of byName.json.entries) assert.equal(e.actor, actor);
      const byActor = await call('GET', `/v1/audit?actor=${encodeURIComponent(actor)}`);
      assert.equal(byActor.json.entries.length, byName.json.entries.length);
      assert.equal((await call('GET', '/v1/audit?actor=nobody-at-all')).json.entries.length, 0);

      const first = await call('GET', '/v1/audit?limit=2');
      assert.equal(first.json.entries.length, 2);
      assert.ok(first.json.nextCursor);
      const second = await call('GET', `/v1/audit?limit=2&cursor=${first.json.nextCursor}`);
      assert.ok(Number(second.json.entries[0].id) < Number(first.json.entries[1].id));
      assertError(await call('GET', '/v1/audit?since=yesterday'), 400, 'validation_failed');
      assertError(await call('GET', '/v1/audit?action=DROP%20TABLE'), 400, 'validation_failed');
    });

    test('a viewer may read the audit; an agent token or no token may not', async () => {
      assert.equal((await call('GET', '/v1/audit', { token: viewer })).status, 200);
      assertError(await call('GET', '/v1/audit', { token: agent }), 403, 'forbidden');
      assertError(await call('GET', '/v1/audit', { token: null }), 401, 'unauthorized');
    });
  });

  describe('gates', () => {
    test('gates speak open/closed: the answer carries state, and state is what a client sends', async () => {
      const closed = await call('PUT', '/v1/gates/x', { body: { state: 'closed', reason: 'quiet' } });
      assert.equal(closed.status, 200, closed.text);
      assert.equal(closed.json.state, 'closed');
      assert.equal(closed.json.enabled, false);
      const listed = (await call('GET', '/v1/gates')).json.gates.find((g: { scope: string }) => g.scope === 'x');
      assert.equal(listed.state, 'closed');
      const live = await call('GET', '/v1/live');
      assert.equal(live.json.gates.find((g: { scope: string }) => g.scope === 'x').state, 'closed');
      const opened = await call('PUT', '/v1/gates/x', { body: { state: 'open' } });
      assert.equal(opened.json.state, 'open');
      // the older spelling still works; both or neither is refused
      assert.equal((await call('PUT', '/v1/gates/x', { body: { enabled: true } })).json.state, 'open');
      assertError(
        await call('PUT', '/v1/gates/x', { body: { state: 'closed', enabled: false } }),
        400,
        'validation_failed',
      );
      assertError(await call('PUT', '/v1/gates/x', { body: {} }), 400, 'validation_failed');
      assertError(await call('PUT', '/v1/gates/x', { body: { state: 'off' } }), 400, 'validation_failed');
    });

    test('closing a gate on an unknown channel or account is refused unless forced', async () => {
      const channel = await call('PUT', '/v1/gates/wehbook', { body: { state: 'closed' } });
      assertError(channel, 422, 'unknown_scope');
      assert.match(channel.json.error.message, /no channel "wehbook"/);
      const account = await call('PUT', '/v1/gates/x:@nobody', { body: { state: 'closed' } });
      assertError(account, 422, 'unknown_scope');
      assert.match(account.json.error.message, /@nobody/);
      assert.equal(
        (await call('GET', '/v1/gates')).json.gates.some((g: { scope: string }) => g.scope === 'wehbook'),
        false,
      );

      const forced = await call('PUT', '/v1/gates/x:@nobody', { body: { state: 'closed', force: true } });
      assert.equal(forced.status, 200, forced.text);
      // an account an intent used is known
      await pendingIntent('noop', 'acct-known');
      assert.equal((await call('PUT', '/v1/gates/noop:acct-known', { body: { state: 'closed' } })).status, 200);
      assert.equal((await call('PUT', '/v1/gates/noop:acct-known', { body: { state: 'open' } })).status, 200);
    });

    test('a gate can be removed: it opens, leaves the list, and removing it again says so', async () => {
      assert.equal((await call('PUT', '/v1/gates/email', { body: { state: 'closed', reason: 'r' } })).status, 200);
      const removed = await call('DELETE', '/v1/gates/email');
      assert.equal(removed.status, 200, removed.text);
      assert.deepEqual(removed.json, { scope: 'email', state: 'open', removed: true });
      assert.equal(
        (await call('GET', '/v1/gates')).json.gates.some((g: { scope: string }) => g.scope === 'email'),
        false,
      );
      assert.deepEqual((await call('DELETE', '/v1/gates/email')).json, {
        scope: 'email',
        state: 'open',
        removed: false,
      });
      assertError(await call('DELETE', '/v1/gates/email', { token: viewer }), 403, 'forbidden');
    });
  });

  describe('intents', () => {
    test('GET /v1/intents?idempotencyKey= finds the one intent a key names; by-key answers the same intent', async () => {
      const made = await pendingIntent();
      const listed = await call('GET', `/v1/intents?idempotencyKey=${encodeURIComponent(made.idempotencyKey)}`, {
        token: viewer,
      });
      assert.equal(listed.status, 200, listed.text);
      assert.deepEqual(
        listed.json.intents.map((i: { id: string }) => i.id),
        [made.id],
      );
      const none = await call('GET', '/v1/intents?idempotencyKey=never-used-key');
      assert.deepEqual(none.json.intents, []);
      const byKey = await call('GET', `/v1/intents/by-key?idempotencyKey=${encodeURIComponent(made.idempotencyKey)}`);
      assert.equal(byKey.json.id, made.id);
    });

    test('approving an intent a closed gate covers says so (heldBy), and showing it does too', async () => {
      const made = await pendingIntent('noop', 'held-acct');
      assert.equal(
        (await call('PUT', '/v1/gates/noop', { body: { state: 'closed', reason: 'maintenance' } })).status,
        200,
      );
      try {
        const pending = await call('GET', `/v1/intents/${made.id}`);
        assert.deepEqual(
          pending.json.heldBy.map((h: { kind: string; scope: string }) => [h.kind, h.scope]),
          [['gate', 'noop']],
        );
        const approved = await call('POST', `/v1/intents/${made.id}/approve`);
        assert.equal(approved.status, 200, approved.text);
        assert.equal(approved.json.state, 'approved');
        assert.equal(approved.json.heldBy.length, 1);
        assert.equal(approved.json.heldBy[0].kind, 'gate');
        assert.equal(approved.json.heldBy[0].reason, 'maintenance');
      } finally {
        await call('PUT', '/v1/gates/noop', { body: { state: 'open' } });
      }
      assert.deepEqual((await call('GET', `/v1/intents/${made.id}`)).json.heldBy, []);
    });

    test('an open breaker a live executor reports for the account holds the intent too', async () => {
      const made = await pendingIntent('noop', 'flaky');
      await database.db
        .insertInto('executors')
        .values({
          id: `exec-${process.pid}`,
          host: 'test',
          pid: process.pid,
          started_at: new Date(),
          heartbeat_at: new Date(),
          status: 'running',
          local_gate_enabled: true,
          in_flight: 0,
          channels: JSON.stringify(['noop:*']),
          breakers: JSON.stringify([
            { key: 'noop:flaky', state: 'open', failures: 5, openedAt: new Date().toISOString() },
            { key: 'noop:other', state: 'open', failures: 5, openedAt: new Date().toISOString() },
          ]),
        })
        .execute();
      const approved = await call('POST', `/v1/intents/${made.id}/approve`);
      assert.equal(approved.status, 200, approved.text);
      assert.deepEqual(
        approved.json.heldBy.map((h: { kind: string; scope: string; executorId: string }) => [
          h.kind,
          h.scope,
          h.executorId,
        ]),
        [['breaker', 'noop:flaky', `exec-${process.pid}`]],
      );
    });
  });
});
