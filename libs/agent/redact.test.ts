import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeadTailBuffer } from './outputBuffer.ts';
import { redact, REDACTED } from './redact.ts';

test('redact hides values of secret-named keys and secret-looking strings anywhere', () => {
  const out = redact({
    command: "curl -H 'Authorization: Bearer abcdefghijklmnop123' https://x",
    headers: { Authorization: 'Basic Zm9vOmJhcg==', 'X-Api-Key': 'k', accept: 'json' },
    nested: [{ password: 'hunter2', note: 'key sk-proj-0123456789abcdef and ghp_0123456789abcdefghijABCDEFGHIJ' }],
    count: 3,
  }) as Record<string, unknown>;
  const text = JSON.stringify(out);
  for (const secret of ['abcdefghijklmnop123', 'Zm9vOmJhcg', 'hunter2', 'sk-proj-0123456789abcdef', 'ghp_0123456789'])
    assert.doesNotMatch(text, new RegExp(secret));
  assert.match(String(out['command']), /Bearer \[REDACTED\]/);
  assert.equal((out['headers'] as Record<string, unknown>)['accept'], 'json');
  assert.equal((out['headers'] as Record<string, unknown>)['X-Api-Key'], REDACTED);
  assert.equal(out['count'], 3);
});

test('the output buffer keeps head and tail within its limit and says how much it cut', () => {
  const buffer = new HeadTailBuffer(10);
  buffer.push(Buffer.from('0123456789'));
  buffer.push(Buffer.from('abcdefghij'));
  buffer.push(Buffer.from('XYZ'));
  assert.equal(buffer.truncatedBytes, 13);
  assert.equal(buffer.text(), '01234\n[... 13 bytes of output truncated ...]\nijXYZ');
  const small = new HeadTailBuffer(100);
  small.push(Buffer.from('short'));
  assert.equal(small.text(), 'short');
  assert.equal(small.truncatedBytes, 0);
});
