import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCoordinator } from '@handoff/coordinator';
import type { RunningCoordinator } from '@handoff/coordinator';
import type { AgentConfigInput, AgentEvent } from '@handoff/contracts';
import { SseParser } from '@handoff/router';
import { startScriptedModel } from '../fakes/scriptedModel.ts';
import type { ScriptedModel } from '../fakes/scriptedModel.ts';
import { createTestDatabase } from './database.ts';
import { apiClient } from './lines.ts';
import type { TestDatabase } from './database.ts';
import { quietLog } from './pipeline.ts';

const repo = fileURLToPath(new URL('../..', import.meta.url));

export interface RunResult {
  status: number;
  events: AgentEvent[];
  /** The JSON error body when the run was refused (status != 200). */
  error?: { error: { code: string; message: string; details?: unknown } };
}

export interface AgentStack {
  tdb: TestDatabase;
  home: string;
  workspace: string;
  coordinator: RunningCoordinator;
  token: string;
  model: ScriptedModel;
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  /**
   * POST /v1/agent/run and read its SSE stream to the end. `onEvent` runs for each event as it
   * comes (to approve, reject or stop); `signal` aborts the request (a client that goes away);
   * `token` runs it as another token than the operator's.
   */
  run(
    body: Record<string, unknown>,
    opts?: { onEvent?: (event: AgentEvent) => Promise<void> | void; signal?: AbortSignal; token?: string },
  ): Promise<RunResult>;
  /** An `onEvent` for run: approves every command approval the run asks for, through the HTTP endpoint. */
  approveAll(event: AgentEvent): Promise<void>;
  /** `node apps/cli/src/main.ts ...args` against this coordinator. */
  cli(
    args: string[],
    opts?: { onStdoutLine?: (line: string) => void; onSpawn?: (child: ReturnType<typeof spawn>) => void },
  ): Promise<{ code: number | null; stdout: string; stderr: string }>;
  close(): Promise<void>;
}

export async function startAgentStack(opts: { agentConfig?: AgentConfigInput } = {}): Promise<AgentStack> {
  const model = await startScriptedModel();
  const tdb = await createTestDatabase();
  const home = mkdtempSync(join(tmpdir(), 'handoff-agent-'));
  writeFileSync(join(home, 'nodes.json'), JSON.stringify(model.fleet()));
  if (opts.agentConfig) writeFileSync(join(home, 'agent.json'), JSON.stringify(opts.agentConfig));
  let coordinator: RunningCoordinator;
  try {
    coordinator = await startCoordinator({ home, databaseUrl: tdb.url, port: 0, log: quietLog, configIntervalMs: 100 });
  } catch (err) {
    await model.close();
    await tdb.drop();
    rmSync(home, { recursive: true, force: true });
    throw err;
  }
  const token = readFileSync(coordinator.operatorTokenPath, 'utf8').trim();
  const children = new Set<ReturnType<typeof spawn>>();

  const api = apiClient(coordinator.url, token);

  const run: AgentStack['run'] = async (body, runOpts = {}) => {
    const res = await fetch(`${coordinator.url}/v1/agent/run`, {
      method: 'POST',
      headers: { authorization: `Bearer ${runOpts.token ?? token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: runOpts.signal,
    });
    if (res.status !== 200) return { status: res.status, events: [], error: (await res.json()) as RunResult['error'] };
    const events: AgentEvent[] = [];
    const parser = new SseParser();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        for (const message of parser.push(chunk)) {
          const event = JSON.parse(message.data) as AgentEvent;
          if (message.event !== event.type)
            throw new Error(`SSE event name ${message.event} differs from its type ${event.type}`);
          events.push(event);
          await runOpts.onEvent?.(event);
        }
      }
    } catch (err) {
      if (!runOpts.signal?.aborted) throw err;
    }
    return { status: res.status, events };
  };

  const cli: AgentStack['cli'] = (args, cliOpts = {}) =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [join(repo, 'apps/cli/src/main.ts'), ...args], {
        env: { ...process.env, HANDOFF_URL: coordinator.url, HANDOFF_TOKEN: token, HANDOFF_HOME: home },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.add(child);
      cliOpts.onSpawn?.(child);
      let stdout = '';
      let stderr = '';
      let rest = '';
      child.stdout.setEncoding('utf8');
      child.stderr.setEncoding('utf8');
      child.stdout.on('data', (c: string) => {
        stdout += c;
        const lines = (rest + c).split('\n');
        rest = lines.pop() ?? '';
        for (const line of lines) cliOpts.onStdoutLine?.(line);
      });
      child.stderr.on('data', (c: string) => (stderr += c));
      child.on('close', (code) => {
        children.delete(child);
        resolve({ code, stdout, stderr });
      });
    });

  return {
    tdb,
    home,
    workspace: join(home, 'workspace'),
    coordinator,
    token,
    model,
    api,
    run,
    approveAll: async (event) => {
      if (event.type !== 'approval_required') return;
      const res = await api('POST', `/v1/agent/approvals/${event.approvalId}/approve`, { reason: 'test: harmless' });
      assert.equal(res.status, 200, JSON.stringify(res.body));
    },
    cli,
    close: async () => {
      for (const child of children) child.kill('SIGKILL');
      await coordinator.close();
      await model.close();
      await tdb.drop();
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** Pids of live processes whose command line contains `marker` (host-wide, across PID namespaces). */
export function processesWith(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // a zombie has not been reaped yet but runs nothing
      if (cmdline.includes(marker) && !/\) Z /.test(stat)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Pids of the command itself (`sleep <marker>`), not of the bwrap wrapper whose arguments contain it too. */
export function sleepersWith(marker: string): number[] {
  return processesWith(marker).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sleep\0');
    } catch {
      return false;
    }
  });
}

export function eventsOf<T extends AgentEvent['type']>(
  events: AgentEvent[],
  type: T,
): Extract<AgentEvent, { type: T }>[] {
  return events.filter((e): e is Extract<AgentEvent, { type: T }> => e.type === type);
}
