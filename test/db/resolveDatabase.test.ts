import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import { resolveDatabase } from '@handoff/db';

describe('resolveDatabase', () => {
  test('DATABASE_URL, when set, is used as is and nothing is started', async () => {
    const saved = process.env.DATABASE_URL;
    process.env.DATABASE_URL = 'postgres://u@127.0.0.1:1/x';
    try {
      const db = await resolveDatabase({ home: '/nonexistent/should-not-be-created' });
      assert.deepEqual({ url: db.url, embedded: db.embedded }, { url: 'postgres://u@127.0.0.1:1/x', embedded: false });
      await db.stop();
      assert.equal(existsSync('/nonexistent/should-not-be-created'), false);
    } finally {
      if (saved === undefined) delete process.env.DATABASE_URL;
      else process.env.DATABASE_URL = saved;
    }
  });
});
