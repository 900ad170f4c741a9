import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { GateListener } from '@handoff/executor';
import { quietLog, startPipeline, type PipelineHarness } from '../support/pipeline.ts';
import { waitFor } from '../support/stack.ts';

/**
 * GateListener (apps/executor/gateListener.ts): the executor's in-memory view of the closed gates,
 * kept by LISTEN/NOTIFY, so it stops starting work the moment an operator closes a gate.
 */
let h: PipelineHarness;
let gates: GateListener;

before(async () => {
  h = await startPipeline();
  gates = new GateListener(h.tdb.url, quietLog);
  await gates.start();
});
after(async () => {
  await gates?.stop();
  await h?.close();
});

const setGate = (scope: string, enabled: boolean) =>
  h.service.setGate(scope, { enabled, reason: enabled ? undefined : 'test' }, 'test');
/** Within a second: a NOTIFY, not the 5 s refresh that backs it up. */
const heard = (what: string, check: () => boolean) => waitFor(what, async () => check(), 1_000, 10);

describe('GateListener', () => {
  test('a closed gate is heard within a second and covers exactly the intents of its scope; opening it is heard too', async () => {
    assert.equal(gates.covers('webhook', 'a'), false, 'nothing closed yet');

    await setGate('webhook:a', false);
    await heard('the account gate to close', () => gates.covers('webhook', 'a'));
    assert.equal(gates.covers('webhook', 'b'), false, 'another account of the channel');
    assert.equal(gates.covers('email', 'a'), false, 'the same account name on another channel');

    await setGate('webhook', false);
    await heard('the channel gate to close', () => gates.covers('webhook', 'b'));
    assert.equal(gates.covers('email', 'a'), false);

    await setGate('webhook', true);
    await heard('the channel gate to open', () => !gates.covers('webhook', 'b'));
    assert.equal(gates.covers('webhook', 'a'), true, 'the account gate is still closed');
    await setGate('webhook:a', true);
    await heard('the account gate to open', () => !gates.covers('webhook', 'a'));

    await setGate('global', false);
    await heard('the global gate to close', () => gates.covers('email', 'anyone') && gates.covers('webhook', 'a'));
    await setGate('global', true);
    await heard('the global gate to open', () => !gates.covers('email', 'anyone'));
  });

  test('a listening connection that is cut reconnects on its own and reads the gates closed meanwhile', async () => {
    const cut = await sql<{ ok: boolean }>`
      SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
      WHERE application_name = 'handoff-gates' AND datname = current_database()`.execute(h.tdb.db);
    assert.ok(cut.rows.length >= 1 && cut.rows.every((r) => r.ok), "the listener's connection was cut");
    await setGate('webhook:cut', false);
    await waitFor('the reconnected listener to see the gate', async () => gates.covers('webhook', 'cut'), 5_000, 20);
    await setGate('webhook:cut', true);
    await heard('the gate to open, by NOTIFY on the new connection', () => !gates.covers('webhook', 'cut'));
  });

  test('a listener that cannot reach Postgres starts anyway, covering nothing, and stops cleanly', async () => {
    const unreachable = new GateListener('postgres://postgres@127.0.0.1:1/none', quietLog);
    await unreachable.start();
    assert.equal(unreachable.covers('webhook', 'a'), false);
    await unreachable.stop();
  });
});
