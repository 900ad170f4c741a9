import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';
import { AgentRunBody, AgentSessionState } from '@handoff/contracts';
import type { AgentEvent, AgentSession, AgentSessionDetail } from '@handoff/contracts';
import { CoordinatorClient } from '../client.ts';
import { clientOptions } from '../config.ts';
import { err, out } from '../context.ts';
import { CliError } from '../errors.ts';
import { duration, json, keyValues, table, timestamp } from '../format.ts';
import { exact } from './intents.ts';

/**
 * `handoff agent run "TASK"` runs the agent loop on the coordinator and streams its events;
 * `agent sessions`, `agent show ID` and `agent resume ID` read and take up the stored sessions.
 */

interface RunOptions {
  dir?: string;
  model?: string;
  maxTurns?: number;
  json?: boolean;
}

function parseMaxTurns(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 1000)
    throw new InvalidArgumentError('must be a whole number from 1 to 1000');
  return n;
}

function firstLine(text: string, max = 200): string {
  const line = text.split('\n').find((l) => l.trim() !== '') ?? '';
  return line.length > max ? `${line.slice(0, max)}...` : line;
}

/** A terminal rendering of one event: text deltas inline, everything else as short lines. */
function render(event: AgentEvent, state: { midText: boolean }): string {
  const nl = state.midText ? '\n' : '';
  state.midText = event.type === 'text_delta';
  switch (event.type) {
    case 'session_started':
      return `agent session ${event.sessionId}: model ${event.model}, in ${event.workingDir} (isolation ${event.isolation}, at most ${event.maxTurns} turns)\n`;
    case 'text_delta':
      return event.text;
    case 'tool_call':
      return `${nl}> ${event.name} ${firstLine(JSON.stringify(event.args), 160)}\n`;
    case 'tool_result': {
      const code = event.exitCode === undefined ? '' : ` exit ${event.exitCode ?? 'killed'}`;
      return `${nl}  ${event.ok ? 'ok' : 'failed'}${code} (${event.durationMs} ms): ${firstLine(event.output)}\n`;
    }
    case 'blocked':
      return `${nl}! blocked (${event.decision}, ${event.rule}): ${exact(event.command)}\n  ${exact(event.reason)}\n`;
    case 'approval_required':
      // the whole command, control characters shown: what a person approves is what runs
      return (
        `${nl}? the agent wants to run: ${exact(event.command)}\n  in ${exact(event.cwd)} (${exact(event.rule)}: ${exact(event.reason)})\n` +
        `  approve: handoff approve ${event.approvalId}\n  reject:  handoff reject ${event.approvalId} --reason TEXT\n  (expires ${event.expiresAt}; no answer means deny)\n`
      );
    case 'intent_proposed':
      return (
        `${nl}+ intent ${event.intentId} on ${event.channel}:${event.account}: ${event.state}${event.created ? '' : ' (already proposed)'}` +
        (event.state === 'pending_approval' ? `; approve with: handoff approve ${event.intentId}\n` : '\n')
      );
    case 'session_resumed':
      return (
        `${nl}resumed after turn ${event.fromTurn}` +
        (event.replayed.length > 0 ? `; calls run again: ${event.replayed.join(', ')}` : '') +
        (event.notReplayed.length > 0 ? `; bash calls not run again: ${event.notReplayed.join(', ')}` : '') +
        '\n'
      );
    case 'context':
      return `${nl}~ context ${event.action} (${event.model}): ${event.detail}; ${event.tokensBefore} -> ${event.tokensAfter} of ${event.contextWindow} tokens\n`;
    case 'done':
      return `${nl}done in ${event.usage.turns} turns, ${event.usage.totalTokens} tokens${event.usage.estimated ? ' (estimated)' : ''}, ${(event.usage.durationMs / 1000).toFixed(1)} s\n`;
    case 'error':
      return `${nl}error (${event.code}): ${event.message}\n`;
  }
}

export function registerAgentCommands(program: Command): void {
  const agent = program.command('agent').description('the agent loop on the coordinator');
  agent
    .command('run')
    .description('run a task with the agent and stream what it does (Ctrl-C stops it)')
    .argument('<task>', 'what to do, in plain English')
    .addOption(new Option('--dir <dir>', 'working directory inside the sandbox root (narrows it)'))
    .addOption(new Option('--model <model>', 'model name (default: agent.json, else the first of the fleet)'))
    .addOption(new Option('--max-turns <n>', 'turn limit (may only lower the configured one)').argParser(parseMaxTurns))
    .addOption(new Option('--json', 'print one JSON event per line'))
    .action(async (task: string, options: RunOptions) => {
      const body = { task, workingDir: options.dir, model: options.model, maxTurns: options.maxTurns };
      const checked = AgentRunBody.safeParse(body);
      if (!checked.success)
        throw new CliError(
          checked.error.issues.map((i) => `${i.path.join('.') || 'task'}: ${i.message}`).join('; '),
          2,
        );
      const client = new CoordinatorClient(clientOptions());
      process.exitCode = await follow(await client.runAgent(checked.data), client, options.json === true);
    });

  agent
    .command('resume')
    .description('go on with an interrupted, stopped or failed session from its last complete turn')
    .argument('<id>', 'session id (handoff agent sessions lists them)')
    .addOption(new Option('--json', 'print one JSON event per line'))
    .action(async (id: string, options: { json?: boolean }) => {
      const client = new CoordinatorClient(clientOptions());
      process.exitCode = await follow(await client.resumeAgent(id), client, options.json === true);
    });

  agent
    .command('sessions')
    .description('the stored agent sessions, newest first')
    .addOption(new Option('--state <state>', 'only sessions in this state').choices(AgentSessionState.options))
    .addOption(new Option('--limit <n>', 'at most this many (default 50)').argParser(parseLimit))
    .addOption(new Option('--json', 'print the answer as JSON'))
    .action(async (options: { state?: AgentSessionState; limit?: number; json?: boolean }) => {
      const list = await new CoordinatorClient(clientOptions()).agentSessions({
        state: options.state,
        limit: options.limit,
      });
      if (options.json) return void out(json(list).trimEnd());
      process.stdout.write(
        table(
          list.sessions,
          [
            { header: 'ID', value: (s: AgentSession) => s.id, max: Infinity },
            { header: 'STATE', value: (s) => s.state },
            {
              header: 'MODEL',
              value: (s) => (s.currentModel === s.model ? s.model : `${s.model} -> ${s.currentModel}`),
            },
            { header: 'TURNS', value: (s) => s.turns, align: 'right' },
            { header: 'STARTED', value: (s) => timestamp(s.startedAt) },
            { header: 'DURATION', value: (s) => duration(s.durationMs), align: 'right' },
            { header: 'TASK', value: (s) => s.task, max: 60 },
          ],
          { empty: '(no agent sessions)' },
        ),
      );
      if (list.nextCursor) out(`(more: --json shows nextCursor)`);
    });

  agent
    .command('show')
    .description('one session: its transcript, tool audit, guard decisions and intents')
    .argument('<id>', 'session id')
    .addOption(new Option('--json', 'print the answer as JSON'))
    .action(async (id: string, options: { json?: boolean }) => {
      const detail = await new CoordinatorClient(clientOptions()).agentSession(id);
      if (options.json) return void out(json(detail).trimEnd());
      process.stdout.write(renderDetail(detail));
    });
}

function parseLimit(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 1000)
    throw new InvalidArgumentError('must be a whole number from 1 to 1000');
  return n;
}

function renderDetail(d: AgentSessionDetail): string {
  const parts: string[] = [
    keyValues([
      ['session', d.id],
      ['state', d.state],
      ['task', d.task],
      ['model', d.currentModel === d.model ? d.model : `${d.model} (now ${d.currentModel})`],
      ['working dir', d.workingDir],
      ['turns', `${d.turns} of ${d.maxTurns}`],
      ['tokens', `${d.promptTokens} in, ${d.completionTokens} out`],
      ['started', timestamp(d.startedAt)],
      ['ended', d.endedAt ? timestamp(d.endedAt) : undefined],
      ['duration', duration(d.durationMs)],
      ['resumed', d.resumes > 0 ? `${d.resumes} time(s)` : undefined],
      ['error', d.errorCode ? `${d.errorCode}: ${d.errorMessage ?? ''}` : undefined],
      ['summary', d.summary ?? undefined],
    ]),
    '\nTRANSCRIPT\n',
  ];
  for (const m of d.transcript) {
    if (m.role === 'summary')
      parts.push(
        `  [turn ${m.turn}] summary of messages 1-${m.summarisedThrough}: ${firstLine(m.content ?? '', 300)}\n`,
      );
    else if (m.role === 'assistant') {
      if (m.content) parts.push(`  [turn ${m.turn}] agent: ${firstLine(m.content, 300)}\n`);
      for (const c of m.toolCalls ?? [])
        parts.push(`  [turn ${m.turn}] > ${c.name} ${firstLine(JSON.stringify(c.arguments), 160)} (${c.id})\n`);
    } else parts.push(`  [turn ${m.turn}]   ${m.toolCallId}: ${firstLine(m.content ?? '')}\n`);
  }
  parts.push('\nTOOL AUDIT\n');
  parts.push(
    table(
      d.toolAudit,
      [
        { header: 'CALL', value: (a) => a.toolCallId, max: 24 },
        { header: 'TOOL', value: (a) => a.tool },
        { header: 'DECISION', value: (a) => a.decision },
        { header: 'EXIT', value: (a) => a.exitCode, align: 'right' },
        { header: 'ARGS', value: (a) => JSON.stringify(a.args), max: 70 },
      ],
      { indent: '  ', empty: '(no tool calls)' },
    ),
  );
  parts.push('\nGUARD DECISIONS\n');
  parts.push(
    table(
      d.guardDecisions,
      [
        { header: 'DECISION', value: (g) => g.decision },
        { header: 'RULE', value: (g) => g.rule },
        { header: 'COMMAND', value: (g) => exact(g.command), max: 70 },
      ],
      { indent: '  ', empty: '(none)' },
    ),
  );
  parts.push('\nINTENTS PROPOSED\n');
  parts.push(
    table(
      d.intents,
      [
        { header: 'ID', value: (i) => i.id, max: Infinity },
        { header: 'CHANNEL', value: (i) => `${i.channel}:${i.account}` },
        { header: 'STATE', value: (i) => i.state },
        { header: 'KEY', value: (i) => i.idempotencyKey, max: Infinity },
      ],
      { indent: '  ', empty: '(none)' },
    ),
  );
  if (d.contextEvents.length > 0) {
    parts.push('\nCONTEXT WINDOW\n');
    for (const c of d.contextEvents) parts.push(`  [turn ${c.turn}] ${c.action}: ${c.detail}\n`);
  }
  return parts.join('');
}

/** Prints a run's events as they come (Ctrl-C stops it); the exit code: 0 done, 1 anything else. */
async function follow(events: AsyncGenerator<AgentEvent>, client: CoordinatorClient, asJson: boolean): Promise<number> {
  let sessionId: string | null = null;
  let stopping = false;
  // Ctrl-C stops the run on the coordinator (its tools' processes too), then the stream ends with `error`.
  const onSigint = (): void => {
    if (stopping || !sessionId) {
      process.exit(130);
    }
    stopping = true;
    err('stopping the agent run (Ctrl-C again to quit at once)...');
    client
      .stopAgent(sessionId)
      .catch((e: unknown) => err(`could not stop the run: ${e instanceof Error ? e.message : String(e)}`));
  };
  process.on('SIGINT', onSigint);

  const state = { midText: false };
  let last: AgentEvent | null = null;
  try {
    for await (const event of events) {
      last = event;
      if (event.type === 'session_started') sessionId = event.sessionId;
      if (asJson) out(JSON.stringify(event));
      else process.stdout.write(render(event, state));
    }
  } finally {
    process.off('SIGINT', onSigint);
  }
  if (last?.type === 'done') return 0;
  if (last?.type !== 'error') err('handoff: the event stream ended before the run finished');
  // The session is stored: whatever ended this stream, it can be taken up where it stopped.
  if (sessionId) err(`handoff: to go on with it: handoff agent resume ${sessionId}`);
  return 1;
}
