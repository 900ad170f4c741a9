import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { z } from 'zod';
import type { NotifyEvent } from '@handoff/contracts';
import { PermanentError, UnknownOutcomeError, type Connector } from '@handoff/connectors';
import { processTicket } from '@handoff/executor';
import { openNodeStateStore } from '@handoff/router';
import { quietLog } from '../support/pipeline.ts';
import { CONSOLE, startNotifyHarness, type NotifyHarness } from './support.ts';

/**
 * Every event the contract names becomes an item of the digest, from the table where handoff
 * records it; each target hears only the events it asked for; and notifications never notify about
 * themselves (a dead notify intent, a notify breaker).
 */

/** Fails as its payload says: permanently (dead) or with an unknown outcome and no reconcile (in doubt). */
const trial: Connector<{ outcome: 'permanent' | 'unknown' }> = {
  name: 'trial',
  externalEffect: false,
  needsCredentials: false,
  payloadSchema: z.object({ outcome: z.enum(['permanent', 'unknown']) }),
  async execute(intent) {
    if (intent.payload.outcome === 'permanent') throw new PermanentError('the receiver said 410 Gone');
    throw new UnknownOutcomeError('connection reset after the request was sent');
  },
};

let h: NotifyHarness;
const made: Partial<Record<NotifyEvent, string>> = {};

/** The row an executor's heartbeat writes (apps/executor/heartbeat.ts), `ageSeconds` ago. */
async function heartbeat(id: string, ageSeconds: number, breakers: unknown[] = []): Promise<void> {
  await sql`
    INSERT INTO executors (id, host, pid, started_at, heartbeat_at, status, channels, breakers)
    VALUES (${id}, 'node-7', 4242, clock_timestamp(), clock_timestamp() - make_interval(secs => ${ageSeconds}),
      'running', '["trial:*"]', ${JSON.stringify(breakers)})`.execute(h.tdb.db);
}

before(async () => {
  h = await startNotifyHarness({ connectors: [trial] });
  const notifier = h.notifier();
  await notifier.pass(); // the cursors start now

  const pending = await h.service.create(
    {
      channel: 'webhook',
      account: 'default',
      idempotencyKey: 'wants-approval',
      payload: { url: 'https://hooks.example/x', body: {} },
    },
    'operator:t',
  );
  made.approval_needed = pending.intent.id;
  for (const [event, outcome] of [
    ['dead', 'permanent'],
    ['in_doubt', 'unknown'],
  ] as const) {
    const { intent } = await h.service.create(
      { channel: 'trial', account: 'default', idempotencyKey: `trial-${outcome}`, payload: { outcome } },
      'operator:t',
    );
    assert.equal(await processTicket(h.executor('E1'), intent.id), event);
    made[event] = intent.id;
  }
  await heartbeat('exec-silent', 60);
  const openedAt = new Date().toISOString();
  await heartbeat('exec-alive', 0, [
    { key: 'x:@acme', state: 'open', failures: 7, openedAt },
    { key: 'notify:phone', state: 'open', failures: 5, openedAt },
    { key: 'webhook:default', state: 'closed', failures: 0, openedAt: null },
  ]);
  await h.service.setGate('x', { enabled: false, reason: 'the X account is under review' }, 'operator:t');
  const nodes = await openNodeStateStore(h.tdb.db, { log: quietLog, pollMs: 0 });
  nodes.save({
    nodeId: 'gpu-2',
    quarantined: true,
    quarantinedAt: new Date(),
    reason: 'three timeouts in a row',
    consecutiveFailures: 3,
    breaker: 'open',
    breakerOpenedAt: new Date(),
  });
  await nodes.close();
  // the statements libs/backup/runs.ts writes for a backup that failed
  const { rows } = await sql<{ id: string }>`
    INSERT INTO backup_runs (kind, dir) VALUES ('scheduled', '/backups/x') RETURNING id::text AS id`.execute(h.tdb.db);
  await sql`
    UPDATE backup_runs SET status = 'failed', finished_at = clock_timestamp(), error = 'disk full'
    WHERE id = ${rows[0]!.id}`.execute(h.tdb.db);

  await h.settle(notifier);
});
after(async () => h?.close());

describe('events', () => {
  test('each event kind becomes one item, with its own words and its page', async () => {
    const phone = (await h.digests()).find((d) => d.account === 'phone');
    assert.ok(phone, 'a digest for the target that hears everything');
    const byEvent = new Map(phone.payload.items.map((i) => [i.event, i]));
    assert.equal(phone.payload.total, 8, phone.payload.items.map((i) => i.subject).join('\n'));
    assert.deepEqual([...byEvent.keys()].sort(), [
      'approval_needed',
      'backup_failed',
      'breaker_opened',
      'dead',
      'executor_stale',
      'gate_changed',
      'in_doubt',
      'model_node_quarantined',
    ]);
    const page = (id: string | undefined) => `${CONSOLE}#/intent/${id}`;
    assert.equal(byEvent.get('approval_needed')!.url, page(made.approval_needed));
    assert.equal(byEvent.get('dead')!.url, page(made.dead));
    assert.match(byEvent.get('dead')!.subject, /^trial:default intent [0-9a-f]{8} is dead: .*410 Gone/);
    assert.equal(byEvent.get('in_doubt')!.url, page(made.in_doubt));
    assert.match(byEvent.get('in_doubt')!.subject, /is in doubt/);
    assert.match(byEvent.get('executor_stale')!.subject, /^executor exec-silent on node-7 stopped sending heartbeats/);
    assert.match(
      byEvent.get('breaker_opened')!.subject,
      /^breaker x:@acme opened on executor exec-alive \(7 failures\)/,
    );
    assert.equal(byEvent.get('gate_changed')!.subject, 'gate x closed by operator:t: the X account is under review');
    assert.equal(
      byEvent.get('model_node_quarantined')!.subject,
      'model node gpu-2 quarantined: three timeouts in a row',
    );
    assert.match(byEvent.get('backup_failed')!.subject, /^scheduled backup #\d+ failed: disk full$/);
    for (const event of ['executor_stale', 'breaker_opened', 'gate_changed', 'backup_failed'] as const)
      assert.equal(byEvent.get(event)!.url, `${CONSOLE}#/`, `${event} links to Needs you`);
    assert.equal(phone.payload.priority, 'high', 'a dead intent cannot wait');
    assert.match(phone.payload.title, /^handoff: 1 intent waits for approval, 1 intent dead, 1 intent in doubt, /);
  });

  test('a target hears only the events it asked for: one event reads as itself and links to its page', async () => {
    const team = (await h.digests()).find((d) => d.account === 'team');
    assert.ok(team);
    assert.equal(team.payload.total, 1);
    assert.equal(team.payload.items[0]!.event, 'approval_needed');
    assert.equal(team.payload.title, 'handoff: intent waits for approval');
    assert.equal(team.payload.url, `${CONSOLE}#/intent/${made.approval_needed}`);
    assert.match(team.payload.message, /^webhook:default intent [0-9a-f]{8} waits for approval$/);
  });

  test('an event read again is not told again', async () => {
    const before = await h.digests();
    // as if every source were read from the start again
    await sql`UPDATE notify_cursors SET position = '2000-01-01T00:00:00Z'`.execute(h.tdb.db);
    const pass = await h.notifier().pass();
    assert.deepEqual(pass.noticed, {});
    assert.deepEqual(await h.digests(), before);
  });

  test('a notification that dies, or a notify breaker that opens, notifies nobody', async () => {
    const phone = (await h.digests()).find((d) => d.account === 'phone')!;
    // this executor holds no secrets for the target: the connector refuses, permanently
    assert.equal(await processTicket(h.executor('E2'), phone.id), 'dead');
    const { rows } = await sql<{ state: string }>`SELECT state FROM intents WHERE id = ${phone.id}`.execute(h.tdb.db);
    assert.equal(rows[0]!.state, 'dead');
    await heartbeat(`exec-${randomUUID()}`, 0, [
      { key: 'notify:team', state: 'open', failures: 5, openedAt: new Date().toISOString() },
    ]);
    const pass = await h.notifier().pass();
    assert.deepEqual(pass.noticed, {});
  });
});
