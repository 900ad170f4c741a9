import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { startCoordinator, type RunningCoordinator } from '@handoff/coordinator';
import { startNtfyServer, type NtfyFake } from '../fakes/ntfyServer.ts';
import { startSlackWebhook, type SlackFake } from '../fakes/slackWebhook.ts';
import { quietLog } from '../support/pipeline.ts';
import { startStack, waitFor, type Stack } from '../support/stack.ts';

/**
 * End to end: two coordinators on one database notice a burst of 200 intents needing approval, an
 * executor process that holds the targets' secrets performs the digests, and the fake ntfy server
 * and Slack webhook (test/fakes, after the providers' docs) each receive exactly one message, linking
 * to the console's Needs you and to the intents' pages.
 */

let stack: Stack;
let second: RunningCoordinator;
let ntfy: NtfyFake;
let slack: SlackFake;
const topic = `handoff-${randomUUID().slice(0, 8)}`;

before(async () => {
  ntfy = await startNtfyServer();
  slack = await startSlackWebhook(`s${randomUUID().replace(/-/g, '')}`);
  stack = await startStack({
    policy: {
      notify: {
        // the burst arrives within one window even on a loaded machine (a later event opens a second one)
        digestSeconds: 20,
        targets: [
          { name: 'phone', kind: 'ntfy' },
          { name: 'team', kind: 'slack', events: ['approval_needed'] },
        ],
      },
    },
  });
  second = await startCoordinator({ home: stack.home, databaseUrl: stack.tdb.url, port: 0, log: quietLog });
  const secrets = join(stack.home, 'secrets.json');
  writeFileSync(
    secrets,
    JSON.stringify({
      notify: {
        phone: { kind: 'ntfy', url: ntfy.url, topic },
        team: { kind: 'slack', webhookUrl: `${slack.url}${slack.hookPath}` },
      },
    }),
  );
  chmodSync(secrets, 0o600);
  await stack.spawnExecutor('notify-e2e');
});
after(async () => {
  await second?.close();
  await stack?.close();
  await ntfy?.close();
  await slack?.close();
});

describe('notifications delivered', () => {
  test('a burst of 200 intents needing approval reaches each target exactly once, with console links', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 200; i += 20) {
      const batch = await Promise.all(
        Array.from({ length: 20 }, (_, j) =>
          stack.api<{ id: string; state: string }>('POST', '/v1/intents', {
            channel: 'webhook',
            account: 'default',
            idempotencyKey: `e2e-burst-${i + j}`,
            payload: { url: 'https://hooks.example/deploy', body: { n: i + j } },
          }),
        ),
      );
      for (const res of batch) {
        assert.equal(res.status, 201, JSON.stringify(res.body));
        assert.equal(res.body.state, 'pending_approval');
        ids.push(res.body.id);
      }
    }

    await waitFor(
      'both digests to be delivered',
      async () => {
        const { rows } = await sql<{ n: number }>`
          SELECT count(*)::int AS n FROM intents WHERE channel = 'notify' AND state = 'succeeded'`.execute(
          stack.tdb.db,
        );
        return rows[0]!.n >= 2;
      },
      60_000,
      200,
    );
    // both coordinators go on passing; nothing more is said about the burst
    await sleep(3_000);
    const { rows: notifyIntents } = await sql<{ account: string; state: string }>`
      SELECT account, state FROM intents WHERE channel = 'notify' ORDER BY account`.execute(stack.tdb.db);
    assert.deepEqual(notifyIntents, [
      { account: 'phone', state: 'succeeded' },
      { account: 'team', state: 'succeeded' },
    ]);
    assert.equal(ntfy.messages.length, 1, JSON.stringify(ntfy.messages));
    assert.equal(slack.messages.length, 1, JSON.stringify(slack.messages));

    // links go to the console of the coordinator that wrote the digest (policy.json names no consoleUrl)
    const [pushed] = ntfy.messages;
    const consoles = [stack.coordinator.url, second.url].map((url) => `${url}/console/`);
    const base = consoles.find((c) => pushed!.click === `${c}#/`);
    assert.ok(base, `${pushed!.click} is Needs you on one of ${consoles.join(', ')}`);
    assert.equal(pushed!.topic, topic);
    assert.equal(pushed!.title, 'handoff: 200 intents wait for approval');
    assert.match(pushed!.message, /and 190 more/);
    const linked = [...pushed!.message.matchAll(/(\S+)#\/intent\/([0-9a-f-]{36})/g)].map((m) => {
      assert.equal(m[1], base);
      return m[2]!;
    });
    assert.equal(linked.length, 10);
    for (const id of linked) assert.ok(ids.includes(id), `${id} is an intent of the burst`);

    // each target's digest may come from either coordinator, when both send at once
    const [posted] = slack.messages;
    assert.ok(
      consoles.some((c) => posted!.text.includes(`${c}#/`) && posted!.text.includes(`${c}#/intent/`)),
      posted!.text,
    );
  });
});
