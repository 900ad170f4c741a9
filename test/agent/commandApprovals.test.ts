import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { LIST_ANSWER_MAX_BYTES, ListCommandApprovalsQuery } from '@handoff/contracts';
import { createCommandApprovals } from '@handoff/agent';
import type { CommandApprovals } from '@handoff/agent';
import { createTestDatabase } from '../support/database.ts';
import type { TestDatabase } from '../support/database.ts';

describe('command approvals list', () => {
  let database: TestDatabase;
  let approvals: CommandApprovals;
  before(async () => {
    database = await createTestDatabase();
    approvals = createCommandApprovals(database.db);
  });
  after(() => database.drop());

  const list = (query: Record<string, unknown>) => approvals.list(ListCommandApprovalsQuery.parse(query));

  test('a page of large commands stops at the byte cap and the cursor reaches every approval once, oldest waiting first', async () => {
    const big = 'x'.repeat(100_000);
    const made = [];
    for (let i = 0; i < 5; i++) {
      made.push(
        await approvals.request({
          sessionId: 's-paging',
          command: `echo ${i} ${big}`,
          cwd: '/w',
          rule: 'r',
          reason: 'why',
          timeoutMs: 600_000,
        }),
      );
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    for (;;) {
      const page = await list({ state: 'pending', limit: 1000, cursor });
      pages++;
      assert.ok(Buffer.byteLength(JSON.stringify(page)) <= LIST_ANSWER_MAX_BYTES, 'each answer fits the byte cap');
      for (const a of page.approvals)
        assert.equal(a.command.length, made.find((m) => m.id === a.id)!.command.length, 'commands come whole');
      seen.push(...page.approvals.map((a) => a.id));
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    assert.ok(pages >= 2, `five 100 kB commands need more than one page (got ${pages})`);
    assert.deepEqual(
      seen,
      made.map((a) => a.id),
      'every approval once, in the order they were asked',
    );
  });

  test('any state is listed newest first; an id prefix finds one approval', async () => {
    const a = await approvals.request({
      sessionId: 's-order',
      command: 'echo a',
      cwd: '/w',
      rule: 'r',
      reason: 'why',
      timeoutMs: 600_000,
    });
    const b = await approvals.request({
      sessionId: 's-order',
      command: 'echo b',
      cwd: '/w',
      rule: 'r',
      reason: 'why',
      timeoutMs: 600_000,
    });
    const first = await list({ limit: 1 });
    assert.equal(first.approvals[0]?.id, b.id);
    const second = await list({ limit: 1, cursor: first.nextCursor });
    assert.equal(second.approvals[0]?.id, a.id);

    const prefix = a.id.replaceAll('-', '').slice(0, 10);
    const found = await list({ idPrefix: prefix, limit: 5 });
    assert.deepEqual(
      found.approvals.map((x) => x.id),
      [a.id],
    );
  });

  test('a cursor the API did not give out is refused naming the field', () => {
    const parsed = ListCommandApprovalsQuery.safeParse({ cursor: 'not-a-cursor' });
    assert.equal(parsed.success, false);
    assert.deepEqual(parsed.error?.issues[0]?.path, ['cursor']);
  });
});
