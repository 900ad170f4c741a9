import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { createMCPClient } from '@ai-sdk/mcp';
import { startRecordingSink, type RecordingSink } from '../support/recordingSink.ts';
import { startStack, waitFor, type Stack } from '../support/stack.ts';

/**
 * handoff's MCP tools, driven by the official SDK client over both transports (`handoff mcp` as a
 * child process on stdio, and POST /mcp on a real coordinator) and by a second, independent client
 * (@ai-sdk/mcp), against a real coordinator, a real executor process and a webhook sink.
 */

const repo = fileURLToPath(new URL('../..', import.meta.url));
const cliMain = `${repo}apps/cli/src/main.ts`;

let stack: Stack;
let sink: RecordingSink;
let agentToken: string;
let viewerToken: string;

async function mintToken(role: string): Promise<string> {
  const res = await stack.api<{ token: string }>('POST', '/v1/tokens', {
    role,
    name: `mcp-${role}-${randomUUID().slice(0, 8)}`,
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body.token;
}

/** `handoff <args>` as an operator runs it; resolves with its exit code and output. */
function cli(args: string[], token: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliMain, ...args], {
      env: { ...process.env, HANDOFF_URL: stack.coordinator.url, HANDOFF_TOKEN: token, HANDOFF_HOME: stack.home },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

function stdioClient(token: string): { client: Client; transport: StdioClientTransport } {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [cliMain, 'mcp'],
    env: {
      ...(process.env as Record<string, string>),
      HANDOFF_URL: stack.coordinator.url,
      HANDOFF_TOKEN: token,
      HANDOFF_HOME: stack.home,
    },
    stderr: 'pipe',
  });
  return { client: new Client({ name: 'handoff-test', version: '1.0.0' }), transport };
}

function httpTransport(token: string): StreamableHTTPClientTransport {
  return new StreamableHTTPClientTransport(new URL(`${stack.coordinator.url}/mcp`), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  });
}

const text = (result: CallToolResult): string =>
  result.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');
const structured = <T = Record<string, unknown>>(result: CallToolResult): T => result.structuredContent as T;

/**
 * The scenario a client runs end to end: list the tools, propose a webhook intent that waits for
 * approval, propose it again with the same key (same id), with a conflicting payload (a tool error
 * naming idempotency_conflict), approve it with the CLI, and wait_for_intent answers the receipt.
 */
async function proposeApproveAndWait(client: Client, label: string): Promise<void> {
  const tools = await client.listTools();
  assert.deepEqual(tools.tools.map((t) => t.name).sort(), [
    'intent_status',
    'list_channels',
    'propose_intent',
    'wait_for_intent',
  ]);

  const key = `mcp-${label}-${randomUUID()}`;
  const payload = { url: `${sink.url}/hook/${label}`, body: { text: `hello from ${label}` } };
  const first = (await client.callTool({
    name: 'propose_intent',
    arguments: { channel: 'webhook', payload, idempotencyKey: key },
  })) as CallToolResult;
  assert.equal(first.isError, undefined, text(first));
  const proposed = structured<{ id: string; state: string; created: boolean }>(first);
  assert.equal(proposed.state, 'pending_approval');
  assert.equal(proposed.created, true);
  assert.match(text(first), /approve/);

  const again = (await client.callTool({
    name: 'propose_intent',
    arguments: { channel: 'webhook', payload, idempotencyKey: key },
  })) as CallToolResult;
  assert.equal(again.isError, undefined, text(again));
  assert.equal(structured<{ id: string }>(again).id, proposed.id, 'the same key answers the same intent');
  assert.equal(structured<{ created: boolean }>(again).created, false);

  const conflict = (await client.callTool({
    name: 'propose_intent',
    arguments: { channel: 'webhook', payload: { ...payload, body: { text: 'something else' } }, idempotencyKey: key },
  })) as CallToolResult;
  assert.equal(conflict.isError, true);
  assert.match(text(conflict), /^idempotency_conflict: /);
  assert.equal(structured<{ error: { code: string; status: number } }>(conflict).error.code, 'idempotency_conflict');
  assert.equal(structured<{ error: { code: string; status: number } }>(conflict).error.status, 409);

  const approved = await cli(['approve', proposed.id], stack.token);
  assert.equal(approved.code, 0, approved.stderr);

  const progress: string[] = [];
  const waited = (await client.callTool(
    { name: 'wait_for_intent', arguments: { id: proposed.id, timeoutSeconds: 60 } },
    undefined,
    { timeout: 90_000, resetTimeoutOnProgress: true, onprogress: (p) => progress.push(p.message ?? '') },
  )) as CallToolResult;
  assert.equal(waited.isError, undefined, text(waited));
  const outcome = structured<{ done: boolean; state: string; receipt: { kind: string; externalId: string } | null }>(
    waited,
  );
  assert.equal(outcome.done, true);
  assert.equal(outcome.state, 'succeeded', text(waited));
  assert.equal(outcome.receipt?.kind, 'success');
  assert.deepEqual(
    structured<{ receipts: { kind: string }[] }>(waited).receipts.map((r) => r.kind),
    ['success'],
  );
  assert.ok(outcome.receipt?.externalId, 'the success receipt names the external id');
  assert.match(text(waited), /succeeded/);
  assert.equal(
    sink.requests.filter((r) => r.path === `/hook/${label}`).length,
    1,
    'the webhook was called exactly once',
  );
}

describe('handoff MCP server', () => {
  before(async () => {
    stack = await startStack();
    sink = await startRecordingSink();
    await stack.spawnExecutor('mcp-exec');
    agentToken = await mintToken('agent');
    viewerToken = await mintToken('viewer');
  });
  after(async () => {
    await sink?.close();
    await stack?.close();
  });

  test('over stdio (handoff mcp), the official client proposes, is told of a conflict, and waits for the receipt after a CLI approval', async () => {
    const { client, transport } = stdioClient(agentToken);
    await client.connect(transport);
    try {
      assert.equal(client.getServerVersion()?.name, 'handoff');
      await proposeApproveAndWait(client, 'stdio');
    } finally {
      await client.close();
    }
  });

  test('over Streamable HTTP (POST /mcp with an agent token), the same scenario holds', async () => {
    const client = new Client({ name: 'handoff-test', version: '1.0.0' });
    await client.connect(httpTransport(agentToken));
    try {
      await proposeApproveAndWait(client, 'http');
    } finally {
      await client.close();
    }
  });

  test('propose_intent shows each channel its payload fields, generated from the connector schemas', async () => {
    const client = new Client({ name: 'handoff-test', version: '1.0.0' });
    await client.connect(httpTransport(agentToken));
    try {
      const { tools } = await client.listTools();
      const propose = tools.find((t) => t.name === 'propose_intent')!;
      const props = propose.inputSchema.properties as Record<
        string,
        { enum?: string[]; anyOf?: { title: string; properties?: Record<string, unknown> }[] }
      >;
      assert.deepEqual(propose.inputSchema.required?.sort(), ['channel', 'idempotencyKey', 'payload']);
      assert.ok(props.channel?.enum?.includes('webhook'));
      const webhook = props.payload?.anyOf?.find((v) => v.title === 'webhook payload');
      assert.ok(
        webhook?.properties && 'url' in webhook.properties && 'body' in webhook.properties,
        JSON.stringify(props.payload),
      );
      assert.ok(props.payload?.anyOf?.some((v) => v.title === 'x payload'));
      assert.match(propose.description ?? '', /same key/i);
      assert.match(propose.description ?? '', /approve/i);
    } finally {
      await client.close();
    }
  });

  test('intent_status finds an intent by its key, wait_for_intent reports progress and times out without failing, list_channels shows held accounts', async () => {
    const client = new Client({ name: 'handoff-test', version: '1.0.0' });
    await client.connect(httpTransport(agentToken));
    try {
      const key = `mcp-status-${randomUUID()}`;
      const proposed = (await client.callTool({
        name: 'propose_intent',
        arguments: { channel: 'webhook', payload: { url: `${sink.url}/status`, body: {} }, idempotencyKey: key },
      })) as CallToolResult;
      const id = structured<{ id: string }>(proposed).id;

      const byKey = (await client.callTool({
        name: 'intent_status',
        arguments: { idempotencyKey: key },
      })) as CallToolResult;
      assert.equal(structured<{ id: string; state: string }>(byKey).id, id);
      assert.equal(structured<{ state: string }>(byKey).state, 'pending_approval');
      const unknown = (await client.callTool({
        name: 'intent_status',
        arguments: { idempotencyKey: `nope-${randomUUID()}` },
      })) as CallToolResult;
      assert.equal(unknown.isError, true);
      assert.match(text(unknown), /^not_found: /);
      const neither = (await client.callTool({ name: 'intent_status', arguments: {} })) as CallToolResult;
      assert.equal(neither.isError, true);
      assert.match(text(neither), /exactly one of id and idempotencyKey/);

      const progress: number[] = [];
      const waited = (await client.callTool(
        { name: 'wait_for_intent', arguments: { idempotencyKey: key, timeoutSeconds: 3 } },
        undefined,
        {
          onprogress: (p) => progress.push(p.progress),
        },
      )) as CallToolResult;
      assert.equal(waited.isError, undefined);
      assert.equal(structured<{ done: boolean }>(waited).done, false);
      assert.equal(structured<{ outcome: string }>(waited).outcome, 'timeout');
      assert.ok(progress.length >= 1, 'progress notifications while waiting');
      assert.match(text(waited), /do not propose it again/);

      const channels = (await client.callTool({ name: 'list_channels', arguments: {} })) as CallToolResult;
      const list = structured<{
        channels: {
          channel: string;
          needsApproval: boolean;
          accounts: { account: string; needsApproval: boolean; executors: string[] }[];
        }[];
      }>(channels);
      const webhook = list.channels.find((c) => c.channel === 'webhook');
      assert.deepEqual(webhook?.accounts, [{ account: '*', needsApproval: true, executors: ['mcp-exec'] }]);
      assert.equal(list.channels.find((c) => c.channel === 'noop')?.needsApproval, false);
      assert.doesNotMatch(JSON.stringify(list), /secret|password|token/i);
      assert.match(text(channels), /webhook: any account \(needs approval\)/);
    } finally {
      await client.close();
    }
  });

  test('a tool error never crashes the server: an invalid payload is a validation_failed tool error, and the next call still works', async () => {
    const { client, transport } = stdioClient(agentToken);
    await client.connect(transport);
    try {
      const bad = (await client.callTool({
        name: 'propose_intent',
        arguments: { channel: 'webhook', payload: { body: {} }, idempotencyKey: `bad-${randomUUID()}` },
      })) as CallToolResult;
      assert.equal(bad.isError, true);
      assert.match(text(bad), /^validation_failed: .*payload\.url/);
      const ok = (await client.callTool({ name: 'list_channels', arguments: {} })) as CallToolResult;
      assert.equal(ok.isError, undefined);
    } finally {
      await client.close();
    }
  });

  test('POST /mcp refuses a missing, forged or viewer token before any tool runs', async () => {
    const initialize = {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } },
    };
    const post = (authorization?: string) =>
      fetch(`${stack.coordinator.url}/mcp`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...(authorization ? { authorization } : {}),
        },
        body: JSON.stringify(initialize),
      });
    assert.equal((await post()).status, 401);
    assert.equal((await post(`Bearer hnd_${'A'.repeat(43)}`)).status, 401);
    const viewer = await post(`Bearer ${viewerToken}`);
    assert.equal(viewer.status, 403);
    assert.equal(((await viewer.json()) as { error: { code: string } }).error.code, 'forbidden');
    // and the official client cannot connect with a viewer token
    const client = new Client({ name: 'handoff-test', version: '1.0.0' });
    await assert.rejects(client.connect(httpTransport(viewerToken)));
    // an operator token may (operator is agent and more)
    const operator = await post(`Bearer ${stack.token}`);
    assert.equal(operator.status, 200);
    await operator.body?.cancel();
    // stateless: no stream to open, no session to end
    const get = await fetch(`${stack.coordinator.url}/mcp`, {
      headers: { authorization: `Bearer ${agentToken}`, accept: 'text/event-stream' },
    });
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST');
    await get.body?.cancel();
  });

  test('a second, independent MCP client (@ai-sdk/mcp) lists the tools and proposes through POST /mcp', async () => {
    const client = await createMCPClient({
      transport: {
        type: 'http',
        url: `${stack.coordinator.url}/mcp`,
        headers: { authorization: `Bearer ${agentToken}` },
      },
    });
    try {
      const { tools } = await client.listTools();
      assert.deepEqual(tools.map((t) => t.name).sort(), [
        'intent_status',
        'list_channels',
        'propose_intent',
        'wait_for_intent',
      ]);
      const key = `aisdk-${randomUUID()}`;
      const args = { channel: 'webhook', payload: { url: `${sink.url}/aisdk`, body: { n: 1 } }, idempotencyKey: key };
      const first = await client.callTool({ name: 'propose_intent', arguments: args });
      const again = await client.callTool({ name: 'propose_intent', arguments: args });
      const firstId = (first.structuredContent as { id: string }).id;
      assert.equal((again.structuredContent as { id: string }).id, firstId);
      const conflict = await client.callTool({
        name: 'propose_intent',
        arguments: { ...args, payload: { ...args.payload, body: { n: 2 } } },
      });
      assert.equal(conflict.isError, true);
      assert.match(JSON.stringify(conflict.content), /idempotency_conflict/);
      const status = await client.callTool({ name: 'intent_status', arguments: { id: firstId } });
      assert.equal((status.structuredContent as { state: string }).state, 'pending_approval');
    } finally {
      await client.close();
    }
  });

  // last: it closes the coordinator
  test('a long wait_for_intent does not hold the coordinator shutdown: the wait ends early, not done', async () => {
    const client = new Client({ name: 'handoff-test', version: '1.0.0' });
    await client.connect(httpTransport(agentToken));
    const key = `mcp-shutdown-${randomUUID()}`;
    await client.callTool({
      name: 'propose_intent',
      arguments: { channel: 'webhook', payload: { url: `${sink.url}/late`, body: {} }, idempotencyKey: key },
    });
    const progress: number[] = [];
    const waiting = client
      .callTool({ name: 'wait_for_intent', arguments: { idempotencyKey: key, timeoutSeconds: 600 } }, undefined, {
        timeout: 700_000,
        onprogress: (p) => progress.push(p.progress),
      })
      .then(
        (r) => r as CallToolResult,
        (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
      );
    await waitFor('the wait to be under way', async () => progress.length > 0);
    const started = Date.now();
    await stack.coordinator.close();
    assert.ok(Date.now() - started < 10_000, `shutdown took ${Date.now() - started} ms`);
    const answer = await waiting;
    if (!(answer instanceof Error)) assert.equal(structured<{ done: boolean }>(answer).done, false);
    await client.close().catch(() => undefined);
  });
});
