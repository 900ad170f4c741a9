import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { digestKey, MAX_ITEMS } from '@handoff/coordinator';
import { CONSOLE, startNotifyHarness, type NotifyHarness } from './support.ts';

/**
 * Issue 12's check: a burst of 200 intents needing approval gives one digest per target, each exactly
 * once, with two notifiers (two coordinators) racing, and again when a digest is sent a second time
 * (a coordinator that died between writing the intents and marking the digest sent).
 */

let h: NotifyHarness;
const ids: string[] = [];

before(async () => {
  h = await startNotifyHarness();
  const created = await Promise.all(
    Array.from({ length: 200 }, (_, i) =>
      h.service.create(
        {
          channel: 'webhook',
          account: 'default',
          idempotencyKey: `burst-${i}`,
          payload: { url: 'https://hooks.example/deploy', body: { n: i } },
        },
        'operator:burst',
      ),
    ),
  );
  for (const c of created) {
    assert.equal(c.intent.state, 'pending_approval');
    ids.push(c.intent.id);
  }
});
after(async () => h?.close());

describe('a burst of 200 intents needing approval', () => {
  test('two racing notifiers write exactly one digest per target, linking to Needs you and to each intent', async () => {
    const a = h.notifier();
    const b = h.notifier({ second: true });
    await h.settle(a, b);
    // more passes of both find nothing new to say
    await h.settle(a, b);

    const digests = await h.digests();
    assert.deepEqual(
      digests.map((d) => d.account),
      ['phone', 'team'],
    );
    const { rows: sealed } = await sql<{ id: string }>`SELECT id::text AS id FROM notify_digests`.execute(h.tdb.db);
    assert.equal(sealed.length, 1, 'one window folded the whole burst');
    for (const d of digests) {
      assert.equal(d.key, digestKey(d.account, sealed[0]!.id));
      assert.equal(d.state, 'approved', 'a notification needs no approval by default');
      assert.equal(d.payload.total, 200);
      assert.equal(d.payload.items.length, MAX_ITEMS);
      assert.equal(d.payload.title, 'handoff: 200 intents wait for approval');
      assert.equal(d.payload.url, `${CONSOLE}#/`);
      assert.equal(d.payload.priority, 'default');
      for (const item of d.payload.items) {
        assert.equal(item.event, 'approval_needed');
        const id = /#\/intent\/([0-9a-f-]{36})$/.exec(item.url ?? '')?.[1];
        assert.ok(id && ids.includes(id), `${item.url} links to an intent of the burst`);
        assert.match(item.subject, new RegExp(`^webhook:default intent ${id.slice(0, 8)} waits for approval$`));
      }
    }
    assert.equal(digests.find((d) => d.account === 'phone')!.payload.kind, 'ntfy');
    assert.equal(digests.find((d) => d.account === 'team')!.payload.kind, 'slack');
  });

  test('a digest sent again (its sender died before marking it sent) writes nothing new', async () => {
    const before = await h.digests();
    await sql`UPDATE notify_digests SET sent_at = NULL`.execute(h.tdb.db);
    const other = h.notifier({ second: true });
    const pass = await other.pass();
    assert.equal(pass.ran, true);
    assert.equal(pass.created, 0, 'both keys already existed: replays');
    assert.deepEqual(await h.digests(), before);
    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM notify_digests WHERE sent_at IS NULL`.execute(h.tdb.db);
    assert.equal(rows[0]!.n, 0, 'and the digest is marked sent');
  });
});
