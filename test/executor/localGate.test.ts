import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Intent, IntentDetail, LiveReport } from '@handoff/contracts';
import { startRecordingSink, type RecordingSink } from '../support/recordingSink.ts';
import { startStack, waitFor, type ExecutorProcess, type Stack } from '../support/stack.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcpProxy.ts';

/**
 * `$HANDOFF_HOME/executor_gate.json` (apps/executor/localGate.ts), the kill switch an operator can
 * pull on the executor's own host: read from the local disk, so it holds when Postgres does not
 * answer and whatever the gates in Postgres say.
 */
let stack: Stack;
let sink: RecordingSink;
let gateFile: string;
let n = 0;

before(async () => {
  sink = await startRecordingSink();
  stack = await startStack({
    policy: {
      approval: { rules: [{ channel: 'webhook', account: 'auto', requireApproval: false }] },
      lease: { ttlSeconds: 2 },
    },
  });
  gateFile = join(stack.home, 'executor_gate.json');
});

after(async () => {
  await stack.close();
  await sink.close();
});

async function create(count: number): Promise<Intent[]> {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const key = `local-gate-${process.pid}-${++n}`;
      const body = {
        channel: 'webhook',
        account: 'auto',
        idempotencyKey: key,
        payload: { url: `${sink.url}/gated`, body: { key } },
      };
      const res = await stack.api<Intent>('POST', '/v1/intents', body);
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.equal(res.body.state, 'approved');
      return res.body;
    }),
  );
}

async function executorInLive(id: string): Promise<LiveReport['executors'][number] | undefined> {
  const live = await stack.api<LiveReport>('GET', '/v1/live');
  assert.deepEqual(live.body.gatesClosed, [], 'every gate in Postgres is open');
  return live.body.executors.find((e) => e.id === id);
}

/** Nothing of `intents` reached the receiver, and no attempt of them was recorded: nothing was leased. */
async function assertUntouched(intents: Intent[]): Promise<void> {
  const counts = sink.countByKey();
  for (const i of intents) assert.equal(counts.get(i.idempotencyKey), undefined, `${i.idempotencyKey} was not sent`);
  const attempts = await stack.tdb.db
    .selectFrom('attempts')
    .select('intent_id')
    .where(
      'intent_id',
      'in',
      intents.map((i) => i.id),
    )
    .execute();
  assert.equal(attempts.length, 0, 'no attempt was recorded');
  for (const i of intents)
    assert.equal((await stack.api<IntentDetail>('GET', `/v1/intents/${i.id}`)).body.state, 'approved');
}

/** Every intent succeeded with exactly one call, performed by `executorId`. */
async function assertDoneBy(intents: Intent[], executorId: string): Promise<void> {
  await waitFor(
    'the held-back intents to succeed',
    async () => {
      const states = await Promise.all(
        intents.map(async (i) => (await stack.api<IntentDetail>('GET', `/v1/intents/${i.id}`)).body.state),
      );
      return states.every((s) => s === 'succeeded');
    },
    30_000,
    100,
  );
  const counts = sink.countByKey();
  for (const i of intents) assert.equal(counts.get(i.idempotencyKey), 1);
  const owners = await stack.tdb.db
    .selectFrom('attempts')
    .select('executor_id')
    .where(
      'intent_id',
      'in',
      intents.map((i) => i.id),
    )
    .execute();
  assert.deepEqual([...new Set(owners.map((o) => o.executor_id))], [executorId]);
}

async function stop(e: ExecutorProcess): Promise<void> {
  e.signal('SIGTERM');
  assert.equal(await e.exited, 0);
}

describe('executor_gate.json, the local kill switch', () => {
  test('an executor whose executor_gate.json says enabled: false leases nothing while Postgres gates are open; removing the file resumes it', async () => {
    writeFileSync(gateFile, JSON.stringify({ enabled: false, reason: 'host maintenance' }));
    const exec = await stack.spawnExecutor('local-gated');
    await waitFor('the executor to show as paused', async () => {
      const e = await executorInLive('local-gated');
      return e && e.status === 'paused' && !e.localGateEnabled;
    });
    const held = await create(5);
    // longer than the sweeper's re-ticketing grace: the intents are offered again and still left alone
    await sleep(6_000);
    await assertUntouched(held);

    rmSync(gateFile);
    await assertDoneBy(held, 'local-gated');
    assert.equal((await executorInLive('local-gated'))?.localGateEnabled, true);
    await stop(exec);
  });

  test('the switch is read from the local disk: pulled while Postgres is unreachable, it holds once Postgres answers again', async () => {
    const serverPort = Number(new URL(stack.tdb.url).port);
    const proxy: TcpProxy = await startTcpProxy('127.0.0.1', serverPort);
    try {
      const viaProxy = new URL(stack.tdb.url);
      viaProxy.port = String(proxy.port);
      const exec = await stack.spawnExecutor('local-gated-partitioned', { DATABASE_URL: viaProxy.toString() });
      await waitFor(
        'the executor to run',
        async () => (await executorInLive('local-gated-partitioned'))?.status === 'running',
      );

      proxy.freeze();
      const mark = exec.output.length;
      writeFileSync(gateFile, JSON.stringify({ enabled: false }));
      // heard with every Postgres connection black-holed: nothing but the file was read
      const heard = async (): Promise<boolean> =>
        exec.output.slice(mark).some((l) => l.includes('local executor gate changed'));
      await waitFor('the executor to hear the local gate without Postgres', heard, 5_000);
      const held = await create(5);
      await sleep(500);
      proxy.thaw();

      await waitFor(
        'the paused executor to report in',
        async () => (await executorInLive('local-gated-partitioned'))?.localGateEnabled === false,
        20_000,
      );
      await sleep(6_000);
      await assertUntouched(held);

      rmSync(gateFile);
      await assertDoneBy(held, 'local-gated-partitioned');
      await stop(exec);
    } finally {
      rmSync(gateFile, { force: true });
      await proxy.close();
    }
  });
});
