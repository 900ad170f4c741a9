import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { startStack, type Stack } from '../support/stack.ts';

/**
 * The two reads behind the MCP tools, over plain HTTP: GET /v1/channels answers under the policy in
 * force (not the default), and GET /v1/intents/by-key finds an intent by the key its agent chose.
 */

let stack: Stack;

type ChannelList = {
  channels: { channel: string; externalEffect: boolean; needsApproval: boolean; accounts: unknown[] }[];
};

describe('GET /v1/channels and GET /v1/intents/by-key', () => {
  before(async () => {
    stack = await startStack({
      policy: {
        approval: {
          rules: [
            { channel: 'webhook', requireApproval: false },
            { channel: 'noop', requireApproval: true },
          ],
        },
      },
    });
  });
  after(async () => {
    await stack?.close();
  });

  test('needsApproval follows the policy in force; with no executor running, no channel lists an account', async () => {
    const res = await stack.api<ChannelList>('GET', '/v1/channels');
    assert.equal(res.status, 200);
    const byName = new Map(res.body.channels.map((c) => [c.channel, c]));
    assert.deepEqual([...byName.keys()], ['calendar', 'deploy', 'email', 'noop', 'notify', 'webhook', 'x']);
    assert.equal(byName.get('webhook')?.needsApproval, false, 'relaxed by a rule');
    assert.equal(byName.get('noop')?.needsApproval, true, 'tightened by a rule');
    assert.equal(byName.get('x')?.needsApproval, true, 'draft_only default for an external effect');
    assert.equal(byName.get('x')?.externalEffect, true);
    for (const c of res.body.channels) assert.deepEqual(c.accounts, []);
  });

  test('by-key answers the intent a key names, 404 for a key nobody used, 400 without a key', async () => {
    const key = `by-key/${randomUUID()} with spaces & symbols?`;
    const created = await stack.api<{ id: string }>('POST', '/v1/intents', {
      channel: 'noop',
      payload: { n: 1 },
      idempotencyKey: key,
    });
    assert.equal(created.status, 201);
    const found = await stack.api<{ id: string; idempotencyKey: string; receipts: unknown[] }>(
      'GET',
      `/v1/intents/by-key?idempotencyKey=${encodeURIComponent(key)}`,
    );
    assert.equal(found.status, 200);
    assert.equal(found.body.id, created.body.id);
    assert.equal(found.body.idempotencyKey, key);
    assert.ok(Array.isArray(found.body.receipts));
    const missing = await stack.api<{ error: { code: string } }>(
      'GET',
      `/v1/intents/by-key?idempotencyKey=nobody-${randomUUID()}`,
    );
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'not_found');
    const bad = await stack.api<{ error: { code: string } }>('GET', '/v1/intents/by-key');
    assert.equal(bad.status, 400);
    // the :id route still answers ids
    assert.equal((await stack.api('GET', `/v1/intents/${created.body.id}`)).status, 200);
  });
});
