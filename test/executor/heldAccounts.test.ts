import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Intent, IntentDetail, LiveReport } from '@handoff/contracts';
import { startRecordingSink, type RecordingSink } from '../support/recordingSink.ts';
import { startStack, waitFor, type Stack } from '../support/stack.ts';

/**
 * An executor leases only the `channel:account` keys whose credentials its own secrets.json holds
 * (apps/executor/secrets.ts heldKeys): two executors with different accounts of one channel share
 * its ticket queue, yet each intent is performed by the one holding its account, and an intent for
 * an account nobody holds waits.
 */
let stack: Stack;
let sink: RecordingSink;
const homes: string[] = [];
let n = 0;

/** A home of its own for an executor: the stack's policy.json and a secrets.json with `accounts`. */
function executorHome(accounts: string[]): string {
  const home = mkdtempSync(join(tmpdir(), 'handoff-held-'));
  homes.push(home);
  copyFileSync(join(stack.home, 'policy.json'), join(home, 'policy.json'));
  writeFileSync(
    join(home, 'secrets.json'),
    JSON.stringify({ deploy: Object.fromEntries(accounts.map((a) => [a, {}])) }),
    { mode: 0o600 },
  );
  return home;
}

before(async () => {
  sink = await startRecordingSink();
  stack = await startStack({
    policy: {
      approval: {
        rules: ['alpha', 'beta', 'gamma'].map((account) => ({ channel: 'deploy', account, requireApproval: false })),
      },
      lease: { ttlSeconds: 2 },
    },
  });
  const [alpha, beta] = await Promise.all([
    stack.spawnExecutor('holds-alpha', { HANDOFF_HOME: executorHome(['alpha']), HANDOFF_CHANNELS: 'deploy' }),
    stack.spawnExecutor('holds-beta', { HANDOFF_HOME: executorHome(['beta']), HANDOFF_CHANNELS: 'deploy' }),
  ]);
  assert.ok(
    alpha.output.some(
      (l) => l.includes('"executor started"') && l.includes('deploy:alpha') && !l.includes('deploy:beta'),
    ),
  );
  assert.ok(
    beta.output.some(
      (l) => l.includes('"executor started"') && l.includes('deploy:beta') && !l.includes('deploy:alpha'),
    ),
  );
});

after(async () => {
  await stack.close();
  await sink.close();
  for (const home of homes) rmSync(home, { recursive: true, force: true });
});

async function create(account: string): Promise<Intent> {
  const key = `held-${process.pid}-${++n}`;
  const res = await stack.api<Intent>('POST', '/v1/intents', {
    channel: 'deploy',
    account,
    idempotencyKey: key,
    payload: { kind: 'webhook', url: `${sink.url}/deploy/${account}`, body: { key } },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assert.equal(res.body.state, 'approved');
  return res.body;
}

const state = async (id: string): Promise<string> =>
  (await stack.api<IntentDetail>('GET', `/v1/intents/${id}`)).body.state;

test('each intent is performed only by the executor holding its account; an account nobody holds is left waiting', async () => {
  const alpha = await Promise.all(Array.from({ length: 3 }, () => create('alpha')));
  const beta = await Promise.all(Array.from({ length: 3 }, () => create('beta')));
  const gamma = await create('gamma');
  const all = [...alpha, ...beta];
  const allSucceeded = async (): Promise<boolean> =>
    (await Promise.all(all.map((i) => state(i.id)))).every((s) => s === 'succeeded');
  // a ticket taken by the executor that lacks its account is dropped and re-issued by the sweeper
  // after its 5 s grace, so each misdelivery costs seconds: room for several in a row
  await waitFor('every alpha and beta intent to succeed', allSucceeded, 90_000, 100);

  const attempts = await stack.tdb.db
    .selectFrom('attempts')
    .select(['intent_id', 'executor_id'])
    .where(
      'intent_id',
      'in',
      [...all, gamma].map((i) => i.id),
    )
    .execute();
  const performer = new Map(attempts.map((a) => [a.intent_id, a.executor_id]));
  assert.equal(attempts.length, all.length, 'one attempt per intent, none for gamma');
  for (const i of alpha) assert.equal(performer.get(i.id), 'holds-alpha', `alpha intent ${i.id}`);
  for (const i of beta) assert.equal(performer.get(i.id), 'holds-beta', `beta intent ${i.id}`);
  const counts = sink.countByKey();
  for (const i of all) assert.equal(counts.get(i.idempotencyKey), 1);

  // gamma is offered to both (one queue per channel, re-ticketed past the sweeper's grace) and taken by neither
  await sleep(6_000);
  assert.equal(await state(gamma.id), 'approved');
  assert.equal(sink.countByKey().get(gamma.idempotencyKey), undefined);

  // the live report names what each one holds
  const live = (await stack.api<LiveReport>('GET', '/v1/live')).body;
  assert.deepEqual(live.executors.find((e) => e.id === 'holds-alpha')?.channels, ['deploy:alpha']);
  assert.deepEqual(live.executors.find((e) => e.id === 'holds-beta')?.channels, ['deploy:beta']);
});
