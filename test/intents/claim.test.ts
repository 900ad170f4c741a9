import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IntentState } from '@handoff/contracts';
import { claimLease } from '@handoff/intents';
import { useIntentsHarness } from './harness.ts';

const t = useIntentsHarness();

describe('claiming a lease', () => {
  test('a lease is taken only from approved, retry_wait, or running with an expired lease', async () => {
    for (const from of IntentState.options) {
      const intent = await t.newIntent({ channel: 'noop' });
      await t.h.tdb.db
        .updateTable('intents')
        .set({ state: from, run_after: null, lease_expires_at: new Date(Date.now() + 60_000) })
        .where('id', '=', intent.id)
        .execute();
      const lease = await claimLease(t.h.tdb.db, {
        intentId: intent.id,
        owner: 'x',
        ttlSeconds: 5,
        heldKeys: ['noop:*'],
      });
      assert.equal(lease !== null, from === 'approved' || from === 'retry_wait', `claim from ${from}`);
    }
  });

  test('two claimers at once: exactly one gets the lease', async () => {
    const intent = await t.newIntent();
    const claims = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        claimLease(t.h.tdb.db, { intentId: intent.id, owner: `e${i}`, ttlSeconds: 5, heldKeys: ['scripted:*'] }),
      ),
    );
    assert.equal(claims.filter((c) => c !== null).length, 1);
  });

  test('an executor leases only the channels and accounts it holds', async () => {
    const intent = await t.newIntent({ account: 'held' });
    assert.equal(
      await claimLease(t.h.tdb.db, {
        intentId: intent.id,
        owner: 'x',
        ttlSeconds: 5,
        heldKeys: ['scripted:other', 'noop:*'],
      }),
      null,
    );
    assert.ok(
      await claimLease(t.h.tdb.db, { intentId: intent.id, owner: 'x', ttlSeconds: 5, heldKeys: ['scripted:held'] }),
    );
  });

  test('an approval is bound to the payload hash it approved', async () => {
    const intent = await t.newIntent({ channel: 'webhook', payload: { url: 'http://127.0.0.1:1/x', body: {} } });
    assert.equal(intent.state, 'pending_approval');
    await t.h.service.approve(intent.id, 'op');
    // a payload changed behind the approval's back must not run
    await t.h.tdb.db.updateTable('intents').set({ payload_hash: 'tampered' }).where('id', '=', intent.id).execute();
    assert.equal(
      await claimLease(t.h.tdb.db, { intentId: intent.id, owner: 'x', ttlSeconds: 5, heldKeys: ['webhook:*'] }),
      null,
    );
  });

  test('a closed gate refuses the lease', async () => {
    const intent = await t.newIntent({ account: 'gated' });
    await t.h.service.setGate('scripted:gated', { enabled: false }, 'op');
    assert.equal(
      await claimLease(t.h.tdb.db, { intentId: intent.id, owner: 'x', ttlSeconds: 5, heldKeys: ['scripted:*'] }),
      null,
    );
    await t.h.service.setGate('scripted:gated', { enabled: true }, 'op');
    assert.ok(
      await claimLease(t.h.tdb.db, { intentId: intent.id, owner: 'x', ttlSeconds: 5, heldKeys: ['scripted:*'] }),
    );
  });
});
