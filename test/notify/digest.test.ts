import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NotifyPayload, NotifyTarget, type NotifyEvent } from '@handoff/contracts';
import { consolePages, digestFor, MAX_ITEMS, type NoticedEvent } from '@handoff/coordinator';

/** The folding of events into one target's message (apps/coordinator/notifier/digest.ts), without Postgres. */

const at = (s: number) => new Date(Date.UTC(2026, 11, 3, 19, 12, s));
const event = (e: NotifyEvent, subject: string, s = 0, intentId: string | null = null): NoticedEvent => ({
  event: e,
  subject,
  intentId,
  at: at(s),
});
const everything = NotifyTarget.parse({ name: 'phone', kind: 'ntfy' });

describe('digestFor', () => {
  test('the console link is a fragment route of consoleUrl, with or without its trailing slash', () => {
    for (const url of ['https://h.example/console', 'https://h.example/console/', 'https://h.example/console/#/old']) {
      const pages = consolePages(url);
      assert.equal(pages.needsYou, 'https://h.example/console/#/');
      assert.equal(pages.intent('abc'), 'https://h.example/console/#/intent/abc');
    }
  });

  test('a mixed burst reads as counts over its span, keeps MAX_ITEMS items, and is a valid payload', () => {
    const events = [
      ...Array.from({ length: 30 }, (_, i) => event('approval_needed', `x:@acme intent ${i} waits`, 1, `id-${i}`)),
      event('dead', 'webhook:ci intent d is dead: 410', 40, 'id-d'),
      event('gate_changed', 'gate x closed by ops', 41),
    ];
    const payload = digestFor(everything, events, 'https://h.example/console/')!;
    assert.deepEqual(NotifyPayload.parse(payload), payload);
    assert.equal(payload.title, 'handoff: 30 intents wait for approval, 1 intent dead, 1 gate changed');
    assert.equal(
      payload.message,
      '30 intents wait for approval, 1 intent dead, 1 gate changed, between 19:12:01 and 19:12:41 UTC.',
    );
    assert.equal(payload.total, 32);
    assert.equal(payload.items.length, MAX_ITEMS);
    assert.equal(payload.items[0]!.url, 'https://h.example/console/#/intent/id-0');
    assert.equal(payload.url, 'https://h.example/console/#/');
    assert.equal(payload.priority, 'high');
  });

  test('a target that asked for none of the events gets no message', () => {
    const approvals = NotifyTarget.parse({ name: 'team', kind: 'slack', events: ['approval_needed'] });
    assert.equal(digestFor(approvals, [event('backup_failed', 'backup #3 failed')], 'https://h.example/'), null);
  });
});
