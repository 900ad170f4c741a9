import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentSessionDetail } from '@handoff/contracts';
import { SUMMARY_REQUEST_HEADING } from '@handoff/agent';
import { countChatTokens, countTextTokens, sharedTokenCounter, tokensNeeded } from '@handoff/router';
import { startScriptedModel } from '../fakes/scriptedModel.ts';
import type { RecordedRequest, ScriptedModel, ScriptedTurn } from '../fakes/scriptedModel.ts';
import { eventsOf, startSessionStack } from './sessionStack.ts';
import type { SessionStack } from './sessionStack.ts';

/**
 * Context windows: before each turn the loop measures the request with the router's tokenizer
 * against the model's window from nodes.json; over it, it escalates along the chain when it may,
 * else cuts older tool results and has the model summarise older turns. The router itself refuses
 * (400) any request that does not fit, so a run that ends `done` sent only requests that fit.
 */

const SMALL_WINDOW = 26_000;
const MAX_COMPLETION = 1024;
const MARGIN_PCT = 10;

/** A text file of about `tokens` tokens, different on every line. */
function fileText(name: string, tokens: number): string {
  const lines: string[] = [];
  for (let i = 0; lines.length * 15 < tokens; i++)
    lines.push(`${name} line ${i}: the quick brown fox ${i * 7} jumps over dog ${i}`);
  return `${lines.join('\n')}\n`;
}

/** Tokens a recorded request needed, as the router counts them. */
async function needed(request: RecordedRequest): Promise<number> {
  const counted = await countChatTokens(
    sharedTokenCounter(),
    request.messages as unknown as Record<string, unknown>[],
    request.body['tools'] as unknown[] | undefined,
  );
  return tokensNeeded(counted.tokens, MARGIN_PCT, MAX_COMPLETION);
}

const firstUser = (r: RecordedRequest): string => String(r.messages.find((m) => m.role === 'user')?.content ?? '');

describe('context windows', () => {
  let small: ScriptedModel;
  let big: ScriptedModel;
  let stack: SessionStack;

  before(async () => {
    small = await startScriptedModel({ modelId: 'small', chunkDelayMs: 0 });
    big = await startScriptedModel({ modelId: 'big', chunkDelayMs: 0 });
    stack = await startSessionStack({
      fleet: {
        nodes: [
          {
            id: 'small-node',
            baseUrl: small.url,
            kind: 'llamacpp',
            models: [{ id: 'small', contextWindow: SMALL_WINDOW }],
          },
          { id: 'big-node', baseUrl: big.url, kind: 'llamacpp', models: [{ id: 'big', contextWindow: 131_072 }] },
        ],
        escalation: ['small', 'big'],
      },
      // escalation off: the small model must manage alone; the second test turns it on per file
      agentConfig: {
        maxCompletionTokens: MAX_COMPLETION,
        tokenBudget: 10_000_000,
        maxTurns: 40,
        context: { escalate: false },
      },
    });
  });
  after(async () => {
    await stack?.close();
    await small?.close();
    await big?.close();
  });

  test('a 26k-context model finishes a task whose raw history is ~100k tokens: older results cut, older turns summarised by the model', async () => {
    const dir = join(stack.workspace, 'ctx');
    mkdirSync(dir, { recursive: true });
    const files = Array.from({ length: 15 }, (_, i) => `part${i + 1}.txt`);
    for (const f of files) writeFileSync(join(dir, f), fileText(f, 6000));
    const note = (i: number): string =>
      `Read ${files[i]}; noted its lines. ${'Decision recorded, nothing open. '.repeat(90)}`;

    const summaries = small.script(
      SUMMARY_REQUEST_HEADING,
      Array.from({ length: 20 }, (_, k) => ({
        text: `Summary ${k + 1}: the task is to read every part file in order and report. Decided: read one part a turn. Done: the parts read so far. Open: read the remaining parts, then report.`,
      })),
    );
    const turns: ScriptedTurn[] = files.map((f, i) => ({
      text: note(i),
      toolCalls: [{ id: `read${i + 1}`, name: 'read_file', arguments: { path: f } }],
    }));
    turns.push({ text: 'All 15 parts read; report done.' });
    const work = small.script('[task:ctx]', turns);

    const { events } = await stack.stream('/v1/agent/run', {
      task: 'Read part1.txt to part15.txt in order, one a turn, and report [task:ctx]',
      workingDir: 'ctx',
    });
    assert.equal(events.at(-1)?.type, 'done', JSON.stringify(events.at(-1)));

    // the raw history: what the model would have been sent at the end without compaction
    let raw = 0;
    for (const [i, f] of files.entries())
      raw += await countTextTokens(sharedTokenCounter(), fileText(f, 6000) + note(i));
    assert.ok(raw >= 95_000, `the raw history is ${raw} tokens`);

    // every request fit the small window, as the router counts it
    for (const r of [...work.requests, ...summaries.requests])
      assert.ok((await needed(r)) <= SMALL_WINDOW, `a request needed ${await needed(r)} tokens`);

    const actions = eventsOf(events, 'context').map((e) => e.action);
    assert.ok(actions.includes('truncated'), actions.join(','));
    assert.ok(actions.includes('summarised'), actions.join(','));
    assert.ok(summaries.requests.length >= 2, `${summaries.requests.length} summary requests`);
    // a summary request carries the task; the turns after it carry the summary with the task
    for (const r of summaries.requests) assert.match(firstUser(r), /Read part1\.txt to part15\.txt/);
    const last = work.requests.at(-1)!;
    assert.match(
      firstUser(last),
      /^Read part1\.txt to part15\.txt[^]*Summary of the earlier work[^]*Summary \d+: the task/,
    );
    assert.ok(last.messages.filter((m) => m.role === 'tool').length < files.length);
    assert.ok(
      work.requests.some((r) =>
        r.messages.some((m) => m.role === 'tool' && /cut to fit the context window/.test(String(m.content))),
      ),
      'an older tool result was cut with a note',
    );

    const sessionId = events[0]!.sessionId;
    const detail = await stack.api<AgentSessionDetail>('GET', `/v1/agent/sessions/${sessionId}`);
    assert.equal(detail.body.turns, 16);
    assert.ok(detail.body.transcript.some((m) => m.role === 'summary'));
    assert.ok(detail.body.contextEvents.length >= 2);
  });

  test('over the window the run first moves up the escalation chain, when agent.json allows it', async () => {
    writeFileSync(
      join(stack.home, 'agent.json'),
      JSON.stringify({ maxCompletionTokens: MAX_COMPLETION, tokenBudget: 10_000_000, context: { escalate: true } }),
    );
    await new Promise((r) => setTimeout(r, 500)); // agent.json is polled every 100 ms
    const dir = join(stack.workspace, 'esc');
    mkdirSync(dir, { recursive: true });
    for (const f of ['a.txt', 'b.txt', 'c.txt']) writeFileSync(join(dir, f), fileText(f, 11_000));
    const read = (f: string): ScriptedTurn => ({ toolCalls: [{ name: 'read_file', arguments: { path: f } }] });
    const onSmall = small.script('[task:esc]', [read('a.txt'), read('b.txt'), read('c.txt'), { text: 'small done' }]);
    const onBig = big.script('[task:esc]', [read('c.txt'), { text: 'finished on the big model' }]);

    const { events } = await stack.stream('/v1/agent/run', { task: 'read a, b and c [task:esc]', workingDir: 'esc' });
    assert.equal(events.at(-1)?.type, 'done', JSON.stringify(events.at(-1)));
    const escalated = eventsOf(events, 'context');
    assert.deepEqual(
      escalated.map((e) => [e.action, e.model]),
      [['escalated', 'big']],
    );
    assert.ok(escalated[0]!.tokensBefore > SMALL_WINDOW);
    assert.equal(onSmall.requests.length, 2);
    assert.equal(onBig.requests.length, 2);
    // nothing was cut or summarised: the bigger model got the whole history
    assert.equal(onBig.requests[0]!.messages.filter((m) => m.role === 'tool').length, 2);
    const detail = await stack.api<AgentSessionDetail>('GET', `/v1/agent/sessions/${events[0]!.sessionId}`);
    assert.deepEqual([detail.body.model, detail.body.currentModel], ['small', 'big']);
  });
});
