import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { LiveReport } from '@handoff/contracts';
import { HEARTBEAT_STALE_SECONDS } from '@handoff/intents';
import { startStack, waitFor, type Stack } from '../support/stack.ts';

/**
 * /v1/live flags an executor whose heartbeat is older than HEARTBEAT_STALE_SECONDS: the operator
 * sees a frozen or vanished executor for what it is. Driven with a real coordinator and a real
 * executor process, frozen with SIGSTOP so that its heartbeat stops while its row stays `running`.
 */
let stack: Stack;

before(async () => {
  stack = await startStack();
});

after(async () => {
  await stack.close();
});

async function seen(id: string): Promise<LiveReport['executors'][number] | undefined> {
  return (await stack.api<LiveReport>('GET', '/v1/live')).body.executors.find((e) => e.id === id);
}

test('an executor whose heartbeat is older than the threshold is flagged stale in /v1/live, and unflagged when it beats again', async () => {
  const exec = await stack.spawnExecutor('stale-candidate');
  await waitFor('a fresh heartbeat', async () => {
    const e = await seen('stale-candidate');
    return e && !e.stale && e.status === 'running';
  });

  exec.signal('SIGSTOP');
  try {
    const frozenAt = Date.now();
    const flagged = await waitFor(
      'the executor to be flagged stale',
      async () => {
        const e = await seen('stale-candidate');
        if (!e?.stale) {
          assert.ok(
            Date.now() - frozenAt < (HEARTBEAT_STALE_SECONDS + 5) * 1000,
            'flagged within the threshold and a few seconds',
          );
          return null;
        }
        return { e, after: Date.now() - frozenAt };
      },
      (HEARTBEAT_STALE_SECONDS + 10) * 1000,
      200,
    );
    // not before its last heartbeat (at most one 500 ms interval before the freeze) is that old
    const tooSoon = `flagged ${flagged.after} ms after the freeze, before its heartbeat was ${HEARTBEAT_STALE_SECONDS} s old`;
    assert.ok(flagged.after >= (HEARTBEAT_STALE_SECONDS - 1) * 1000, tooSoon);
    const age = Date.now() - Date.parse(flagged.e.heartbeatAt);
    assert.ok(age >= HEARTBEAT_STALE_SECONDS * 1000, `the heartbeat shown is ${age} ms old`);
    assert.equal(flagged.e.status, 'running', 'the row still says running: only the heartbeat tells');

    // the page says it too
    const page = await fetch(`${stack.coordinator.url}/live`, { headers: { authorization: `Bearer ${stack.token}` } });
    assert.match(await page.text(), /running \(stale\)/);
  } finally {
    exec.signal('SIGCONT');
  }
  await waitFor(
    'the executor to beat again',
    async () => (await seen('stale-candidate'))?.stale === false,
    10_000,
    100,
  );
});
