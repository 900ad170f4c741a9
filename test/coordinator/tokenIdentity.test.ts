import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { buildCoordinator, ensureOperatorToken } from '@handoff/coordinator';
import type { BuiltCoordinator } from '@handoff/coordinator';
import { migrate } from '@handoff/db';
import { createTestDatabase } from '../support/database.ts';
import type { TestDatabase } from '../support/database.ts';

/**
 * Identity is the token's id and role as the database has them, never the name its holder chose
 * (issue 9: an agent token named "operator" was recorded as `createdBy: operator`); names are
 * unique, ignoring case.
 */

const silent = pino({ level: 'silent' });
const repo = fileURLToPath(new URL('../..', import.meta.url));
const migrations = join(repo, 'migrations');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('token identity and names', () => {
  let database: TestDatabase;
  /** Driven with app.inject; it listens only for the CLI, a process of its own. */
  let coordinator: BuiltCoordinator;
  let home: string;
  let operator: string;

  async function call(
    method: string,
    path: string,
    opts: { token?: string; body?: unknown } = {},
  ): Promise<{ status: number; json: Json }> {
    const headers: Record<string, string> = { authorization: `Bearer ${opts.token ?? operator}` };
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const res = await coordinator.app.inject({
      method: method as 'GET',
      url: path,
      headers,
      ...(opts.body === undefined ? {} : { payload: JSON.stringify(opts.body) }),
    });
    const text = res.body;
    return { status: res.statusCode, json: text ? JSON.parse(text) : null };
  }

  const operatorId = async (): Promise<string> =>
    (await database.db.selectFrom('api_tokens').select('id').where('name', '=', 'operator').executeTakeFirstOrThrow())
      .id;

  before(async () => {
    database = await createTestDatabase();
    home = await mkdtemp(join(tmpdir(), 'handoff-auth-'));
    coordinator = await buildCoordinator({ home, databaseUrl: database.url, log: silent });
    operator = (await readFile(join(home, 'operator.token'), 'utf8')).trim();
  });

  after(async () => {
    await coordinator?.close();
    await database?.drop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  test('an agent token cannot take the name "operator" in any case: 409 name_taken', async () => {
    for (const name of ['operator', 'OPERATOR', 'Operator']) {
      const answer = await call('POST', '/v1/tokens', { body: { role: 'agent', name } });
      assert.equal(answer.status, 409, JSON.stringify(answer.json));
      assert.equal(answer.json.error.code, 'name_taken');
      assert.match(answer.json.error.message, /^name: /);
    }
    const named = await database.db
      .selectFrom('api_tokens')
      .select(['role'])
      .where((eb) => eb(eb.fn('lower', ['name']), '=', 'operator'))
      .execute();
    assert.deepEqual(named, [{ role: 'operator' }], 'only the bootstrap operator token holds the name');
  });

  test("an agent token named like the operator's actor is recorded by its own id and role everywhere", async () => {
    const opId = await operatorId();
    // the name the hostile holder picks: exactly what the operator's rows say
    const disguise = `operator:${opId}`;
    const minted = await call('POST', '/v1/tokens', { body: { role: 'agent', name: disguise } });
    assert.equal(minted.status, 201, JSON.stringify(minted.json));
    assert.equal(minted.json.name, disguise, 'the name is kept, for display');
    const agentId: string = minted.json.id;
    assert.match(agentId, UUID);

    const created = await call('POST', '/v1/intents', {
      token: minted.json.token,
      body: { channel: 'noop', payload: { n: 1 }, idempotencyKey: `disguise-${randomUUID()}`, requiresApproval: true },
    });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    assert.equal(created.json.createdBy, `agent:${agentId}`);
    // it may not approve its own intent, whatever it is called
    assert.equal(
      (await call('POST', `/v1/intents/${created.json.id}/approve`, { token: minted.json.token, body: {} })).status,
      403,
    );

    const approved = await call('POST', `/v1/intents/${created.json.id}/approve`, { body: { reason: 'looked at it' } });
    assert.equal(approved.status, 200, JSON.stringify(approved.json));

    const row = await database.db
      .selectFrom('intents')
      .select(['created_by', 'approved_by'])
      .where('id', '=', created.json.id)
      .executeTakeFirstOrThrow();
    assert.deepEqual(row, { created_by: `agent:${agentId}`, approved_by: `operator:${opId}` });
    const approvals = await database.db
      .selectFrom('approvals')
      .select(['actor', 'decision'])
      .where('intent_id', '=', created.json.id)
      .execute();
    assert.deepEqual(approvals, [{ actor: `operator:${opId}`, decision: 'approve' }]);
    const detail = await call('GET', `/v1/intents/${created.json.id}`);
    assert.equal(detail.json.createdBy, `agent:${agentId}`);
    assert.equal(detail.json.approvals[0].actor, `operator:${opId}`);

    // the audit: the operator's approval and mint under its id; no row records the agent's chosen name as an actor
    const audit = await database.db.selectFrom('audit_log').select(['actor', 'action', 'target', 'details']).execute();
    assert.ok(
      audit.some(
        (a) => a.action === 'intent.approve' && a.target === created.json.id && a.actor === `operator:${opId}`,
      ),
    );
    assert.ok(audit.some((a) => a.action === 'token.create' && a.target === agentId && a.actor === `operator:${opId}`));
    const mint = audit.find((a) => a.action === 'token.create' && a.target === agentId)!;
    assert.equal((mint.details as { name: string }).name, disguise, 'the audit keeps the name as a detail');
    for (const a of audit) assert.match(a.actor, /^(operator|agent|viewer):[0-9a-f-]{36}$/, `audit actor ${a.actor}`);
  });

  test('a second operator token with its own name is recorded by its id, and may not reuse a name', async () => {
    const root = await call('POST', '/v1/tokens', { body: { role: 'operator', name: 'root' } });
    assert.equal(root.status, 201, JSON.stringify(root.json));
    const viewer = await call('POST', '/v1/tokens', {
      token: root.json.token,
      body: { role: 'viewer', name: 'dashboard' },
    });
    assert.equal(viewer.status, 201);
    const audit = await database.db
      .selectFrom('audit_log')
      .select('actor')
      .where('target', '=', viewer.json.id)
      .executeTakeFirstOrThrow();
    assert.equal(audit.actor, `operator:${root.json.id}`);
    const again = await call('POST', '/v1/tokens', {
      token: root.json.token,
      body: { role: 'viewer', name: 'Dashboard' },
    });
    assert.equal(again.status, 409);
    assert.equal(again.json.error.code, 'name_taken');
    // unnamed tokens are as many as wanted
    for (let i = 0; i < 2; i++)
      assert.equal((await call('POST', '/v1/tokens', { body: { role: 'viewer' } })).status, 201);
  });

  test('GET /v1/tokens shows each token with the actor its rows record, never a secret; operators only', async () => {
    const minted = await call('POST', '/v1/tokens', { body: { role: 'agent', name: 'lister' } });
    const list = await call('GET', '/v1/tokens');
    assert.equal(list.status, 200);
    const mine = list.json.tokens.find((t: { id: string }) => t.id === minted.json.id);
    assert.deepEqual(
      { role: mine.role, name: mine.name, actor: mine.actor, revokedAt: mine.revokedAt },
      { role: 'agent', name: 'lister', actor: `agent:${minted.json.id}`, revokedAt: null },
    );
    assert.equal(mine.createdBy, `operator:${await operatorId()}`);
    const text = JSON.stringify(list.json);
    assert.ok(
      !text.includes(minted.json.token) && !text.includes('token_hash') && !text.includes('hnd_'),
      'no secret or hash in the list',
    );
    assert.equal((await call('GET', '/v1/tokens', { token: minted.json.token })).status, 403);
  });

  test('the CLI refuses a taken name with the code, and lists tokens by actor and name', async () => {
    await coordinator.app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(coordinator.app.server.address() as AddressInfo).port}`;
    const cli = (...args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [join(repo, 'apps/cli/src/main.ts'), ...args], {
          env: { ...process.env, HANDOFF_URL: url, HANDOFF_TOKEN: operator, HANDOFF_HOME: home },
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });
    const first = await cli('token', 'create', '--role', 'viewer', '--name', 'cli-viewer');
    assert.equal(first.code, 0, first.stderr);
    const id = /^id\s+(\S+)$/m.exec(first.stdout)?.[1];
    assert.match(first.stdout, new RegExp(`^recorded as\\s+viewer:${id}$`, 'm'));
    const again = await cli('token', 'create', '--role', 'viewer', '--name', 'CLI-Viewer');
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /^handoff: name: a token named "CLI-Viewer" already exists/m);
    const listed = await cli('token', 'list');
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^ACTOR\s+NAME\s+CREATED\s+LAST USED\s+STATE$/m);
    assert.match(listed.stdout, new RegExp(`^viewer:${id}\\s+cli-viewer\\s+.*live$`, 'm'));
  });

  test('a lost operator.token is replaced by a token under the next free name', async () => {
    const otherHome = await mkdtemp(join(tmpdir(), 'handoff-auth-boot-'));
    try {
      await writeFile(join(otherHome, 'operator.token'), `hnd_${'C'.repeat(43)}\n`, { mode: 0o600 });
      const first = await ensureOperatorToken(database.db, otherHome);
      await writeFile(join(otherHome, 'operator.token'), `hnd_${'D'.repeat(43)}\n`, { mode: 0o600 });
      const second = await ensureOperatorToken(database.db, otherHome);
      assert.equal(first.created && second.created, true);
      const names = await database.db
        .selectFrom('api_tokens')
        .select('name')
        .where('name', 'like', 'operator%')
        .where('role', '=', 'operator')
        .orderBy('created_at')
        .execute();
      assert.deepEqual(
        names.map((n) => n.name),
        ['operator', 'operator-2', 'operator-3'],
      );
    } finally {
      await rm(otherHome, { recursive: true, force: true });
    }
  });
});

describe('migration 003_token_names', () => {
  test('existing duplicate names are suffixed (the oldest keeps its name), audited, and then refused', async () => {
    const database = await createTestDatabase({ migrate: false });
    const before = await mkdtemp(join(tmpdir(), 'handoff-mig-'));
    try {
      for (const f of ['001_init.sql', '002_agent.sql']) await copyFile(join(migrations, f), join(before, f));
      await migrate(database.pool, { dir: before });
      const tokens = [
        { name: 'ops', at: '2026-01-01T00:00:00Z' },
        { name: 'ops', at: '2026-01-02T00:00:00Z' },
        { name: 'OPS', at: '2026-01-03T00:00:00Z' },
        { name: 'ops-2', at: '2026-01-04T00:00:00Z' },
        { name: null, at: '2026-01-05T00:00:00Z' },
        { name: null, at: '2026-01-06T00:00:00Z' },
      ].map((t) => ({
        id: randomUUID(),
        name: t.name,
        role: 'agent' as const,
        token_hash: randomUUID(),
        created_by: 'test',
        created_at: t.at,
      }));
      await database.db.insertInto('api_tokens').values(tokens).execute();

      const { applied } = await migrate(database.pool);
      assert.ok(applied.includes('003_token_names.sql'), applied.join(','));
      const after = await database.db.selectFrom('api_tokens').select(['id', 'name']).orderBy('created_at').execute();
      assert.deepEqual(
        after.map((t) => t.name),
        ['ops', 'ops-3', 'OPS-4', 'ops-2', null, null],
      );
      assert.deepEqual(
        after.map((t) => t.id),
        tokens.map((t) => t.id),
        'every token survives, under its id',
      );

      const renames = await database.db
        .selectFrom('audit_log')
        .select(['target', 'details', 'action'])
        .orderBy('id')
        .execute();
      assert.deepEqual(
        renames.map((r) => [
          r.action,
          r.target,
          (r.details as { from: string }).from,
          (r.details as { to: string }).to,
        ]),
        [
          ['token.rename', tokens[1]!.id, 'ops', 'ops-3'],
          ['token.rename', tokens[2]!.id, 'OPS', 'OPS-4'],
        ],
      );
      await assert.rejects(
        database.db
          .insertInto('api_tokens')
          .values({ id: randomUUID(), name: 'Ops', role: 'viewer', token_hash: randomUUID(), created_by: 'test' })
          .execute(),
        (err: { code?: string; constraint?: string }) =>
          err.code === '23505' && err.constraint === 'api_tokens_name_unique',
      );
    } finally {
      await database.drop();
      await rm(before, { recursive: true, force: true });
    }
  });
});
