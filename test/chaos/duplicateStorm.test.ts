import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Intent } from '@handoff/contracts';
import { startStack } from '../support/stack.ts';
import { report } from './support.ts';

test('duplicate storm: 100 concurrent creates with one key make exactly one intent, and every answer names it', async () => {
  const stack = await startStack();
  try {
    const body = { channel: 'noop', idempotencyKey: 'the-one-key', payload: { text: 'once' } };
    const answers = await Promise.all(
      Array.from({ length: 100 }, () => stack.api<Intent>('POST', '/v1/intents', body)),
    );
    const ids = new Set(answers.map((a) => a.body.id));
    const created = answers.filter((a) => a.status === 201).length;
    const replayed = answers.filter((a) => a.status === 200).length;
    assert.equal(ids.size, 1, 'every answer names the same intent');
    assert.equal(created, 1);
    assert.equal(replayed, 99);
    const rows = await stack.tdb.db
      .selectFrom('intents')
      .select('id')
      .where('idempotency_key', '=', 'the-one-key')
      .execute();
    assert.equal(rows.length, 1);
    // the same key with another payload, concurrently: all refused, nothing written
    const conflicting = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        stack.api('POST', '/v1/intents', { ...body, payload: { text: `other ${i}` } }),
      ),
    );
    assert.ok(conflicting.every((a) => a.status === 409));
    report('duplicate-storm', {
      requests: 100,
      intents: rows.length,
      created,
      replayed,
      conflicts_refused: conflicting.length,
    });
  } finally {
    await stack.close();
  }
});
