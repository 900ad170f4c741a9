import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import pg from 'pg';
import { Policy, type Intent, type IntentDetail, type LiveReport, type PolicyInput } from '@handoff/contracts';
import { startExecutor, type RunningExecutor } from '@handoff/executor';
import { POLICY_CHANNEL, policySha256, policySource } from '@handoff/intents';
import { quietLog, withLoopbackReceivers } from '../support/pipeline.ts';
import { startRecordingSink, type RecordingSink } from '../support/recordingSink.ts';
import { startStack, waitFor, type Stack } from '../support/stack.ts';

/**
 * One policy for the whole fleet (decision 89): the coordinator publishes policy.json into Postgres,
 * versioned with its sha256; an executor elsewhere applies the published lease TTL (and retry,
 * breaker and webhook settings), follows a change at once, and its own file only narrows its
 * webhook hosts. Real coordinator, real executors, real Postgres and a real receiver.
 */
const fleetPolicy = (ttlSeconds: number): PolicyInput =>
  withLoopbackReceivers({
    approval: { rules: [{ channel: 'webhook', requireApproval: false }] },
    lease: { ttlSeconds },
    retry: { maxAttempts: 2, baseDelayMs: 50, maxDelayMs: 100 },
  });

let stack: Stack;
let sink: RecordingSink;
let listener: pg.Client;
const notified: string[] = [];
const homes: string[] = [];
const executors: RunningExecutor[] = [];
let n = 0;

before(async () => {
  sink = await startRecordingSink();
  sink.respondWith((req) => (req.path.startsWith('/hang') ? { hang: true } : undefined));
  stack = await startStack({ policy: fleetPolicy(5) });
  listener = new pg.Client({ connectionString: stack.tdb.url });
  await listener.connect();
  listener.on('notification', (m) => notified.push(m.payload ?? ''));
  await listener.query(`LISTEN ${POLICY_CHANNEL}`);
});

after(async () => {
  for (const e of executors) await e.stop().catch(() => undefined);
  await listener?.end().catch(() => undefined);
  await sink?.close();
  await stack?.close();
  for (const h of homes) rmSync(h, { recursive: true, force: true });
});

/** A $HANDOFF_HOME of its own (another node, as far as the policy goes) with this policy.json. */
function nodeHome(policy: PolicyInput): string {
  const home = mkdtempSync(join(tmpdir(), 'handoff-fleet-'));
  homes.push(home);
  writeFileSync(join(home, 'policy.json'), JSON.stringify(policy));
  return home;
}

async function startNode(id: string, policy: PolicyInput): Promise<RunningExecutor> {
  const executor = await startExecutor({
    home: nodeHome(policy),
    databaseUrl: stack.tdb.url,
    executorId: id,
    channels: ['webhook'],
    heartbeatIntervalMs: 200,
    sweepIntervalMs: 250,
    drainTimeoutMs: 500,
    log: quietLog,
  });
  executors.push(executor);
  return executor;
}

const published = () => stack.tdb.db.selectFrom('fleet_policy').selectAll().orderBy('version').execute();

const executorRow = (id: string) =>
  stack.tdb.db.selectFrom('executors').selectAll().where('id', '=', id).executeTakeFirst();

async function create(path: string): Promise<Intent> {
  const key = `fleet-${process.pid}-${++n}`;
  const res = await stack.api<Intent>('POST', '/v1/intents', {
    channel: 'webhook',
    account: 'default',
    idempotencyKey: key,
    payload: { url: `${sink.url}${path}`, body: { key } },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

/** Seconds left on the intent's lease by the database's clock, once `owner` holds it. */
async function leaseSecondsLeft(id: string, owner: string): Promise<number> {
  return waitFor(`${owner} to hold intent ${id}`, async () => {
    const row = await stack.tdb.db
      .selectFrom('intents')
      .select(['lease_owner', sql<number>`extract(epoch from lease_expires_at - clock_timestamp())::float8`.as('left')])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    return row.lease_owner === owner ? row.left : null;
  });
}

describe('the coordinator publishes policy.json', () => {
  test('at start: version 1, the parsed policy with its sha256 and the coordinator home it came from', async () => {
    const rows = await published();
    assert.equal(rows.length, 1);
    const expected = Policy.parse(fleetPolicy(5));
    assert.equal(rows[0]!.version, 1);
    assert.deepEqual(rows[0]!.policy, expected);
    assert.equal(rows[0]!.sha256, policySha256(expected));
    assert.equal(rows[0]!.source, policySource(stack.home));
    const live = (await stack.api<LiveReport>('GET', '/v1/live')).body;
    assert.equal(live.policy?.version, 1);
    assert.equal(live.policy?.sha256, rows[0]!.sha256);
  });

  test('an executor in the coordinator home reads the file itself and reports the published version', async () => {
    const local = await stack.spawnExecutor('same-home');
    const row = await waitFor('a heartbeat', () => executorRow('same-home'));
    assert.equal(row.policy_version, 1);
    assert.equal(row.policy_sha256, (await published())[0]!.sha256);
    local.signal('SIGTERM');
    await local.exited;
  });
});

describe('an executor on another node', () => {
  let node: RunningExecutor;

  test("applies the fleet's lease TTL, not its own file's, and its heartbeat names the version", async () => {
    // its own file asks for ten-minute leases: the fleet's five seconds apply
    node = await startNode('node-b', { ...fleetPolicy(600) });
    const intent = await create('/hang/1');
    const left = await leaseSecondsLeft(intent.id, 'node-b');
    assert.ok(left <= 5.5, `the lease runs ${left} s, the fleet's TTL is 5 s`);
    const row = await waitFor('a heartbeat', () => executorRow('node-b'));
    assert.equal(row.policy_version, 1);
    const live = (await stack.api<LiveReport>('GET', '/v1/live')).body;
    const shown = live.executors.find((e) => e.id === 'node-b');
    assert.equal(shown?.policyVersion, live.policy?.version);
  });

  test('a new policy.json is published as version 2 and the node applies it at once (NOTIFY)', async () => {
    // the same policy written differently is not a new version
    writeFileSync(join(stack.home, 'policy.json'), JSON.stringify(fleetPolicy(5), null, 2));
    await sleep(2500);
    assert.equal((await published()).length, 1, 'a reformatted file publishes nothing');

    writeFileSync(join(stack.home, 'policy.json'), JSON.stringify(fleetPolicy(3)));
    const v2 = await waitFor('version 2', async () => (await published()).find((r) => r.version === 2));
    await waitFor('the NOTIFY', async () => notified.includes('2'));
    const applied = await waitFor(
      'node-b to apply version 2',
      async () => {
        const row = await executorRow('node-b');
        return row?.policy_version === 2 ? Date.now() : null;
      },
      10_000,
      20,
    );
    // the re-read every 5 s would be slower: the notification did it
    assert.ok(
      applied - new Date(v2.published_at).getTime() < 2000,
      `applied ${applied - new Date(v2.published_at).getTime()} ms after publishing`,
    );
    const intent = await create('/hang/2');
    const left = await leaseSecondsLeft(intent.id, 'node-b');
    assert.ok(left <= 3.5, `the new lease runs ${left} s, the fleet's TTL is now 3 s`);
  });

  test('its own file narrows the webhook hosts: a receiver the fleet allows but it does not is refused', async () => {
    await node.stop();
    // the fleet allows 127.0.0.1 on any port; this node only port 9 of it
    await startNode('node-c', { ...fleetPolicy(600), webhook: { allowedHosts: ['127.0.0.1:9'] } });
    const intent = await create('/narrow');
    const done = await waitFor('the intent to settle', async () => {
      const d = (await stack.api<IntentDetail>('GET', `/v1/intents/${intent.id}`)).body;
      return ['succeeded', 'dead', 'in_doubt'].includes(d.state) ? d : null;
    });
    assert.equal(done.state, 'dead', JSON.stringify(done));
    assert.match(done.lastError ?? '', /not in policy webhook\.allowedHosts/);
    assert.equal(sink.countByKey().get(intent.idempotencyKey), undefined, 'nothing reached the receiver');
  });
});
