import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { processTicket } from '@handoff/executor';
import type { Notifier } from '@handoff/coordinator';
import { startNotifyHarness, type NotifyHarness } from './support.ts';

/**
 * While the kill switch (or the notify channel's own gate) is closed, nothing is sent and nothing is
 * lost: the window stays open and keeps folding, and when the gate opens one digest per target
 * carries everything, the gate's closing and opening included (decision 119). A notify intent is held
 * at the claim like every effect.
 */

let h: NotifyHarness;
let notifier: Notifier;
let n = 0;

async function pendingIntents(count: number): Promise<void> {
  for (let i = 0; i < count; i++)
    await h.service.create(
      {
        channel: 'webhook',
        account: 'default',
        idempotencyKey: `gated-${++n}`,
        payload: { url: 'https://hooks.example/x', body: { n } },
      },
      'operator:t',
    );
}

/** Passes until the window is past its time and held by a closed gate. */
async function untilHeld(): Promise<string[]> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const pass = await notifier.pass();
    if (pass.fold.window === 'held') return pass.fold.by;
    if (Date.now() > deadline) throw new Error(`never held: ${JSON.stringify(pass.fold)}`);
    await sleep(100);
  }
}

before(async () => {
  h = await startNotifyHarness();
  notifier = h.notifier();
  await notifier.pass();
});
after(async () => h?.close());

describe('a closed gate and notifications', () => {
  for (const scope of ['global', 'notify']) {
    test(`while the ${scope} gate is closed nothing is written; when it opens, one digest per target carries it all`, async () => {
      const before = (await h.digests()).length;
      await h.service.setGate(scope, { enabled: false, reason: 'incident' }, 'operator:t');
      await pendingIntents(3);
      assert.deepEqual(await untilHeld(), [scope]);
      await pendingIntents(2); // a held window keeps folding
      await notifier.pass();
      assert.equal((await h.digests()).length, before, 'nothing written while the gate is closed');

      await h.service.setGate(scope, { enabled: true, reason: 'resolved' }, 'operator:t');
      await h.settle(notifier);
      const written = (await h.digests()).slice(before);
      assert.deepEqual(
        written.map((d) => [d.account, d.payload.total]),
        [
          ['phone', 7],
          ['team', 5],
        ],
        'phone: 5 approvals and the gate closed, then opened; team: the approvals',
      );
      const gateItems = written[0]!.payload.items.filter((i) => i.event === 'gate_changed').map((i) => i.subject);
      assert.deepEqual(gateItems, [
        `gate ${scope} closed by operator:t: incident`,
        `gate ${scope} opened by operator:t: resolved`,
      ]);
    });
  }

  test('a notify intent waits at the claim while the kill switch is closed, like every effect', async () => {
    const digest = (await h.digests())[0]!;
    await h.service.setGate('global', { enabled: false, reason: 'drill' }, 'operator:t');
    assert.equal(await processTicket(h.executor('E1'), digest.id), 'not_claimed');
    const { rows } = await sql<{ state: string }>`SELECT state FROM intents WHERE id = ${digest.id}`.execute(h.tdb.db);
    assert.equal(rows[0]!.state, 'approved');
    await h.service.setGate('global', { enabled: true }, 'operator:t');
    // leased now (and refused for want of secrets on this executor: it was performed, not held)
    assert.equal(await processTicket(h.executor('E1'), digest.id), 'dead');
  });
});
