import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { after, test } from 'node:test';
import { removeHome } from '../support/removeHome.ts';
import { eventually, handoff, homeEnv, intentsWithReceipts, newHome, query, startHandoff } from './support.ts';
import type { IntentRow, Running } from './support.ts';

const homes: string[] = [];
const running: Running[] = [];
after(async () => {
  for (const r of running) await r.stop().catch(() => {});
  for (const h of homes) removeHome(h);
});
function home(tag: string): string {
  const h = newHome(tag);
  homes.push(h);
  return h;
}

async function receiptOf(r: Running, id: string): Promise<boolean> {
  const rows = await query(r.dbUrl(), `SELECT 1 FROM receipts WHERE intent_id = $1 AND kind = 'success'`, [id]);
  return rows.length === 1;
}

test(
  'a backup taken while intents are created and executed restores into a fresh home: every intent that had a receipt before it has that receipt, none twice',
  { timeout: 900_000 },
  async () => {
    const source = home('load');
    const a = await startHandoff(source);
    running.push(a);

    // load: creators keep writing noop intents (executed at once by the in-process executor)
    let stop = false;
    let n = 0;
    const creators = Array.from({ length: 4 }, async (_, c) => {
      while (!stop) await a.createIntent(`load-${c}-${n++}`);
    });
    await eventually(
      '200 intents with receipts',
      async () => {
        const rows = await query<{ n: string }>(a.dbUrl(), `SELECT count(*) AS n FROM receipts`);
        return Number(rows[0]!.n) >= 200;
      },
      60_000,
    );

    const before = await intentsWithReceipts(a.dbUrl());
    const withReceipt = [...before.values()].filter((i) => i.receipts.length > 0);
    const backupDir = home('dest');
    const taken = await handoff(['backup', '--to', backupDir, '--json'], homeEnv(source));
    assert.equal(taken.code, 0, taken.stderr);
    const { dir, manifest } = JSON.parse(taken.stdout) as { dir: string; manifest: { counts: Record<string, number> } };
    assert.ok(manifest.counts.intents! >= before.size, 'the manifest counted every intent there before the backup');
    await eventually(
      'more intents after the backup',
      async () => (await intentsWithReceipts(a.dbUrl())).size > before.size + 50,
    );
    stop = true;
    await Promise.all(creators);
    await a.stop();

    const target = home('target');
    const restored = await handoff(['restore', dir], homeEnv(target));
    assert.equal(restored.code, 0, restored.stderr);
    assert.match(restored.stdout, /^restored .* into .* in \d[\d.]* ?(ms|s|m)\b.*checksums ok/);

    const c = await startHandoff(target);
    running.push(c);
    const after = await intentsWithReceipts(c.dbUrl());
    for (const intent of withReceipt) {
      const back: IntentRow | undefined = after.get(intent.id);
      assert.ok(back, `intent ${intent.key} (${intent.id}) had a receipt before the backup and is missing`);
      assert.equal(back.state, intent.state);
      assert.equal(back.payload_hash, intent.payload_hash);
      assert.deepEqual(back.receipts, intent.receipts, `intent ${intent.key}'s receipts`);
    }
    const keys = [...after.values()].map((i) => i.key);
    assert.equal(new Set(keys).size, keys.length, 'no idempotency key twice');
    for (const i of after.values()) {
      assert.ok(i.receipts.filter((r) => r.kind === 'success').length <= 1, `intent ${i.key} has two success receipts`);
    }
    assert.ok(after.size >= manifest.counts.intents!, 'at least the intents the backup counted');

    // the restored home works: a new intent is executed and gets its receipt
    const fresh = await c.createIntent('after-restore');
    await eventually('a receipt for an intent created after the restore', () => receiptOf(c, fresh));
    await c.stop();
  },
);

test(
  'a point-in-time restore to a moment between two intents has the first and not the second',
  { timeout: 900_000 },
  async () => {
    const source = home('pitr');
    const a = await startHandoff(source);
    running.push(a);
    const early = await a.createIntent('pitr-before-backup');
    await eventually('receipt', () => receiptOf(a, early));
    const backupDir = home('pitr-dest');
    const taken = await handoff(['backup', '--to', backupDir, '--json'], homeEnv(source));
    assert.equal(taken.code, 0, taken.stderr);
    const { dir } = JSON.parse(taken.stdout) as { dir: string };

    const first = await a.createIntent('pitr-first');
    await eventually('receipt', () => receiptOf(a, first));
    // the moment between them, by the database's own clock (the one recovery compares against)
    await new Promise((r) => setTimeout(r, 1100));
    const [{ at }] = (await query<{ at: Date }>(a.dbUrl(), 'SELECT clock_timestamp() AS at')) as [{ at: Date }];
    await new Promise((r) => setTimeout(r, 1100));
    const second = await a.createIntent('pitr-second');
    await eventually('receipt', () => receiptOf(a, second));
    await a.stop();

    const target = home('pitr-target');
    const restored = await handoff(['restore', dir, '--to-time', at.toISOString()], homeEnv(target));
    assert.equal(restored.code, 0, restored.stderr);
    const c = await startHandoff(target);
    running.push(c);
    const ids = new Set((await intentsWithReceipts(c.dbUrl())).keys());
    assert.ok(ids.has(early), 'the intent from before the backup is there');
    assert.ok(ids.has(first), 'the first intent (before the time) is there');
    assert.ok(!ids.has(second), 'the second intent (after the time) is not');
    await c.stop();

    // and without --to-time, the backup as it was taken: neither of them
    const plain = home('pitr-plain');
    const asTaken = await handoff(['restore', dir], homeEnv(plain));
    assert.equal(asTaken.code, 0, asTaken.stderr);
    assert.ok(readdirSync(plain).includes('pg.json'));
  },
);
