/**
 * `handoff archive --before DATE --to FILE` (a real CLI process, a real coordinator, real Postgres):
 * the file holds every row of every finished intent it archived, the tables no longer do, intents
 * not finished (or too young) are untouched, a rerun is harmless, and a node's role has no way past
 * the append-only triggers.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { ArchivedIntent } from '@handoff/contracts';
import type { CreatedNode } from '@handoff/nodes';
import type { Intent } from '@handoff/contracts';
import { handoff } from '../cli/run.ts';
import { startStack, type Stack } from '../support/stack.ts';

const databaseUrl = process.env.DATABASE_URL;

describe('handoff archive', { skip: databaseUrl ? false : 'needs DATABASE_URL (run it through `npm test`)' }, () => {
  let stack: Stack;
  let dir: string;
  let env: Record<string, string>;
  const ids: Record<string, string> = {};
  let n = 0;

  const q = async <T extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<T[]> =>
    (await stack.tdb.pool.query<T>(text, params)).rows;

  const create = async (): Promise<string> => {
    const res = await stack.api<Intent>('POST', '/v1/intents', {
      channel: 'webhook',
      account: 'default',
      idempotencyKey: `archive-${++n}`,
      payload: { url: 'http://127.0.0.1:9/hook', body: { n } },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.id;
  };

  /** An intent that ran: approved, one attempt, one receipt, and the state it ended in. */
  const ran = async (state: 'succeeded' | 'dead' | 'in_doubt'): Promise<string> => {
    const id = await create();
    assert.equal((await stack.api('POST', `/v1/intents/${id}/approve`, {})).status, 200);
    await q(`UPDATE intents SET state = $2, lease_epoch = 1, attempt_count = 1 WHERE id = $1`, [id, state]);
    await q(
      `INSERT INTO attempts (intent_id, attempt_no, lease_epoch, executor_id, finished_at, outcome)
       VALUES ($1, 1, 1, 'e1', clock_timestamp(), $2)`,
      [id, state === 'succeeded' ? 'success' : 'permanent_failure'],
    );
    if (state !== 'in_doubt')
      await q(
        `INSERT INTO receipts (intent_id, attempt_no, lease_epoch, kind, external_id, error_message, executor_id, source)
         VALUES ($1, 1, 1, $2, $3, $4, 'e1', 'execute')`,
        [
          id,
          state === 'succeeded' ? 'success' : 'failure',
          state === 'succeeded' ? 'ext-1' : null,
          state === 'dead' ? 'boom' : null,
        ],
      );
    return id;
  };

  before(async () => {
    stack = await startStack();
    dir = await mkdtemp(path.join(tmpdir(), 'handoff-archive-'));
    env = { HANDOFF_URL: stack.coordinator.url, HANDOFF_HOME: stack.home };
    ids.succeeded = await ran('succeeded');
    ids.dead = await ran('dead');
    ids.rejected = await create();
    assert.equal((await stack.api('POST', `/v1/intents/${ids.rejected}/reject`, { reason: 'no' })).status, 200);
    ids.inDoubt = await ran('in_doubt');
    ids.pending = await create();
    ids.young = await ran('succeeded');
    await q(`UPDATE intents SET created_at = '2020-01-01' WHERE id <> $1`, [ids.young]);
  });

  after(async () => {
    await stack?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const rowsOf = async (id: string) => ({
    intent: (await q(`SELECT to_jsonb(i) AS j FROM intents i WHERE id = $1`, [id]))[0]?.j,
    approvals: (await q(`SELECT to_jsonb(a) AS j FROM approvals a WHERE intent_id = $1 ORDER BY id`, [id])).map(
      (r) => r.j,
    ),
    attempts: (await q(`SELECT to_jsonb(a) AS j FROM attempts a WHERE intent_id = $1 ORDER BY attempt_no`, [id])).map(
      (r) => r.j,
    ),
    receipts: (await q(`SELECT to_jsonb(r) AS j FROM receipts r WHERE intent_id = $1 ORDER BY id`, [id])).map(
      (r) => r.j,
    ),
  });

  test('finished intents go to the file with every row, and from the tables; the rest stay', async () => {
    const finished = [ids.succeeded, ids.dead, ids.rejected] as string[];
    const expected = new Map(await Promise.all(finished.map(async (id) => [id, await rowsOf(id)] as const)));
    const kept = await q<{ id: string; state: string }>(
      `SELECT id, state FROM intents WHERE id = ANY($1) ORDER BY id`,
      [[ids.inDoubt, ids.pending, ids.young]],
    );
    const file = path.join(dir, 'archive.jsonl');

    const run = await handoff(['archive', '--before', '2021-01-01', '--to', file], env);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /wrote 3 intent\(s\) to .* and removed 3 from the database/);
    assert.equal((await stat(file)).mode & 0o777, 0o600);

    const lines = (await readFile(file, 'utf8'))
      .trimEnd()
      .split('\n')
      .map((l) => ArchivedIntent.parse(JSON.parse(l)));
    assert.equal(lines.length, 3);
    for (const line of lines) assert.deepEqual(line, expected.get(line.intent.id));
    assert.ok(lines.every((l) => l.approvals.length >= 1));
    assert.ok(lines.find((l) => l.intent.id === ids.succeeded)?.receipts.length === 1);

    for (const t of ['intents', 'approvals', 'attempts', 'receipts']) {
      const col = t === 'intents' ? 'id' : 'intent_id';
      const left = await q(`SELECT 1 FROM ${t} WHERE ${col} = ANY($1)`, [finished]);
      assert.equal(left.length, 0, `${t} still holds archived rows`);
    }
    assert.deepEqual(
      await q(`SELECT id, state FROM intents WHERE id = ANY($1) ORDER BY id`, [[ids.inDoubt, ids.pending, ids.young]]),
      kept,
    );
    const audit = await q<{ actor: string; details: { count: number; file: string } }>(
      `SELECT actor, details FROM audit_log WHERE action = 'intent.archive'`,
    );
    assert.equal(audit.length, 1);
    assert.equal(audit[0]?.details.count, 3);
    assert.equal(audit[0]?.details.file, file);
    assert.match(audit[0]?.actor ?? '', /^operator:/);

    // rerun: nothing more to do, the file is as it was
    const before = await readFile(file, 'utf8');
    const again = await handoff(['archive', '--before', '2021-01-01', '--to', file], env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /nothing to archive/);
    assert.equal(await readFile(file, 'utf8'), before);
  });

  test('an intent already in the file (a run cut short before the removal) is removed, not written twice', async () => {
    const id = await ran('succeeded');
    await q(`UPDATE intents SET created_at = '2020-01-01' WHERE id = $1`, [id]);
    const file = path.join(dir, 'rerun.jsonl');
    const row = await rowsOf(id);
    // a whole line for it, then half a line torn by a crash
    await writeFile(file, `${JSON.stringify(row)}\n{"intent":{"id":"tor`);
    const run = await handoff(['archive', '--before', '2021-01-01', '--to', file, '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), { file, written: 0, removed: 1 });
    assert.equal(await readFile(file, 'utf8'), `${JSON.stringify(row)}\n`);
    assert.equal((await q(`SELECT 1 FROM intents WHERE id = $1`, [id])).length, 0);
  });

  test('a bad --before is a usage error naming the option', async () => {
    const run = await handoff(['archive', '--before', 'yesterday', '--to', path.join(dir, 'x.jsonl')], env);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /--before/);
    const future = await handoff(['archive', '--before', '2999-01-01', '--to', path.join(dir, 'x.jsonl')], env);
    assert.equal(future.code, 2);
    assert.match(future.stderr, /future/);
  });

  test('a node role cannot use the archive path or get past the append-only triggers', async () => {
    const nodeId = `t${randomBytes(5).toString('hex')}`;
    const res = await stack.api<CreatedNode>('POST', '/v1/nodes', { id: nodeId, accounts: ['webhook:default'] });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const client = new pg.Client({ connectionString: res.body.databaseUrl });
    client.on('error', () => {});
    await client.connect();
    try {
      const id = ids.young as string;
      const denied = async (statement: string, params: unknown[] = []): Promise<void> => {
        await assert.rejects(client.query(statement, params), (err: { code?: string; message?: string }) => {
          assert.equal(err.code, '42501', `${statement}: ${err.message}`);
          return true;
        });
      };
      await denied(`SELECT handoff_archive_intents($1::uuid[], '{succeeded}', 'node', '{}')`, [[id]]);
      await denied(`SELECT handoff_purge_audit_log(now(), 10)`);
      await client.query(`SET handoff.purge = 'on'`);
      await denied(`DELETE FROM receipts WHERE intent_id = $1`, [id]);
      await denied(`DELETE FROM audit_log`);
      assert.equal((await q(`SELECT 1 FROM receipts WHERE intent_id = $1`, [id])).length, 1);
      // and an operator token is the only one the API lets archive
      const viewer = await stack.api<{ token: string }>('POST', '/v1/tokens', { role: 'viewer', name: `v-${nodeId}` });
      const remove = await fetch(`${stack.coordinator.url}/v1/archive/remove`, {
        method: 'POST',
        headers: { authorization: `Bearer ${viewer.body.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ ids: [id], file: '/x', before: '2021-01-01T00:00:00Z' }),
      });
      assert.equal(remove.status, 403);
    } finally {
      await client.end().catch(() => {});
      await stack.api('DELETE', `/v1/nodes/${nodeId}`).catch(() => undefined);
      await stack.tdb.pool.query(`DROP ROLE IF EXISTS "handoff_node_${nodeId}"`).catch(() => undefined);
    }
  });

  test('without the archive path, even the owner cannot delete a receipt', async () => {
    await assert.rejects(q(`DELETE FROM receipts WHERE intent_id = $1`, [ids.young]), /append-only/);
  });
});
