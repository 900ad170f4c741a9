import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { proposeIntentTool } from '@handoff/mcp';
import { backendFor, openClawTool } from '../../integrations/openclaw/index.ts';
import { startRecordingSink, type RecordingSink } from '../support/recordingSink.ts';
import { startStack, waitFor, type Stack } from '../support/stack.ts';

/**
 * The OpenClaw plugin (integrations/openclaw) under the real `openclaw` package: OpenClaw's own
 * plugin loader discovers and loads it from `plugins.load.paths`, its tools call a live coordinator,
 * and OpenClaw's own hook runner runs its before_tool_call policy on a message send. What this
 * cannot run headless (a Gateway, a model, a chat channel) is listed in docs/integrations.md.
 */

const repo = fileURLToPath(new URL('../..', import.meta.url));
const pluginDir = join(repo, 'integrations/openclaw');
const openclawDist = join(repo, 'node_modules/openclaw/dist');

/**
 * A function OpenClaw's build exports from a content-hashed chunk under a minified name: found by
 * its own name in the chunks whose file names start with `prefix` (the version is pinned, so this
 * only guards against a reader guessing the hash).
 */
async function openclawInternal<T>(prefix: string, name: string): Promise<T> {
  for (const file of readdirSync(openclawDist).filter((f) => f.startsWith(prefix) && f.endsWith('.mjs'))) {
    const mod = (await import(pathToFileURL(join(openclawDist, file)).href)) as Record<string, unknown>;
    const found = Object.values(mod).find((v) => typeof v === 'function' && v.name === name);
    if (found) return found as T;
  }
  throw new Error(`openclaw exports no ${name} from dist/${prefix}*.mjs`);
}

interface LoadedTool {
  name: string;
  parameters: Record<string, unknown>;
  execute(
    id: string,
    params: unknown,
    signal?: AbortSignal,
    onUpdate?: (u: unknown) => void,
  ): Promise<{ content: { text: string }[]; details: Record<string, unknown> }>;
}
interface Registry {
  plugins: { id: string; status: string; error?: string; toolNames: string[] }[];
  tools: { pluginId: string; names: string[]; factory(ctx: unknown): LoadedTool | LoadedTool[] | null }[];
  typedHooks: { pluginId: string; hookName: string }[];
  diagnostics: { level: string; message: string }[];
}
type HookRunner = {
  runBeforeToolCall(event: unknown, ctx: unknown): Promise<{ block?: boolean; blockReason?: string } | undefined>;
};

let stack: Stack;
let sink: RecordingSink;
let agentToken: string;
let stateDir: string;
let registry: Registry;
let tools: Map<string, LoadedTool>;

describe('the OpenClaw plugin in the real openclaw package', () => {
  before(async () => {
    stack = await startStack();
    sink = await startRecordingSink();
    await stack.spawnExecutor('openclaw-exec');
    const minted = await stack.api<{ token: string }>('POST', '/v1/tokens', {
      role: 'agent',
      name: `openclaw-${randomUUID().slice(0, 8)}`,
    });
    agentToken = minted.body.token;
    // OpenClaw keeps its state (plugin source captures, SQLite) here, not in the real home
    stateDir = mkdtempSync(join(tmpdir(), 'handoff-openclaw-'));
    process.env.OPENCLAW_STATE_DIR = stateDir;

    const loadOpenClawPlugins = await openclawInternal<(options: unknown) => Registry>(
      'loader-runtime-load-',
      'loadOpenClawPlugins',
    );
    registry = loadOpenClawPlugins({
      config: {
        plugins: {
          allow: ['handoff'],
          load: { paths: [pluginDir] },
          entries: {
            handoff: {
              enabled: true,
              config: {
                url: stack.coordinator.url,
                token: agentToken,
                interceptMessageSend: { enabled: true, channel: 'webhook', webhookUrl: `${sink.url}/openclaw-send` },
              },
            },
          },
        },
      },
      workspaceDir: stateDir,
      onlyPluginIds: ['handoff'],
      activate: false,
      cache: false,
    });
    tools = new Map();
    for (const entry of registry.tools.filter((t) => t.pluginId === 'handoff')) {
      const made = entry.factory({ workspaceDir: stateDir, config: {} });
      for (const tool of [made ?? []].flat()) tools.set(tool.name, tool);
    }
  });
  after(async () => {
    await sink?.close();
    await stack?.close();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  test("OpenClaw's plugin loader loads the plugin: its four tools and its before_tool_call hook, with no error", () => {
    const plugin = registry.plugins.find((p) => p.id === 'handoff');
    assert.equal(plugin?.status, 'loaded', `${plugin?.error ?? ''} ${JSON.stringify(registry.diagnostics)}`);
    assert.deepEqual([...plugin.toolNames].sort(), [
      'intent_status',
      'list_channels',
      'propose_intent',
      'wait_for_intent',
    ]);
    assert.deepEqual(
      registry.typedHooks.filter((h) => h.pluginId === 'handoff').map((h) => h.hookName),
      ['before_tool_call'],
    );
    assert.deepEqual(
      registry.diagnostics.filter((d) => d.level === 'error'),
      [],
    );
    const propose = tools.get('propose_intent')!;
    assert.equal((propose.parameters as { type: string }).type, 'object');
  });

  test('a tool call reaches the live coordinator: propose (same key, same intent; other payload, idempotency_conflict), approve, wait for the receipt', async () => {
    const key = `openclaw-${randomUUID()}`;
    const params = {
      channel: 'webhook',
      payload: { url: `${sink.url}/openclaw-tool`, body: { text: 'from openclaw' } },
      idempotencyKey: key,
    };
    const first = await tools.get('propose_intent')!.execute('call-1', params);
    assert.equal(first.details.state, 'pending_approval');
    const again = await tools.get('propose_intent')!.execute('call-2', params);
    assert.equal(again.details.id, first.details.id);
    await assert.rejects(
      tools
        .get('propose_intent')!
        .execute('call-3', { ...params, payload: { ...params.payload, body: { text: 'changed' } } }),
      /^Error: idempotency_conflict: /,
    );
    const approved = await stack.api('POST', `/v1/intents/${String(first.details.id)}/approve`, {});
    assert.equal(approved.status, 200);
    const updates: unknown[] = [];
    const waited = await tools
      .get('wait_for_intent')!
      .execute('call-4', { idempotencyKey: key, timeoutSeconds: 60 }, undefined, (u) => updates.push(u));
    assert.equal(waited.details.state, 'succeeded', waited.content[0]?.text);
    assert.ok((waited.details.receipt as { externalId: string }).externalId);
    const status = await tools.get('intent_status')!.execute('call-5', { id: first.details.id });
    assert.equal(status.details.state, 'succeeded');
    const channels = await tools.get('list_channels')!.execute('call-6', {});
    assert.match(channels.content[0]!.text, /webhook: any account/);
    assert.equal(sink.requests.filter((r) => r.path === '/openclaw-tool').length, 1);
  });

  test("OpenClaw's hook runner turns a message send into one handoff intent, blocks the send, and a replayed send finds the same intent", async () => {
    const initializeGlobalHookRunner = await openclawInternal<(registry: Registry) => void>(
      'hook-runner-global-',
      'initializeGlobalHookRunner',
    );
    const getGlobalHookRunner = await openclawInternal<() => HookRunner>('hook-runner-global-', 'getGlobalHookRunner');
    initializeGlobalHookRunner(registry);
    const runner = getGlobalHookRunner();
    const send = {
      toolName: 'message',
      params: { action: 'send', channel: 'telegram', target: '@team', message: `release ${randomUUID()}` },
      toolCallId: 't1',
    };
    const ctx = { agentId: 'main', sessionKey: 'agent:main:release' };

    const first = await runner.runBeforeToolCall(send, ctx);
    assert.equal(first?.block, true);
    const id = /intent ([0-9a-f-]{36})/.exec(first?.blockReason ?? '')?.[1];
    assert.ok(id, first?.blockReason);
    // the same send after a restart or a timeout (a new tool call id) is the same intent
    const replay = await runner.runBeforeToolCall({ ...send, toolCallId: 't2' }, ctx);
    assert.match(replay?.blockReason ?? '', new RegExp(`intent ${id}`));
    // other tools and other message actions pass through
    assert.equal(
      (await runner.runBeforeToolCall({ toolName: 'message', params: { action: 'read' } }, ctx))?.block,
      undefined,
    );
    assert.equal(
      (await runner.runBeforeToolCall({ toolName: 'web_search', params: { query: 'x' } }, ctx))?.block,
      undefined,
    );

    const approved = await stack.api('POST', `/v1/intents/${id}/approve`, {});
    assert.equal(approved.status, 200);
    await waitFor(
      'the send to succeed',
      async () => (await stack.api<{ state: string }>('GET', `/v1/intents/${id}`)).body.state === 'succeeded',
    );
    const delivered = sink.requests.filter((r) => r.path === '/openclaw-send');
    assert.equal(delivered.length, 1, 'sent exactly once');
    assert.deepEqual(JSON.parse(delivered[0]!.body), {
      channel: 'telegram',
      target: '@team',
      message: send.params.message,
    });
  });

  test('the plugin holds an agent token only: with an operator token every tool call is refused', async () => {
    const withOperator = openClawTool(
      proposeIntentTool(),
      backendFor({ url: stack.coordinator.url, token: stack.token }),
    );
    const params = {
      channel: 'webhook',
      payload: { url: `${sink.url}/never`, body: {} },
      idempotencyKey: `op-${randomUUID()}`,
    };
    await assert.rejects(withOperator.execute('call-op', params), /^Error: operator_token_refused: /);
    await assert.rejects(withOperator.execute('call-op-2', params), /^Error: operator_token_refused: /);
    assert.equal(sink.requests.filter((r) => r.path === '/never').length, 0);
    const listed = await stack.api<{ intents: unknown[] }>('GET', '/v1/intents?channel=webhook&limit=1000');
    assert.ok(!JSON.stringify(listed.body).includes(params.idempotencyKey), 'nothing was proposed');
  });

  test("the plugin type-checks against openclaw's published plugin SDK types", async () => {
    const tsc = join(repo, 'node_modules/typescript/bin/tsc');
    const run = await promisify(execFile)(process.execPath, [tsc, '--noEmit', '-p', join(pluginDir, 'tsconfig.json')], {
      cwd: repo,
    }).then(
      () => ({ ok: true, out: '' }),
      (err: { stdout?: string }) => ({ ok: false, out: err.stdout ?? String(err) }),
    );
    assert.ok(run.ok, run.out);
  });
});
