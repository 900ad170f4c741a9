import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sql } from 'kysely';
import { startRecordingSink } from '../support/recordingSink.ts';
import { startStack, waitFor } from '../support/stack.ts';
import { countByState, createMany, report, sleep } from './support.ts';

const N = Number(process.env.CHAOS_INTENTS ?? 5000);

test(`kill switch under load: closing the global gate during ${N} intents stops every new attempt at its commit`, async () => {
  const sink = await startRecordingSink({ script: () => ({ delayMs: 5 }) });
  const stack = await startStack({ policy: { approval: { rules: [{ channel: 'webhook', requireApproval: false }] } } });
  try {
    await Promise.all([0, 1].map((i) => stack.spawnExecutor(`ks-${i}`)));
    const creating = createMany(stack, N, (i) => ({
      channel: 'webhook',
      idempotencyKey: `ks-${i}`,
      payload: { url: `${sink.url}/ks`, body: { i } },
    }));
    await waitFor(
      'a third of the work to be done',
      async () => ((await countByState(stack)).succeeded ?? 0) >= N / 3,
      300_000,
      100,
    );
    const closed = await stack.api('PUT', '/v1/gates/global', { enabled: false, reason: 'chaos' });
    assert.equal(closed.status, 200);
    await creating;
    await sleep(3000);
    const gate = await sql<{ closed_at: Date; last_start: Date | null; last_receipt: Date | null; in_flight: number }>`
      SELECT g.created_at AS closed_at,
        (SELECT max(started_at) FROM attempts) AS last_start,
        (SELECT max(created_at) FROM receipts) AS last_receipt,
        (SELECT count(*)::int FROM intents WHERE state = 'running') AS in_flight
      FROM gate_history g WHERE g.scope = 'global' AND NOT g.enabled ORDER BY g.id DESC LIMIT 1`.execute(stack.tdb.db);
    const row = gate.rows[0]!;
    const doneWhileClosed = (await countByState(stack)).succeeded ?? 0;
    assert.ok(
      row.last_start && row.last_start.getTime() <= row.closed_at.getTime(),
      `an attempt started at ${row.last_start?.toISOString()} after the gate closed at ${row.closed_at.toISOString()}`,
    );
    assert.equal(row.in_flight, 0, 'nothing holds a lease once in-flight effects finished');
    assert.ok(doneWhileClosed < N, 'the gate held work back');
    const drainMs = row.last_receipt ? row.last_receipt.getTime() - row.closed_at.getTime() : 0;

    await stack.api('PUT', '/v1/gates/global', { enabled: true });
    await waitFor(
      'all the rest to succeed after the gate opened',
      async () => (await countByState(stack)).succeeded === N,
      300_000,
      250,
    );
    const twice = [...sink.countByKey().values()].filter((c) => c > 1).length;
    assert.equal(twice, 0);
    report('kill-switch', {
      intents: N,
      done_before_close: doneWhileClosed,
      gate_commit_to_last_receipt_ms: drainMs,
      attempts_after_close: 0,
      keys_twice: twice,
    });
  } finally {
    await stack.close();
    await sink.close();
  }
});
