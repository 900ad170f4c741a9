import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Intent, IntentDetail } from '@handoff/contracts';
import type { CreatedNode, NodeList } from '@handoff/nodes';
import { onOutputLines } from '../support/lines.ts';
import { withLoopbackReceivers } from '../support/pipeline.ts';
import { startRecordingSink, type RecordingSink } from '../support/recordingSink.ts';
import { startStack, waitFor, type Stack } from '../support/stack.ts';

/**
 * A node's database role (migrations/005_node_roles.sql, @handoff/nodes) does an executor's work
 * and nothing else: with its own credentials every forbidden statement is refused (42501) or
 * changes nothing, its executor performs an approved webhook exactly once and never leases an
 * account it was not registered for, and once removed it cannot connect.
 */
const repo = fileURLToPath(new URL('../..', import.meta.url));
const POLICY = {
  approval: { rules: [{ channel: 'webhook', account: 'other', requireApproval: false }] },
  lease: { ttlSeconds: 2 },
};

let stack: Stack;
let sink: RecordingSink;
let node: CreatedNode;
let nodeId: string;
let nodeHome: string;
let n = 0;

before(async () => {
  sink = await startRecordingSink();
  stack = await startStack({ policy: POLICY });
  nodeId = `t${randomBytes(5).toString('hex')}`;
  const res = await stack.api<CreatedNode>('POST', '/v1/nodes', { id: nodeId, accounts: ['webhook:default'] });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  node = res.body;
  nodeHome = mkdtempSync(join(tmpdir(), 'handoff-node-'));
  writeFileSync(join(nodeHome, 'policy.json'), JSON.stringify(withLoopbackReceivers(POLICY)));
});

after(async () => {
  await stack.api('DELETE', `/v1/nodes/${nodeId}`).catch(() => undefined);
  await stack.tdb.pool.query(`DROP ROLE IF EXISTS "handoff_node_${nodeId}"`).catch(() => undefined);
  await stack.close();
  await sink.close();
  rmSync(nodeHome, { recursive: true, force: true });
});

async function create(account: string): Promise<Intent> {
  const key = `node-test-${process.pid}-${++n}`;
  const res = await stack.api<Intent>('POST', '/v1/intents', {
    channel: 'webhook',
    account,
    idempotencyKey: key,
    payload: { url: `${sink.url}/hook`, body: { key } },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

async function asNode<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: node.databaseUrl });
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

async function refused(statement: string, params: unknown[] = []): Promise<void> {
  await asNode(async (c) => {
    await assert.rejects(c.query(statement, params), (err: { code?: string; message?: string }) => {
      assert.equal(err.code, '42501', `${statement}: ${err.message}`);
      return true;
    });
  });
}

async function intentRow(id: string): Promise<{ state: string; lease_epoch: number; payload: unknown }> {
  const { rows } = await stack.tdb.pool.query('SELECT state, lease_epoch, payload FROM intents WHERE id = $1', [id]);
  return rows[0];
}

describe('a node registered with handoff node add', () => {
  test('POST /v1/nodes answers one join command, a databaseUrl of its own role, and lists the node', () => {
    assert.match(node.join, /^handoff executor --join '[A-Za-z0-9_-]+'$/);
    assert.equal(new URL(node.databaseUrl).username, `handoff_node_${nodeId}`);
    assert.equal(node.caFingerprint, null, 'no --listen: no CA');
  });

  test('the node is listed, and a second add of the same id is refused', async () => {
    const list = await stack.api<NodeList>('GET', '/v1/nodes');
    assert.deepEqual(
      list.body.nodes.map((x) => [x.id, x.accounts]),
      [[nodeId, ['webhook:default']]],
    );
    const again = await stack.api('POST', '/v1/nodes', { id: nodeId, accounts: ['webhook:default'] });
    assert.equal(again.status, 409);
  });
});

describe("with a node's own credentials", () => {
  let pending: Intent;
  let foreign: Intent;
  before(async () => {
    pending = await create('default');
    foreign = await create('other');
    await stack.tdb.pool.query("INSERT INTO receipts (intent_id, kind, source) VALUES ($1, 'failure', 'operator')", [
      pending.id,
    ]);
    await stack.tdb.pool.query(
      "INSERT INTO attempts (intent_id, attempt_no, lease_epoch, executor_id) VALUES ($1, 1, 99, 'x')",
      [pending.id],
    );
  });

  test('inserting an approval is refused', () =>
    refused(
      `INSERT INTO approvals (intent_id, decision, actor, payload_hash) VALUES ('${pending.id}', 'approve', 'node', 'h')`,
    ));
  test('changing an approval is refused', () => refused("UPDATE approvals SET actor = 'node'"));
  test('changing a gate is refused', () => refused("INSERT INTO gates (scope, enabled) VALUES ('global', true)"));
  test('opening a closed gate is refused', () => refused('UPDATE gates SET enabled = true'));
  test('writing gate history is refused', () =>
    refused("INSERT INTO gate_history (scope, enabled) VALUES ('x', true)"));
  test('deleting gate history is refused', () => refused('DELETE FROM gate_history'));
  test('reading api_tokens is refused', () => refused('SELECT token_hash FROM api_tokens'));
  test('writing api_tokens is refused', () =>
    refused("INSERT INTO api_tokens (id, role, token_hash) VALUES (gen_random_uuid(), 'operator', 'h')"));
  test('reading audit_log is refused', () => refused('SELECT * FROM audit_log'));
  test('writing audit_log is refused', () => refused("INSERT INTO audit_log (actor, action) VALUES ('node', 'x')"));
  test("updating an intent's state is refused", () => refused("UPDATE intents SET state = 'approved'"));
  test("updating an intent's payload is refused", () => refused("UPDATE intents SET payload = '{}'"));
  test("updating an intent's approval is refused", () =>
    refused('UPDATE intents SET approved_payload_hash = payload_hash'));
  test('inserting an intent is refused', () => refused('INSERT INTO intents SELECT * FROM intents'));
  test('writing a receipt directly is refused', () =>
    refused(`INSERT INTO receipts (intent_id, kind, source) VALUES ('${pending.id}', 'success', 'execute')`));
  test('updating a receipt is refused', () => refused("UPDATE receipts SET kind = 'success'"));
  test('deleting a receipt is refused', () => refused('DELETE FROM receipts'));
  test('updating an attempt is refused', () => refused("UPDATE attempts SET outcome = 'succeeded'"));
  test('deleting an attempt is refused', () => refused('DELETE FROM attempts'));
  test('disabling the receipts trigger is refused', () =>
    refused('ALTER TABLE receipts DISABLE TRIGGER receipts_append_only'));
  test('altering a table is refused', () => refused('ALTER TABLE intents ADD COLUMN mine integer'));
  test('dropping a table is refused', () => refused('DROP TABLE receipts'));
  test('creating a table is refused', () => refused('CREATE TABLE mine (a integer)'));
  test('creating a temporary table is refused', () => refused('CREATE TEMP TABLE mine (a integer)'));
  test('creating a function is refused', () =>
    refused('CREATE FUNCTION mine() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$'));
  test('SET ROLE to the owner is refused', async () => {
    const { rows } = await stack.tdb.pool.query<{ u: string }>('SELECT current_user AS u');
    await refused(`SET ROLE "${rows[0]!.u}"`);
  });
  test('SET SESSION AUTHORIZATION to the owner is refused', async () => {
    const { rows } = await stack.tdb.pool.query<{ u: string }>('SELECT current_user AS u');
    await refused(`SET SESSION AUTHORIZATION "${rows[0]!.u}"`);
  });
  test("re-granting the group's rights is refused", () => refused('SELECT handoff_grant_node_group()'));

  test('claiming an intent of an account it is not registered for leases nothing', async () => {
    const claimed = await asNode((c) =>
      c.query("SELECT * FROM handoff_claim_leases($1::uuid[], 'thief', 60, ARRAY['webhook:*'])", [[foreign.id]]),
    );
    assert.equal(claimed.rows.length, 0);
    const row = await intentRow(foreign.id);
    assert.equal(row.lease_epoch, 0);
  });

  test('a fenced write on an intent it holds no lease on changes nothing', async () => {
    const before = await intentRow(foreign.id);
    const written = await asNode((c) =>
      c.query(
        "SELECT handoff_append_success_receipts($1::uuid[], ARRAY[$2::int], ARRAY[1], ARRAY['e'], ARRAY[NULL::text], ARRAY['thief'], ARRAY['execute'], ARRAY['succeeded'])",
        [[foreign.id], before.lease_epoch],
      ),
    );
    assert.equal(written.rows.length, 0);
    assert.deepEqual(await intentRow(foreign.id), before);
  });

  test("a node's sweep expires nothing, whatever TTL it passes", async () => {
    await asNode((c) => c.query('SELECT handoff_sweep(0, 0, 0, 100)'));
    assert.equal((await intentRow(pending.id)).state, 'pending_approval');
  });
});

describe("the node's executor, joined with the join string", () => {
  test('performs an approved webhook exactly once, never leases an unregistered account, and cannot connect once removed', async () => {
    const joinString = /--join '([^']+)'/.exec(node.join)![1]!;
    const child = spawn(process.execPath, [join(repo, 'apps/executor/main.ts'), '--join', joinString], {
      env: {
        ...process.env,
        DATABASE_URL: '',
        HANDOFF_EXECUTOR_ID: '',
        HANDOFF_HOME: nodeHome,
        HANDOFF_SWEEP_MS: '250',
        HANDOFF_HEARTBEAT_MS: '500',
        HANDOFF_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output: string[] = [];
    const exited = new Promise<number | string>((resolve) =>
      child.once('exit', (code, sig) => resolve(code ?? sig ?? -1)),
    );
    try {
      await new Promise<void>((resolve, reject) => {
        onOutputLines([child.stdout, child.stderr], (line) => {
          output.push(line);
          if (line.includes('"executor started"')) resolve();
        });
        void exited.then((code) => reject(new Error(`node executor exited (${code}):\n${output.join('\n')}`)));
      });
      assert.equal(statSync(join(nodeHome, 'node.json')).mode & 0o777, 0o600, 'node.json is 0600');
      assert.equal(JSON.parse(readFileSync(join(nodeHome, 'node.json'), 'utf8')).id, nodeId);

      const foreign = await create('other');
      const mine = await create('default');
      assert.equal((await stack.api('POST', `/v1/intents/${mine.id}/approve`, {})).status, 200);
      const done = await waitFor(`intent ${mine.id} to succeed`, async () => {
        const d = (await stack.api<IntentDetail>('GET', `/v1/intents/${mine.id}`)).body;
        return d.state === 'succeeded' ? d : null;
      });
      assert.equal(sink.countByKey().get(mine.idempotencyKey), 1, 'exactly one call at the sink');
      assert.equal(done.receipts[0]?.executorId, nodeId, "the node's executor wrote the receipt");
      await sleep(1000);
      const other = await intentRow(foreign.id);
      assert.equal(other.lease_epoch, 0, 'the unregistered account was never leased');
      assert.equal(sink.countByKey().get(foreign.idempotencyKey), undefined);

      const listed = await stack.api<NodeList>('GET', '/v1/nodes');
      assert.ok(listed.body.nodes[0]?.lastHeartbeat, 'node list shows its heartbeat');

      const removed = await stack.api<{ terminated: number }>('DELETE', `/v1/nodes/${nodeId}`);
      assert.equal(removed.status, 200, JSON.stringify(removed.body));
      assert.ok(removed.body.terminated >= 1, 'its sessions were ended');
      await assert.rejects(
        asNode((c) => c.query('SELECT 1')),
        (err: { code?: string }) => {
          assert.ok(['28000', '28P01'].includes(err.code ?? ''), `refused at login, got ${err.code}`);
          return true;
        },
      );
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
  });
});
