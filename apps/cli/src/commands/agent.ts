import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';
import { AgentRunBody } from '@handoff/contracts';
import type { AgentEvent } from '@handoff/contracts';
import { CoordinatorClient } from '../client.ts';
import { apiToken, coordinatorUrl } from '../config.ts';
import { err, out } from '../context.ts';
import { CliError } from '../errors.ts';
import { exact } from './intents.ts';

/** `handoff agent run "TASK"`: runs the agent loop on the coordinator and streams its events. */

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
      const exitCode = await runAgent(checked.data, options.json === true);
      process.exitCode = exitCode;
    });
}

async function runAgent(body: AgentRunBody, asJson: boolean): Promise<number> {
  const client = new CoordinatorClient({ baseUrl: coordinatorUrl(), token: apiToken() });
  const events = await client.runAgent(body);

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
  return 1;
}
